"""Cards of a type in the directory (conflict.cards) and count-card uses per service
item (conflict.ledger's item): how they merge, what they refuse, and the records a
card sold from a type carries (conflict.wire.card_issue_records)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.cards import CardIssue, merge_cards
from conflict.directory import Directory, decode, merge
from conflict.errors import CardIssueConflict, InvalidRecord
from conflict.ledger import LedgerEntry, balance
from conflict.overdraft import find_overdrafts
from conflict.wire import card_issue_records, from_payload, records_from_entry, to_payload
from protocol import codec
from tests.conflict.strategies import PROPERTY, operations

GOLD = CardIssue("G-0001", "m1", "GOLD-16800", "gold", 90, "2026-11-30", "2027-11-29", frozenset(), 5, "BR01")


def _use(entry_id: str, item: str, amount: int, hlc: int, node: str) -> LedgerEntry:
    kind = "grant" if amount > 0 else "use"
    return LedgerEntry(entry_id, "G-0001", "uses", kind, amount, hlc, node, item)


def test_a_card_number_issued_once_merges_and_issued_twice_on_other_terms_is_a_conflict() -> None:
    assert merge_cards({"G-0001": GOLD}, {"G-0001": GOLD}) == {"G-0001": GOLD}
    elsewhere = CardIssue(
        "G-0001", "m2", "GOLD-16800", "gold", 90, "2026-11-30", "2027-11-29", frozenset(), 6, "BR02"
    )
    with pytest.raises(CardIssueConflict, match="G-0001"):
        merge_cards({"G-0001": GOLD}, {"G-0001": elsewhere})
    with pytest.raises(CardIssueConflict):
        Directory().with_card(GOLD).with_card(elsewhere)


def test_a_card_is_valid_from_its_first_to_its_last_day_and_for_ever_without_one() -> None:
    assert [GOLD.valid_on(day) for day in ("2026-11-29", "2026-11-30", "2027-11-29", "2027-11-30")] == [
        False,
        True,
        True,
        False,
    ]
    forever = CardIssue("S-0001", "m1", "STORED-1000", "", 100, "2026-11-30", "", frozenset(), 5, "BR01")
    assert forever.valid_on("2126-01-01")


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"valid_from": "2026-13-01"}, "valid_from must be a date"),
        ({"valid_until": "2027-11-32"}, "valid_until must be a date"),
        ({"valid_until": "2026-11-29"}, "before valid_from"),
        ({"discount_rate": 0}, "discount_rate must be 1 to 100"),
        ({"discount_rate": 101}, "discount_rate must be 1 to 100"),
        ({"services": frozenset({""})}, "services must be a set"),
        ({"member_id": ""}, "member_id"),
        ({"level": 7}, "level must be text"),
    ],
)
def test_a_card_record_with_impossible_terms_is_refused(change: dict[str, object], refusal: str) -> None:
    fields = {name: getattr(GOLD, name) for name in GOLD.__slots__}
    with pytest.raises(InvalidRecord, match=refusal):
        CardIssue(**{**fields, **change})


def test_uses_are_counted_per_item_and_the_use_spent_twice_while_apart_is_the_overdraft() -> None:
    """The card holds one massage and two haircuts. Cut off from each other, BR01 and
    BR02 each spend the massage (stamps 7 and 8): the massage ledger ends at -1 and the
    later spend is the overdraft, short 1; the haircuts are untouched and owe nothing."""
    entries = [
        _use("grant-m", "SVC-MASSAGE", 1, 5, "BR01"),
        _use("grant-h", "SVC-HAIRCUT", 2, 5, "BR01"),
        _use("use-1", "SVC-MASSAGE", -1, 7, "BR01"),
        _use("use-2", "SVC-MASSAGE", -1, 8, "BR02"),
    ]
    assert balance(entries, "G-0001", "uses", "SVC-MASSAGE") == -1
    assert balance(entries, "G-0001", "uses", "SVC-HAIRCUT") == 2
    assert balance(entries, "G-0001", "uses") == 1  # all items together
    [record] = find_overdrafts(entries, "G-0001", "uses", item="SVC-MASSAGE")
    assert (record.entry_id, record.shortfall, record.earlier_debits) == ("use-2", 1, ("use-1",))
    assert find_overdrafts(entries, "G-0001", "uses", item="SVC-HAIRCUT") == []
    directory = Directory(ledger={e.entry_id: e for e in entries})
    assert [r.entry_id for r in directory.overdrafts()] == ["use-2"]


def test_only_the_uses_ledger_counts_per_item() -> None:
    with pytest.raises(InvalidRecord, match="only the uses ledger counts per item"):
        LedgerEntry("e1", "G-0001", "stored_value", "top_up", 100, 1, "BR01", "SVC-MASSAGE")
    with pytest.raises(InvalidRecord, match="item must be text"):
        LedgerEntry("e1", "G-0001", "uses", "grant", 1, 1, "BR01", 7)  # type: ignore[arg-type]


def test_an_entry_without_an_item_keeps_the_bytes_it_had_before_items() -> None:
    plain = LedgerEntry("e1", "G-0001", "points", "earn", 10, 1, "BR01")
    counted = _use("e2", "SVC-MASSAGE", 1, 1, "BR01")
    assert to_payload(plain)["record"] == ["e1", "G-0001", "points", "earn", 10, 1, "BR01"]
    assert to_payload(counted)["record"][-1] == "SVC-MASSAGE"
    for record in (plain, counted, GOLD):
        assert from_payload(codec.unpack(codec.pack(to_payload(record)))) == record
    # A directory with no card of a type encodes as it did before cards (no "cards" key).
    assert b"cards" not in Directory(ledger={"e1": plain}).encode()
    both = Directory(ledger={"e1": plain, "e2": counted}, cards={"G-0001": GOLD})
    assert decode(both.encode()) == both


def test_a_card_of_a_type_belongs_to_its_member_unless_a_registration_claims_the_number() -> None:
    from conflict.duplicates import Registration

    assert Directory(cards={"G-0001": GOLD}).card_owners == {"G-0001": "m1"}
    claimed = Directory(
        cards={"G-0001": GOLD},
        registrations={"m9": Registration("m9", None, frozenset({"G-0001"}), 1, "BR02")},
    )
    assert claimed.card_owners == {"G-0001": "m9"}


def test_the_16800_card_carries_its_uses_stored_value_and_credit_as_ledger_entries() -> None:
    """A sale entry of the gold card with 2,000 yuan on it and a 500-yuan credit line:
    the card record, 200,000 fen issued, 50,000 fen of credit, ten of each service."""
    payload = {
        "card_id": "G-0001",
        "member_id": "m1",
        "card_type": "GOLD-16800",
        "level": "gold",
        "discount_rate": 90,
        "valid_from": "2026-11-30",
        "valid_until": "2027-11-29",
        "services": [],
        "stored_value_fen": 200_000,
        "credit_limit_fen": 50_000,
        "uses": [{"sku": "SVC-A", "qty": 10}, {"sku": "SVC-B", "qty": 10}],
    }
    records = card_issue_records("S1", 5, "BR01", payload)
    assert records[0] == GOLD
    assert [(r.entry_id, r.ledger, r.kind, r.amount, r.item) for r in records[1:]] == [  # type: ignore[union-attr]
        ("S1-sv", "stored_value", "issue", 200_000, ""),
        ("S1-cr", "credit", "grant", 50_000, ""),
        ("S1-u0", "uses", "grant", 10, "SVC-A"),
        ("S1-u1", "uses", "grant", 10, "SVC-B"),
    ]
    assert records_from_entry("card", "issue", "S1", 5, "BR01", payload) == records
    # Nothing on the card but the card itself: no zero entries.
    bare = card_issue_records(
        "S2", 5, "BR01", {**payload, "stored_value_fen": 0, "credit_limit_fen": 0, "uses": []}
    )
    assert bare == [GOLD]
    with pytest.raises(InvalidRecord, match="card/issue payload is malformed"):
        card_issue_records("S3", 5, "BR01", {"card_id": "G-0001"})


@PROPERTY
@given(st.data())
def test_card_uses_and_cards_converge_whatever_the_delivery(data: st.DataObject) -> None:
    """Card sales and uses at 2 to 5 replicas, delivered in any order with repeats: every
    replica ends with the same cards, and each (card, item) balance is the sum of its
    entries."""
    replicas = data.draw(st.integers(min_value=2, max_value=5))
    ops = data.draw(operations(replicas))
    deliveries = data.draw(st.permutations(ops + ops))
    held = [Directory() for _ in range(replicas)]
    for _, write in deliveries:
        for n in range(replicas):
            held[n] = merge(held[n], write)
    assert len({d.encode() for d in held}) == 1
    final = held[0]
    for card_id, ledger, item in {(e.card_id, e.ledger, e.item) for e in final.ledger.values()}:
        total = sum(
            e.amount
            for e in final.ledger.values()
            if (e.card_id, e.ledger, e.item) == (card_id, ledger, item)
        )
        assert balance(final.ledger.values(), card_id, ledger, item) == total
    for card_id, card in final.cards.items():
        owner = final.card_owners[card_id]
        claimed = any(card_id in r.card_numbers for r in final.registrations.values())
        assert owner == card.member_id or claimed
