"""HQ's feeds on SQLite: a store from before the feeds had rowids (schema 26) keeps
every feed row when it opens, the (branch, seq) of a feed row stays unique, and a
change for many feeds goes into each in its canonical bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hq.storage.base import FeedChange
from hq.storage.sqlite.feeds import FeedAppender, feed_after
from hq.storage.sqlite.schema import MIGRATIONS
from protocol import codec
from protocol.entry import decode_entry
from protocol.hlc import HybridLogicalClock
from shared_tables.migrations import migrate

SCHEMA_BEFORE_ROWIDS = 26
ROWS = [
    ("BR01", 1, 11, b"h" * 32, b"first of BR01"),
    ("BR02", 1, 12, b"i" * 32, b"first of BR02"),
    ("BR01", 2, 13, b"j" * 32, b"second of BR01"),
]


def test_the_feeds_keep_their_rows_through_the_upgrade(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "hq.sqlite", isolation_level=None)
    try:
        migrate(conn, MIGRATIONS[:SCHEMA_BEFORE_ROWIDS], "HQ's store")
        conn.executemany("INSERT INTO feed (branch, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)", ROWS)

        assert migrate(conn, MIGRATIONS, "HQ's store") == len(MIGRATIONS) > SCHEMA_BEFORE_ROWIDS

        (table,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'feed'").fetchone()
        assert "WITHOUT ROWID" not in table
        stored = conn.execute(
            "SELECT branch, seq, hlc, hash, entry FROM feed ORDER BY branch, seq"
        ).fetchall()
        assert stored == sorted(ROWS)
        assert feed_after(conn, "BR01", 0, 10, 1_000) == ([b"first of BR01", b"second of BR01"], 2)
        assert feed_after(conn, "BR01", 1, 10, 1_000) == ([b"second of BR01"], 2)
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'feed'")}
        assert "feed_by_hlc" in indexes
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO feed (branch, seq, hlc, hash, entry) VALUES ('BR01', 2, 14, x'00', x'00')"
            )
    finally:
        conn.close()


def test_a_change_for_many_feeds_is_written_in_its_canonical_bytes_to_each(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "hq.sqlite", isolation_level=None)
    try:
        migrate(conn, MIGRATIONS, "HQ's store")
        # Keys out of order, as a caller may build them: each feed gets the sorted map.
        change = FeedChange("product", "TEA-1", "upsert", {"sku": "TEA-1", "name": "Tea", "price_fen": 100})
        FeedAppender(HybridLogicalClock(), 1_764_547_200_000).to_each(conn, ["BR01", "BR02"], [change])
        for (raw,) in conn.execute("SELECT entry FROM feed ORDER BY branch"):
            entry = decode_entry(raw)
            assert list(entry.payload) == ["name", "price_fen", "sku"]
            assert raw == codec.pack(codec.unpack(raw))
    finally:
        conn.close()
