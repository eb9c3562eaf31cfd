"""Points held as lots, spent oldest expiry first, expired and returned without loss
(FEATURES L4, L7-L9: a level bought with points, goods redeemed, a checkout paid
with points, points turned into stored value are all spends).

The records (lots, spends, returns, expiries) are in loyalty.lot_records; this module
computes from them.

Rules:
1. Each earning is a `Lot`: its points, when earned, when they expire (0: never).
2. A spend (`allocate`) takes from lots in order of expiry, soonest first, lots that
   never expire last, ties by when earned and then by id; a lot past its expiry is
   skipped. It is refused (`PointsShort`) unless the unexpired points, less what
   the member owes (rule 5), cover it. The `Allocation` records what it took of
   each lot.
3. A return of a spend (`return_spend`) puts the points back into the lots they
   came from, the lot taken last first (so the points that live longest come back
   first), with those lots' expiry: points put back into an expired lot expire. A
   whole return puts back exactly what the spend took.
4. `expire` gives what a scheduled job books as expired: each lot past its expiry
   with points left. Already-booked expiries are an input and each expiry's id is
   derived from the lot and the total it brings the lot's expiry to, so running the
   job twice, or at two places, books each point once.
5. A return of the sale that earned a lot (`reverse_earning`) takes the points back
   from that lot. What the lot no longer holds because it was spent becomes a debt:
   the balance goes below what the lots hold, never silently lost. What it no longer
   holds because it expired is not taken again (the member lost it already).
   `settle_debt` pays open debts from the member's unexpired lots, as a spend would.

The law, checked by `account` and by the tests for every sequence of operations:
    earned = spent + expired + taken back + outstanding
where spent is what spends and settlements took less what returns put back, taken
back is what returns of earnings took from their lots, and outstanding is what the
lots hold. The member's balance, as the ledger books it (earnings, less spends, plus
returned spends, less expiries, less returns of earnings: taken back and debt), is
outstanding - owed, owed being the debts not yet settled.

Two branches that spend the same lot while apart may leave it overdrawn once their
spends merge: `remaining` shows it below zero, the law still holds, and what is
available to spend counts the overdraft against the member's other lots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from loyalty.errors import InvalidPointsRecord, InvalidReturn, PointsShort, check_int
from loyalty.lot_records import (
    DAY_MS,
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
from protocol.errors import require
from protocol.limits import MAX_AT_MS, MAX_LEDGER_AMOUNT

__all__ = [
    "DAY_MS",
    "Allocation",
    "EarningReturn",
    "Expiry",
    "Lot",
    "PointsAccount",
    "SpendReturn",
    "account",
    "allocate",
    "available",
    "expire",
    "lot_earned",
    "open_debts",
    "points_covering",
    "points_value_fen",
    "remaining",
    "return_spend",
    "reverse_earning",
    "settle_debt",
]

T = TypeVar("T")


def lot_earned(lot_id: str, points: int, earned_at_ms: int, settings: PointsSettings) -> Lot:
    """The lot an earning makes, expiring `settings.expiry_days` after it (0: never)."""
    expires = 0
    if settings.expiry_days:
        expires = min(earned_at_ms + settings.expiry_days * DAY_MS, MAX_AT_MS)
    return Lot(lot_id, points, earned_at_ms, expires)


def points_value_fen(points: int, settings: PointsSettings) -> int:
    """What `points` pay at checkout or put on a card as stored value (L8, L9)."""
    check_int(points, "points", 0, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
    return points * settings.point_value_fen


def points_covering(amount_fen: int, settings: PointsSettings) -> int:
    """The most points that pay towards `amount_fen` without paying more than it: a
    point is never taken for less than its value; the rest is paid another way."""
    check_int(amount_fen, "amount_fen", 0, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
    return amount_fen // settings.point_value_fen


# -- the book: what the lots hold -------------------------------------------------------


@dataclass(slots=True)
class _Book:
    lots: dict[str, Lot]
    allocations: dict[str, Allocation]
    spend_returns: dict[str, SpendReturn]
    earning_returns: dict[str, EarningReturn]
    expiries: dict[str, Expiry]
    remaining: dict[str, int]


def _book(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> _Book:
    """Every record once by its id (a copy replicated twice is one), each checked
    against the lots it names, and what each lot holds."""
    by_lot = _unique(lots, "lot", lambda lot: lot.id)
    by_spend = _unique(allocations, "spend", lambda allocation: allocation.spend_id)
    reversals = list(reversals)
    spend_returns = _unique(
        (r for r in reversals if isinstance(r, SpendReturn)), "return", lambda r: r.return_id
    )
    earning_returns = _unique(
        (r for r in reversals if isinstance(r, EarningReturn)), "return", lambda r: r.return_id
    )
    if spend_returns.keys() & earning_returns.keys():
        raise InvalidPointsRecord(
            f"return ids used twice: {sorted(spend_returns.keys() & earning_returns.keys())}"
        )
    by_expiry = _unique(expiries, "expiry", lambda expiry: expiry.expiry_id)

    held = {lot_id: lot.points for lot_id, lot in by_lot.items()}

    def move(lot_id: str, points: int, what: str) -> None:
        if lot_id not in held:
            raise InvalidPointsRecord(f"{what} names lot {lot_id}, which is not among the member's lots")
        held[lot_id] += points

    for allocation in by_spend.values():
        if allocation.settles and allocation.settles not in earning_returns:
            raise InvalidPointsRecord(
                f"settlement {allocation.spend_id} pays the debt of {allocation.settles}, an unknown return"
            )
        for lot_id, points in allocation.taken:
            move(lot_id, -points, f"spend {allocation.spend_id}")
    left = {spend_id: dict(_totals(a.taken)) for spend_id, a in by_spend.items()}
    for spend_return in spend_returns.values():
        spend = left.get(spend_return.spend_id)
        if spend is None:
            raise InvalidPointsRecord(f"return {spend_return.return_id} names an unknown spend")
        if by_spend[spend_return.spend_id].settles:
            raise InvalidReturn(f"{spend_return.spend_id} settles a debt; it is not a spend to return")
        for lot_id, points in spend_return.put_back:
            if spend.get(lot_id, 0) < points:
                raise InvalidReturn(
                    f"return {spend_return.return_id} puts {points} points back into lot {lot_id}, "
                    f"but spend {spend_return.spend_id} has only {spend.get(lot_id, 0)} of it left to return"
                )
            spend[lot_id] -= points
            move(lot_id, points, f"return {spend_return.return_id}")
    asked = dict.fromkeys(by_lot, 0)
    for earning_return in earning_returns.values():
        move(earning_return.lot_id, -earning_return.taken, f"return {earning_return.return_id}")
        asked[earning_return.lot_id] += earning_return.points
        if asked[earning_return.lot_id] > by_lot[earning_return.lot_id].points:
            raise InvalidReturn(
                f"returns take back more points of lot {earning_return.lot_id} than it earned"
            )
    for expiry in by_expiry.values():
        move(expiry.lot_id, -expiry.points, f"expiry {expiry.expiry_id}")
    return _Book(by_lot, by_spend, spend_returns, earning_returns, by_expiry, held)


def remaining(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> dict[str, int]:
    """What each lot holds (booked expiries out; points past expiry not yet booked
    still in). Below zero only for a lot overdrawn by spends merged from two branches."""
    return _book(lots, allocations, reversals, expiries).remaining


def open_debts(allocations: Iterable[Allocation], reversals: Iterable[Reversal]) -> dict[str, int]:
    """What each return of an earning still has owed (rule 5), by return id."""
    owed = {r.return_id: r.debt for r in reversals if isinstance(r, EarningReturn) and r.debt}
    settled = {a.spend_id: a for a in allocations if a.settles}
    for allocation in settled.values():
        owed[allocation.settles] = owed.get(allocation.settles, 0) - allocation.points
    require(all(debt >= 0 for debt in owed.values()), "a settlement never pays more than the debt it names")
    return {return_id: debt for return_id, debt in sorted(owed.items()) if debt}


def available(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    at_ms: int,
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> int:
    """The points a spend at `at_ms` may take (rule 2)."""
    book = _book(lots, allocations, reversals, expiries)
    return _available(book, at_ms)


def _available(book: _Book, at_ms: int) -> int:
    owed = sum(open_debts(book.allocations.values(), book.earning_returns.values()).values())
    return max(0, _unexpired(book, at_ms) - owed)


def _unexpired(book: _Book, at_ms: int) -> int:
    """The points unexpired lots hold, less any lot's overdraft."""
    unexpired = sum(
        held
        for lot_id, held in book.remaining.items()
        if held > 0 and not book.lots[lot_id].expired_at(at_ms)
    )
    overdrawn = sum(-held for held in book.remaining.values() if held < 0)
    return unexpired - overdrawn


def allocate(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    amount: int,
    at_ms: int,
    *,
    spend_id: str,
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> Allocation:
    """Take `amount` points for spend `spend_id` at `at_ms` (rule 2)."""
    check_int(amount, "the points to spend", 1, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
    check_int(at_ms, "at_ms", 0, MAX_AT_MS, InvalidPointsRecord)
    book = _book(lots, allocations, reversals, expiries)
    if spend_id in book.allocations:
        raise InvalidPointsRecord(f"spend {spend_id} is booked already")
    can = _available(book, at_ms)
    if amount > can:
        raise PointsShort(can, amount)
    return Allocation(spend_id, _take(book, amount, at_ms))


def _take(book: _Book, amount: int, at_ms: int) -> Parts:
    order = sorted(
        (lot for lot in book.lots.values() if not lot.expired_at(at_ms) and book.remaining[lot.id] > 0),
        key=lambda lot: (lot.expires_at_ms == 0, lot.expires_at_ms, lot.earned_at_ms, lot.id),
    )
    taken = []
    for lot in order:
        if not amount:
            break
        take = min(amount, book.remaining[lot.id])
        taken.append((lot.id, take))
        amount -= take
    require(amount == 0, "a spend within the available points is covered by the lots")
    return tuple(taken)


def return_spend(
    allocation: Allocation, points: int, *, return_id: str, reversals: Iterable[Reversal] = ()
) -> SpendReturn:
    """Put `points` of a spend back into its lots, the lot taken last first (rule 3);
    `reversals` are the returns booked before (those of other spends are ignored)."""
    if allocation.settles:
        raise InvalidReturn(f"{allocation.spend_id} settles a debt; it is not a spend to return")
    earlier = _unique(
        (r for r in reversals if isinstance(r, SpendReturn) and r.spend_id == allocation.spend_id),
        "return",
        lambda r: r.return_id,
    )
    if return_id in earlier:
        raise InvalidPointsRecord(f"return {return_id} is booked already")
    left = _totals(allocation.taken)
    for earlier_return in earlier.values():
        for lot_id, back in earlier_return.put_back:
            left[lot_id] = left.get(lot_id, 0) - back
    still = sum(left.values())
    check_int(points, "the points to return", 1, MAX_LEDGER_AMOUNT, InvalidReturn)
    if points > still:
        raise InvalidReturn(
            f"spend {allocation.spend_id} took {allocation.points} points and {still} remain to return, "
            f"not {points}"
        )
    put_back = []
    for lot_id in reversed(list(dict.fromkeys(lot_id for lot_id, _ in allocation.taken))):
        back = min(points, left[lot_id])
        if back > 0:
            put_back.append((lot_id, back))
            points -= back
    require(points == 0, "a return within what the spend took is put back whole")
    return SpendReturn(return_id, allocation.spend_id, tuple(put_back))


def reverse_earning(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    lot_id: str,
    points: int,
    *,
    return_id: str,
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> EarningReturn:
    """Take back `points` of lot `lot_id`, its sale returned (rule 5): from what the lot
    holds, then of what expired nothing, then of what was spent a debt. The record
    gives both figures: `taken` from the lot and `debt`."""
    book = _book(lots, allocations, reversals, expiries)
    lot = book.lots.get(lot_id)
    if lot is None:
        raise InvalidPointsRecord(f"lot {lot_id} is not among the member's lots")
    if return_id in book.spend_returns or return_id in book.earning_returns:
        raise InvalidPointsRecord(f"return {return_id} is booked already")
    check_int(points, "the points to take back", 1, MAX_LEDGER_AMOUNT, InvalidReturn)
    earlier = [r for r in book.earning_returns.values() if r.lot_id == lot_id]
    asked_before = sum(r.points for r in earlier)
    if asked_before + points > lot.points:
        raise InvalidReturn(
            f"lot {lot_id} earned {lot.points} points and returns took back {asked_before} of them; "
            f"at most {lot.points - asked_before} more can be taken back, not {points}"
        )
    taken = min(points, max(0, book.remaining[lot_id]))
    expired = sum(e.points for e in book.expiries.values() if e.lot_id == lot_id)
    expired_left = expired - sum(r.expired_part for r in earlier)
    not_again = min(points - taken, max(0, expired_left))
    return EarningReturn(return_id, lot_id, points, taken, points - taken - not_again)


def settle_debt(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    at_ms: int,
    *,
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> tuple[Allocation, ...]:
    """Pay open debts from unexpired lots (rule 5), the oldest return's first: one
    settlement per debt, as much of it as the lots cover. Ids derive from the return
    and what it had settled before, so two computations of one settlement are one."""
    check_int(at_ms, "at_ms", 0, MAX_AT_MS, InvalidPointsRecord)
    reversals = list(reversals)
    allocations = list(allocations)
    book = _book(lots, allocations, reversals, expiries)
    settlements = []
    for return_id, owed in open_debts(allocations, reversals).items():
        pay = min(owed, _unexpired(book, at_ms))
        if pay <= 0:
            continue
        debt = book.earning_returns[return_id].debt
        settlement = Allocation(f"settle:{return_id}:{debt - owed}", _take(book, pay, at_ms), return_id)
        settlements.append(settlement)
        allocations.append(settlement)
        book = _book(book.lots.values(), allocations, reversals, book.expiries.values())
    return tuple(settlements)


def expire(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    at_ms: int,
    *,
    reversals: Iterable[Reversal] = (),
    booked: Iterable[Expiry] = (),
) -> tuple[Expiry, ...]:
    """What to book as expired at `at_ms`, beyond what is `booked` already (rule 4)."""
    check_int(at_ms, "at_ms", 0, MAX_AT_MS, InvalidPointsRecord)
    book = _book(lots, allocations, reversals, booked)
    due = []
    for lot in sorted(book.lots.values(), key=lambda lot: (lot.expires_at_ms, lot.id)):
        held = book.remaining[lot.id]
        if lot.expired_at(at_ms) and held > 0:
            before = sum(e.points for e in book.expiries.values() if e.lot_id == lot.id)
            due.append(Expiry(f"expiry:{lot.id}:{before + held}", lot.id, held))
    return tuple(due)


def account(
    lots: Iterable[Lot],
    allocations: Iterable[Allocation],
    reversals: Iterable[Reversal] = (),
    expiries: Iterable[Expiry] = (),
) -> PointsAccount:
    """Where a member's points went, with the law of the module docstring checked."""
    book = _book(lots, allocations, reversals, expiries)
    earned = sum(lot.points for lot in book.lots.values())
    spent = sum(a.points for a in book.allocations.values()) - sum(
        r.points for r in book.spend_returns.values()
    )
    expired = sum(e.points for e in book.expiries.values())
    taken_back = sum(r.taken for r in book.earning_returns.values())
    outstanding = sum(book.remaining.values())
    owed = sum(open_debts(book.allocations.values(), book.earning_returns.values()).values())
    require(
        earned == spent + expired + taken_back + outstanding,
        "points earned = spent + expired + taken back + outstanding",
    )
    return PointsAccount(earned, spent, expired, taken_back, outstanding, owed)


def _unique(records: Iterable[T], what: str, key: Callable[[T], str]) -> dict[str, T]:
    """Records by id: a copy of one (replicated twice) is one; two different under one
    id are refused."""
    found: dict[str, T] = {}
    for record in records:
        known = found.setdefault(key(record), record)
        if known != record:
            raise InvalidPointsRecord(f"two different {what} records share the id {key(record)!r}")
    return found


def _totals(parts: Parts) -> dict[str, int]:
    totals: dict[str, int] = {}
    for lot_id, points in parts:
        totals[lot_id] = totals.get(lot_id, 0) + points
    return totals
