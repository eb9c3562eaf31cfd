"""A member level bought with points at the till (FEATURES L4): silver to gold for the
points HQ prices gold at, gold to diamond for diamond's.

Rules:
1. A level is bought one step at a time: the next active level above the member's
   level now (the highest of HQ's grade, the levels bought that still hold and their
   cards' levels, as the points engine reads it: node.services.loyalty.member_level),
   for that level's `points_price` (a level without one is not sold). A member with no
   level may buy the lowest.
2. The points come off one of the member's cards through node.services.points_book
   (402 `points_short` beyond what it holds); by default the card holding the most.
3. A bought level lasts like an earned one: its level's `period_days` from the
   purchase (hq.levels rule 5). The points and the level commit in one write, and the
   purchase travels to HQ as its own entry (member/buy_level); the level counts here
   from that moment, online or not, and at every other branch once HQ has graded the
   member with it and published the grade.
4. A retry with the same Idempotency-Key answers the purchase it booked.
5. Two branches apart may each sell the same step before either hears of the other:
   both purchases stand (each took its points), and the member holds the level once.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from node.errors import (
    CardBlocked,
    InvalidRequest,
    LevelNotAbove,
    LevelNotForSale,
    NotNextLevel,
    UnknownLevel,
    UnknownMember,
)
from node.services import fields, loyalty, points_book
from node.services.cards import require_active
from node.store.writer import Tx
from protocol.contract import MEMBER_LEVEL_BUY
from shared_tables import directory_store

DAY_MS = 86_400_000
_BOUGHT = ("id", "level", "points", "at_ms", "valid_until_ms")


class PurchaseRequest(NamedTuple):
    level: str
    card: str | None  # None: the member's card holding the most points
    request_key: str | None


class _Level(NamedTuple):
    code: str
    rank: int
    period_days: int
    points_price: int | None


def parse_purchase(body: dict[str, Any], request_key: str | None) -> PurchaseRequest:
    """{level, card?}: the level to buy and the card whose points pay for it."""
    unknown = set(body) - {"level", "card"}
    if unknown:
        raise InvalidRequest(f"unknown fields for a level purchase: {', '.join(sorted(unknown))}")
    level = str(fields.text(body, "level"))
    card = None if body.get("card") is None else fields.card_number(body["card"], "card")
    return PurchaseRequest(level, card, fields.request_key(request_key))


def purchase_job(member_id: str, request: PurchaseRequest, purchase_id: str) -> Any:
    """The write that sells `member_id` the level `request` asks for."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        replayed = _replayed(conn, request.request_key)
        if replayed is not None:
            return replayed
        member = _member(conn, member_id)
        survivor = member["id"]
        levels = _active_levels(conn)
        target = levels.get(request.level)
        if target is None:
            raise UnknownLevel(f"no active level {request.level!r} here; GET /api/levels lists them")
        current = loyalty.member_level(conn, survivor, tx.wall_ms)
        current_rank = levels[current].rank if current in levels else 0
        if target.rank <= current_rank:
            raise LevelNotAbove(
                f"member {survivor} is {current} already (rank {current_rank});"
                f" {target.code} is rank {target.rank}"
            )
        above = sorted((level for level in levels.values() if level.rank > current_rank), key=_order)
        if above[0].code != target.code:
            raise NotNextLevel(
                f"member {survivor} is {current or 'of no level'}: the next level up is {above[0].code};"
                f" buy it before {target.code}"
            )
        if target.points_price is None:
            raise LevelNotForSale(f"level {target.code} is not sold for points: it is earned by spending")
        card = _paying_card(conn, member, request.card)
        points_book.spend(tx, f"{purchase_id}-pts", card, target.points_price)
        payload = {
            "member_id": survivor,
            "level": target.code,
            "from_level": current or None,
            "points": target.points_price,
            "card_id": directory_store.card_root(conn, card),
            "at_ms": tx.wall_ms,
            "valid_until_ms": tx.wall_ms + target.period_days * DAY_MS,
        }
        tx.record(MEMBER_LEVEL_BUY, purchase_id, payload)
        conn.execute(
            "INSERT INTO level_purchases (id, member_id, level, points, card_id, at_ms, valid_until_ms,"
            " request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                purchase_id,
                survivor,
                target.code,
                target.points_price,
                card,
                tx.wall_ms,
                payload["valid_until_ms"],
                request.request_key,
            ),
        )
        return _answer(conn, purchase_id, replayed=False)

    return job


def _member(conn: sqlite3.Connection, member_id: str) -> dict[str, Any]:
    member = directory_store.member_json(conn, member_id)
    if member is None:
        raise UnknownMember(
            f"no member {member_id} at this branch; if registered elsewhere, wait for the sync"
        )
    return member


def _order(level: _Level) -> tuple[int, str]:
    return level.rank, level.code


def _active_levels(conn: sqlite3.Connection) -> dict[str, _Level]:
    rows = conn.execute("SELECT code, rank, period_days, points_price FROM levels WHERE active")
    return {row[0]: _Level(*row) for row in rows}


def _paying_card(conn: sqlite3.Connection, member: dict[str, Any], asked: str | None) -> str:
    """The card the points come off: the one asked for, which must be the member's, or
    the member's active card holding the most points (the lowest number on a tie)."""
    cards = {view["card"]: view for view in member["cards"]}
    if asked is not None:
        if asked not in cards:
            raise InvalidRequest(f"card {asked} is not member {member['id']}'s")
        require_active(conn, asked)
        return asked
    usable = [view for view in cards.values() if view["status"] == "active"]
    if not usable:
        raise CardBlocked(f"member {member['id']} has no active card to take the points from")
    return str(min(usable, key=lambda view: (-view["balances"]["points"], view["card"]))["card"])


def _replayed(conn: sqlite3.Connection, request_key: str | None) -> dict[str, Any] | None:
    if request_key is None:
        return None
    row = conn.execute("SELECT id FROM level_purchases WHERE request_key = ?", (request_key,)).fetchone()
    return None if row is None else _answer(conn, row[0], replayed=True)


def _answer(conn: sqlite3.Connection, purchase_id: str, *, replayed: bool) -> dict[str, Any]:
    member_id, level, points, card, at_ms, valid_until_ms = conn.execute(
        "SELECT member_id, level, points, card_id, at_ms, valid_until_ms FROM level_purchases WHERE id = ?",
        (purchase_id,),
    ).fetchone()
    return {
        "id": purchase_id,
        "member_id": member_id,
        "level": level,
        "points": points,
        "at_ms": at_ms,
        "valid_until_ms": valid_until_ms,
        "card": directory_store.card_json(conn, card),
        "replayed": replayed,
    }


def level_view(conn: sqlite3.Connection, member_id: str, at_ms: int) -> dict[str, Any]:
    """GET /api/members/{id}/level: the member's level now (what the points engine uses),
    HQ's grade, and the levels bought here that still hold."""
    member = _member(conn, member_id)
    ids = directory_store.group_of(conn, member["id"]).members_of(member["id"])
    marks = ",".join("?" * len(ids))
    bought = conn.execute(
        f"SELECT id, level, points, at_ms, valid_until_ms FROM level_purchases WHERE member_id IN ({marks})"
        " AND valid_until_ms > ? ORDER BY at_ms, id",
        (*ids, at_ms),
    )
    return {
        "member_id": member["id"],
        "level": loyalty.member_level(conn, member["id"], at_ms) or None,
        "graded": member["level"],
        "bought": [dict(zip(_BOUGHT, row, strict=True)) for row in bought],
    }
