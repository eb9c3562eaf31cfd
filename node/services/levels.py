"""Member levels as HQ grades them (hq.levels), received through the feed: the levels HQ
defines (with what each costs in points, if it is sold), and the level HQ graded each
member into by their spend and visits at every branch. HQ is the only writer of both;
its latest word replaces ours. A till shows a member's graded level with the member
(shared_tables.directory_store.member_json).

Beside them, the levels this branch sold members for points (node.services.
level_purchase), which count here from the moment they are sold, online or not; HQ
counts them in its grading as soon as it hears of them and publishes the level to
every branch (hq.levels rule 5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from node.services import catalogue

_COLUMNS = ("code", "name", "rank", "min_spend_fen", "min_visits", "period_days", "active", "points_price")
_DEFAULTS: dict[str, Any] = {
    "min_spend_fen": None,
    "min_visits": None,
    "period_days": 365,
    "active": True,
    "points_price": None,
}


def apply_level(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {name: payload.get(name, _DEFAULTS.get(name)) for name in _COLUMNS}
    row["active"] = bool(row["active"])
    catalogue.upsert(conn, "levels", "code", row)


def apply_member_level(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO member_levels (member_id, level, spend_fen, visits, graded_at_ms) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (member_id) DO UPDATE SET level = excluded.level, spend_fen = excluded.spend_fen,"
        " visits = excluded.visits, graded_at_ms = excluded.graded_at_ms",
        (
            payload["member_id"],
            payload["level"],
            payload["spend_fen"],
            payload["visits"],
            payload["graded_at_ms"],
        ),
    )


def levels(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The active levels, highest rank first, as a till lists them."""
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM levels WHERE active ORDER BY rank DESC, code")
    return [dict(zip(_COLUMNS, row, strict=True)) | {"active": True} for row in rows]


def bought_levels(conn: sqlite3.Connection, members: Iterable[str], at_ms: int) -> set[str]:
    """The levels bought here for points under any of `members` that still hold at `at_ms`."""
    ids = sorted(set(members))
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT level FROM level_purchases WHERE member_id IN ({marks}) AND valid_until_ms > ?",
        (*ids, at_ms),
    )
    return {level for (level,) in rows}
