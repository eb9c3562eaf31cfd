"""Numbered migrations of a SQLite store, applied in order at open: one runner for a
node's store and HQ's. `PRAGMA user_version` holds the last applied number; a
migration and its bump commit together, so a crash mid-upgrade leaves the previous
version intact."""

from __future__ import annotations

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
    return len(migrations)
