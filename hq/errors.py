"""Refusals only HQ gives nodes and operators, each a `protocol.errors.Refused` with
its HTTP status and code; HQ's app maps every refusal to a response in one place
(the middleware in hq/api.py, whose `refusal()` the simulator answers with too).
Refusals a node gives too (an unknown or blocked card, a short balance, not found)
are defined once in protocol.errors and re-exported here for HQ's modules; the
merge rules' own (a record clashing with another under its id) in conflict.errors.
"""

from __future__ import annotations

from protocol.errors import (
    CardBlocked,
    InsufficientBalance,
    KeyFileExposed,
    NotFound,
    Refused,
    StoreTooNew,
    UnknownCard,
)

__all__ = [
    "ActionNotOffered",
    "AlreadyEnrolled",
    "AuthFailed",
    "BeyondItsBranch",
    "CampaignTermsDiffer",
    "CardBlocked",
    "ConflictClosed",
    "EnrollmentRefused",
    "ExportFailed",
    "HoldConflict",
    "InsufficientBalance",
    "InvalidCampaign",
    "InvalidMasterData",
    "InvalidQuery",
    "KeyFileExposed",
    "NotFound",
    "NotInitialised",
    "OutOfBounds",
    "ProofTooLong",
    "Quarantined",
    "RecordConflict",
    "StampOutOfOrder",
    "StoreTooNew",
    "TooManyHolds",
    "UnknownBranch",
    "UnknownCampaign",
    "UnknownCard",
    "UnknownConflict",
    "UnknownReference",
    "WarehouseKeeperFixed",
]


class EnrollmentRefused(Refused):
    """The enrollment token is unknown, spent, expired or for another branch. The
    refusal does not say which (that would tell a guesser when a token is real);
    `reason` does, for HQ's log."""

    http_status = 401
    code = "token_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "this token cannot enroll this branch: it may be unknown, used, expired or for"
            " another branch; ask HQ for a new one"
        )
        self.reason = reason


class AuthFailed(Refused):
    """A node's signed request header is missing, stale or does not verify."""

    http_status = 401
    code = "auth_failed"


class UnknownBranch(Refused):
    """No node is enrolled under this branch code."""

    http_status = 403
    code = "unknown_branch"


class Quarantined(Refused):
    """The branch's log forked; HQ accepts nothing from it until an operator reviews."""

    http_status = 423
    code = "quarantined"


class AlreadyEnrolled(Refused):
    """The branch already has an enrolled node and a log; a second one would fork it."""

    http_status = 409
    code = "already_enrolled"


class InvalidQuery(Refused):
    """A query parameter or request body is malformed or out of range; the message names it."""

    http_status = 400
    code = "invalid_query"


class DatabaseMismatch(Refused):
    """HQ was started with a database other than the one its folder was initialised
    with; the message names both."""

    http_status = 503
    code = "database_mismatch"


class DatabaseUnfit(Refused):
    """The PostgreSQL database cannot hold HQ's data as HQ needs it; the message says
    what to change."""

    http_status = 503
    code = "database_unfit"


class ExportFailed(Refused):
    """An export built in the background failed; the message says why. Ask for it again."""

    http_status = 500
    code = "export_failed"


class StoreUnreachable(Refused):
    """HQ's database does not answer (restarting, or the network to it is down); the
    request may be retried, here or at another HQ process."""

    http_status = 503
    code = "store_unreachable"


class NotInitialised(Refused):
    """The data folder holds no HQ; run `branchline hq init` first."""

    http_status = 503
    code = "not_initialised"


class TooManyHolds(Refused):
    """The branch already holds as many open holds on this card, or as much money, as a
    till ever needs at once; capture or release one (or wait for it to expire) before
    asking again."""

    http_status = 429
    code = "too_many_holds"


class HoldConflict(Refused):
    """A hold id already names a hold with other terms (branch, card or amount)."""

    http_status = 409
    code = "hold_conflict"


class InvalidMasterData(Refused):
    """A product, category, supplier or warehouse an operator sent breaks a rule;
    the message names the record, the field and the rule."""

    http_status = 422
    code = "invalid_master_data"


class UnknownReference(Refused):
    """Master data names a category, supplier or parent HQ does not hold; add that first."""

    http_status = 422
    code = "unknown_reference"


class WarehouseKeeperFixed(Refused):
    """A warehouse's stock lives in its keeper's log; another branch cannot take it over."""

    http_status = 409
    code = "warehouse_keeper_fixed"


# -- voucher campaigns (hq.vouchers) ---------------------------------------------------------


class InvalidCampaign(Refused):
    """A voucher campaign an operator sent breaks a rule (a window that ends before it
    starts, a voucher worth nothing, a criterion HQ does not know, more vouchers than one
    campaign issues); the message names the field and the rule. Nothing was issued."""

    http_status = 422
    code = "invalid_campaign"


class CampaignTermsDiffer(Refused):
    """A campaign under this code was issued on other terms; vouchers already issued
    keep theirs. Send the same terms to issue to members who newly fit, or use a new code."""

    http_status = 409
    code = "campaign_terms_differ"


class UnknownCampaign(NotFound):
    """No voucher campaign under this code; list them with GET /api/voucher-campaigns."""

    code = "unknown_campaign"


# -- the conflict queue --------------------------------------------------------------------


class UnknownConflict(NotFound):
    """No conflict has this id; list them with `branchline hq conflicts list`."""

    code = "unknown_conflict"


class ConflictClosed(Refused):
    """The conflict is already resolved (or cleared by later data); nothing to do."""

    http_status = 409
    code = "conflict_closed"


class ActionNotOffered(Refused):
    """The action does not fit this kind of conflict; the message lists those that do."""

    http_status = 422
    code = "action_not_offered"


# -- proving a branch's log ----------------------------------------------------------------


class ProofTooLong(Refused):
    """The entry's proof would run past the bound of one answer: it was stored before
    HQ kept every signed head, and the one head kept then is too far on. Ask for a
    proof of a later entry, or read the log itself."""

    http_status = 422
    code = "proof_too_long"


# -- why HQ could not apply a signed entry's effect (kept in the quarantine of effects) ----


class OutOfBounds(Refused):
    """A signed entry's field has the right type but lies outside the bound HQ keeps for
    it (an amount past MAX_FEN, a date past the year 9999). HQ stores the entry and sets
    its effect aside; the branch corrects the record with a new document."""

    http_status = 422
    code = "out_of_bounds"


class BeyondItsBranch(Refused):
    """A signed entry claims what is not its branch's: a warehouse of another branch,
    or one HQ does not know. A node's key speaks for its own branch only; HQ stores
    the entry and sets its effect aside, and the branch's data needs checking."""

    http_status = 403
    code = "beyond_its_branch"


class StampOutOfOrder(Refused):
    """A signed entry's clock stamp is not after the one before it in its branch's log,
    or is from before the branch enrolled (beyond the clock drift HQ allows). Stamps
    order the directory's merges, so HQ stores the entry and sets its effect aside."""

    http_status = 422
    code = "stamp_out_of_order"


class RecordConflict(Refused):
    """A signed entry names a record HQ already holds differently under the same id (a
    sale id booked twice, say). HQ stores the entry and sets its effect aside; the
    branch's node is broken or its data was restored wrongly, and needs checking."""

    http_status = 409
    code = "record_conflict"
