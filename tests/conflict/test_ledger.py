"""Ledgers: a balance is the sum of entries; merging is the union, so no spend is lost."""

from __future__ import annotations

import pytest
from hypothesis import given

from conflict.errors import InvalidRecord
from conflict.ledger import LedgerEntry, LedgerEntryConflict, add_entry, balance, balances, merge_ledgers
from tests.conflict.strategies import CARDS, PROPERTY, ledgers


def entry(
    entry_id: str, kind: str, amount: int, hlc: int, node: str, ledger: str = "stored_value"
) -> LedgerEntry:
    return LedgerEntry(entry_id, "card-1", ledger, kind, amount, hlc, node)


def test_concurrent_spends_at_two_branches_are_both_kept() -> None:
    # 100.00 yuan topped up at A; 60.00 spent at A and 25.50 at B while apart.
    at_a = add_entry(add_entry({}, entry("t1", "top_up", 10000, 1, "A")), entry("s1", "spend", -6000, 2, "A"))
    at_b = add_entry(add_entry({}, entry("t1", "top_up", 10000, 1, "A")), entry("s2", "spend", -2550, 2, "B"))
    merged = merge_ledgers(at_a, at_b)
    assert sorted(merged) == ["s1", "s2", "t1"]
    assert balance(merged.values(), "card-1", "stored_value") == 10000 - 6000 - 2550 == 1450


def test_each_ledger_sums_on_its_own() -> None:
    # 300 points earned, 120 redeemed; a 10-use count card with 3 uses; stored value untouched.
    entries = [
        entry("p1", "earn", 300, 1, "A", "points"),
        entry("p2", "redeem", -120, 2, "B", "points"),
        entry("u1", "grant", 10, 1, "A", "uses"),
        entry("u2", "use", -1, 2, "A", "uses"),
        entry("u3", "use", -2, 3, "B", "uses"),
    ]
    assert balance(entries, "card-1", "points") == 180
    assert balance(entries, "card-1", "uses") == 7
    assert balance(entries, "card-1", "stored_value") == 0
    assert balances(entries) == {("card-1", "points"): 180, ("card-1", "uses"): 7}


def test_one_entry_delivered_twice_counts_once() -> None:
    top_up = entry("t1", "top_up", 5000, 1, "A")
    merged = merge_ledgers({"t1": top_up}, {"t1": top_up})
    assert balance(merged.values(), "card-1", "stored_value") == 5000


def test_two_different_entries_under_one_id_are_refused() -> None:
    with pytest.raises(LedgerEntryConflict):
        merge_ledgers({"t1": entry("t1", "top_up", 5000, 1, "A")}, {"t1": entry("t1", "top_up", 500, 1, "A")})


@pytest.mark.parametrize("amount", [100.0, True, "100", 0])
def test_money_is_integer_fen_and_floats_bools_and_zero_are_refused(amount: object) -> None:
    with pytest.raises(InvalidRecord):
        LedgerEntry("t1", "card-1", "stored_value", "top_up", amount, 1, "A")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ledger", "kind", "amount"),
    [
        ("stored_value", "spend", 500),
        ("stored_value", "top_up", -500),
        ("points", "spend", -5),
        ("nope", "x", 1),
    ],
)
def test_a_kind_must_belong_to_its_ledger_and_carry_its_sign(ledger: str, kind: str, amount: int) -> None:
    with pytest.raises(InvalidRecord):
        LedgerEntry("e1", "card-1", ledger, kind, amount, 1, "A")


@PROPERTY
@given(ledgers, ledgers)
def test_merge_is_commutative(a: dict[str, LedgerEntry], b: dict[str, LedgerEntry]) -> None:
    assert merge_ledgers(a, b) == merge_ledgers(b, a)


@PROPERTY
@given(ledgers, ledgers, ledgers)
def test_merge_is_associative(
    a: dict[str, LedgerEntry], b: dict[str, LedgerEntry], c: dict[str, LedgerEntry]
) -> None:
    assert merge_ledgers(merge_ledgers(a, b), c) == merge_ledgers(a, merge_ledgers(b, c))


@PROPERTY
@given(ledgers, ledgers)
def test_merge_is_idempotent_and_loses_no_entry(a: dict[str, LedgerEntry], b: dict[str, LedgerEntry]) -> None:
    merged = merge_ledgers(a, b)
    assert merge_ledgers(merged, a) == merged == merge_ledgers(merged, merged)
    assert set(merged) == set(a) | set(b)


@PROPERTY
@given(ledgers)
def test_sum_of_balances_equals_sum_of_entries(a: dict[str, LedgerEntry]) -> None:
    per_card = balances(a.values())
    assert sum(per_card.values()) == sum(e.amount for e in a.values())
    for (card_id, ledger), total in per_card.items():
        assert card_id in CARDS
        assert balance(a.values(), card_id, ledger) == total
