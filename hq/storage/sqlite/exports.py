"""Exports too large to answer at once, on SQLite: built in the background and kept
for the operator who asked to fetch (hq.console_api), whichever HQ process they reach."""

from __future__ import annotations

from shared_tables.sql import Connection


def start_export(
    conn: Connection, export_id: str, login: str, name: str, content_type: str, now_ms: int
) -> None:
    """An export being built; those started over a day ago go (they were fetched, or
    never will be)."""
    conn.execute("DELETE FROM exports WHERE created_ms < ?", (now_ms - 86_400_000,))
    conn.execute(
        "INSERT INTO exports (id, login, name, content_type, created_ms) VALUES (?, ?, ?, ?, ?)",
        (export_id, login, name, content_type, now_ms),
    )


def finish_export(conn: Connection, export_id: str, body: bytes | None, error: str | None) -> None:
    conn.execute("UPDATE exports SET body = ?, error = ? WHERE id = ?", (body, error, export_id))


def export(conn: Connection, export_id: str, login: str) -> tuple[str, str, bytes | None, str | None] | None:
    """(name, content type, body or None while it is built, error) of `login`'s export."""
    row = conn.execute(
        "SELECT name, content_type, body, error FROM exports WHERE id = ? AND login = ?", (export_id, login)
    ).fetchone()
    if row is None:
        return None
    name, content_type, body, error = row
    return str(name), str(content_type), None if body is None else bytes(body), error
