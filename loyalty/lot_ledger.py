"""A card's points ledger read as lots (loyalty.lots): the movements a branch books
carry their lot facts, so every replica reads the same lots from the same entries.

Rules (a movement is one points ledger entry, in the ledger's stamp order):
1. Points earned (earn, referral, a positive adjust) are a lot of their own, under the
   movement's id, expiring when the movement says (0: never).
   If the movement also names, in `of`, a return that left the member owing points,
   it pays that debt first: `lots` says how much of the new lot went to it (a
   settlement, loyalty.lots rule 5), so those points can neither be spent nor expire.
   Two branches apart may settle one debt twice: in stamp order, each pays only what
   is still owed, and the rest stays in its lot.
2. A spend (redeem, a negative adjust) names the lots it took; a refund of a spend
   names the spend in `of` and the lots it put back.
3. An expiry names its one lot; a return of an earning names the lot in `of`, what it
   took from it in `lots`, and its debt is the rest of its amount.
4. A movement written before lots existed, whose lots this replica has not heard of
   yet, or whose facts do not add up (lots holding more than it moves; an expiry
   before the earning, which is taken as never), still counts in the balance: a spend
   without lot facts takes from the lots as they stand, soonest expiry first; what it
   cannot cover, like any movement naming an unknown lot or spend, is `unlotted`, and
   the balance says
       balance = outstanding - owed + unlotted
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from loyalty import lots as lot_rules
from loyalty.errors import PointsShort
from loyalty.lot_records import (
    Allocation,
    EarningReturn,
    Expiry,
    Lot,
    Parts,
    PointsAccount,
    Reversal,
    SpendReturn,
)
from loyalty.rules import PointsSettings

__all__ = ["Movement", "PointsBook", "book_of", "earning_facts"]

_EARNINGS = ("earn", "referral", "adjust")


@dataclass(frozen=True, slots=True)
class Movement:
    """One points ledger entry as the lots read it."""

    entry_id: str
    kind: str
    amount: int
    at_ms: int  # the wall time of the entry's stamp
    lots: Parts = ()
    of: str = ""
    expires_at_ms: int = 0


@dataclass(slots=True)
class PointsBook:
    """A card's lots and what moved them, with what could not be placed (rule 4)."""

    lots: list[Lot] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    reversals: list[Reversal] = field(default_factory=list)
    expiries: list[Expiry] = field(default_factory=list)
    unlotted: int = 0

    def available(self, at_ms: int) -> int:
        """What a spend at `at_ms` may take: the unexpired lots less any debt, and never
        more than the balance."""
        can = lot_rules.available(self.lots, self.allocations, at_ms, self.reversals, self.expiries)
        return max(0, min(can, self.balance))

    @property
    def account(self) -> PointsAccount:
        return lot_rules.account(self.lots, self.allocations, self.reversals, self.expiries)

    @property
    def balance(self) -> int:
        return self.account.balance + self.unlotted

    def spend(self, spend_id: str, points: int, at_ms: int) -> Allocation:
        """The lots a spend of `points` takes (loyalty.lots rule 2)."""
        can = self.available(at_ms)
        if points > can:
            raise PointsShort(can, points)
        return lot_rules.allocate(
            self.lots,
            self.allocations,
            points,
            at_ms,
            spend_id=spend_id,
            reversals=self.reversals,
            expiries=self.expiries,
        )

    def give_back(self, spend_id: str, points: int, return_id: str) -> SpendReturn | None:
        """Points of spend `spend_id` put back into the lots it took (rule 3); None for a
        spend this book cannot place (rule 4): the refund is then a lot of its own."""
        allocation = next((a for a in self.allocations if a.spend_id == spend_id), None)
        if allocation is None:
            return None
        return lot_rules.return_spend(allocation, points, return_id=return_id, reversals=self.reversals)

    def take_back(self, lot_id: str, points: int, return_id: str) -> EarningReturn | None:
        """Points of lot `lot_id` taken back by a return of the sale that earned them
        (rule 5); None when the lot is unknown here."""
        if not any(lot.id == lot_id for lot in self.lots):
            return None
        return lot_rules.reverse_earning(
            self.lots,
            self.allocations,
            lot_id,
            points,
            return_id=return_id,
            reversals=self.reversals,
            expiries=self.expiries,
        )

    def due(self, at_ms: int) -> tuple[Expiry, ...]:
        """The expiries a job at `at_ms` books (rule 4 of loyalty.lots)."""
        return lot_rules.expire(
            self.lots, self.allocations, at_ms, reversals=self.reversals, booked=self.expiries
        )

    @property
    def owed(self) -> int:
        """The points returns left the member owing, not yet settled."""
        return sum(lot_rules.open_debts(self.allocations, self.reversals).values())

    def open_debt(self) -> tuple[str, int] | None:
        """The oldest return whose debt is still open, and what it still owes."""
        debts = lot_rules.open_debts(self.allocations, self.reversals)
        order = [r.return_id for r in self.reversals if r.return_id in debts]
        return (order[0], debts[order[0]]) if order else None


def earning_facts(
    book: PointsBook, entry_id: str, points: int, at_ms: int, settings: PointsSettings
) -> tuple[Parts, str, int]:
    """The lot facts of an earning of `points` at `at_ms` (rule 1): the (lots, of,
    expires_at_ms) its movement carries; it settles the oldest open debt first."""
    lot = lot_rules.lot_earned(entry_id, points, at_ms, settings)
    debt = book.open_debt()
    if debt is None:
        return (), "", lot.expires_at_ms
    return_id, owed = debt
    return ((entry_id, min(owed, points)),), return_id, lot.expires_at_ms


def book_of(movements: Iterable[Movement]) -> PointsBook:
    """The lots a card's points movements, in stamp order, make (rules 1-4)."""
    book = PointsBook()
    held: dict[str, int] = {}
    spends: dict[str, dict[str, int]] = {}
    owed: dict[str, int] = {}  # what each return of an earning still has owed

    def knows(parts: Parts) -> bool:
        return all(lot_id in held for lot_id, _ in parts)

    def move(parts: Parts, sign: int) -> None:
        for lot_id, points in parts:
            held[lot_id] += sign * points

    for m in movements:
        if sum(points for _, points in m.lots) > abs(m.amount):
            m = Movement(m.entry_id, m.kind, m.amount, m.at_ms)  # facts that do not add up: rule 4
        if m.amount > 0 and m.kind in _EARNINGS:
            expires = m.expires_at_ms if m.expires_at_ms > m.at_ms else 0
            book.lots.append(Lot(m.entry_id, m.amount, m.at_ms, expires))
            held[m.entry_id] = m.amount
            # Two branches apart may both settle one debt: the first by stamp pays it,
            # the other pays only what was still owed and keeps the rest in its lot.
            pay = min(sum(points for _, points in m.lots), owed.get(m.of, 0))
            if pay:
                settles = ((m.entry_id, pay),)
                book.allocations.append(Allocation(f"settle:{m.entry_id}", settles, m.of))
                owed[m.of] -= pay
                move(settles, -1)
        elif m.amount > 0 and m.of in spends and m.lots and _within(m.lots, spends[m.of]):
            book.reversals.append(SpendReturn(m.entry_id, m.of, m.lots))
            move(m.lots, 1)
            for lot_id, points in m.lots:
                spends[m.of][lot_id] -= points
        elif m.amount > 0:
            # A refund of a spend placed nowhere: new points, as before lots.
            book.lots.append(Lot(m.entry_id, m.amount, m.at_ms))
            held[m.entry_id] = m.amount
        elif m.kind == "expire" and len(m.lots) == 1 and knows(m.lots):
            book.expiries.append(Expiry(m.entry_id, m.lots[0][0], -m.amount))
            move(m.lots, -1)
        elif m.kind == "return" and m.of in held and (not m.lots or m.lots[0][0] == m.of):
            taken = sum(points for _, points in m.lots)
            book.reversals.append(EarningReturn(m.entry_id, m.of, -m.amount, taken, -m.amount - taken))
            owed[m.entry_id] = -m.amount - taken
            move(m.lots, -1)
        elif m.lots and knows(m.lots) and m.kind not in ("expire", "return"):
            book.allocations.append(Allocation(m.entry_id, m.lots))
            spends[m.entry_id] = _totals(m.lots)
            move(m.lots, -1)
        else:
            parts = _take_as_they_stand(book, held, -m.amount)
            if parts:
                book.allocations.append(Allocation(m.entry_id, parts))
                spends[m.entry_id] = _totals(parts)
                move(parts, -1)
            book.unlotted += m.amount + sum(points for _, points in parts)
    return book


def _take_as_they_stand(book: PointsBook, held: dict[str, int], amount: int) -> Parts:
    order = sorted(
        (lot for lot in book.lots if held[lot.id] > 0),
        key=lambda lot: (lot.expires_at_ms == 0, lot.expires_at_ms, lot.earned_at_ms, lot.id),
    )
    taken = []
    for lot in order:
        if not amount:
            break
        take = min(amount, held[lot.id])
        taken.append((lot.id, take))
        amount -= take
    return tuple(taken)


def _within(parts: Parts, left: dict[str, int]) -> bool:
    return all(left.get(lot_id, 0) >= points for lot_id, points in _totals(parts).items())


def _totals(parts: Parts) -> dict[str, int]:
    totals: dict[str, int] = {}
    for lot_id, points in parts:
        totals[lot_id] = totals.get(lot_id, 0) + points
    return totals
