"""Members graded into levels (hq.levels): each member's figures over each level's
period from the sales HQ keeps per member (hq.member_stats), the grade kept per member,
and a change published to every branch. Runs unchanged on PostgreSQL (hq.storage.postgres).
"""

from __future__ import annotations

from typing import Any

from hq import levels as rules
from hq.storage.base import FeedChange, Level
from hq.storage.sqlite import feeds
from hq.storage.sqlite.feeds import FeedAppender
from hq.storage.sqlite.inventory import read_master
from shared_tables import directory_store
from shared_tables.sql import Connection

_FIGURES = (
    "SELECT member_id, COALESCE(SUM(total_fen - refund_fen), 0), COUNT(DISTINCT origin || ' ' || day)"
    " FROM member_sales WHERE at_ms > ? AND at_ms <= ? GROUP BY member_id"
)
# Written only where the level differs (rule 4): the row count says whether this grading
# changed it, so two graders at once publish the change once.
_KEEP = (
    "INSERT INTO member_levels (member_id, level, spend_fen, visits, graded_at_ms) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (member_id) DO UPDATE SET level = excluded.level, spend_fen = excluded.spend_fen,"
    " visits = excluded.visits, graded_at_ms = excluded.graded_at_ms"
    " WHERE member_levels.level IS DISTINCT FROM excluded.level"
)


def figures(conn: Connection, periods: list[int], now_ms: int) -> dict[str, dict[int, rules.Figures]]:
    """Survivor -> period (days) -> figures over the period ending now (rules 1 and 2)."""
    survivors: dict[str, str] = {}
    found: dict[str, dict[int, rules.Figures]] = {}
    for period in periods:
        rows = conn.execute(_FIGURES, (now_ms - period * rules.DAY_MS, now_ms)).fetchall()
        for member_id, spend, visits in rows:
            if member_id not in survivors:
                survivors[member_id] = directory_store.group_of(conn, member_id).survivor(member_id)
            per = found.setdefault(survivors[member_id], {})
            held = per.get(period, rules.Figures())
            per[period] = rules.Figures(held.spend_fen + int(spend), held.visits + int(visits))
    return found


def grade_members(conn: Connection, append: FeedAppender, now_ms: int) -> tuple[list[FeedChange], list[str]]:
    """Grade every member with figures or a grade; keep and publish the changed ones.
    The changes, and the branches whose feeds grew."""
    levels = [level for level in read_master(conn, "level") if isinstance(level, Level) and level.active]
    periods = sorted({level.period_days for level in levels}) or [365]
    by_member = figures(conn, periods, now_ms)
    held = dict(conn.execute("SELECT member_id, level FROM member_levels").fetchall())
    changes: list[FeedChange] = []
    for member in sorted(set(by_member) | set(held)):
        per = by_member.get(member, {})
        level = rules.grade(levels, per)
        code = None if level is None else level.code
        if code == held.get(member) and (member in held or code is None):
            continue
        basis = per.get(periods[-1] if level is None else level.period_days, rules.Figures())
        cursor = conn.execute(_KEEP, (member, code, basis.spend_fen, basis.visits, now_ms))
        if cursor.rowcount:
            changes.append(FeedChange("member", member, "level", _payload(member, code, basis, now_ms)))
    return changes, feeds.publish(conn, append, changes) if changes else []


def _payload(member: str, code: str | None, basis: rules.Figures, now_ms: int) -> dict[str, Any]:
    return {
        "member_id": member,
        "level": code,
        "spend_fen": basis.spend_fen,
        "visits": basis.visits,
        "graded_at_ms": now_ms,
    }
