"""The directory as one state: any delivery order and duplication converges byte for byte."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from conflict.card_status import CardEvent
from conflict.directory import Directory, decode, merge
from conflict.duplicates import Registration, Sighting
from conflict.ledger import LedgerEntry
from conflict.vouchers import Redemption
from tests.conflict.strategies import FEW, PROPERTY, operations


def sv(entry_id: str, card: str, kind: str, amount_fen: int, hlc: int, node: str) -> LedgerEntry:
    return LedgerEntry(entry_id, card, "stored_value", kind, amount_fen, hlc, node)


def shop_day() -> tuple[Directory, Directory]:
    """Two branches apart for a day; figures are checked by hand in the tests below."""
    base = (
        Directory()
        .with_registration(Registration("mA", "138", frozenset({"c1"}), 10, "A"))
        .with_entry(sv("t1", "c1", "top_up", 10000, 11, "A"))
    )
    at_a = (
        base.with_entry(sv("sA", "c1", "spend", -6000, 20, "A"))
        .with_card_event(CardEvent("L2", "c1", "report_lost", 22, "A"))
        .with_redemption(Redemption("rA", "v1", 1500, 23, "A"))
        .with_profile("mA", {"name": ("Wang Fang", 24, "A")})
    )
    at_b = (
        base.with_registration(Registration("mB", "138", frozenset({"c2"}), 15, "B"))
        .with_entry(sv("t2", "c2", "top_up", 2000, 16, "B"))
        .with_entry(sv("sB", "c1", "spend", -7000, 21, "B"))
        .with_redemption(Redemption("rB", "v1", 1500, 19, "B"))
        .with_profile("mB", {"name": ("Wang F.", 25, "B"), "birthday": ("1990-05-01", 25, "B")})
    )
    return at_a, at_b


def test_after_a_partition_both_branches_hold_the_same_bytes_and_the_same_views() -> None:
    at_a, at_b = shop_day()
    merged = merge(at_a, at_b)
    assert merged.encode() == merge(at_b, at_a).encode()
    # Same phone: mA (hlc 10) survives, mB is its alias; mB's card c2 follows mA.
    assert merged.survivor("mB") == "mA"
    # c1: 10000 - 6000 - 7000 = -3000; c2: 2000; all owned by mA: -1000 fen.
    assert merged.balances_by_survivor() == {"mA": {"stored_value": -1000}}
    # B's 70.00 spend (hlc 21) came after A's 60.00 (hlc 20): B is 30.00 short.
    (overdraft,) = merged.overdrafts()
    assert (overdraft.entry_id, overdraft.node, overdraft.shortfall) == ("sB", "B", 3000)
    # The voucher was used at B first (hlc 19): A's 15.00 is flagged.
    assert [r.redemption_id for r in merged.vouchers().flagged] == ["rA"]
    assert merged.vouchers().flagged_fen == 1500
    assert merged.card_status("c1") == "lost"
    assert merged.card_status("c2") == "active"
    # The group's profile: last writer per field across mA and mB.
    assert merged.survivor_profile("mB") == {
        "name": ("Wang F.", 25, "B"),
        "birthday": ("1990-05-01", 25, "B"),
    }


def test_an_operator_separation_undoes_the_merge_and_splits_the_balances() -> None:
    at_a, at_b = shop_day()
    merged = merge(at_a, at_b).with_separation("mB", "mA")
    assert merged.survivor("mB") == "mB"
    assert merged.balances_by_survivor() == {"mA": {"stored_value": -3000}, "mB": {"stored_value": 2000}}


def test_hqs_sightings_decide_the_survivor_and_the_card_owner_at_every_replica() -> None:
    # mC claims mB's card c2 with the earliest stamp (5): by stamps it takes the group
    # and the card. HQ stored mB first, then mC, then mA: mB survives and owns c2.
    at_a, at_b = shop_day()
    both_claim = Registration("mC", None, frozenset({"c2"}), 5, "C")
    merged = merge(at_a, at_b).with_registration(both_claim)
    assert (merged.survivor("mA"), merged.card_owners["c2"]) == ("mC", "mC")
    sighted = merged.with_sighting(Sighting("mB", 1)).with_sighting(Sighting("mC", 2))
    assert sighted.with_sighting(Sighting("mA", 3)).survivor("mA") == "mB"
    assert sighted.card_owners["c2"] == "mB"
    assert decode(sighted.encode()).encode() == sighted.encode()
    assert decode(sighted.encode()).sightings == sighted.sightings


def test_entries_on_unregistered_cards_are_kept_aside() -> None:
    directory = Directory().with_entry(sv("t", "c9", "top_up", 500, 1, "A"))
    assert directory.balances_by_survivor() == {}
    assert directory.unowned_balances() == {("c9", "stored_value"): 500}


def test_encode_decode_round_trip() -> None:
    merged = merge(*shop_day())
    assert decode(merged.encode()).encode() == merged.encode()


@PROPERTY
@given(
    st.integers(min_value=2, max_value=5).flatmap(lambda n: st.tuples(st.just(n), operations(n))), st.data()
)
def test_replicas_converge_to_identical_bytes_whatever_the_delivery(
    setup: tuple[int, list[tuple[int, Directory]]], data: st.DataObject
) -> None:
    replicas, ops = setup
    states = [Directory() for _ in range(replicas)]
    for at, op in ops:
        states[at] = merge(states[at], op)
    # Gossip with delays and duplicates: random replicas send their whole state to others.
    for _ in range(data.draw(st.integers(min_value=0, max_value=8))):
        sender = data.draw(st.integers(min_value=0, max_value=replicas - 1))
        receiver = data.draw(st.integers(min_value=0, max_value=replicas - 1))
        states[receiver] = merge(states[receiver], states[sender])
    # Heal: every replica receives every write, in its own random order, some twice.
    final = []
    for state in states:
        delivery = data.draw(st.permutations([op for _, op in ops] + [op for _, op in ops[:3]]))
        final.append(reduce(merge, delivery, state))
    encodings = {state.encode() for state in final}
    assert len(encodings) == 1
    one = final[0]
    # No ledger entry is lost, and balances add up to the entries.
    written = {entry_id for _, op in ops for entry_id in op.ledger}
    assert set(one.ledger) == written
    total = sum(e.amount for e in one.ledger.values())
    by_survivor = sum(v for per in one.balances_by_survivor().values() for v in per.values())
    assert by_survivor + sum(one.unowned_balances().values()) == total
    assert decode(one.encode()).encode() == one.encode()


@FEW
@given(st.data())
def test_directory_merge_is_commutative_associative_and_idempotent(data: st.DataObject) -> None:
    ops = data.draw(operations(3))
    parts = [reduce(merge, (op for at, op in ops if at == i), Directory()) for i in range(3)]
    a, b, c = parts
    assert merge(a, b).encode() == merge(b, a).encode()
    assert merge(merge(a, b), c).encode() == merge(a, merge(b, c)).encode()
    assert merge(a, a).encode() == a.encode()
    assert merge(merge(a, b), b).encode() == merge(a, b).encode()
