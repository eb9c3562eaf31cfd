"""Refusals HQ gives nodes and operators, each with its HTTP status."""

from __future__ import annotations


class HQError(Exception):
    http_status = 400
    code = "bad_request"


class EnrollmentRefused(HQError):
    """The enrollment token is unknown, spent, expired or for another branch."""

    http_status = 401
    code = "token_refused"


class AuthFailed(HQError):
    """A node's signed request header is missing, stale or does not verify."""

    http_status = 401
    code = "auth_failed"


class UnknownBranch(HQError):
    """No node is enrolled under this branch code."""

    http_status = 403
    code = "unknown_branch"


class Quarantined(HQError):
    """The branch's log forked; HQ accepts nothing from it until an operator reviews."""

    http_status = 423
    code = "quarantined"


class AlreadyEnrolled(HQError):
    """The branch already has an enrolled node and a log; a second one would fork it."""

    http_status = 409
    code = "already_enrolled"


class InvalidQuery(HQError):
    http_status = 400
    code = "invalid_query"


class NotInitialised(HQError):
    """The data folder holds no HQ; run `branchline hq init` first."""

    http_status = 503
    code = "not_initialised"


class UnknownCard(HQError):
    """No member HQ knows holds this card number."""

    http_status = 404
    code = "unknown_card"


class CardBlocked(HQError):
    """The card is lost, suspended or returned at HQ's view of the directory."""

    http_status = 409
    code = "card_blocked"


class InsufficientBalance(HQError):
    """The card's balance less its open holds does not cover the amount asked."""

    http_status = 402
    code = "insufficient_balance"


class HoldConflict(HQError):
    """A hold id already names a hold with other terms (branch, card or amount)."""

    http_status = 409
    code = "hold_conflict"


class OperatorAuthFailed(HQError):
    """An operator endpoint needs `Authorization: Bearer <token>` from HQ's operator.token."""

    http_status = 401
    code = "operator_auth_failed"


class InvalidMasterData(HQError):
    """A product, category, supplier or warehouse an operator sent breaks a rule;
    the message names the record, the field and the rule."""

    http_status = 422
    code = "invalid_master_data"


class UnknownReference(HQError):
    """Master data names a category, supplier or parent HQ does not hold; add that first."""

    http_status = 422
    code = "unknown_reference"


class WarehouseKeeperFixed(HQError):
    """A warehouse's stock lives in its keeper's log; another branch cannot take it over."""

    http_status = 409
    code = "warehouse_keeper_fixed"


class NotFound(HQError):
    """No record under this id at HQ."""

    http_status = 404
    code = "not_found"
