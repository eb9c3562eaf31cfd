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
    "CardTaken",
    "CreditOverLimit",
    "DayClosed",
    "DocumentState",
    "InsufficientBalance",
    "InsufficientStock",
    "InvalidRequest",
    "MalformedBody",
    "NotEnrolled",
    "NotFound",
    "NotOnThisCard",
    "NotRefundable",
    "NothingToClear",
    "NothingToReplenish",
    "OfflineLimitReached",
    "OverReceipt",
    "OverRepayment",
    "PhoneTaken",
    "ReplicatorStarting",
    "TenderShort",
    "TransferToItself",
    "UnknownCard",
    "UnknownCardType",
    "UnknownMember",
    "UnknownProduct",
    "UnknownWarehouse",
    "UnsupportedTender",
    "UsesExhausted",
    "VoucherUsed",
    "WarehouseElsewhere",
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
