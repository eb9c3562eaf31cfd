"""A card's credit line (conflict.credit): what is owed, since when, and what is left."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conflict.credit import credit_position
from conflict.ledger import LedgerEntry
from tests.conflict.strategies import PROPERTY


def credit(number: int, kind: str, amount: int) -> LedgerEntry:
    return LedgerEntry(f"c{number}", "K-1", "credit", kind, amount, number * 10, "BR01")


def test_repayments_settle_the_oldest_charges_first() -> None:
    """A 50,000 line; charges of 20,000 (stamp 20) and 10,000 (stamp 30); 25,000 repaid
    settles the first and half the second: owed 5,000 since stamp 30, 45,000 left."""
    entries = [
        credit(1, "grant", 50_000),
        credit(2, "charge", -20_000),
        credit(3, "charge", -10_000),
        credit(4, "repay", 25_000),
    ]
    position = credit_position(reversed(entries), "K-1")  # any order: the stamps decide
    assert (position.granted, position.owed, position.owed_since_hlc, position.available) == (
        50_000,
        5_000,
        30,
        45_000,
    )
    settled = credit_position([*entries, credit(5, "refund", 5_000)], "K-1")
    assert (settled.owed, settled.owed_since_hlc, settled.available) == (0, None, 50_000)


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("grant", "charge", "repay", "refund")), st.integers(min_value=1, max_value=9_999)
        ),
        max_size=20,
    )
)
def test_what_is_left_is_the_ledgers_balance_and_what_is_owed_is_never_hidden(
    moves: list[tuple[str, int]],
) -> None:
    entries = [credit(n, kind, -size if kind == "charge" else size) for n, (kind, size) in enumerate(moves)]
    position = credit_position(entries, "K-1")
    assert position.available == sum(e.amount for e in entries)
    charged = sum(-e.amount for e in entries if e.kind == "charge")
    given_back = sum(e.amount for e in entries if e.kind in ("repay", "refund"))
    assert position.owed == charged - given_back
    assert (position.owed_since_hlc is None) == (position.owed <= 0)
