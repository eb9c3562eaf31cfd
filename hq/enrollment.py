"""Who may enroll: the rules for HQ's one-time enrollment tokens, given what a backend
reads in its transaction. A branch enrolls once; a second node under its code would
fork its log."""

from __future__ import annotations

from dataclasses import dataclass

from hq.errors import AlreadyEnrolled, EnrollmentRefused


@dataclass(frozen=True, slots=True)
class EnrollToken:
    branch: str
    expires_at_ms: int
    used_at_ms: int | None


def check_token(token: EnrollToken | None, branch: str, now_ms: int, *, enrolled: bool) -> None:
    """The token must exist, be unused and unexpired, and be for this branch, which must
    not be enrolled already."""
    if token is None:
        raise EnrollmentRefused("unknown enrollment token")
    if token.used_at_ms is not None:
        raise EnrollmentRefused("the token was already used; tokens work once")
    if now_ms > token.expires_at_ms:
        raise EnrollmentRefused("the token has expired")
    if token.branch != branch:
        raise EnrollmentRefused(f"the token enrolls branch {token.branch}, not {branch}")
    if enrolled:
        raise AlreadyEnrolled(f"branch {branch} is already enrolled")


def refuse_second_node(branch: str, acked_seq: int | None) -> None:
    """No token is issued for, and no node enrolls as, a branch HQ already knows."""
    if acked_seq is not None:
        raise AlreadyEnrolled(
            f"branch {branch} is enrolled and HQ holds {acked_seq} entries of its log;"
            " a second node under that code would fork it"
        )
