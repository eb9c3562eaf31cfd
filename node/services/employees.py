"""Employees as HQ authors them (FEATURES B4), received through the feed: who a till
may credit a sale, a registration or a card sale to (an active employee of this
branch), and the branch's staff as a till lists them.

HQ is the only writer, so its latest version replaces ours, as the catalogue's does.
Every branch holds every employee (one moved to another branch stops counting here
the moment HQ's change arrives); a till sees and credits only its own branch's.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from node.errors import UnknownSalesperson
from node.services import catalogue
from node.store.row_cache import ABSENT, rows_of

_COLUMNS = ("code", "name", "branch", "title", "active")

# An employee as the writer's cache holds it: (branch, active), or None for a code
# this branch has not been sent. Read by every sale that names a salesperson.
_Held = tuple[str, bool] | None


def apply_employee(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {name: payload.get(name) for name in _COLUMNS}
    row["active"] = bool(payload.get("active", True))
    rows = rows_of(conn)
    try:
        catalogue.upsert(conn, "employees", "code", row)
    finally:
        # The only write of an employee: the writer's cache reads it afresh next time.
        if rows is not None:
            rows.drop(("employee", row["code"]))


def _held(conn: sqlite3.Connection, code: str) -> _Held:
    rows = rows_of(conn)
    if rows is not None:
        held = rows.get(("employee", code))
        if held is not ABSENT:
            return held  # type: ignore[no-any-return]
    row = conn.execute("SELECT branch, active FROM employees WHERE code = ?", (code,)).fetchone()
    held = None if row is None else (str(row[0]), bool(row[1]))
    if rows is not None:
        rows.remember(("employee", code), held)
    return held


def require_salesperson(conn: sqlite3.Connection, code: str, branch: str) -> str:
    """`code` if it is an active employee of `branch`; refused, saying which it is not."""
    held = _held(conn, code)
    if held is None:
        raise UnknownSalesperson(
            f"salesperson {code} is no employee HQ has published to this branch: check the code"
            " (GET /api/employees lists this branch's), or leave salesperson out"
        )
    works_at, active = held
    if works_at != branch:
        raise UnknownSalesperson(
            f"salesperson {code} works at {works_at}, not at this branch ({branch});"
            " credit one of this branch's employees, or leave salesperson out"
        )
    if not active:
        raise UnknownSalesperson(
            f"salesperson {code} is no longer an active employee (HQ has marked them inactive);"
            " credit another employee, or leave salesperson out"
        )
    return code


def employees(
    conn: sqlite3.Connection, branch: str, *, include_inactive: bool = False
) -> list[dict[str, Any]]:
    """The branch's employees by code: the active ones, or all of them."""
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM employees WHERE branch = ? AND (active OR ?) ORDER BY code",
        (branch, include_inactive),
    )
    return [{**dict(zip(_COLUMNS, row, strict=True)), "active": bool(row[-1])} for row in rows]
