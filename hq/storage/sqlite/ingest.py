"""The branches' logs at HQ on SQLite: storing a verified batch verbatim, applying
what its entries mean, and keeping a forking branch's evidence.

What the batch is (held, new, gap, fork) is protocol.ingest's decision; what its
entries mean is hq.plan's. Here they are executed in the ingest transaction.
"""

from __future__ import annotations

import sqlite3

from hq import quarantine
from hq.errors import Quarantined, UnknownBranch
from hq.plan import Plan, plan_entries
from hq.storage.base import IngestResult
from hq.storage.sqlite import directory, feeds, inventory, reports
from hq.storage.sqlite.feeds import AppendFeed
from protocol.batch import SignedBatch
from protocol.hlc import HybridLogicalClock
from protocol.ingest import Fork, Gap, NewEntries, decide, held_range


def ingest(
    conn: sqlite3.Connection,
    clock: HybridLogicalClock,
    batch: SignedBatch,
    now_ms: int,
    reported_backlog: int,
) -> IngestResult | Fork:
    """Store and apply the batch's new entries and move the acked sequence; or, for a
    fork, quarantine the branch with the evidence and return the fork (the caller
    refuses the push once that is committed)."""
    origin = batch.origin
    row = conn.execute(
        "SELECT acked_seq, head_hash, quarantined_reason FROM nodes WHERE code = ?", (origin,)
    ).fetchone()
    if row is None:
        raise UnknownBranch(f"no node is enrolled as {origin}")
    acked_seq, head_hash, quarantined_reason = row[0], bytes(row[1]), row[2]
    if quarantined_reason is not None:
        raise Quarantined(f"branch {origin} is quarantined: {quarantined_reason}")
    needed = held_range(batch.first_seq, batch.last_seq, acked_seq)
    held = (
        {
            seq: bytes(raw)
            for seq, raw in conn.execute(
                "SELECT seq, entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ?",
                (origin, needed[0], needed[-1]),
            )
        }
        if needed
        else {}
    )
    decision = decide(batch.entries, acked_seq=acked_seq, head_hash=head_hash, held=held)
    if isinstance(decision, Gap):
        raise decision.refusal(origin)
    if isinstance(decision, Fork):
        _quarantine(conn, batch, decision, now_ms)
        return decision
    applied = 0
    feeds_grown: set[str] = set()
    if isinstance(decision, NewEntries):
        fresh = decision.entries
        conn.executemany(
            "INSERT INTO log_entries (origin, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)",
            [(origin, e.seq, e.hlc, e.hash, e.raw) for e in fresh],
        )
        for entry in fresh:
            clock.observe(entry.hlc, now_ms)
        feeds_grown = execute_plan(conn, plan_entries(fresh), feeds.appender(clock, now_ms), now_ms)
        last = fresh[-1]
        conn.execute(
            "UPDATE nodes SET acked_seq = ?, head_hash = ?, head_signature = ? WHERE code = ?",
            (last.seq, last.hash, batch.signature, origin),
        )
        acked_seq, applied = last.seq, len(fresh)
    conn.execute(
        "UPDATE nodes SET last_seen_ms = ?, reported_backlog = ? WHERE code = ?",
        (now_ms, reported_backlog, origin),
    )
    return IngestResult(acked_seq, applied, decision.duplicates, tuple(sorted(feeds_grown)))


def execute_plan(conn: sqlite3.Connection, plan: Plan, append: AppendFeed, now_ms: int) -> set[str]:
    """Apply what the entries mean; the branches whose feeds grew."""
    reports.record_sales(conn, plan.sales)
    feeds_grown = directory.merge_members(conn, plan.members, append) if plan.members else set()
    if plan.directory:
        feeds_grown |= directory.merge_records(conn, plan.directory, append, now_ms)
    enrolled = set(feeds.enrolled(conn))
    feeds_grown |= inventory.execute(conn, plan.inventory, append, enrolled)
    return feeds_grown


def _quarantine(conn: sqlite3.Connection, batch: SignedBatch, fork: Fork, now_ms: int) -> None:
    conn.execute(
        "UPDATE nodes SET quarantined_reason = ?, quarantined_at_ms = ?"
        " WHERE code = ? AND quarantined_reason IS NULL",
        (quarantine.fork_reason(fork, now_ms), now_ms, batch.origin),
    )
    conn.execute(
        "INSERT INTO forks (origin, seq, held_entry, offered_entry, offered_head_seq,"
        " offered_head_hash, offered_signature, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            batch.origin,
            fork.seq,
            fork.held,
            fork.offered,
            batch.head.seq,
            batch.head.hash,
            batch.signature,
            now_ms,
        ),
    )


def log_entries(conn: sqlite3.Connection, origin: str, first_seq: int, last_seq: int) -> list[bytes]:
    rows = conn.execute(
        "SELECT entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (origin, first_seq, last_seq),
    )
    return [bytes(row[0]) for row in rows]
