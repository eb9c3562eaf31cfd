"""The branch's own change log: appended in the business write's transaction.

If an entry is not in the log, its write did not happen: `LogWriter.record` runs
inside the writer's transaction, and the head kept in memory only moves on when
that transaction commits.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.errors import require
from protocol.hlc import HybridLogicalClock


class LogHead(NamedTuple):
    seq: int
    hash: bytes
    hlc: int


GENESIS = LogHead(0, GENESIS_HASH, 0)


def read_head(conn: sqlite3.Connection) -> LogHead:
    row = conn.execute("SELECT seq, hash, hlc FROM change_log ORDER BY seq DESC LIMIT 1").fetchone()
    return GENESIS if row is None else LogHead(row[0], bytes(row[1]), row[2])


def read_entries(conn: sqlite3.Connection, first_seq: int, last_seq: int, max_bytes: int) -> list[bytes]:
    """The stored bytes of entries `first_seq`..`last_seq` in order, ending before the one
    that would take them past `max_bytes` (the first is always taken)."""
    raws: list[bytes] = []
    size = 0
    for (raw_entry,) in conn.execute(
        "SELECT entry FROM change_log WHERE seq BETWEEN ? AND ? ORDER BY seq", (first_seq, last_seq)
    ):
        raw = bytes(raw_entry)
        if raws and size + len(raw) > max_bytes:
            break
        raws.append(raw)
        size += len(raw)
    return raws


class LogWriter:
    """Mints the next entry of this origin. Used only on the writer thread."""

    def __init__(self, origin: str, head: LogHead) -> None:
        self.origin = origin
        self.head = head
        self.clock = HybridLogicalClock(head.hlc)

    def mint(
        self,
        wall_ms: int,
        kind: str,
        entity_id: str,
        op: str,
        payload: Any,
        payload_is_canonical: bool = False,
        actor: str = "",
    ) -> Entry:
        """The next entry, the head moved on to it; the caller stores it in the same
        transaction (node.store.writer.Tx.record), or rewinds."""
        entry = encode_entry(
            origin=self.origin,
            seq=self.head.seq + 1,
            hlc=self.clock.tick(wall_ms),
            prev_hash=self.head.hash,
            kind=kind,
            entity_id=entity_id,
            op=op,
            payload=payload,
            payload_is_canonical=payload_is_canonical,
            actor=actor,
        )
        self.head = LogHead(entry.seq, entry.hash, entry.hlc)
        return entry

    def rewind(self, head: LogHead) -> None:
        """Forget entries of a rolled-back job or group."""
        require(head.seq <= self.head.seq, "a rewind never moves the log head forward")
        self.head = head
        # The clock keeps its reading: timestamps must not repeat even if an
        # entry that used one was rolled back.
