"""Where a return's money goes: back the way it came.

A customer return refunds the sale's tenders, never more to one than it paid less
what earlier returns of the sale already gave back to it, so a return can never
turn stored value into cash. The refund fills the tenders in this order:

1. credit, back onto the card's credit line (what the member owes shrinks first);
2. stored value, back onto the card that paid (in the order the sale took them);
3. points, back onto the card they were spent from, as points: each refund of the
   tender gives back its share of them, rounded so that the refunds of the whole
   tender give back exactly what it spent (`points_back`);
4. cash, up to the cash kept (tendered less change);
5. vouchers: their share is not paid out; once a sale's whole voucher share has come
   back, the voucher is reinstated if still within its days (node.services.vouchers).

Before any money, a returned line of a service item that a card paid for (a count
card's uses, a time card's admission) goes back to that card tender, unit by unit,
up to what it paid of that item less what earlier returns gave back (`item_refunds`):
the uses are booked back onto the card; a time card's admission is recorded at its
value and gives nothing back, since the card admits the member anyway.

Goods redeemed for points (FEATURES L7) go back to the points tender that paid for them
(`redeemed_refunds`): each unit gives back the points it took, into exactly the lots
they came from; a redemption tender takes no part of the other lines' refunds, and its
points are never refunded as money.

Returns booked before refunds were recorded per tender refunded cash only; what
they gave back counts against the cash. Pure: the caller reads the sale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from protocol.errors import require

_ORDER = {"credit": 0, "stored_value": 1, "points": 2, "cash": 3, "voucher": 4}


class PaidTender(NamedTuple):
    tender_no: int
    kind: str  # cash | stored_value | voucher | credit | uses | time_card | points
    amount_fen: int
    card: str | None  # the card of a card tender, the voucher of a voucher one
    sku: str | None = None  # uses, time_card: the service item it paid for; points: goods redeemed
    qty: int = 0  # uses, time_card: how many of it; points: the points it spent


class Refund(NamedTuple):
    tender_no: int
    kind: str
    amount_fen: int
    card: str | None
    sku: str | None = None  # uses, time_card
    qty: int = 0  # uses, time_card: units given back to the card tender; points: points given back


# Tenders that pay for units of a service item with what a card holds.
ITEM_TENDERS = ("uses", "time_card")


def item_refunds(
    returned: Sequence[tuple[str, int, int]],
    tenders: Sequence[PaidTender],
    refunded_qty: Mapping[int, int],
) -> tuple[list[Refund], int]:
    """The returned lines' units (sku, qty, what they give back after discounts) that
    card tenders paid for, given back to those tenders in tender order, each at most what
    it paid less what earlier returns gave back (`refunded_qty` per tender); and the value
    left for money. Units given to a tender are worth their share of the line's refund:
    the floor of what the units so far are worth, less what the earlier ones took."""
    room = {t.tender_no: t.qty - refunded_qty.get(t.tender_no, 0) for t in tenders if t.kind in ITEM_TENDERS}
    found: list[Refund] = []
    money_fen = 0
    for sku, qty, amount_fen in returned:
        done = 0
        for tender in tenders:
            if tender.kind not in ITEM_TENDERS or tender.sku != sku or done == qty:
                continue
            taken = min(qty - done, room[tender.tender_no])
            if taken > 0:
                worth = amount_fen * (done + taken) // qty - amount_fen * done // qty
                found.append(Refund(tender.tender_no, tender.kind, worth, tender.card, sku, taken))
                room[tender.tender_no] -= taken
                done += taken
        money_fen += amount_fen - amount_fen * done // qty
    return found, money_fen


def redeems(tender: PaidTender) -> bool:
    """A points tender that paid for goods redeemed for points (it names them)."""
    return tender.kind == "points" and tender.sku is not None


def redeemed_refunds(
    returned: Sequence[tuple[str, int, int, int]],
    tenders: Sequence[PaidTender],
    refunded_points: Mapping[int, int],
) -> list[Refund]:
    """The returned units of lines redeemed for points (sku, qty, what they give back in
    fen, the points each unit took), given back to the redemption tenders of their goods
    in tender order, each at most the points it spent less what earlier returns gave back
    (`refunded_points` per tender). Units given to a tender are worth their share of the
    line's refund as in `item_refunds`, and give back their points exactly: units x the
    points per unit."""
    room = {t.tender_no: t.qty - refunded_points.get(t.tender_no, 0) for t in tenders if redeems(t)}
    found: list[Refund] = []
    for sku, qty, amount_fen, points_per_unit in returned:
        require(points_per_unit > 0, "a line redeemed for points took some per unit")
        done = 0
        for tender in tenders:
            if not redeems(tender) or tender.sku != sku or done == qty:
                continue
            taken = min(qty - done, room[tender.tender_no] // points_per_unit)
            if taken > 0:
                worth = amount_fen * (done + taken) // qty - amount_fen * done // qty
                points = taken * points_per_unit
                found.append(Refund(tender.tender_no, tender.kind, worth, tender.card, sku, points))
                room[tender.tender_no] -= points
                done += taken
        require(done == qty, "a redeemed line's units go back to the points tenders that paid for them")
    return found


def kept_by_tender(tenders: Sequence[PaidTender], change_fen: int) -> dict[int, int]:
    """What each tender paid toward the sale: the change comes out of the cash tenders."""
    kept = {tender.tender_no: tender.amount_fen for tender in tenders}
    change = change_fen
    for tender in tenders:
        if tender.kind == "cash" and change > 0:
            taken = min(change, kept[tender.tender_no])
            kept[tender.tender_no] -= taken
            change -= taken
    require(change == 0, "a sale's change comes out of its cash tenders")
    return kept


def allocate(
    refund_fen: int,
    tenders: Sequence[PaidTender],
    change_fen: int,
    refunded: Mapping[int, int],
    legacy_cash_fen: int = 0,
) -> list[Refund]:
    """Split `refund_fen` over the sale's money tenders (rules 1 to 3; card item tenders
    are refunded by `item_refunds` first, redemptions by `redeemed_refunds`). `refunded`: what earlier
    returns gave back to each tender; `legacy_cash_fen`: what earlier returns without
    per-tender records refunded (in cash). The refunds sum to `refund_fen`."""
    # Card items and goods redeemed for points went back to their tenders already.
    tenders = [tender for tender in tenders if tender.kind not in ITEM_TENDERS and not redeems(tender)]
    kept = kept_by_tender(tenders, change_fen)
    legacy = legacy_cash_fen
    left = refund_fen
    refunds: list[Refund] = []
    for tender in sorted(tenders, key=lambda t: (_ORDER.get(t.kind, len(_ORDER)), t.tender_no)):
        room = kept[tender.tender_no] - refunded.get(tender.tender_no, 0)
        if tender.kind == "cash" and legacy:
            taken = min(legacy, room)
            room, legacy = room - taken, legacy - taken
        amount = min(left, max(room, 0))
        if amount:
            points = 0
            if tender.kind == "points":
                points = points_back(tender, refunded.get(tender.tender_no, 0), amount)
            refunds.append(Refund(tender.tender_no, tender.kind, amount, tender.card, qty=points))
            left -= amount
    require(left == 0, "a sale's tenders cover any return of it: the refund never exceeds what was paid")
    return refunds


def points_back(tender: PaidTender, refunded_before_fen: int, amount_fen: int) -> int:
    """The points a refund of `amount_fen` to a points tender gives back (its `qty` is
    the points it spent): the floor of the points over the tender's fen refunded so far,
    less what the earlier refunds gave, so the refunds of the whole tender add up to
    exactly the points it spent however the returns were split."""

    def share(fen: int) -> int:
        return tender.qty * fen // tender.amount_fen

    return share(refunded_before_fen + amount_fen) - share(refunded_before_fen)
