"""Schema migrations, the store's read threads, and the drain progress a person sees."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from node.store import schema
from node.store.store import Store
from node.sync.progress import SHOW_FROM_BACKLOG, DrainProgress
from protocol.errors import StoreTooNew


def test_migrations_apply_once_and_a_newer_store_is_refused(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "n.sqlite"))
    assert schema.migrate(conn) == len(schema.MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    extra = (*schema.MIGRATIONS, "CREATE TABLE later (x INTEGER)")
    assert schema.migrate(conn, extra) == len(extra)
    assert schema.migrate(conn, extra) == len(extra)  # applying again changes nothing
    # A refusal like HQ's (protocol.errors.StoreTooNew), no longer a bare RuntimeError.
    with pytest.raises(StoreTooNew, match="newer than this build"):
        schema.migrate(conn, schema.MIGRATIONS)
    conn.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "n.sqlite"))
    schema.migrate(conn)
    broken = (*schema.MIGRATIONS, "CREATE TABLE fine (x INTEGER); CREATE TABLE members (x INTEGER)")
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'fine'").fetchone() is None
    conn.close()


async def test_a_long_read_does_not_hold_up_another(tmp_path: Path) -> None:
    """Two reads run at once: the long one here finishes only after the short one has run."""
    store = await Store.open(tmp_path / "n.sqlite", "BR01", synchronous="OFF")
    short_read_ran = threading.Event()

    def long_read(conn: sqlite3.Connection) -> bool:
        return short_read_ran.wait(timeout=5)  # the bound only keeps a broken store from hanging

    def short_read(conn: sqlite3.Connection) -> int:
        short_read_ran.set()
        return int(conn.execute("SELECT COUNT(*) FROM change_log").fetchone()[0])

    try:
        long = asyncio.create_task(store.read(long_read))
        await asyncio.sleep(0)  # the long read takes its thread first
        assert await store.read(short_read) == 0
        assert await long, "the short read waited for the long one"
    finally:
        await store.close()


def test_a_large_backlog_drain_is_reported_from_start_to_end(caplog: pytest.LogCaptureFixture) -> None:
    progress = DrainProgress("BR01")
    with caplog.at_level(logging.INFO, logger="node.sync.progress"):
        progress.update(acked_seq=0, head_seq=SHOW_FROM_BACKLOG - 1)  # small: nothing shown
        assert caplog.messages == []
        progress.update(acked_seq=0, head_seq=50_000)
        progress.update(acked_seq=50_000, head_seq=50_000)
    assert caplog.messages[0] == "BR01: draining a backlog of 50000 entries to HQ"
    assert caplog.messages[-1].startswith("BR01: backlog drained, 50000 entries in")
