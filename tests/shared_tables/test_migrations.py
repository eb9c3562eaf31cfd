"""A new store gets its schema as an image of the migrations (shared_tables.migrations):
the same tables, indexes and version as running them, in the store's own journal mode;
a store that holds anything already, or an older schema, runs the migrations."""

from __future__ import annotations

import concurrent.futures
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from hq.storage.sqlite.schema import MIGRATIONS as HQ_MIGRATIONS
from node.store.schema import MIGRATIONS as NODE_MIGRATIONS
from shared_tables.migrations import apply, migrate

STORES = {"node": NODE_MIGRATIONS, "hq": HQ_MIGRATIONS}
OpenStore = Callable[[str], sqlite3.Connection]  # a new store file in WAL mode, by name


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[OpenStore]:
    opened: list[sqlite3.Connection] = []

    def open_(name: str) -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / name, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()


def shape(conn: sqlite3.Connection) -> tuple[int, list[tuple[str, str, str, str | None]]]:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return version, conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
    ).fetchall()


def run_each(conn: sqlite3.Connection, migrations: Sequence[str]) -> None:
    apply(conn, migrations, 0)


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_new_store_gets_the_schema_the_migrations_make(store: str, open_store: OpenStore) -> None:
    migrations = STORES[store]
    imaged, ran = open_store("imaged.sqlite"), open_store("ran.sqlite")
    assert migrate(imaged, migrations, store) == len(migrations)
    run_each(ran, migrations)

    assert shape(imaged) == shape(ran)
    assert shape(imaged)[0] == len(migrations)
    assert imaged.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert imaged.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_store_of_an_older_schema_runs_the_migrations_after_it(store: str, open_store: OpenStore) -> None:
    migrations = STORES[store]
    older, new = open_store("older.sqlite"), open_store("new.sqlite")
    migrate(older, migrations[:5], store)
    migrate(older, migrations, store)
    migrate(new, migrations, store)
    assert shape(older) == shape(new)


def test_a_store_holding_anything_is_never_overwritten_by_the_image(open_store: OpenStore) -> None:
    conn = open_store("used.sqlite")
    conn.execute("CREATE TABLE kept (note TEXT)")
    conn.execute("INSERT INTO kept VALUES ('still here')")
    migrate(conn, NODE_MIGRATIONS, "a branch's store")
    assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(NODE_MIGRATIONS)


def test_threads_opening_new_stores_at_once_all_get_the_schema(tmp_path: Path) -> None:
    def open_new(name: str) -> int:
        with contextlib.closing(sqlite3.connect(tmp_path / name, isolation_level=None)) as conn:
            migrate(conn, HQ_MIGRATIONS, "HQ's store")
            return int(conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(open_new, [f"{n}.sqlite" for n in range(8)]))
    assert len(set(counts)) == 1
    assert counts[0] > 20
