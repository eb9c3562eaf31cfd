"""What HQ sets aside, and what it says about it.

A branch whose log forked (two signed histories under one sequence) is
quarantined whole: HQ keeps both entries and the offered signed head as
evidence and accepts nothing more from the branch until an operator reviews.

An entry whose effect HQ cannot apply for a business reason (a payload it
cannot read, a figure beyond its bounds, a record clashing with one it holds)
is stored and acknowledged all the same, so the branch's log at HQ stays
complete and its replication moves on; only the effect is set aside, as a row an
operator sees (`GET /api/quarantine`, `branchline hq quarantine list`).
"""

from __future__ import annotations

from hq.errors import RecordConflict
from hq.plan import RefusedEffect
from hq.storage.base import QuarantinedEffect
from protocol.entry import Entry
from protocol.errors import ForkedLog
from protocol.ingest import Fork

# Refusal messages name an entry and a field; a longer one carries a payload value
# that says nothing more, and would only bloat the operator's list.
MAX_MESSAGE_CHARS = 500


def fork_reason(fork: Fork, now_ms: int) -> str:
    """Why the branch is quarantined, as the branch list and the status page show it."""
    return f"forked log at entry {fork.seq}, detected {now_ms} ms since epoch"


def forked_log(origin: str, fork: Fork) -> ForkedLog:
    return ForkedLog(
        f"branch {origin} signed a different entry {fork.seq} than HQ holds; "
        "the branch is quarantined and its pushes are refused until an operator reviews "
        "(evidence kept)"
    )


def effect_set_aside(refused: RefusedEffect, at_ms: int) -> QuarantinedEffect:
    """The quarantine row of an entry whose effect HQ could not apply."""
    entry, refusal = refused.entry, refused.refusal
    message = str(refusal)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return QuarantinedEffect(
        entry.origin, entry.seq, entry.kind, entry.op, entry.entity_id, refusal.code, message, at_ms
    )


def record_conflict(entry: Entry, error: Exception) -> RecordConflict:
    """A record the entry writes clashes with one HQ holds under the same key (the
    storage's uniqueness check said so): the entry's refusal."""
    return RecordConflict(
        f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}) names a record HQ already holds"
        f" differently: {error}"
    )
