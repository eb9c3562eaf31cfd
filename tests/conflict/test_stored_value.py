"""What a card's stored value is made of, and what of it may be paid back
(conflict.stored_value): the worked example, and the law for any entries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conflict.ledger import ENTRY_SIGNS, LedgerEntry
from conflict.stored_value import stored_value
from tests.conflict.strategies import PROPERTY

SIGNS = ENTRY_SIGNS["stored_value"]


def entry(number: int, kind: str, amount: int) -> LedgerEntry:
    return LedgerEntry(f"e{number}", "K-1", "stored_value", kind, amount, number, "BR01")


def test_paid_money_is_taken_first_and_only_it_is_paid_back() -> None:
    """Paid 100,000 with a 10,000 bonus, then spent 30,000: 80,000 left, of which 70,000
    was paid; the 10,000 bonus is what is left beyond it."""
    held = stored_value(
        [entry(1, "top_up", 100_000), entry(2, "bonus", 10_000), entry(3, "spend", -30_000)], "K-1"
    )
    assert (held.balance, held.refundable, held.bonus_left) == (80_000, 70_000, 10_000)
    # Spent beyond what was paid: the bonus is being spent, nothing is paid back.
    deeper = stored_value(
        [entry(1, "top_up", 100_000), entry(2, "bonus", 10_000), entry(3, "spend", -105_000)], "K-1"
    )
    assert (deeper.balance, deeper.refundable, deeper.bonus_left) == (5_000, 0, 5_000)
    # A sale returned onto the card gives back what its spend took; other cards do not count.
    back = stored_value(
        [entry(1, "top_up", 100_000), entry(3, "spend", -30_000), entry(4, "refund", 30_000)], "K-1"
    )
    assert back.refundable == 100_000
    assert stored_value([LedgerEntry("x", "K-2", "stored_value", "top_up", 5, 1, "BR01")], "K-1").balance == 0


kinds = st.sampled_from(sorted(SIGNS))


@PROPERTY
@given(st.lists(st.tuples(kinds, st.integers(min_value=1, max_value=100_000)), max_size=25))
def test_what_is_paid_back_never_exceeds_the_balance_or_what_was_paid(moves: list[tuple[str, int]]) -> None:
    entries = [entry(n, kind, (SIGNS[kind] or 1) * size) for n, (kind, size) in enumerate(moves)]
    held = stored_value(entries, "K-1")
    # The law: paid in + bonus + adjustments - taken is the balance, the sum of the ledger.
    assert held.balance == sum(e.amount for e in entries)
    assert 0 <= held.refundable <= max(held.balance, 0)
    assert held.refundable <= max(held.paid_in - held.taken, 0)
    # Paying back all that may be leaves exactly the bonus that was not spent (a
    # returned card forfeits it), and nothing more may be paid back.
    paid_out = held.refundable
    settled = stored_value([*entries, entry(98, "payout", -paid_out)] if paid_out else entries, "K-1")
    assert settled.refundable == 0
    if held.balance >= 0:
        assert settled.balance == held.bonus_left
