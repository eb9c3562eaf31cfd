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
