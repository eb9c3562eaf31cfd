"""Points spent off the till (FEATURES L9): turned into stored value on one of the
member's cards, at the chain's worth per point (loyalty.rules.PointsSettings). Paying
with points at checkout is node.services.checkout's `points` tender.

Stored value that came from points was never paid for, so, like a top-up's bonus, it
is spent but never paid back in cash (conflict.stored_value). Both movements, the
points taken and the stored value given, are booked in one write; a retry with the
same Idempotency-Key answers the conversion it booked.
"""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
from typing import Any

from loyalty import lots
from node.errors import InvalidRequest
from node.services import fields, loyalty, points_book
from node.services.cards import day_of, record_ledger_entry, require_active, require_card, require_valid
from node.store.writer import Tx
from protocol import limits
from shared_tables import directory_store, points_lots


def parse_conversion(body: dict[str, Any]) -> tuple[int, str]:
    """{points, card: the card the stored value goes onto}."""
    if set(body) != {"points", "card"}:
        raise InvalidRequest(
            "give points (how many to turn into stored value) and card (the card it goes onto)"
        )
    points = fields.integer(body["points"], "points", minimum=1, maximum=limits.MAX_LEDGER_AMOUNT)
    return points, fields.card_number(body["card"], "card")


def conversion_id(branch: str, request_key: str | None, new_id: str) -> str:
    """The conversion's id: from the till's Idempotency-Key, so a retry finds it."""
    if request_key is None:
        return new_id
    return "cv-" + hashlib.sha256(f"{branch}\x00{request_key}".encode()).hexdigest()[:40]


def convert_job(
    points_card: str, points: int, to_card: str, convert_id: str, zone: datetime.tzinfo = datetime.UTC
) -> Any:
    """`points` off `points_card` onto `to_card` as stored value; both cards the member's."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        spent = conn.execute("SELECT 1 FROM dir_ledger WHERE entry_id = ?", (f"{convert_id}-pts",)).fetchone()
        if spent is not None:
            return _answer(conn, convert_id, points_card, to_card, replayed=True)
        day = day_of(tx.wall_ms, zone)
        owner = require_card(conn, points_card)
        if require_card(conn, to_card) != owner and not _same_person(conn, owner, to_card):
            raise InvalidRequest(f"card {to_card} is not the same member's as {points_card}")
        for card in (points_card, to_card):
            require_active(conn, card)
            require_valid(conn, card, day)
        _, settings = loyalty.rule_set(conn)
        value_fen = points * settings.point_value_fen
        points_book.spend(tx, f"{convert_id}-pts", points_card, points, to_card=to_card)
        record_ledger_entry(
            tx, f"{convert_id}-sv", to_card, "stored_value", "from_points", value_fen, points=points
        )
        return _answer(conn, convert_id, points_card, to_card, replayed=False)

    return job


def _same_person(conn: sqlite3.Connection, member: str, card: str) -> bool:
    other = directory_store.card_owner(conn, card)
    return other is not None and other in directory_store.group_of(conn, member).registrations


def _answer(
    conn: sqlite3.Connection, convert_id: str, points_card: str, to_card: str, *, replayed: bool
) -> dict[str, Any]:
    def booked(suffix: str) -> int:
        query = "SELECT amount FROM dir_ledger WHERE entry_id = ?"
        return int(conn.execute(query, (f"{convert_id}-{suffix}",)).fetchone()[0])

    points, value_fen = -booked("pts"), booked("sv")
    return {
        "id": convert_id,
        "points": points,
        "stored_value_fen": value_fen,
        "points_card": directory_store.card_json(conn, points_card),
        "card": directory_store.card_json(conn, to_card),
        "replayed": replayed,
    }


def lots_view(conn: sqlite3.Connection, card: str, at_ms: int) -> dict[str, Any]:
    """The card's points as lots, soonest expiry first, as a till shows them."""
    require_card(conn, card)
    book = points_lots.book(conn, card)
    held = lots.remaining(book.lots, book.allocations, book.reversals, book.expiries)
    shown = [
        {
            "lot": lot.id,
            "earned_at_ms": lot.earned_at_ms,
            "expires_at_ms": lot.expires_at_ms or None,
            "points": lot.points,
            "held": held[lot.id],
            "expired": lot.expired_at(at_ms),
        }
        for lot in sorted(book.lots, key=lambda lot: (lot.expires_at_ms == 0, lot.expires_at_ms, lot.id))
        if held[lot.id]
    ]
    return {
        "card": directory_store.card_root(conn, card),
        "balance": book.balance,
        "available": book.available(at_ms),
        "owed": book.owed,
        "lots": shown,
    }
