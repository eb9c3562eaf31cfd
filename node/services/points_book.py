"""Every movement of a member's points goes through here: earned, spent, given back
by a return, taken back by a return, expired. The points are held as lots
(loyalty.lots, read from the ledger by loyalty.lot_ledger): each movement carries its
lot facts, so a spend records which lots it took, a return puts exactly those back
with their own expiry, and every replica reads the same lots from the same entries.

Who expires what: the branch that booked an earning books its expiry (`expire_due`),
so two branches never expire one lot twice; a spend elsewhere that the earning
branch had not heard of yet leaves the lot overdrawn, which the lots allow for.
"""

from __future__ import annotations

import logging
from typing import Any

from conflict.ledger import LedgerEntry
from loyalty.errors import InvalidPointsRecord
from loyalty.lot_ledger import PointsBook, earning_facts
from loyalty.lot_records import Allocation
from loyalty.rules import PointsSettings
from node.errors import InvalidRequest
from node.services.cards import record_ledger_entry
from node.store.writer import Tx
from protocol.limits import MAX_POINTS_LOT_PARTS
from shared_tables import directory_store, points_lots

log = logging.getLogger(__name__)

# Lots looked at per run of the expiry job: one write stays short, the rest waits
# for the next run.
EXPIRE_BATCH = 500


class SpendTooSpread(InvalidRequest):
    """A spend would take more lots than one movement may name."""

    code = "points_too_spread"


def book(tx: Tx, card: str) -> PointsBook:
    return points_lots.book(tx.conn, card)


def earn(
    tx: Tx, entry_id: str, card: str, kind: str, points: int, settings: PointsSettings, **context: Any
) -> LedgerEntry:
    """Book `points` earned (`kind` earn or referral) as a lot expiring by `settings`;
    a card a return left owing pays that debt out of it first."""
    root = directory_store.card_root(tx.conn, card)
    at_ms = tx.wall_ms
    if points_lots.is_owing(tx.conn, root):
        owing = points_lots.book(tx.conn, root)
        lots, of, expires = earning_facts(owing, entry_id, points, at_ms, settings)
        if sum(owing_points for _, owing_points in lots) >= owing.owed:
            points_lots.no_longer_owing(tx.conn, root)
    else:
        lots, of, expires = (), "", _expiry(entry_id, points, at_ms, settings)
    facts = _facts(lots, of, expires)
    return record_ledger_entry(tx, entry_id, card, "points", kind, points, **context, **facts)


def spend(tx: Tx, entry_id: str, card: str, points: int, **context: Any) -> Allocation:
    """Take `points` off `card` for spend `entry_id` (a points tender, a level bought,
    goods redeemed, a conversion), soonest expiry first; PointsShort when the card's
    unexpired points, less any debt, do not cover it."""
    allocation = book(tx, card).spend(entry_id, points, tx.wall_ms)
    if len(allocation.taken) > MAX_POINTS_LOT_PARTS:
        most = sum(lot_points for _, lot_points in allocation.taken[:MAX_POINTS_LOT_PARTS])
        raise SpendTooSpread(
            f"these {points:,} points lie in {len(allocation.taken):,} lots, more than one spend may take"
            f" ({MAX_POINTS_LOT_PARTS}); spend at most {most:,} points at once"
        )
    record_ledger_entry(
        tx, entry_id, card, "points", "redeem", -points, lots=_wire(allocation.taken), **context
    )
    return allocation


def give_back(tx: Tx, entry_id: str, spend_id: str, card: str, points: int, **context: Any) -> None:
    """Put `points` of spend `spend_id` back into the lots it took, with their expiry."""
    try:
        put_back = book(tx, card).give_back(spend_id, points, entry_id)
    except InvalidPointsRecord as exc:  # the spend's lots are not all known here yet
        log.warning("points refund %s placed as a lot of its own: %s", entry_id, exc)
        put_back = None
    facts = {} if put_back is None else {"lots": _wire(put_back.put_back), "of": spend_id}
    record_ledger_entry(tx, entry_id, card, "points", "refund", points, **context, **facts)


def take_back(tx: Tx, entry_id: str, lot_id: str, card: str, points: int, **context: Any) -> int:
    """Take back `points` of lot `lot_id` (the earning of a sale now returned): what the
    lot still holds, and what was spent of it as a debt; what expired is gone already.
    The points the card's balance loses."""
    taken_back = book(tx, card).take_back(lot_id, points, entry_id)
    if taken_back is None:  # an earning booked before lots: the whole of it, as before
        record_ledger_entry(tx, entry_id, card, "points", "return", -points, **context)
        return points
    lost = taken_back.taken + taken_back.debt
    if lost:
        lots = [(lot_id, taken_back.taken)] if taken_back.taken else []
        record_ledger_entry(
            tx, entry_id, card, "points", "return", -lost, of=lot_id, **context, **_lots(lots)
        )
    return lost


def expire_due(tx: Tx, at_ms: int) -> tuple[int, bool]:
    """Book the expiry of the lots this branch earned that are past their expiry at
    `at_ms`, up to EXPIRE_BATCH of them: the points expired, and whether more are due.
    Ids follow from the lot and what its expiry comes to (loyalty.lots rule 4), so a
    rerun books nothing twice."""
    expired = 0
    looked_at: list[str] = []
    points_lots.forget_others(tx.conn, tx.log.origin)
    due = points_lots.due_lots(tx.conn, tx.log.origin, at_ms, EXPIRE_BATCH)
    for card, lot_ids in due.items():
        mine = set(lot_ids)
        for expiry in book(tx, card).due(at_ms):
            if expiry.lot_id in mine:
                record_ledger_entry(
                    tx,
                    expiry.expiry_id,
                    card,
                    "points",
                    "expire",
                    -expiry.points,
                    lots=[[expiry.lot_id, expiry.points]],
                    of=expiry.lot_id,
                )
                expired += expiry.points
        looked_at.extend(lot_ids)
    points_lots.take_off_due(tx.conn, looked_at)
    return expired, len(looked_at) == EXPIRE_BATCH


def _expiry(entry_id: str, points: int, at_ms: int, settings: PointsSettings) -> int:
    return earning_facts(PointsBook(), entry_id, points, at_ms, settings)[2]


def _facts(lots: Any, of: str, expires_at_ms: int) -> dict[str, Any]:
    facts: dict[str, Any] = _lots(list(lots))
    if of:
        facts["of"] = of
    if expires_at_ms:
        facts["expires_at_ms"] = expires_at_ms
    return facts


def _lots(parts: list[tuple[str, int]]) -> dict[str, Any]:
    return {"lots": _wire(tuple(parts))} if parts else {}


def _wire(parts: tuple[tuple[str, int], ...]) -> list[list[Any]]:
    return [[lot_id, points] for lot_id, points in parts]
