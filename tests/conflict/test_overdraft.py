"""Overdraft: spends that together exceed a balance are all kept; the shortfall is recorded."""

from __future__ import annotations

from hypothesis import given

from conflict.ledger import LedgerEntry, balance
from conflict.overdraft import find_overdrafts
from tests.conflict.strategies import CARDS, PROPERTY, ledgers


def sv(entry_id: str, kind: str, amount_fen: int, hlc: int, node: str) -> LedgerEntry:
    return LedgerEntry(entry_id, "card-1", "stored_value", kind, amount_fen, hlc, node)


def test_two_offline_spends_over_the_balance_are_both_kept_and_the_later_one_is_short() -> None:
    # 100.00 yuan topped up at A; offline, 60.00 spent at A (hlc 20) and 70.00 at B (hlc 21).
    # 10000 - 6000 = 4000 left for B's 7000: B is 3000 fen (30.00 yuan) short.
    entries = [sv("top", "top_up", 10000, 10, "A"), sv("a-spend", "spend", -6000, 20, "A")]
    entries.append(sv("b-spend", "spend", -7000, 21, "B"))
    assert balance(entries, "card-1", "stored_value") == -3000
    (record,) = find_overdrafts(entries, "card-1")
    assert (record.entry_id, record.node, record.shortfall, record.balance_after) == (
        "b-spend",
        "B",
        3000,
        -3000,
    )
    assert record.earlier_debits == ("a-spend",)


def test_a_credit_limit_lowers_the_floor() -> None:
    # 50.00 yuan balance, credit limit 20.00: a 65.00 spend goes to -15.00, inside the limit;
    # a further 10.00 goes to -25.00, 5.00 beyond it.
    entries = [
        sv("t", "top_up", 5000, 1, "A"),
        sv("s1", "spend", -6500, 2, "A"),
        sv("s2", "spend", -1000, 3, "B"),
    ]
    (record,) = find_overdrafts(entries, "card-1", credit_limit=2000)
    assert (record.entry_id, record.shortfall) == ("s2", 500)


def test_a_spend_made_while_already_overdrawn_is_short_by_its_whole_amount() -> None:
    # 10.00 balance; spends of 15.00 then 8.00: short 5.00, then the whole 8.00.
    entries = [
        sv("t", "top_up", 1000, 1, "A"),
        sv("s1", "spend", -1500, 2, "A"),
        sv("s2", "spend", -800, 3, "B"),
    ]
    assert [(r.entry_id, r.shortfall) for r in find_overdrafts(entries, "card-1")] == [
        ("s1", 500),
        ("s2", 800),
    ]


def test_spends_within_the_balance_make_no_record() -> None:
    entries = [
        sv("t", "top_up", 1000, 1, "A"),
        sv("s1", "spend", -400, 2, "A"),
        sv("s2", "spend", -600, 3, "B"),
    ]
    assert find_overdrafts(entries, "card-1") == []


@PROPERTY
@given(ledgers)
def test_overdrafts_do_not_depend_on_entry_order(entries: dict[str, LedgerEntry]) -> None:
    forward = list(entries.values())
    for card_id in CARDS:
        for ledger in ("stored_value", "points"):
            assert find_overdrafts(forward, card_id, ledger) == find_overdrafts(
                forward[::-1], card_id, ledger
            )


@PROPERTY
@given(ledgers)
def test_shortfall_covers_the_final_debt_and_never_exceeds_a_spend(entries: dict[str, LedgerEntry]) -> None:
    for card_id in CARDS:
        records = find_overdrafts(entries.values(), card_id)
        final = balance(entries.values(), card_id, "stored_value")
        assert sum(r.shortfall for r in records) >= -final
        for r in records:
            assert 0 < r.shortfall <= -entries[r.entry_id].amount
