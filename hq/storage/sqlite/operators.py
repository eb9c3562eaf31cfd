"""Operators and HQ's log-in sessions on SQLite."""

from __future__ import annotations

from hq import operators
from hq.errors import RecordConflict
from hq.storage.base import FeedChange, OperatorRecord
from hq.storage.sqlite import feeds
from hq.storage.sqlite.feeds import FeedAppender
from shared_tables.sql import Connection

COLUMNS = "id, login, name, role, branch, password_hash, grants, revokes, disabled, version, changed_at_ms"


def _record(row: tuple[object, ...]) -> OperatorRecord:
    oid, login, name, role, branch, password_hash, grants, revokes, disabled, version, changed = row
    return OperatorRecord(
        str(oid),
        str(login),
        str(name),
        str(role),
        None if branch is None else str(branch),
        str(password_hash),
        tuple(str(grants).split()),
        tuple(str(revokes).split()),
        bool(disabled),
        int(version),  # type: ignore[call-overload]
        int(changed),  # type: ignore[call-overload]
    )


def put(conn: Connection, append: FeedAppender, record: OperatorRecord, expected_version: int) -> list[str]:
    held = by_id(conn, record.id)
    same_login = by_login(conn, record.login)
    if (held.version if held else 0) != expected_version or (
        same_login is not None and same_login.id != record.id
    ):
        taken = same_login is not None and same_login.id != record.id
        raise RecordConflict(
            f"login {record.login!r} is taken"
            if taken
            else f"operator {record.login} changed meanwhile; try again"
        )
    conn.execute(
        f"INSERT INTO operators ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id)"
        f" DO UPDATE SET {', '.join(f'{column} = excluded.{column}' for column in COLUMNS.split(', ')[1:])}",
        (
            record.id,
            record.login,
            record.name,
            record.role,
            record.branch,
            record.password_hash,
            " ".join(record.grants),
            " ".join(record.revokes),
            int(record.disabled),
            record.version,
            record.changed_at_ms,
        ),
    )
    if record.disabled:
        conn.execute("DELETE FROM operator_sessions WHERE operator_id = ?", (record.id,))
    if record.branch is None or record.branch not in feeds.enrolled(conn):
        return []
    append(conn, record.branch, [operators.operator_change(record)])
    return [record.branch]


def for_branch(conn: Connection, branch: str) -> list[FeedChange]:
    """A new branch's operators, for the snapshot its feed starts with."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM operators WHERE branch = ? ORDER BY id", (branch,))
    return [operators.operator_change(_record(row)) for row in rows]


def by_id(conn: Connection, operator_id: str) -> OperatorRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM operators WHERE id = ?", (operator_id,)).fetchone()
    return None if row is None else _record(row)


def by_login(conn: Connection, login: str) -> OperatorRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM operators WHERE lower(login) = lower(?)", (login,)).fetchone()
    return None if row is None else _record(row)


def every(conn: Connection) -> list[OperatorRecord]:
    return [_record(row) for row in conn.execute(f"SELECT {COLUMNS} FROM operators ORDER BY branch, login")]


def add_session(conn: Connection, token_hash: str, operator_id: str, expires_at_ms: int) -> None:
    conn.execute(
        "INSERT INTO operator_sessions (token_hash, operator_id, expires_at_ms) VALUES (?, ?, ?)",
        (token_hash, operator_id, expires_at_ms),
    )


def session_operator(conn: Connection, token_hash: str, now_ms: int) -> OperatorRecord | None:
    row = conn.execute(
        f"SELECT {', '.join('o.' + c.strip() for c in COLUMNS.split(','))} FROM operator_sessions s"
        " JOIN operators o ON o.id = s.operator_id WHERE s.token_hash = ? AND s.expires_at_ms > ?",
        (token_hash, now_ms),
    ).fetchone()
    record = None if row is None else _record(row)
    return None if record is None or record.disabled else record


def end_session(conn: Connection, token_hash: str) -> None:
    conn.execute("DELETE FROM operator_sessions WHERE token_hash = ?", (token_hash,))


def end_expired(conn: Connection, now_ms: int) -> None:
    conn.execute("DELETE FROM operator_sessions WHERE expires_at_ms <= ?", (now_ms,))


def language(conn: Connection, login: str) -> str | None:
    row = conn.execute("SELECT language FROM operator_languages WHERE login = ?", (login,)).fetchone()
    return None if row is None else str(row[0])


def set_language(conn: Connection, login: str, language: str) -> None:
    conn.execute(
        "INSERT INTO operator_languages (login, language) VALUES (?, ?)"
        " ON CONFLICT (login) DO UPDATE SET language = excluded.language",
        (login, language),
    )
