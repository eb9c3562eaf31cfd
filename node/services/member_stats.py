"""A member's consumption at this branch (FEATURES M6): visits, spend net of returns,
the last visit, favourite items and what paid, over a period of the branch's days.

Read from the branch's own tables, so it covers this branch only; HQ answers for every
branch (hq.member_stats). A period picks sales by when they were made, in the branch's
local days (node.json's `timezone`), both ends inclusive; a sale's returns count
against it whenever they were booked, so a period's spend is what the member kept of
what they bought in it. Card sales (node.services.card_sales) are not consumption here:
what the card later pays for is.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.errors import InvalidRequest
from node.services import checkout, fields, settlement
from node.services.birthdays import local_day
from node.services.members import member_or_survivor
from protocol.contract import TENDER_KINDS
from protocol.errors import require
from protocol.limits import MAX_AT_MS
from shared_tables import directory_store

# Favourite items a till asks for: a member's card on a till's screen shows a handful.
DEFAULT_FAVOURITES = 5
MAX_FAVOURITES = 20
# Sale ids per IN (...) query, well under SQLite's bound on parameters.
SQL_CHUNK = directory_store.SQL_CHUNK


@dataclass(frozen=True, slots=True)
class Period:
    """Days of the branch, both inclusive; `first` None: since the member's first sale."""

    first: datetime.date | None
    last: datetime.date


def parse_period(query: Mapping[str, str], now_ms: int, zone: datetime.tzinfo) -> Period:
    """?from=&to= as YYYY-MM-DD; `to` is the branch's today when not given."""
    first = _day(query, "from")
    last = _day(query, "to") or local_day(now_ms, zone)
    if first is not None and first > last:
        raise InvalidRequest(f"from {first} is after to {last}; give from on or before to")
    return Period(first, last)


def _day(query: Mapping[str, str], name: str) -> datetime.date | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return settlement.parse_day(raw)
    except InvalidRequest as refusal:
        raise InvalidRequest(f"{name}: {refusal}") from None


def parse_top(query: Mapping[str, str]) -> int:
    """?top=: how many favourite items to list."""
    return fields.query_count(query, "top", DEFAULT_FAVOURITES, MAX_FAVOURITES)


@dataclass
class Purchases:
    """What a member's sales in a period add up to, as the branch's tables give it."""

    sales_count: int = 0
    total_fen: int = 0
    returns_count: int = 0
    refund_fen: int = 0
    days: set[datetime.date] = field(default_factory=set)
    last_at_ms: int | None = None
    # sku -> [qty, amount_fen] sold, and what returns took back of it
    sold: dict[str, list[int]] = field(default_factory=dict)
    returned: dict[str, list[int]] = field(default_factory=dict)
    paid_fen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TENDER_KINDS, 0))
    refunded_fen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TENDER_KINDS, 0))


def member_stats(
    conn: sqlite3.Connection,
    looked_up_as: str,
    branch: str,
    zone: datetime.tzinfo,
    period: Period,
    top: int,
) -> dict[str, Any]:
    """The member's figures at this branch, as GET /api/members/{id}/stats answers;
    UnknownMember for an id this branch has not seen."""
    survivor = member_or_survivor(conn, looked_up_as)
    members = _members_of(conn, survivor)
    start_ms = 0 if period.first is None else settlement.day_bounds_ms(period.first, zone)[0]
    end_ms = settlement.day_bounds_ms(period.last, zone)[1]
    purchases = _purchases(conn, members, start_ms, end_ms, zone)
    return {
        "member_id": survivor,
        "looked_up_as": looked_up_as,
        "aliases": list(members[1:]),
        "branch": branch,
        "scope": "this branch",
        "timezone": str(zone),
        "from": None if period.first is None else period.first.isoformat(),
        "to": period.last.isoformat(),
        **figures_json(conn, purchases, zone, top),
    }


def member_sales(conn: sqlite3.Connection, looked_up_as: str, limit: int) -> dict[str, Any]:
    """The member's purchases at this branch, newest first (checkout.sales_listing), as
    GET /api/members/{id}/sales answers; UnknownMember for an id this branch has not seen."""
    survivor = member_or_survivor(conn, looked_up_as)
    members = _members_of(conn, survivor)
    return {
        "member_id": survivor,
        "scope": "this branch",
        "sales": checkout.sales_listing(conn, 0, MAX_AT_MS, limit, members),
    }


def _members_of(conn: sqlite3.Connection, survivor: str) -> tuple[str, ...]:
    """The survivor and its aliases: a sale names the survivor of when it was made, and
    a later registration may since have joined its group or come to lead it."""
    group = directory_store.group_of(conn, survivor)
    return group.members_of(survivor) if survivor in group.registrations else (survivor,)


def _chunks(ids: Sequence[str]) -> Iterator[tuple[Sequence[str], str]]:
    for start in range(0, len(ids), SQL_CHUNK):
        chunk = ids[start : start + SQL_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def _purchases(
    conn: sqlite3.Connection, members: Sequence[str], start_ms: int, end_ms: int, zone: datetime.tzinfo
) -> Purchases:
    found = Purchases()
    sale_ids: list[str] = []
    change_fen = 0
    # The branch's sales are not indexed by member (checkout's speed comes first, see
    # node.store.schema migration 10): the one scan of them finds the member's, and
    # everything else is read by their ids.
    for chunk, marks in _chunks(members):
        for sale_id, at_ms, total_fen, change in conn.execute(
            f"SELECT id, at_ms, total_fen, change_fen FROM sales WHERE member_id IN ({marks})"
            " AND at_ms >= ? AND at_ms < ?",
            (*chunk, start_ms, end_ms),
        ):
            sale_ids.append(sale_id)
            found.total_fen += total_fen
            change_fen += change
            found.days.add(local_day(at_ms, zone))
            found.last_at_ms = at_ms if found.last_at_ms is None else max(found.last_at_ms, at_ms)
    found.sales_count = len(sale_ids)
    for chunk, marks in _chunks(sale_ids):
        _add(
            found.sold, conn, f"SELECT sku, qty, amount_fen FROM sale_lines WHERE sale_id IN ({marks})", chunk
        )
        _add(
            found.returned,
            conn,
            "SELECT l.sku, l.qty, l.amount_fen FROM sale_return_lines l JOIN sale_returns r"
            f" ON r.id = l.return_id WHERE r.sale_id IN ({marks})",
            chunk,
        )
        for kind, amount in conn.execute(
            f"SELECT kind, amount_fen FROM sale_tenders WHERE sale_id IN ({marks})", chunk
        ):
            require(kind in found.paid_fen, f"a sale's tender kind {kind!r} is one the contract names")
            found.paid_fen[kind] += amount
        count, refund = conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(refund_fen), 0) FROM sale_returns WHERE sale_id IN ({marks})",
            chunk,
        ).fetchone()
        found.returns_count += count
        found.refund_fen += refund
        for kind, amount in conn.execute(
            "SELECT f.kind, f.amount_fen FROM sale_return_refunds f JOIN sale_returns r"
            f" ON r.id = f.return_id WHERE r.sale_id IN ({marks})",
            chunk,
        ):
            require(kind in found.refunded_fen, f"a return's refund kind {kind!r} is one the contract names")
            found.refunded_fen[kind] += amount
    # Change is given in cash only (node.services.checkout); returns booked before
    # refunds were recorded per tender refunded cash only (node.services.refunds).
    found.paid_fen["cash"] -= change_fen
    found.refunded_fen["cash"] += found.refund_fen - sum(found.refunded_fen.values())
    require(
        sum(found.paid_fen.values()) == found.total_fen,
        "a member's sales' tenders less their change are the sales' total",
    )
    return found


def _add(into: dict[str, list[int]], conn: sqlite3.Connection, sql: str, args: Sequence[str]) -> None:
    for sku, qty, amount_fen in conn.execute(sql, args):
        held = into.setdefault(sku, [0, 0])
        held[0] += qty
        held[1] += amount_fen


def figures_json(
    conn: sqlite3.Connection, purchases: Purchases, zone: datetime.tzinfo, top: int
) -> dict[str, Any]:
    """The figures' JSON: the same keys as HQ's per branch (hq.member_stats)."""
    found = purchases
    spend_fen = found.total_fen - found.refund_fen
    require(spend_fen >= 0, "a member's returns take back no more than their sales paid")
    last = None
    if found.last_at_ms is not None:
        last = {"at_ms": found.last_at_ms, "day": local_day(found.last_at_ms, zone).isoformat()}
    return {
        "visits": {"sales": found.sales_count, "days": len(found.days)},
        "sales": {"count": found.sales_count, "total_fen": found.total_fen},
        "returns": {"count": found.returns_count, "refund_fen": found.refund_fen},
        "spend_fen": spend_fen,
        "last_visit": last,
        "favourites": _favourites(conn, found, top),
        "tenders": {
            kind: {
                "paid_fen": found.paid_fen[kind],
                "refunded_fen": found.refunded_fen[kind],
                "net_fen": found.paid_fen[kind] - found.refunded_fen[kind],
            }
            for kind in TENDER_KINDS
        },
    }


def _favourites(conn: sqlite3.Connection, found: Purchases, top: int) -> list[dict[str, Any]]:
    """The items the member kept most of: by quantity, then by what they paid, then by SKU."""
    kept = []
    for sku, (qty, amount_fen) in found.sold.items():
        returned_qty, returned_fen = found.returned.get(sku, (0, 0))
        require(returned_qty <= qty, f"returns of {sku} take back no more than was sold")
        if qty > returned_qty:
            kept.append((sku, qty - returned_qty, amount_fen - returned_fen))
    kept.sort(key=lambda item: (-item[1], -item[2], item[0]))
    chosen = kept[:top]
    names: dict[str, str] = {}
    for chunk, marks in _chunks([sku for sku, _, _ in chosen]):
        names.update(conn.execute(f"SELECT sku, name FROM products WHERE sku IN ({marks})", chunk))
    return [
        {"sku": sku, "name": names.get(sku), "qty": qty, "amount_fen": amount_fen}
        for sku, qty, amount_fen in chosen
    ]
