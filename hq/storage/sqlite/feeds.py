"""HQ's per-branch feeds on SQLite: appending signed-to-be entries and reading pages.

Each branch's feed is a hash-chained log HQ writes for it (origin `hq:CODE`);
HQ signs a page's head when it serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hq.storage.base import FeedChange, FeedSlice, feed_origin
from protocol.entry import GENESIS_HASH, encode_entry
from protocol.hlc import HybridLogicalClock
from shared_tables.sql import Connection

# Appends changes to a branch's feed in the current transaction; returns the last seq.
AppendFeed = Callable[[Connection, str, Sequence[FeedChange]], int]


def latest_hlc(conn: Connection) -> int:
    """The newest stamp in any feed: HQ's clock starts from it, so stamps never go back."""
    return int(conn.execute("SELECT COALESCE(MAX(hlc), 0) FROM feed").fetchone()[0])


def append(
    conn: Connection,
    clock: HybridLogicalClock,
    branch: str,
    changes: Iterable[FeedChange],
    wall_ms: int,
) -> int:
    """Append to `branch`'s feed; the sequence of its last entry."""
    row = conn.execute(
        "SELECT seq, hash FROM feed WHERE branch = ? ORDER BY seq DESC LIMIT 1", (branch,)
    ).fetchone()
    seq, prev_hash = (0, GENESIS_HASH) if row is None else (row[0], bytes(row[1]))
    rows = []
    for change in changes:
        seq += 1
        entry = encode_entry(
            origin=feed_origin(branch),
            seq=seq,
            hlc=clock.tick(wall_ms),
            prev_hash=prev_hash,
            kind=change.kind,
            entity_id=change.entity_id,
            op=change.op,
            payload=change.payload,
            actor=change.actor,
        )
        rows.append((branch, seq, entry.hlc, entry.hash, entry.raw))
        prev_hash = entry.hash
    conn.executemany("INSERT INTO feed (branch, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)", rows)
    return seq


def appender(clock: HybridLogicalClock, wall_ms: int) -> AppendFeed:
    """`append` with HQ's clock and the time of the write bound."""

    def append_changes(conn: Connection, branch: str, changes: Sequence[FeedChange]) -> int:
        return append(conn, clock, branch, changes, wall_ms)

    return append_changes


def enrolled(conn: Connection) -> list[str]:
    """Every enrolled branch, by code: the feeds a change for everyone goes to."""
    return [code for (code,) in conn.execute("SELECT code FROM nodes ORDER BY code")]


def publish(conn: Connection, append_to: AppendFeed, changes: Sequence[FeedChange]) -> list[str]:
    """Append the changes to every branch's feed; the branches."""
    codes = enrolled(conn)
    for code in codes:
        append_to(conn, code, changes)
    return codes


def feed_after(conn: Connection, branch: str, after_seq: int, max_entries: int, max_bytes: int) -> FeedSlice:
    available = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM feed WHERE branch = ?", (branch,)).fetchone()[
        0
    ]
    raws: list[bytes] = []
    size = 0
    for (raw,) in conn.execute(
        "SELECT entry FROM feed WHERE branch = ? AND seq > ? ORDER BY seq LIMIT ?",
        (branch, after_seq, max_entries),
    ):
        if raws and size + len(raw) > max_bytes:
            break
        raws.append(bytes(raw))
        size += len(raw)
    return FeedSlice(raws, available)
