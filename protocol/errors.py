"""The one root of Branchline's errors, split by whose fault it is, and the errors
of the wire and the log.

    BranchlineError
    ├── InvariantBroken   ours: a bug. Raised loudly, never caught to carry on.
    └── Refused           theirs: bad input from a till, an operator, a node, HQ or
                          a file. Carries the HTTP status and the code it maps to,
                          so each app maps refusals to responses in one place.

Every leaf is defined once, here or in the package that owns the rule it
enforces (conflict/, node/errors.py, hq/errors.py), with a docstring that says
what happened and what to do. The refusals whose codes cross the wire between a
node and HQ (a hold refused for a blocked card, say) are defined here, because
both sides name them.
"""

from __future__ import annotations


class BranchlineError(Exception):
    """Root of every error Branchline raises on purpose."""


class InvariantBroken(BranchlineError, AssertionError):
    """Ours: an invariant the code relies on does not hold. A bug; never caught to carry on."""


class Refused(BranchlineError):
    """Theirs: input refused with a specific code and the HTTP status it maps to."""

    http_status = 400
    code = "bad_request"


def require(condition: bool, invariant: str) -> None:
    """Check an invariant; unlike `assert`, survives `python -O`."""
    if not condition:
        raise InvariantBroken(invariant)


# -- refusals both sides give, whose codes cross the wire ------------------------------


class NotFound(Refused):
    """No record under this id here (at this branch, or at HQ)."""

    http_status = 404
    code = "not_found"


class UnknownCard(NotFound):
    """No member known here holds this card number (if issued at another branch, wait
    for the sync)."""

    code = "unknown_card"


class CardBlocked(Refused):
    """The card is lost, suspended or returned: it cannot pay until it is unlocked."""

    http_status = 409
    code = "card_blocked"


class InsufficientBalance(Refused):
    """The card's balance (online: at HQ, less open holds) does not cover the amount."""

    http_status = 402
    code = "insufficient_balance"


class StoreTooNew(Refused):
    """The store was written by a newer build of Branchline; run that build (or newer)."""

    http_status = 503
    code = "store_too_new"


class KeyFileExposed(Refused):
    """A private key file is readable by other users; restrict it (`chmod 600`) first."""

    http_status = 503
    code = "key_file_exposed"


class DataExposed(Refused):
    """A data folder or database other users can read (member data, money); restrict
    it (`chmod 700` the folder, `chmod 600` the files) before starting."""

    http_status = 503
    code = "data_exposed"


class NotJson(Refused):
    """A JSON endpoint got a body of another content type. Only application/json is
    read: a form or text/plain, which any web page may post cross-site without asking,
    is refused before anything is read from it."""

    http_status = 415
    code = "unsupported_media_type"


class NestedTooDeep(Refused):
    """A JSON body nests objects or arrays deeper than any request needs
    (protocol.json_text.MAX_JSON_DEPTH); nothing was read from it."""

    http_status = 400
    code = "nested_too_deep"


class TooManyAttempts(Refused):
    """Too many failed attempts from here (an enrollment token, a log-in) in a short
    time; wait the time the message gives and try again."""

    http_status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotLoggedIn(Refused):
    """The request carries no session, or one that expired or was logged out: log in
    (POST /api/login) and send `Authorization: Bearer TOKEN`."""

    http_status = 401
    code = "not_logged_in"


class LoginFailed(Refused):
    """The login and password do not match an operator who may log in here. Which of
    the two was wrong is not said, so guessing learns nothing."""

    http_status = 401
    code = "login_failed"


class OperatorDisabled(Refused):
    """The operator's account is disabled at HQ; an HQ operator can enable it again."""

    http_status = 403
    code = "operator_disabled"


class Forbidden(Refused):
    """The operator is logged in but their role (and grants) do not allow this, or the
    data belongs to another store; ask HQ for the permission."""

    http_status = 403
    code = "forbidden"


class Overloaded(Refused):
    """Too much work is queued already; retry shortly."""

    http_status = 503
    code = "overloaded"


class ShuttingDown(Refused):
    """The process is shutting down; retry in a moment."""

    http_status = 503
    code = "shutting_down"


# -- the wire and the log --------------------------------------------------------------


class ProtocolError(Refused):
    """Base of every refusal of input by the protocol layer."""

    code = "protocol_error"


class MalformedMessage(ProtocolError):
    """The bytes are not a well-formed Branchline message (garbage, wrong types, truncated)."""

    code = "malformed"


class MessageTooLarge(ProtocolError):
    """A message, entry or batch exceeds its stated bound."""

    http_status = 413
    code = "too_large"


class UnsupportedVersion(ProtocolError):
    """A format version this build does not know; upgrade the older side."""

    code = "unsupported_version"


class BadSignature(ProtocolError):
    """The signature does not verify with the key pinned for this origin."""

    http_status = 401
    code = "bad_signature"


class ChainBroken(ProtocolError):
    """Entries do not link: a hash, an origin or a sequence inside a batch is wrong."""

    http_status = 422
    code = "chain_broken"


class SequenceGap(ProtocolError):
    """The batch starts after the next sequence the receiver expects; resend from there."""

    http_status = 409
    code = "sequence_gap"

    def __init__(self, message: str, *, expected_seq: int) -> None:
        super().__init__(message)
        self.expected_seq = expected_seq


class ForkedLog(ProtocolError):
    """Two different signed histories under one origin: the origin is quarantined."""

    http_status = 409
    code = "forked_log"


class ClockDriftTooLarge(ProtocolError):
    """A timestamp is further ahead of the receiver's clock than the accepted drift."""

    http_status = 422
    code = "clock_drift"


class PayloadInvalid(MalformedMessage):
    """An entry's payload breaks the wire contract for its kind and operation
    (protocol/contract.py): a field is missing, of the wrong type or beyond its
    bound. The message names the kind/op, the field's path and the rule; the
    writer must be fixed, since sending the same entry again gives the same answer."""

    http_status = 422
    code = "payload_invalid"

    def __init__(self, entry_type: str, path: str, rule: str, *, entry: str | None = None) -> None:
        where = entry_type if entry is None else f"entry {entry} ({entry_type})"
        super().__init__(f"{where}: {path or 'the payload'} {rule}")
        self.entry_type = entry_type  # "kind/op"
        self.entry = entry  # "origin#seq" when the payload was read from an entry
        self.path = path  # e.g. "lines[3].qty"; empty for the payload as a whole
        self.rule = rule


class WrongWriter(MalformedMessage):
    """An entry of a kind and operation that only the other side writes: a branch's
    log carrying master data HQ authors, or HQ's feed carrying a branch's sale. The
    log or feed that carries it was written by a broken or forged writer."""

    http_status = 422
    code = "wrong_writer"
