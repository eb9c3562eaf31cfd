"""HQ's per-branch feeds on SQLite: appending signed-to-be entries and reading pages.

Each branch's feed is a hash-chained log HQ writes for it (origin `hq:CODE`);
HQ signs a page's head when it serves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hq.storage.base import FeedChange, FeedSlice, feed_origin
from protocol import codec
from protocol.entry import GENESIS_HASH, encode_entry
from protocol.hlc import HybridLogicalClock
from shared_tables.sql import Connection

# The head of every enrolled branch's feed in one statement: a change for every
# branch (an online spend's ledger record, at a chain of 1,000) costs one read and
# one insert of all its rows, not a round trip per branch.
HEADS_SQL = (
    "SELECT code,"
    " (SELECT seq FROM feed WHERE branch = code ORDER BY seq DESC LIMIT 1),"
    " (SELECT hash FROM feed WHERE branch = code ORDER BY seq DESC LIMIT 1)"
    " FROM nodes"
)


def latest_hlc(conn: Connection) -> int:
    """The newest stamp in any feed: HQ's clock starts from it, so stamps never go back."""
    return int(conn.execute("SELECT COALESCE(MAX(hlc), 0) FROM feed").fetchone()[0])


class FeedAppender:
    """Appends changes to branches' feeds in the caller's transaction, stamped by HQ's
    clock at the write's wall time."""

    def __init__(self, clock: HybridLogicalClock, wall_ms: int) -> None:
        self.clock = clock
        self.wall_ms = wall_ms

    def __call__(self, conn: Connection, branch: str, changes: Sequence[FeedChange]) -> int:
        """Append to `branch`'s feed; the sequence of its last entry."""
        return self.to_each(conn, [branch], changes)[branch]

    def to_each(
        self, conn: Connection, branches: Sequence[str], changes: Sequence[FeedChange]
    ) -> dict[str, int]:
        """Append the same changes to each branch's feed; each feed's last sequence."""
        if not branches:
            return {}
        heads = _heads(conn, branches)
        # Each payload made canonical once, not once per branch it goes to.
        payloads = [codec.canonical(change.payload) for change in changes]
        rows = []
        last: dict[str, int] = {}
        for branch in branches:
            seq, prev_hash = heads.get(branch, (0, GENESIS_HASH))
            origin = feed_origin(branch)
            for change, payload in zip(changes, payloads, strict=True):
                seq += 1
                entry = encode_entry(
                    origin=origin,
                    seq=seq,
                    hlc=self.clock.tick(self.wall_ms),
                    prev_hash=prev_hash,
                    kind=change.kind,
                    entity_id=change.entity_id,
                    op=change.op,
                    payload=payload,
                    payload_is_canonical=True,
                    actor=change.actor,
                )
                rows.append((branch, seq, entry.hlc, entry.hash, entry.raw))
                prev_hash = entry.hash
            last[branch] = seq
        conn.executemany("INSERT INTO feed (branch, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)", rows)
        return last


def _heads(conn: Connection, branches: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """(seq, hash) of the last entry of each branch's feed that has one."""
    if len(branches) == 1:
        rows: Iterable[tuple[str, int | None, bytes | None]] = [
            (branches[0], *row)
            for row in conn.execute(
                "SELECT seq, hash FROM feed WHERE branch = ? ORDER BY seq DESC LIMIT 1", (branches[0],)
            )
        ]
    else:
        rows = conn.execute(HEADS_SQL)
    return {code: (seq, bytes(hash_)) for code, seq, hash_ in rows if seq is not None and hash_ is not None}


def enrolled(conn: Connection) -> list[str]:
    """Every enrolled branch, by code: the feeds a change for everyone goes to."""
    return [code for (code,) in conn.execute("SELECT code FROM nodes ORDER BY code")]


def publish(conn: Connection, append: FeedAppender, changes: Sequence[FeedChange]) -> list[str]:
    """Append the changes to every branch's feed; the branches."""
    codes = enrolled(conn)
    append.to_each(conn, codes, changes)
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
