"""A card's points as lots (loyalty.lot_ledger), read from the directory's ledger, and
the work lists a replica keeps beside it (directory_store.POINTS_LOTS_SCHEMA)."""

from __future__ import annotations

from typing import Any

from conflict.ledger import LedgerEntry
from conflict.wire import from_payload
from loyalty.lot_ledger import Movement, PointsBook, book_of
from loyalty.lots import remaining
from protocol import codec
from protocol.limits import MAX_AT_MS
from shared_tables import directory_store
from shared_tables.sql import Connection

__all__ = ["book", "due_lots", "is_owing", "movement", "no_longer_owing", "outstanding", "take_off_due"]


def movement(entry: LedgerEntry) -> Movement:
    """A points ledger entry as the lots read it; its time is its stamp's wall clock."""
    at_ms = min(entry.hlc >> 16, MAX_AT_MS)
    return Movement(
        entry.entry_id, entry.kind, entry.amount, at_ms, entry.lots, entry.of, entry.expires_at_ms
    )


def book(conn: Connection, card_id: str) -> PointsBook:
    """The lots of the card the number belongs to (its root, for a replaced card)."""
    rows = conn.execute(
        "SELECT record FROM dir_ledger WHERE card_id = ? AND ledger = 'points' ORDER BY hlc, node, entry_id",
        (directory_store.card_root(conn, card_id),),
    )
    return book_of(movement(_entry(row[0])) for row in rows)


def _entry(blob: Any) -> LedgerEntry:
    entry = from_payload(codec.unpack(bytes(blob)))
    assert isinstance(entry, LedgerEntry)
    return entry


def is_owing(conn: Connection, card_id: str) -> bool:
    """Whether a return may have left the card owing points."""
    found = conn.execute("SELECT 1 FROM points_owing WHERE card_id = ?", (card_id,)).fetchone()
    return found is not None


def no_longer_owing(conn: Connection, card_id: str) -> None:
    conn.execute("DELETE FROM points_owing WHERE card_id = ?", (card_id,))


def forget_others(conn: Connection, node: str) -> None:
    """Drop the lots other nodes earned from the work list: each node expires its own,
    and the directory's records bring every replica the chain's lots. Run before each
    look at the list, so it holds at most an hour of other nodes' lots, never their
    history (a branch would otherwise keep every lot the chain ever earned)."""
    conn.execute("DELETE FROM points_due WHERE node <> ?", (node,))


def due_lots(conn: Connection, node: str, at_ms: int, limit: int) -> dict[str, list[str]]:
    """Lots `node` earned that expire by `at_ms`, soonest first, by card."""
    rows = conn.execute(
        "SELECT card_id, lot_id FROM points_due WHERE node = ? AND due_ms <= ?"
        " ORDER BY due_ms, lot_id LIMIT ?",
        (node, at_ms, limit),
    )
    found: dict[str, list[str]] = {}
    for card_id, lot_id in rows:
        found.setdefault(card_id, []).append(lot_id)
    return found


def take_off_due(conn: Connection, lot_ids: list[str]) -> None:
    conn.executemany("DELETE FROM points_due WHERE lot_id = ?", [(lot_id,) for lot_id in lot_ids])


def outstanding(conn: Connection) -> tuple[list[tuple[int, int]], int]:
    """Every card's points as its lots hold them: (expires at ms, 0 for never; points)
    per lot with points left, and the points members owe (returns of earnings not yet
    settled). A replaced card's lots are counted once, under its first number."""
    roots = sorted(
        {directory_store.card_root(conn, card) for card in directory_store.cards_on_ledger(conn, "points")}
    )
    lots: list[tuple[int, int]] = []
    owed = 0
    for root in roots:
        card_book = book(conn, root)
        left = remaining(card_book.lots, card_book.allocations, card_book.reversals, card_book.expiries)
        lots.extend((lot.expires_at_ms, left[lot.id]) for lot in card_book.lots if left.get(lot.id, 0) > 0)
        owed += card_book.account.owed
    return lots, owed
