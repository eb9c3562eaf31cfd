"""A card's points ledger read as lots (loyalty.lot_ledger): what each movement's lot
facts make of it, and the law that the lots and the ledger agree whatever happens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty import lots
from loyalty.errors import PointsShort
from loyalty.lot_ledger import Movement, PointsBook, book_of, earning_facts
from loyalty.lot_records import DAY_MS
from loyalty.rules import PointsSettings

DAY0 = 1_760_000_000_000
KEEP_30_DAYS = PointsSettings(expiry_days=30)


class Card:
    """The movements of one card, booked as a branch books them (node.services.points_book)."""

    def __init__(self, points_settings: PointsSettings = KEEP_30_DAYS) -> None:
        self.movements: list[Movement] = []
        self.settings = points_settings

    @property
    def book(self) -> PointsBook:
        return book_of(self.movements)

    @property
    def ledger(self) -> int:
        return sum(m.amount for m in self.movements)

    def earn(self, entry_id: str, points: int, at_ms: int) -> None:
        lots, of, expires = earning_facts(self.book, entry_id, points, at_ms, self.settings)
        self.movements.append(Movement(entry_id, "earn", points, at_ms, lots, of, expires))

    def spend(self, entry_id: str, points: int, at_ms: int) -> None:
        taken = self.book.spend(entry_id, points, at_ms).taken
        self.movements.append(Movement(entry_id, "redeem", -points, at_ms, taken))

    def give_back(self, entry_id: str, spend_id: str, points: int, at_ms: int) -> None:
        put_back = self.book.give_back(spend_id, points, entry_id)
        assert put_back is not None
        self.movements.append(Movement(entry_id, "refund", points, at_ms, put_back.put_back, spend_id))

    def take_back(self, entry_id: str, lot_id: str, points: int, at_ms: int) -> int:
        back = self.book.take_back(lot_id, points, entry_id)
        assert back is not None
        lost = back.taken + back.debt
        if lost:
            lots = ((lot_id, back.taken),) if back.taken else ()
            self.movements.append(Movement(entry_id, "return", -lost, at_ms, lots, lot_id))
        return lost

    def expire(self, at_ms: int) -> int:
        due = self.book.due(at_ms)
        for expiry in due:
            self.movements.append(
                Movement(expiry.expiry_id, "expire", -expiry.points, at_ms, ((expiry.lot_id, expiry.points),))
            )
        return sum(expiry.points for expiry in due)


def test_a_spend_takes_the_soonest_expiry_first_and_its_return_puts_exactly_those_points_back() -> None:
    """Lots: A 100 earned day 0 (expires day 30), B 50 earned day 10 (day 40). A spend of
    120 on day 20 takes A's 100 and 20 of B. Returning 30 of it puts back the lot taken
    last first: B's 20, then 10 of A, each with its own expiry."""
    card = Card()
    card.earn("A", 100, DAY0)
    card.earn("B", 50, DAY0 + 10 * DAY_MS)
    card.spend("S", 120, DAY0 + 20 * DAY_MS)
    assert card.movements[-1].lots == (("A", 100), ("B", 20))
    card.give_back("R", "S", 30, DAY0 + 21 * DAY_MS)
    assert card.movements[-1].lots == (("B", 20), ("A", 10))
    assert card.book.account.outstanding == 60 == card.ledger
    # Day 30: A's 10 put back expire with A; B's 50 live on to day 40.
    assert card.expire(DAY0 + 30 * DAY_MS) == 10
    assert card.book.balance == 50 == card.ledger
    assert card.expire(DAY0 + 40 * DAY_MS) == 50
    assert card.book.balance == 0 == card.ledger
    assert card.expire(DAY0 + 41 * DAY_MS) == 0  # a rerun books nothing twice


def test_points_past_their_expiry_are_not_spent_even_before_the_job_books_them() -> None:
    card = Card()
    card.earn("A", 100, DAY0)
    card.earn("B", 10, DAY0 + 29 * DAY_MS)
    with pytest.raises(PointsShort) as refused:
        card.spend("S", 50, DAY0 + 30 * DAY_MS)
    assert (refused.value.available, refused.value.asked) == (10, 50)
    assert card.book.available(DAY0 + 29 * DAY_MS) == 110


def test_a_return_of_spent_points_leaves_a_debt_the_next_earning_pays_first() -> None:
    """Sale 1 earns lot E1 of 100; the member spends 80; sale 1 is returned: 20 are
    taken from E1 and 80 are owed (balance -80). Sale 2 earns 50: all 50 settle the debt
    (balance -30, nothing to spend, nothing to expire). Sale 3 earns 100: 30 settle the
    rest and 70 are the member's, expiring 30 days on."""
    card = Card()
    card.earn("E1", 100, DAY0)
    card.spend("S", 80, DAY0 + DAY_MS)
    assert card.take_back("RET", "E1", 100, DAY0 + 2 * DAY_MS) == 100
    assert card.book.owed == 80
    assert card.ledger == -80 == card.book.balance
    card.earn("E2", 50, DAY0 + 3 * DAY_MS)
    assert card.movements[-1].lots == (("E2", 50),)
    assert card.movements[-1].of == "RET"
    assert card.book.available(DAY0 + 3 * DAY_MS) == 0
    assert card.ledger == -30
    assert card.expire(DAY0 + 40 * DAY_MS) == 0  # what paid the debt does not expire
    card.earn("E3", 100, DAY0 + 41 * DAY_MS)
    assert card.movements[-1].lots == (("E3", 30),)
    assert card.book.owed == 0
    assert card.book.available(DAY0 + 41 * DAY_MS) == 70 == card.ledger
    assert card.expire(DAY0 + 71 * DAY_MS) == 70
    assert card.ledger == 0 == card.book.balance


def test_a_return_after_the_points_expired_takes_nothing_the_member_already_lost() -> None:
    card = Card()
    card.earn("E1", 100, DAY0)
    assert card.expire(DAY0 + 30 * DAY_MS) == 100
    assert card.take_back("RET", "E1", 100, DAY0 + 31 * DAY_MS) == 0
    assert card.ledger == 0 == card.book.balance


def test_movements_written_before_lots_still_add_up() -> None:
    """An earning and a spend with no lot facts (written before lots, or an operator's
    adjustment at HQ): the spend takes from the lots as they stand; what no lot covers
    is unlotted, and the balance still equals the ledger."""
    movements = [
        Movement("old-earn", "earn", 100, DAY0),
        Movement("old-spend", "redeem", -130, DAY0 + 1),
        Movement("new-earn", "earn", 50, DAY0 + 2, expires_at_ms=DAY0 + 2 + 30 * DAY_MS),
    ]
    book = book_of(movements)
    assert book.unlotted == -30
    assert book.balance == 20 == sum(m.amount for m in movements)
    assert book.available(DAY0 + 3) == 20


def test_a_movement_naming_a_lot_this_replica_has_not_heard_of_counts_in_the_balance() -> None:
    movements = [Movement("S", "redeem", -40, DAY0, (("elsewhere", 40),))]
    book = book_of(movements)
    assert book.balance == -40
    assert book.unlotted == -40


_OPS = st.lists(
    st.tuples(st.sampled_from(["earn", "spend", "give_back", "take_back", "expire"]), st.integers(1, 400)),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, expiry_days=st.sampled_from([0, 3, 30]))
def test_the_lots_always_agree_with_the_ledger(ops: list[tuple[str, int]], expiry_days: int) -> None:
    """Whatever a card goes through: the lots' law holds (earned = spent + expired +
    taken back + outstanding), the balance the lots give is the ledger's sum, and a
    spend given back whole leaves every lot as it was."""
    card = Card(PointsSettings(expiry_days=expiry_days))
    at = DAY0
    earned: list[tuple[str, int]] = []
    spends: dict[str, int] = {}
    for number, (op, amount) in enumerate(ops):
        at += DAY_MS
        entry_id = f"{op}-{number}"
        if op == "earn":
            card.earn(entry_id, amount, at)
            earned.append((entry_id, amount))
        elif op == "spend":
            can = card.book.available(at)
            if can:
                before = card.book
                card.spend(entry_id, min(amount, can), at)
                spends[entry_id] = min(amount, can)
                card.give_back(f"{entry_id}-back", entry_id, spends.pop(entry_id), at)
                assert _held(card.book) == _held(before)
                card.spend(f"{entry_id}-again", min(amount, can), at)
                spends[f"{entry_id}-again"] = min(amount, can)
        elif op == "give_back" and spends:
            spend_id, left = next(iter(spends.items()))
            back = min(left, amount)
            card.give_back(entry_id, spend_id, back, at)
            spends[spend_id] -= back
            if not spends[spend_id]:
                del spends[spend_id]
        elif op == "take_back" and earned:
            lot_id, left = earned.pop(0)
            card.take_back(entry_id, lot_id, min(left, amount), at)
        elif op == "expire":
            card.expire(at)
        book = card.book
        account = book.account  # checks the law
        assert book.balance == card.ledger
        assert account.outstanding - account.owed == card.ledger
        assert book.unlotted == 0


def _held(book: PointsBook) -> dict[str, int]:
    return lots.remaining(book.lots, book.allocations, book.reversals, book.expiries)


def test_two_branches_apart_settling_one_debt_pay_it_once() -> None:
    """A return left 80 owed. BR01 and BR02, apart, each earn 100 and each settle the
    80 out of it. Read in stamp order, BR01's earning (first) pays the 80; BR02's owes
    nothing by then and keeps its 100 whole: balance 120 = 100 + 100 - 80."""
    card = Card()
    card.earn("E1", 100, DAY0)
    card.spend("S", 80, DAY0 + DAY_MS)
    card.take_back("RET", "E1", 100, DAY0 + 2 * DAY_MS)
    apart = card.book
    first = earning_facts(apart, "BR01-E", 100, DAY0 + 3 * DAY_MS, KEEP_30_DAYS)
    second = earning_facts(apart, "BR02-E", 100, DAY0 + 3 * DAY_MS, KEEP_30_DAYS)
    assert first[:2] == ((("BR01-E", 80),), "RET")
    assert second[:2] == ((("BR02-E", 80),), "RET")
    card.movements.append(Movement("BR01-E", "earn", 100, DAY0 + 3 * DAY_MS, *first))
    card.movements.append(Movement("BR02-E", "earn", 100, DAY0 + 3 * DAY_MS + 1, *second))
    book = card.book
    assert book.owed == 0
    assert book.balance == 120 == card.ledger
    assert book.available(DAY0 + 4 * DAY_MS) == 120
    assert _held(book) == {"E1": 0, "BR01-E": 20, "BR02-E": 100}


def test_facts_that_do_not_add_up_are_set_aside_and_the_balance_still_equals_the_ledger() -> None:
    """A signed entry is stored whatever its lot facts say (conflict.ledger checks only
    their shape): an earning "expiring" before it was earned never expires, and a spend
    naming more points than it moves is placed as a spend without facts."""
    movements = [
        Movement("E", "earn", 100, DAY0, expires_at_ms=DAY0 - 1),
        Movement("S", "redeem", -10, DAY0 + 1, (("E", 90),)),
    ]
    book = book_of(movements)
    assert book.lots[0].expires_at_ms == 0
    assert book.allocations[0].taken == (("E", 10),)
    assert book.balance == 90 == sum(m.amount for m in movements)
