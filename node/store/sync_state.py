"""Replication bookmarks kept in the store's `sync_state` table: how much of our log
HQ has acknowledged, and how far we have applied HQ's feed.

They live beside the data so a restart resumes where it stopped, and a feed page
moves its cursor in the transaction that applies it. Services read them too: a
hold asks which of our writes HQ has already seen.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from protocol.entry import GENESIS_HASH

# The highest sequence of our log HQ holds (contiguous from 1), as HQ last said.
ACKED_SEQ = "acked_seq"
# The sequence and hash of the last entry of HQ's feed applied here.
FEED_SEQ = "feed_seq"
FEED_HASH = "feed_hash"


def put(conn: sqlite3.Connection, values: Iterable[tuple[str, int | bytes]]) -> None:
    conn.executemany(
        "INSERT INTO sync_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values),
    )


def acked_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (ACKED_SEQ,)).fetchone()
    return 0 if row is None else int(row[0])


def feed_cursor(conn: sqlite3.Connection) -> tuple[int, bytes]:
    rows = dict(conn.execute("SELECT key, value FROM sync_state WHERE key IN (?, ?)", (FEED_SEQ, FEED_HASH)))
    return int(rows.get(FEED_SEQ, 0)), bytes(rows.get(FEED_HASH, GENESIS_HASH))
