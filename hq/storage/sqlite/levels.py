"""Members graded into levels (hq.levels): each member's figures over each level's
period from the sales HQ keeps per member (hq.member_stats), the levels they bought with
points that still hold, the grade kept per member, and a change published to every
branch. Runs unchanged on PostgreSQL (hq.storage.postgres).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from hq import levels as rules
from hq.member_stats import MemberReturn, MemberSale
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


_FIGURES_OF = (
    "SELECT member_id, COALESCE(SUM(total_fen - refund_fen), 0), COUNT(DISTINCT origin || ' ' || day)"
    " FROM member_sales WHERE at_ms > ? AND at_ms <= ? AND member_id IN ({marks}) GROUP BY member_id"
)


def figures(
    conn: Connection, periods: list[int], now_ms: int, ids: Sequence[str] | None = None
) -> dict[str, dict[int, rules.Figures]]:
    """Survivor -> period (days) -> figures over the period ending now (rules 1 and 2):
    of every member, or of the sales under `ids` only (a few persons' ids)."""
    survivors: dict[str, str] = {}
    found: dict[str, dict[int, rules.Figures]] = {}
    for period in periods:
        window = (now_ms - period * rules.DAY_MS, now_ms)
        if ids is None:
            rows = conn.execute(_FIGURES, window).fetchall()
        else:
            query = _FIGURES_OF.format(marks=",".join("?" * len(ids)))
            rows = conn.execute(query, (*window, *ids)).fetchall() if ids else []
        for member_id, spend, visits in rows:
            if member_id not in survivors:
                survivors[member_id] = directory_store.group_of(conn, member_id).survivor(member_id)
            per = found.setdefault(survivors[member_id], {})
            held = per.get(period, rules.Figures())
            per[period] = rules.Figures(held.spend_fen + int(spend), held.visits + int(visits))
    return found


def bought(conn: Connection, now_ms: int, ids: Sequence[str] | None = None) -> dict[str, set[str]]:
    """Survivor -> the levels bought under any of its ids that still hold now (rule 5):
    of every member, or of `ids` only."""
    query = "SELECT member_id, level FROM level_purchases WHERE valid_until_ms > ?"
    if ids is None:
        rows = conn.execute(query, (now_ms,)).fetchall()
    elif ids:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"{query} AND member_id IN ({marks})", (now_ms, *ids)).fetchall()
    else:
        rows = []
    found: dict[str, set[str]] = {}
    for member_id, level in rows:
        survivor = directory_store.group_of(conn, member_id).survivor(member_id)
        found.setdefault(survivor, set()).add(level)
    return found


def record_purchases(
    conn: Connection, purchases: Sequence[rules.LevelPurchase], append: FeedAppender, now_ms: int
) -> set[str]:
    """Keep the levels bought at the branches (a purchase sent twice is kept once) and
    grade their buyers at once (rule 5); the branches whose feeds grew."""
    conn.executemany(
        "INSERT INTO level_purchases (origin, purchase_id, member_id, level, points, at_ms, valid_until_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin, purchase_id) DO NOTHING",
        [
            (p.origin, p.purchase_id, p.member_id, p.level, p.points, p.at_ms, p.valid_until_ms)
            for p in purchases
        ],
    )
    return _grade_now(conn, append, now_ms, {p.member_id for p in purchases})


def regrade_after_returns(
    conn: Connection, purchases: Sequence[MemberSale | MemberReturn], append: FeedAppender, now_ms: int
) -> set[str]:
    """Grade again, at once, the members whose returns this batch brings: a level their
    spend earned and the return takes away goes with the return, not at the next daily
    run (a bought level still holds, rule 5). The branches whose feeds grew."""
    returners: set[str] = set()
    for p in purchases:
        if isinstance(p, MemberReturn):
            query = "SELECT member_id FROM member_sales WHERE origin = ? AND sale_id = ?"
            row = conn.execute(query, (p.origin, p.sale_id)).fetchone()
            if row is not None:  # a return of a sale to no member grades no one
                returners.add(str(row[0]))
    return _grade_now(conn, append, now_ms, returners) if returners else set()


def _grade_now(conn: Connection, append: FeedAppender, now_ms: int, members: set[str]) -> set[str]:
    grown: set[str] = set()
    ordered = sorted(members)
    # A handful of ids per person: a chunk of members keeps each IN (...) within bounds.
    step = max(1, directory_store.SQL_CHUNK // 8)
    for start in range(0, len(ordered), step):
        grown.update(grade_members(conn, append, now_ms, ordered[start : start + step])[1])
    return grown


def grade_members(
    conn: Connection, append: FeedAppender, now_ms: int, only: Collection[str] | None = None
) -> tuple[list[FeedChange], list[str]]:
    """Grade every member with figures, a bought level or a grade (or only the persons
    of the ids `only` names); keep and publish the changed ones. The changes, and the
    branches whose feeds grew."""
    levels = [level for level in read_master(conn, "level") if isinstance(level, Level) and level.active]
    periods = sorted({level.period_days for level in levels}) or [365]
    ids = None if only is None else _ids_of(conn, only)
    by_member = figures(conn, periods, now_ms, ids)
    purchased = bought(conn, now_ms, ids)
    if only is None:
        held = dict(conn.execute("SELECT member_id, level FROM member_levels").fetchall())
        persons = set(by_member) | set(held) | set(purchased)
    else:
        persons = {directory_store.group_of(conn, m).survivor(m) for m in only}
        marks = ",".join("?" * len(persons))
        query = f"SELECT member_id, level FROM member_levels WHERE member_id IN ({marks})"
        held = dict(conn.execute(query, sorted(persons)).fetchall()) if persons else {}
    changes: list[FeedChange] = []
    for member in sorted(persons):
        per = by_member.get(member, {})
        level = rules.grade(levels, per, purchased.get(member, ()))
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


def _ids_of(conn: Connection, members: Collection[str]) -> list[str]:
    """Every id of the persons `members` name: their sales and purchases may be under any."""
    found: set[str] = set()
    for member in members:
        group = directory_store.group_of(conn, member)
        found.update(group.members_of(group.survivor(member)) if member in group.registrations else [member])
    return sorted(found)
