"""Errors of the wire and the log.

Every error here is *theirs*: bad input from a node, HQ or a file. Each leaf says
what happened and what to do, and carries the HTTP status it maps to, so the
shells map errors to responses in one place. Bugs of ours raise InvariantBroken.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every refusal of input by the protocol layer."""

    http_status = 400
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


class InvariantBroken(AssertionError):
    """A bug of ours: an invariant the code relies on does not hold. Never caught."""


def require(condition: bool, invariant: str) -> None:
    """Check an invariant; unlike `assert`, survives `python -O`."""
    if not condition:
        raise InvariantBroken(invariant)
