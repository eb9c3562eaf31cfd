"""A store from before sightings (schema 7): when it opens, HQ sights the
registrations it holds in the order that ranked them then (stamp, member id), so no
survivor changes, and tells every branch, so the branches rank the same way."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from conflict.duplicates import Registration
from hq.storage.sqlite import SqliteHQStore, directory
from hq.storage.sqlite.schema import MIGRATIONS
from protocol.entry import decode_entry
from shared_tables.migrations import migrate as shared_migrate
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll

SCHEMA_BEFORE_SIGHTINGS = 7


def _shape(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """Each table's columns, and each index as a table of no columns."""
    found: dict[str, set[str]] = {}
    for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"):
        found[name] = (
            {row[1] for row in conn.execute(f"PRAGMA table_info({name})")} if kind == "table" else set()
        )
    return found


def back_to_schema(conn: sqlite3.Connection, version: int) -> None:
    """Undo every migration after `version`, as a build of that schema left the store:
    what a fresh store of `version` lacks is dropped (indexes, tables, columns)."""
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as fresh:
        shared_migrate(fresh, MIGRATIONS[:version], "a store of the old schema")
        old = _shape(fresh)
    now = _shape(conn)
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master"))
    for name in sorted(set(now) - set(old), key=lambda n: kinds[n] != "index"):  # indexes first
        conn.execute(f"DROP {kinds[name].upper()} IF EXISTS {name}")
    for table, columns in old.items():
        for column in sorted(now.get(table, set()) - columns):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def register(branch: Branch, member_id: str, phone: str, at_ms: int) -> None:
    profile = {"home_branch": branch.code, "name": member_id, "phone": phone}
    branch.write("member", member_id, "register", profile, hlc=at_ms << 16)


async def sightings_in_feed(store: SqliteHQStore, code: str) -> list[list[object]]:
    raws, _ = await store.feed_after(code, 0, 10_000, 10_000_000)
    payloads = [decode_entry(raw).payload for raw in raws]
    return [p["record"] for p in payloads if isinstance(p, dict) and p.get("type") == "sighting"]


def before_sightings(conn: sqlite3.Connection, registration: Registration, *_: object) -> Registration:
    """What a build of schema 7 did on a registration's arrival: no sighting."""
    return registration


async def test_a_store_from_before_sightings_sights_its_backlog_in_stamp_order_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hq.sqlite"
    br01, br02 = Branch("BR01"), Branch("BR02")
    monkeypatch.setattr(directory, "sight", before_sightings)
    store = await SqliteHQStore.open(path)
    try:
        await enroll(store, br01)
        await enroll(store, br02)
        # HQ receives BR02's registration first, though BR01's is stamped earlier.
        register(br02, "M2", "13900000001", NOW_MS + 5)
        register(br01, "M1", "13900000001", NOW_MS + 3)
        register(br01, "M3", "13900000003", NOW_MS + 4)
        await store.ingest(br02.batch(1, 1), NOW_MS + 10, 0)
        await store.ingest(br01.batch(1, 2), NOW_MS + 11, 0)
    finally:
        await store.close()
    monkeypatch.undo()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        # As a build of schema 7 left it: no sightings table, nor anything later.
        assert conn.execute("SELECT COUNT(*) FROM dir_sightings").fetchone() == (0,)
        back_to_schema(conn, SCHEMA_BEFORE_SIGHTINGS)
        conn.execute(f"PRAGMA user_version={SCHEMA_BEFORE_SIGHTINGS}")
        feed_before = conn.execute("SELECT branch, COUNT(*) FROM feed GROUP BY branch").fetchall()

    store = await SqliteHQStore.open(path)
    try:
        # Stamp order, as survivors were ranked before: M1 (NOW+3), M3 (NOW+4), M2 (NOW+5).
        expected = [["M1", 1], ["M3", 2], ["M2", 3]]
        assert await sightings_in_feed(store, "BR01") == expected
        assert await sightings_in_feed(store, "BR02") == expected
        (found,) = await store.member_by_phone("13900000001")
        assert (found["id"], found["aliases"]) == ("M1", ["M2"])
    finally:
        await store.close()

    # Opening again sights nothing more: every registration has its sighting.
    store = await SqliteHQStore.open(path)
    try:
        assert len(await sightings_in_feed(store, "BR01")) == 3
        register(br02, "M4", "13900000004", NOW_MS + 6)
        await store.ingest(br02.batch(2, 2), NOW_MS + 12, 0)
        assert (await sightings_in_feed(store, "BR01"))[-1] == ["M4", 4]
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        feed_after = dict(conn.execute("SELECT branch, COUNT(*) FROM feed GROUP BY branch").fetchall())
    # Three sightings of the backlog each; M4 then reached BR01 whole (profile,
    # registration, sighting), while BR02, which wrote it, learned only its sighting.
    before = dict(feed_before)
    assert feed_after == {"BR01": before["BR01"] + 3 + 3, "BR02": before["BR02"] + 3 + 1}
