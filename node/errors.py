"""Refusals of a till's request, one type per thing the caller can act on.

Each carries its HTTP status; `node.api` maps them to JSON responses in one place.
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of every refusal the node gives a till or an operator."""

    http_status = 400
    code = "bad_request"


class InvalidRequest(NodeError):
    """The request body is malformed or a field is out of range; the message names it."""

    http_status = 422
    code = "invalid"


class MalformedBody(NodeError):
    """The body is not a JSON object at all."""

    http_status = 400
    code = "malformed"


class NotFound(NodeError):
    http_status = 404
    code = "not_found"


class UnknownProduct(NotFound):
    """A SKU the branch's catalogue does not have (HQ has not published it, or it is mistyped)."""

    code = "unknown_product"


class UnknownMember(NotFound):
    """A member id this branch has not seen; if registered elsewhere, wait for the sync."""

    code = "unknown_member"


class PhoneTaken(NodeError):
    """Another member already has this phone number at this branch."""

    http_status = 409
    code = "phone_taken"


class TenderShort(NodeError):
    """The tenders do not cover the sale total."""

    http_status = 422
    code = "tender_short"


class UnsupportedTender(NodeError):
    """A tender kind this node cannot take yet."""

    http_status = 422
    code = "unsupported_tender"


class NotEnrolled(NodeError):
    """The data folder has no enrolled node; run `branchline node init` first."""

    http_status = 503
    code = "not_enrolled"


class UnknownCard(NotFound):
    """A card number no member at this branch is registered with (yet)."""

    code = "unknown_card"


class CardTaken(NodeError):
    """Another member already holds this card number at this branch."""

    http_status = 409
    code = "card_taken"


class CardBlocked(NodeError):
    """The card is lost, suspended or returned: it cannot pay until it is unlocked."""

    http_status = 409
    code = "card_blocked"


class NothingToClear(NodeError):
    """An unlock or resume with no loss report or suspension in force at this branch."""

    http_status = 409
    code = "nothing_to_clear"


class InsufficientBalance(NodeError):
    """The card's balance (online: at HQ, holds included) does not cover the amount."""

    http_status = 402
    code = "insufficient_balance"


class OfflineLimitReached(NodeError):
    """HQ is unreachable and this card has used today's offline spending limit here."""

    http_status = 402
    code = "offline_limit_reached"


class VoucherUsed(NodeError):
    """The single-use voucher was already redeemed (at this branch, or at another one
    whose use this branch has synced)."""

    http_status = 409
    code = "voucher_used"


class UnknownWarehouse(NotFound):
    """A warehouse code HQ's master data (as this branch has it) does not name."""

    code = "unknown_warehouse"


class WarehouseElsewhere(NodeError):
    """The warehouse exists but another branch keeps it; only its keeper moves its stock."""

    http_status = 409
    code = "warehouse_elsewhere"


class OverReceipt(NodeError):
    """A receipt for more than the order line still expects."""

    http_status = 409
    code = "over_receipt"


class TransferToItself(NodeError):
    """A transfer whose source and destination are the same warehouse."""

    http_status = 422
    code = "transfer_to_itself"


class DocumentState(NodeError):
    """The document is not in a state that allows this (a closed order, a transfer
    already received, a return beyond what was sold)."""

    http_status = 409
    code = "document_state"


class InsufficientStock(NodeError):
    """A transfer or purchase return of more than the warehouse has on hand."""

    http_status = 409
    code = "insufficient_stock"


class NothingToReplenish(NodeError):
    """A replenishment found nothing to order: no product is under its lower limit,
    what is under it is already on order, or it has no supplier to order from."""

    http_status = 409
    code = "nothing_to_replenish"
