"""Refusals only a node gives a till or an operator, one type per thing the caller
can act on. Each is a `protocol.errors.Refused` carrying its HTTP status; the
node's app maps every refusal to a JSON response in one place. Refusals HQ
gives too (an unknown or blocked card, a short balance) are defined once in
protocol.errors and re-exported here for the node's modules.
"""

from __future__ import annotations

from protocol.errors import CardBlocked, InsufficientBalance, NotFound, Refused, UnknownCard

__all__ = [
    "CardBlocked",
    "CardExpired",
    "CardNotChangeable",
    "CardTaken",
    "CreditOverLimit",
    "DayClosed",
    "DiscountOverLimit",
    "DocumentState",
    "InsufficientBalance",
    "InsufficientStock",
    "InvalidRequest",
    "LevelNotAbove",
    "LevelNotForSale",
    "MalformedBody",
    "NoPhoto",
    "NotEnrolled",
    "NotFound",
    "NotNextLevel",
    "NotOnThisCard",
    "NotRedeemable",
    "NotRefundable",
    "NothingToClear",
    "NothingToReplenish",
    "OfflineLimitReached",
    "OverReceipt",
    "OverRepayment",
    "PhoneTaken",
    "PhotoFromHQBroken",
    "PhotoTooLarge",
    "PhotoUnavailable",
    "RedeemNeedsMember",
    "ReplicatorStarting",
    "TenderShort",
    "TransferToItself",
    "UnknownCard",
    "UnknownCardType",
    "UnknownLevel",
    "UnknownMember",
    "UnknownProduct",
    "UnknownSalesperson",
    "UnknownVoucher",
    "UnknownWarehouse",
    "UnsupportedPhotoType",
    "UnsupportedTender",
    "UsesExhausted",
    "VoucherExpired",
    "VoucherMinSpend",
    "VoucherNotYours",
    "VoucherOverValue",
    "VoucherUsed",
    "WarehouseElsewhere",
    "WrongCardPassword",
]


class InvalidRequest(Refused):
    """The request body is malformed or a field is out of range; the message names it."""

    http_status = 422
    code = "invalid"


class MalformedBody(Refused):
    """The body is not a JSON object at all."""

    http_status = 400
    code = "malformed"


class UnknownProduct(NotFound):
    """A SKU the branch's catalogue does not have (HQ has not published it, or it is mistyped)."""

    code = "unknown_product"


class UnknownMember(NotFound):
    """A member id this branch has not seen; if registered elsewhere, wait for the sync."""

    code = "unknown_member"


class PhoneTaken(Refused):
    """Another member already has this phone number at this branch."""

    http_status = 409
    code = "phone_taken"


class TenderShort(Refused):
    """The tenders do not cover the sale total."""

    http_status = 422
    code = "tender_short"


class UnsupportedTender(Refused):
    """A tender kind this node cannot take yet."""

    http_status = 422
    code = "unsupported_tender"


class NotEnrolled(Refused):
    """The data folder has no enrolled node; run `branchline node init` first."""

    http_status = 503
    code = "not_enrolled"


class ReplicatorStarting(Refused):
    """The node's replicator has not started yet (or the node runs without one); ask again shortly."""

    http_status = 503
    code = "starting"


class CardTaken(Refused):
    """Another member already holds this card number at this branch."""

    http_status = 409
    code = "card_taken"


class NothingToClear(Refused):
    """An unlock or resume with no loss report or suspension in force at this branch."""

    http_status = 409
    code = "nothing_to_clear"


class OfflineLimitReached(Refused):
    """HQ is unreachable and this card has used today's offline spending limit here."""

    http_status = 402
    code = "offline_limit_reached"


class VoucherUsed(Refused):
    """The single-use voucher was already redeemed (at this branch, or at another one
    whose use this branch has synced)."""

    http_status = 409
    code = "voucher_used"


class UnknownVoucher(NotFound):
    """No voucher under this code was issued, as far as this branch has heard from HQ:
    mistyped, invented, or issued so recently that the branch's feed has not brought it."""

    code = "unknown_voucher"


class VoucherNotYours(Refused):
    """The voucher was issued to another member than the sale's (or the sale names no
    member); only its member, under any id of their duplicate group, may use it."""

    http_status = 403
    code = "voucher_not_yours"


class VoucherExpired(Refused):
    """The voucher is outside its validity on the branch's date: past its last day, or
    before its first. The message names the days."""

    http_status = 409
    code = "voucher_expired"


class VoucherMinSpend(Refused):
    """The sale is below the least the voucher pays on; add to the sale or keep the voucher."""

    http_status = 422
    code = "voucher_min_spend"


class VoucherOverValue(Refused):
    """The voucher tender asks more than the voucher is worth; take the rest in another tender."""

    http_status = 422
    code = "voucher_over_value"


class UnknownWarehouse(NotFound):
    """A warehouse code HQ's master data (as this branch has it) does not name."""

    code = "unknown_warehouse"


class WarehouseElsewhere(Refused):
    """The warehouse exists but another branch keeps it; only its keeper moves its stock."""

    http_status = 409
    code = "warehouse_elsewhere"


class OverReceipt(Refused):
    """A receipt for more than the order line still expects."""

    http_status = 409
    code = "over_receipt"


class TransferToItself(Refused):
    """A transfer whose source and destination are the same warehouse."""

    http_status = 422
    code = "transfer_to_itself"


class DocumentState(Refused):
    """The document is not in a state that allows this (a closed order, a transfer
    already received, a return beyond what was sold)."""

    http_status = 409
    code = "document_state"


class InsufficientStock(Refused):
    """A transfer or purchase return of more than the warehouse has on hand."""

    http_status = 409
    code = "insufficient_stock"


class NothingToReplenish(Refused):
    """A replenishment found nothing to order: no product is under its lower limit,
    what is under it is already on order, or it has no supplier to order from."""

    http_status = 409
    code = "nothing_to_replenish"


class UnknownCardType(NotFound):
    """No card type under this code in HQ's master data as this branch has it."""

    code = "unknown_card_type"


class CardExpired(Refused):
    """The card is outside its validity: before its first day or after its last. A
    renewal extends it."""

    http_status = 409
    code = "card_expired"


class UsesExhausted(Refused):
    """The count card holds fewer uses of this service item than the sale asks."""

    http_status = 402
    code = "uses_exhausted"


class NotOnThisCard(Refused):
    """The card does not cover this item: a time card that does not list the service,
    or a card tender for a product the sale does not have."""

    http_status = 422
    code = "not_on_this_card"


class NotRefundable(Refused):
    """More stored value asked back than may be paid back: only what was paid in, less
    what was taken, never a bonus."""

    http_status = 409
    code = "not_refundable"


class DayClosed(Refused):
    """The branch's drawer for that day is closed already: a close is taken once and
    never changed. A retry of the same close sends its Idempotency-Key again."""

    http_status = 409
    code = "day_closed"


class CreditOverLimit(Refused):
    """A credit tender beyond what the card's credit line has left (as this branch sees it)."""

    http_status = 402
    code = "credit_over_limit"


class OverRepayment(Refused):
    """A repayment of more credit than the card owes."""

    http_status = 409
    code = "over_repayment"


class UnknownSalesperson(Refused):
    """The salesperson a sale, a registration or a card sale names is not an active
    employee of this branch (unknown here, another branch's, or no longer active): name
    one from GET /api/employees, or leave salesperson out."""

    http_status = 400
    code = "unknown_salesperson"


class WrongCardPassword(Refused):
    """The card has a password and the one given is wrong or missing; after a few wrong
    ones the card's password is not even tried for a while (protocol.throttle)."""

    http_status = 403
    code = "wrong_card_password"


class CardNotChangeable(Refused):
    """The card cannot take this change: a card that never expires is not renewed, an
    upgrade goes to a dearer type, a plain card has no type to renew or upgrade."""

    http_status = 409
    code = "card_not_changeable"


class NoPhoto(NotFound):
    """The member has no photo; upload one with PUT /api/members/{id}/photo."""

    code = "no_photo"


class PhotoTooLarge(Refused):
    """The photo is bigger than one change-log entry carries (protocol.limits
    MAX_PHOTO_BYTES); resize it (a 480 x 480 JPEG is 30 to 50 KiB) and upload it again."""

    http_status = 413
    code = "photo_too_large"


class UnsupportedPhotoType(Refused):
    """The upload is not a JPEG, PNG or WebP image, by its Content-Type or by its first
    bytes; convert it to one of those."""

    http_status = 415
    code = "unsupported_photo_type"


class PhotoUnavailable(Refused):
    """The member's photo is not at this branch yet and HQ could not send it (HQ is
    unreachable, or the branch that took it has not synced); ask again later."""

    http_status = 503
    code = "photo_unavailable"


class PhotoFromHQBroken(Refused):
    """HQ answered with bytes that are not the photo asked for (they hash to another
    SHA-256, or are no image); nothing was kept. HQ's store needs checking."""

    http_status = 502
    code = "photo_from_hq_broken"


class UnknownLevel(NotFound):
    """No active member level under this code in HQ's master data as this branch has
    it; list them with GET /api/levels."""

    code = "unknown_level"


class LevelNotAbove(Refused):
    """The member holds this level or a higher one already (graded by HQ, bought, or
    given by a card): there is nothing to buy."""

    http_status = 409
    code = "level_not_above"


class NotNextLevel(Refused):
    """A level is bought one step at a time, from the level just below it: buy the next
    level up first (the message names it)."""

    http_status = 409
    code = "not_next_level"


class LevelNotForSale(Refused):
    """HQ sells this level for no points (its points_price is unset): it is only
    earned by spend or visits."""

    http_status = 409
    code = "level_not_for_sale"


class NotRedeemable(Refused):
    """A sale line asks to redeem goods for points that HQ gives no points price (FEATURES
    L7): sell it for money, or ask HQ to price it in points."""

    http_status = 409
    code = "not_redeemable"


class RedeemNeedsMember(Refused):
    """Goods are redeemed with a member's points: name the member (one with a card at
    this branch) on the sale, or sell the line for money."""

    http_status = 422
    code = "redeem_needs_member"


class DiscountOverLimit(Refused):
    """A line's till discount is more than this operator may give (node.config's
    clerk_discount_limit_percent of what the line pays after offers). Give less, or ask
    a store manager (permission sales:edit), who may give more."""

    http_status = 403
    code = "discount_over_limit"
