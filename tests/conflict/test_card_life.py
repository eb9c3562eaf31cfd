"""A card's life after its sale (conflict.card_life): renewals add up, a replacement's
new number stands for the card and blocks the old one, the latest upgrade and password
hold, and every replica that has seen the same changes computes the same card."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.card_life import (
    CardChange,
    blocked_by_replacement,
    current_number,
    double_replacements,
    effective,
    merge_changes,
    paid_after_return,
    password_hash,
    renewed_until,
    root_of,
    stale_upgrades,
)
from conflict.card_status import CardEvent
from conflict.cards import CardIssue
from conflict.directory import Directory, decode
from conflict.errors import CardChangeConflict, InvalidRecord
from conflict.ledger import LedgerEntry
from conflict.wire import from_payload, records_from_entry, to_payload
from protocol import codec
from tests.conflict.strategies import PROPERTY

MONTH = CardIssue(
    "M-0001",
    "m1",
    "MASSAGE-MONTH",
    "",
    100,
    "2026-11-01",
    "2026-11-30",
    frozenset({"SVC-MASSAGE"}),
    5,
    "BR01",
)


def _renew(change_id: str, day: str, days: int, hlc: int, node: str = "BR01") -> CardChange:
    return CardChange(change_id, "M-0001", "renew", hlc, node, days=days, day=day)


def _replace(change_id: str, old: str, new: str, hlc: int, node: str = "BR01") -> CardChange:
    return CardChange(change_id, old, "replace", hlc, node, new_card=new)


def test_renewals_extend_from_the_last_day_or_from_the_day_of_renewal_once_expired() -> None:
    """By hand: valid to 30 November. Renewed on 20 November by 30 days: to 30 December.
    Renewed again on 15 February (expired since 31 December) by 30 days: from 15
    February, to 16 March (2027 is no leap year)."""
    first = _renew("r1", "2026-11-20", 30, 10)
    assert renewed_until("2026-11-30", [first]) == "2026-12-30"
    second = _renew("r2", "2027-02-15", 30, 20)
    assert renewed_until("2026-11-30", [second, first]) == "2027-03-16"
    assert renewed_until("", [first]) == ""  # a card that never expires stays so


def test_two_renewals_made_apart_both_count_in_any_order() -> None:
    """By hand: two branches renew the card to 30 November by 30 days each on 25
    November: 30 December after one, 29 January after both, whichever came first."""
    at_a, at_b = _renew("ra", "2026-11-25", 30, 10, "BR01"), _renew("rb", "2026-11-25", 30, 11, "BR02")
    assert renewed_until("2026-11-30", [at_a]) == "2026-12-30"
    assert (
        renewed_until("2026-11-30", [at_a, at_b]) == renewed_until("2026-11-30", [at_b, at_a]) == "2027-01-29"
    )


def test_a_wire_day_the_calendar_lacks_means_the_months_end() -> None:
    # The wire's day pattern admits 30 February (days compare as text).
    assert renewed_until("2027-02-30", [_renew("r", "2027-01-01", 1, 1)]) == "2027-03-01"
    assert renewed_until("9999-12-30", [_renew("r", "9999-12-01", 36_500, 1)]) == "9999-12-31"


def test_the_latest_upgrade_holds_and_one_that_started_from_a_stale_type_is_flagged() -> None:
    up_a = CardChange(
        "u1",
        "M-0001",
        "upgrade",
        10,
        "BR01",
        from_type="MASSAGE-MONTH",
        card_type="GOLD-16800",
        level="gold",
        discount_rate=90,
    )
    up_b = CardChange(
        "u2",
        "M-0001",
        "upgrade",
        20,
        "BR02",
        from_type="MASSAGE-MONTH",
        card_type="PLATINUM",
        level="platinum",
        discount_rate=80,
    )
    now = effective(MONTH, [up_b, up_a])
    assert (now.card_type, now.level, now.discount_rate) == ("PLATINUM", "platinum", 80)
    assert (now.valid_from, now.services) == (MONTH.valid_from, MONTH.services)
    assert stale_upgrades("MASSAGE-MONTH", [up_a, up_b]) == [("GOLD-16800", up_b)]
    assert stale_upgrades("MASSAGE-MONTH", [up_a]) == []


def _upgrade(change_id: str, until: str | None, hlc: int) -> CardChange:
    return CardChange(
        change_id,
        "M-0001",
        "upgrade",
        hlc,
        "BR01",
        from_type="STORED-1000",
        card_type="GOLD-16800",
        level="gold",
        discount_rate=90,
        valid_until=until,
    )


def test_an_upgrade_runs_the_card_by_its_new_type_from_the_upgrade_day() -> None:
    """Rule 3. A stored-value card that never expired, upgraded on 2026-11-30 to a type of
    365 days, runs to 2027-11-29 (the type's last day from then) and a renewal of 365 days
    on that last day extends it to 2028-11-28. A month card running to 2026-11-30 upgraded
    to a type that never expires never expires. A card whose own last day is later than
    the new type's keeps its own. An upgrade written before upgrades set days (None)
    leaves the card's days alone, as it always did."""
    upgraded = _upgrade("u1", "2027-11-29", 10)
    assert renewed_until("", [upgraded]) == "2027-11-29"
    assert renewed_until("", [_renew("r1", "2027-11-29", 365, 20), upgraded]) == "2028-11-28"
    assert renewed_until("", [_renew("r0", "2026-11-01", 365, 5), upgraded]) == "2027-11-29"
    assert renewed_until("2026-11-30", [_upgrade("u2", "", 10)]) == ""
    assert renewed_until("2028-06-30", [upgraded]) == "2028-06-30"
    assert renewed_until("2026-11-30", [_upgrade("u3", None, 10)]) == "2026-11-30"
    assert effective(MONTH, [_upgrade("u4", "2027-11-29", 10)]).valid_until == "2027-11-29"
    with pytest.raises(InvalidRecord, match="a renew has no valid_until"):
        CardChange("c1", "M-0001", "renew", 1, "BR01", days=30, day="2026-11-30", valid_until="2027-01-01")
    with pytest.raises(InvalidRecord, match="YYYY-MM-DD or empty"):
        _upgrade("u5", "29/11/2027", 10)


def test_the_latest_password_holds_and_a_cleared_one_is_none() -> None:
    hash_1, hash_2 = (
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXI$eA",
    )
    first = CardChange("p1", "M-0001", "password", 10, "BR01", password=hash_1)
    second = CardChange("p2", "M-0001", "password", 20, "BR02", password=hash_2)
    cleared = CardChange("p3", "M-0001", "password", 30, "BR01", password="")
    assert password_hash([]) is None
    assert password_hash([second, first]) == hash_2
    assert password_hash([first, cleared, second]) is None


def test_a_replaced_number_and_the_loser_of_two_replacements_are_blocked() -> None:
    """BR01 replaces S-1 by S-2 at stamp 10, BR02 (apart) by S-3 at stamp 11: S-2 is the
    card; S-1 and S-3 are refused; the pair is queued for an operator."""
    winner, loser = _replace("x1", "S-1", "S-2", 10, "BR01"), _replace("x2", "S-1", "S-3", 11, "BR02")
    both = [loser, winner]
    assert [blocked_by_replacement(n, both) for n in ("S-1", "S-2", "S-3")] == [True, False, True]
    assert double_replacements(both) == [(winner, loser)]
    directory = Directory().with_change(winner).with_change(loser)
    assert [directory.card_status(n) for n in ("S-1", "S-2", "S-3")] == ["replaced", "active", "replaced"]
    assert directory.card_root("S-2") == directory.card_root("S-3") == "S-1"


def test_a_new_number_stands_for_the_card_and_its_balances_follow() -> None:
    spend = LedgerEntry("e2", "S-1", "stored_value", "spend", -2_500, 12, "BR02")
    top_up = LedgerEntry("e1", "S-1", "stored_value", "top_up", 10_000, 5, "BR01")
    directory = (
        Directory()
        .with_card(CardIssue("S-1", "m1", "STORED-1000", "", 100, "2026-11-01", "", frozenset(), 1, "BR01"))
        .with_entry(top_up)
        .with_change(_replace("x1", "S-1", "S-2", 10))
        .with_entry(spend)
    )
    assert directory.card_owners["S-2"] == "m1"
    assert directory.balances_by_survivor() == {"m1": {"stored_value": 7_500}}
    # After a second replacement the newest number still finds the same root.
    later = directory.with_change(_replace("x2", "S-2", "S-4", 20))
    assert later.card_root("S-4") == "S-1"
    assert [later.card_status(n) for n in ("S-1", "S-2", "S-4")] == ["replaced", "replaced", "active"]


def test_a_card_returned_under_its_root_is_returned_under_its_new_number() -> None:
    from conflict.card_status import CardEvent

    directory = (
        Directory()
        .with_change(_replace("x1", "S-1", "S-2", 10))
        .with_card_event(CardEvent("ev1", "S-1", "return", 11, "BR02"))
    )
    assert directory.card_status("S-2") == "returned"


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"kind": "renew", "days": 0, "day": "2026-11-30"}, "adds 1 to"),
        ({"kind": "renew", "days": 30, "day": "30/11/2026"}, "YYYY-MM-DD"),
        ({"kind": "renew", "days": 30, "day": "2026-11-30", "new_card": "S-2"}, "a renew has no new_card"),
        ({"kind": "replace", "new_card": "M-0001"}, "cannot replace itself"),
        ({"kind": "replace", "new_card": ""}, "new_card"),
        ({"kind": "upgrade", "from_type": "A", "card_type": "B", "discount_rate": 0}, "discount_rate"),
        ({"kind": "password", "password": 7}, "password must be str"),
        ({"kind": "rename"}, "unknown card change"),
        ({"kind": "renew", "days": 30.0, "day": "2026-11-30"}, "days must be an integer"),
    ],
)
def test_a_malformed_change_is_refused(fields: dict[str, object], refusal: str) -> None:
    kind = fields.pop("kind")
    with pytest.raises(InvalidRecord, match=refusal):
        CardChange("c1", "M-0001", kind, 1, "BR01", **fields)  # type: ignore[arg-type]


def test_one_id_for_two_changes_is_a_conflict() -> None:
    with pytest.raises(CardChangeConflict):
        merge_changes({"r": _renew("r", "2026-11-20", 30, 10)}, {"r": _renew("r", "2026-11-20", 31, 10)})


def test_a_change_entry_carries_the_change_and_an_upgrades_stored_value_and_credit() -> None:
    payload = {
        "at_ms": 1,
        "card_id": "M-0001",
        "kind": "upgrade",
        "from_type": "MASSAGE-MONTH",
        "card_type": "GOLD-16800",
        "level": "gold",
        "discount_rate": 90,
        "fee_fen": 1_580_100,
        "tenders": [{"kind": "cash", "amount_fen": 1_580_100}],
        "change_fen": 0,
        "stored_value_fen": 5_000,
        "credit_limit_fen": 20_000,
    }
    change, stored, credit = records_from_entry("card", "change", "c9", 77, "BR02", payload)
    assert isinstance(change, CardChange)
    assert (change.card_type, change.hlc, change.node) == (
        "GOLD-16800",
        77,
        "BR02",
    )
    assert stored == LedgerEntry("c9-sv", "M-0001", "stored_value", "issue", 5_000, 77, "BR02")
    assert credit == LedgerEntry("c9-cr", "M-0001", "credit", "grant", 20_000, 77, "BR02")
    assert from_payload(codec.unpack(codec.pack(to_payload(change)))) == change
    assert change.valid_until is None  # an upgrade written before upgrades set days


def test_an_upgrade_entry_carries_its_last_day_and_the_uses_its_new_type_adds() -> None:
    payload = {
        "at_ms": 1,
        "card_id": "M-0001",
        "kind": "upgrade",
        "from_type": "STORED-1000",
        "card_type": "GOLD-16800",
        "level": "gold",
        "discount_rate": 90,
        "fee_fen": 1_580_000,
        "tenders": [{"kind": "cash", "amount_fen": 1_580_000}],
        "change_fen": 0,
        "stored_value_fen": 0,
        "credit_limit_fen": 0,
        "uses": [{"sku": "SVC-HAIRCUT", "qty": 10}, {"sku": "SVC-MASSAGE", "qty": 4}],
        "valid_until": "2027-11-29",
    }
    change, haircuts, massages = records_from_entry("card", "change", "c9", 77, "BR02", payload)
    assert isinstance(change, CardChange)
    assert change.valid_until == "2027-11-29"
    assert haircuts == LedgerEntry("c9-u0", "M-0001", "uses", "grant", 10, 77, "BR02", "SVC-HAIRCUT")
    assert massages == LedgerEntry("c9-u1", "M-0001", "uses", "grant", 4, 77, "BR02", "SVC-MASSAGE")
    assert from_payload(codec.unpack(codec.pack(to_payload(change)))) == change
    # A type that never expires travels as null and is "" in the record.
    [forever] = records_from_entry(
        "card", "change", "c10", 78, "BR02", payload | {"uses": [], "valid_until": None}
    )
    assert isinstance(forever, CardChange)
    assert forever.valid_until == ""
    assert from_payload(codec.unpack(codec.pack(to_payload(forever)))) == forever


_DAYS = st.sampled_from(["2026-11-01", "2026-11-25", "2026-12-31", "2027-02-28", "2027-06-30"])
_CHANGES = st.lists(
    st.one_of(
        st.builds(
            lambda i, d, n, h, node: CardChange(f"r{i}", "S-1", "renew", h, node, days=n, day=d),
            st.integers(0, 30),
            _DAYS,
            st.integers(1, 400),
            st.integers(0, 50),
            st.sampled_from(["BR01", "BR02"]),
        ),
        st.builds(
            lambda i, until, h: CardChange(
                f"u{i}",
                "S-1",
                "upgrade",
                h,
                "BR02",
                from_type="A",
                card_type="B",
                discount_rate=90,
                valid_until=until,
            ),
            st.integers(0, 30),
            st.one_of(st.none(), st.just(""), _DAYS),
            st.integers(0, 50),
        ),
        st.builds(
            lambda i, pair, h: CardChange(f"x{i}", pair[0], "replace", h, "BR01", new_card=pair[1]),
            st.integers(0, 30),
            st.sampled_from([("S-1", "S-2"), ("S-1", "S-3"), ("S-2", "S-4"), ("S-3", "S-4"), ("S-2", "S-3")]),
            st.integers(0, 50),
        ),
    ),
    max_size=8,
    unique_by=lambda c: c.change_id,
)


@PROPERTY
@given(_CHANGES, st.randoms())
def test_any_replica_that_saw_the_same_changes_sees_the_same_card(
    changes: list[CardChange], rnd: object
) -> None:
    """Delivered in any order, with repeats: the same validity, statuses, roots and bytes."""
    shuffled = list(changes) * 2
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one = two = Directory()
    for change in changes:
        one = one.with_change(change)
    for change in shuffled:
        two = two.with_change(change)
    assert one.encode() == two.encode()
    assert decode(one.encode()).encode() == one.encode()
    assert renewed_until("2026-11-30", changes) == renewed_until("2026-11-30", shuffled)
    assert renewed_until("", changes) == renewed_until("", shuffled)
    for number in ("S-1", "S-2", "S-3", "S-4"):
        assert one.card_status(number) == two.card_status(number)
        assert one.card_root(number) == two.card_root(number)


def test_a_card_has_one_usable_number_even_after_a_losing_number_is_replaced_again() -> None:
    """BR01 replaces S-1 by S-2 (stamp 10); BR02, apart, replaces S-1 by S-3 (stamp 11)
    and later S-3 by S-5 (stamp 12), knowing nothing of S-2. Merged: S-2 won, so S-3 and
    the S-5 handed over for it are refused too; S-2 is the one usable number."""
    changes = [
        _replace("x1", "S-1", "S-2", 10, "BR01"),
        _replace("x2", "S-1", "S-3", 11, "BR02"),
        _replace("x3", "S-3", "S-5", 12, "BR02"),
    ]
    assert current_number("S-1", changes) == "S-2"
    assert [root_of(n, changes) for n in ("S-1", "S-2", "S-3", "S-5")] == ["S-1"] * 4
    assert [blocked_by_replacement(n, changes) for n in ("S-1", "S-2", "S-3", "S-5")] == [
        True,
        False,
        True,
        True,
    ]
    # Before BR01's replacement arrives, BR02 sees S-5 as the card's number.
    assert current_number("S-1", changes[1:]) == "S-5"


def test_what_was_paid_for_after_the_card_was_returned_is_found() -> None:
    """M-0001 is renewed at stamp 10 (BR02), returned at 20 (BR01), then renewed at 30 and
    upgraded at 40 at BR02, which had not heard: those two are found, against the first
    return, delivered twice or not; the renewal before it and a password are not."""
    before = CardChange("r1", "M-0001", "renew", 10, "BR02", days=30, day="2026-11-05")
    returned = CardEvent("e1", "M-0001", "return", 20, "BR01")
    later_return = CardEvent("e2", "M-0001", "return", 25, "BR03")
    after = CardChange("r2", "M-0001", "renew", 30, "BR02", days=30, day="2026-11-06")
    upgraded = CardChange(
        "u1", "M-0001", "upgrade", 40, "BR02", from_type="MASSAGE-MONTH", card_type="GOLD", discount_rate=90
    )
    password = CardChange("p1", "M-0001", "password", 50, "BR02", password="")
    changes = [upgraded, password, after, before, after]
    assert paid_after_return([later_return, returned], changes) == [(returned, after), (returned, upgraded)]
    assert paid_after_return([], changes) == []
    lost = CardEvent("e3", "M-0001", "report_lost", 5, "BR01")
    assert paid_after_return([lost], changes) == []
