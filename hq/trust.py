"""What a node's key may claim: its own branch's things, in its own time.

A batch that verifies was signed by the branch's node, but a signature says who
wrote an entry, not that the entry is about what that node may touch. Before HQ
plans any effect, each new entry is screened against what HQ knows of its
branch, facts no node can change:

1. Its stamp is after the stamp of the entry before it in the branch's log (a
   node's clock only moves forward: protocol.hlc), and not from before the
   branch enrolled, beyond the clock drift HQ allows. Stamps order the
   directory's merges (the earliest registration survives a duplicate), so an
   entry stamped into the past could win a merge it never took part in.
2. Every warehouse it names, where its stock moves and the document's own, is
   one HQ holds as the branch's. Another branch's warehouses are changed only
   by that branch's own entries, or by HQ routing a transfer.
3. The operator it names as acting (entry format 2) is one of the branch's own:
   HQ makes every operator and sends a branch only its own, so a node naming
   another branch's operator, or HQ's, or one HQ never made, is claiming what it
   cannot know. (A disabled operator still counts: a branch offline when HQ
   disabled them legitimately booked their sales.)

An entry that fails is still stored (its chain is the branch's to keep, and the
entries after it flow); only its effect is refused, set aside for an operator
with the rule it broke (hq.quarantine). Pure: the facts are read by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hq.errors import BeyondItsBranch, StampOutOfOrder
from hq.plan import RefusedEffect
from protocol.entry import Entry
from protocol.hlc import physical_ms
from protocol.limits import MAX_CLOCK_DRIFT_MS


@dataclass(frozen=True, slots=True)
class BranchFacts:
    """What HQ holds about the branch whose entries are screened."""

    code: str
    enrolled_at_ms: int
    previous_hlc: int  # the stamp of the entry before the first screened one; 0 before any
    warehouses: frozenset[str]  # the warehouses HQ holds as this branch's
    operators: frozenset[str] = frozenset()  # the ids of the operators HQ made for this branch


def screen(entries: Sequence[Entry], facts: BranchFacts) -> tuple[list[Entry], list[RefusedEffect]]:
    """The entries whose effects may be planned, and those refused (rules 1 to 3)."""
    allowed: list[Entry] = []
    refused: list[RefusedEffect] = []
    previous = facts.previous_hlc
    earliest_ms = facts.enrolled_at_ms - MAX_CLOCK_DRIFT_MS
    for entry in entries:
        refusal = (
            _stamp_refusal(entry, previous, earliest_ms)
            or _warehouse_refusal(entry, facts)
            or _actor_refusal(entry, facts)
        )
        # The next stamp is held to this one whatever became of it: the log's order is the node's.
        previous = entry.hlc
        if refusal is None:
            allowed.append(entry)
        else:
            refused.append(RefusedEffect(entry, refusal))
    return allowed, refused


def _stamp_refusal(entry: Entry, previous_hlc: int, earliest_ms: int) -> StampOutOfOrder | None:
    if entry.hlc <= previous_hlc:
        return StampOutOfOrder(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}) is stamped {entry.hlc},"
            f" not after the entry before it ({previous_hlc})"
        )
    if physical_ms(entry.hlc) < earliest_ms:
        return StampOutOfOrder(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}) is stamped at"
            f" {physical_ms(entry.hlc)} ms, before its branch enrolled"
            f" ({earliest_ms + MAX_CLOCK_DRIFT_MS} ms, less {MAX_CLOCK_DRIFT_MS // 60_000} minutes of drift)"
        )
    return None


def _warehouse_refusal(entry: Entry, facts: BranchFacts) -> BeyondItsBranch | None:
    for warehouse in _warehouses_named(entry.payload):
        if warehouse not in facts.warehouses:
            return BeyondItsBranch(
                f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}) names warehouse"
                f" {warehouse!r}, which is not one of {facts.code}'s at HQ"
            )
    return None


def _actor_refusal(entry: Entry, facts: BranchFacts) -> BeyondItsBranch | None:
    if entry.actor and entry.actor not in facts.operators:
        return BeyondItsBranch(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}) names operator {entry.actor!r}"
            f" as acting, who is not one of {facts.code}'s at HQ"
        )
    return None


def _warehouses_named(payload: Any) -> Iterable[str]:
    """The warehouses an entry acts on as its own: the document's, and each stock move's.
    (A transfer's destination is the other branch's, and HQ routes it; not named here.)"""
    if not isinstance(payload, dict):
        return
    own = payload.get("warehouse")
    if isinstance(own, str):
        yield own
    moves = payload.get("moves")
    if isinstance(moves, list):
        for move in moves:
            if isinstance(move, dict) and isinstance(move.get("warehouse"), str):
                yield move["warehouse"]
