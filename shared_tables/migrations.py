"""Numbered migrations of a SQLite store, applied in order at open: one runner for a
node's store and HQ's. `PRAGMA user_version` holds the last applied number; a
migration and its bump commit together, so a crash mid-upgrade leaves the previous
version intact.

A new, empty store is given the schema as an image instead: the same migrations,
run once a process into a database in memory, copied in with SQLite's online backup
(in one transaction, so a crash leaves the store empty). Running them costs some
40 ms a store, mostly SQLite re-reading the schema after each change, which is
nothing to a branch that opens one store but most of the start-up of a simulated
world of 200 branches, and of many a test."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Sequence

from protocol.errors import StoreTooNew


def migrate(conn: sqlite3.Connection, migrations: Sequence[str], store: str) -> int:
    """Apply the pending migrations; the schema version now in force. `store` names the
    store in the refusal of one written by a newer build ("HQ's store")."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise StoreTooNew(
            f"{store} is at schema {version}, newer than this build's ({len(migrations)});"
            " run the newer build of Branchline"
        )
    if version == 0 and migrations and _empty(conn):
        with contextlib.closing(sqlite3.connect(":memory:")) as image:
            image.deserialize(_image(tuple(migrations)))
            image.backup(conn)
    else:
        apply(conn, migrations, version)
    return len(migrations)


def apply(conn: sqlite3.Connection, migrations: Sequence[str], version: int) -> None:
    """Run the migrations after `version`, each in a transaction with its bump."""
    for number, script in enumerate(migrations[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _empty(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None


@functools.lru_cache(maxsize=8)
def _image(migrations: tuple[str, ...]) -> bytes:
    """The database `migrations` make of an empty one, serialised."""
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as scratch:
        apply(scratch, migrations, 0)
        return scratch.serialize()
