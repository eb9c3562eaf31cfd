"""Issued vouchers at the till (conflict.voucher_use): who may use one, when, how much,
in what order the refusals come, and returns that give a use back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.directory import Directory, decode, merge
from conflict.errors import InvalidRecord, ReinstatementConflict
from conflict.voucher_use import (
    IssuedVoucher,
    Refusal,
    Reinstatement,
    check_use,
    merge_reinstatements,
    standing,
    state_on,
)
from conflict.vouchers import Redemption
from tests.conflict.strategies import PROPERTY, nodes

# 20 yuan off a sale of at least 50 yuan, for member m1, all of March 2026.
SPRING = IssuedVoucher("SPRING-1", "SPRING", "m1", 2_000, 5_000, "2026-03-01", "2026-03-31")
USED_AT_B = Redemption("s9-t0", "SPRING-1", 2_000, 7, "B")


def refusal(**changes: object) -> Refusal | None:
    asked: dict[str, object] = {
        "holder": "m1",
        "customer": "m1",
        "day": "2026-03-15",
        "total_fen": 5_000,
        "amount_fen": 2_000,
        "uses": [],
        **changes,
    }
    found = check_use(SPRING, **asked)  # type: ignore[arg-type]
    if found is None:
        return None
    reason, message = found
    assert "SPRING-1" in message
    return reason


def test_the_member_may_use_it_on_a_sale_of_its_minimum_within_its_days() -> None:
    assert refusal() is None
    assert refusal(day="2026-03-01") is None  # the first day counts
    assert refusal(day="2026-03-31") is None  # and the last
    assert refusal(amount_fen=1_200) is None  # less than its value: the rest is forfeited


def test_another_members_voucher_or_a_sale_to_nobody_is_refused() -> None:
    assert refusal(customer="m2") is Refusal.NOT_YOURS
    assert refusal(customer=None) is Refusal.NOT_YOURS


def test_outside_its_days_is_expired_before_and_after() -> None:
    assert refusal(day="2026-02-28") is Refusal.EXPIRED
    assert refusal(day="2026-04-01") is Refusal.EXPIRED


def test_a_standing_use_anywhere_makes_it_used() -> None:
    assert refusal(uses=[USED_AT_B]) is Refusal.USED
    # Another voucher's use is not this one's.
    assert refusal(uses=[Redemption("s9-t1", "OTHER-1", 2_000, 7, "B")]) is None


def test_a_sale_below_the_minimum_or_a_tender_above_the_value_is_refused() -> None:
    assert refusal(total_fen=4_999) is Refusal.MIN_SPEND
    assert refusal(amount_fen=2_001) is Refusal.OVER_VALUE


def test_the_first_refusal_that_applies_is_the_one_given() -> None:
    """Another member's expired, used voucher on a small sale is "not yours": it tells a
    stranger nothing of the voucher; the holder is told it has expired before it is used."""
    everything = {"day": "2026-04-01", "uses": [USED_AT_B], "total_fen": 100, "amount_fen": 9_999}
    assert refusal(customer="m2", **everything) is Refusal.NOT_YOURS
    assert refusal(**everything) is Refusal.EXPIRED
    assert refusal(**{**everything, "day": "2026-03-15"}) is Refusal.USED
    assert refusal(**{**everything, "day": "2026-03-15", "uses": []}) is Refusal.MIN_SPEND


def test_a_vouchers_state_on_a_day() -> None:
    assert state_on(SPRING, "2026-02-01", []) == "unused"  # not valid yet, not used
    assert state_on(SPRING, "2026-03-31", []) == "unused"
    assert state_on(SPRING, "2026-04-01", []) == "expired"
    assert state_on(SPRING, "2026-04-01", [USED_AT_B]) == "used"  # used before it expired


def test_a_reinstated_use_no_longer_stands() -> None:
    back = Reinstatement("r1-v0", "s9-t0", "SPRING-1", 9, "B")
    later = Redemption("s10-t0", "SPRING-1", 2_000, 11, "A")
    assert standing([USED_AT_B], [back]) == []
    assert standing([later, USED_AT_B], [back]) == [later]
    # A reinstatement naming another voucher gives nothing back.
    assert standing([USED_AT_B], [Reinstatement("r2-v0", "s9-t0", "OTHER-1", 9, "B")]) == [USED_AT_B]


def test_the_single_use_rule_settles_the_standing_uses_only() -> None:
    """Used at B (stamp 7), given back there (9), used at A (11): one standing use, no
    conflict. Without the return, A's use is the flagged second one."""
    later = Redemption("s10-t0", "SPRING-1", 2_000, 11, "A")
    used_twice = Directory().with_redemption(USED_AT_B).with_redemption(later)
    assert used_twice.vouchers().flagged == (later,)
    given_back = used_twice.with_reinstatement(Reinstatement("r1-v0", "s9-t0", "SPRING-1", 9, "B"))
    assert given_back.vouchers().flagged == ()
    assert given_back.vouchers().winners == {"SPRING-1": later}


def test_reinstatements_travel_in_the_directorys_bytes_only_when_there_are_any() -> None:
    used = Directory().with_redemption(USED_AT_B)
    assert b"reinstatements" not in used.encode()  # a directory without them keeps its digest
    back = used.with_reinstatement(Reinstatement("r1-v0", "s9-t0", "SPRING-1", 9, "B"))
    assert decode(back.encode()) == back
    assert decode(back.encode()).encode() == back.encode()


def test_one_id_naming_two_reinstatements_is_refused() -> None:
    one = {"r1": Reinstatement("r1", "s9-t0", "SPRING-1", 9, "B")}
    other = {"r1": Reinstatement("r1", "s9-t1", "SPRING-1", 9, "B")}
    with pytest.raises(ReinstatementConflict):
        merge_reinstatements(one, other)
    with pytest.raises(ReinstatementConflict):
        merge(Directory(reinstatements=one), Directory(reinstatements=other))


def test_a_voucher_with_its_days_backwards_or_no_value_is_no_voucher() -> None:
    with pytest.raises(InvalidRecord):
        IssuedVoucher("V-1", "V", "m1", 2_000, 0, "2026-03-31", "2026-03-01")
    with pytest.raises(InvalidRecord):
        IssuedVoucher("V-1", "V", "m1", 0, 0, "2026-03-01", "2026-03-31")
    with pytest.raises(InvalidRecord):
        IssuedVoucher("V-1", "V", "m1", 2_000, -1, "2026-03-01", "2026-03-31")


@st.composite
def reinstatement_sets(draw: st.DrawFn) -> dict[str, Reinstatement]:
    out = {}
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        r = Reinstatement(
            f"back-{i}",
            draw(st.sampled_from(("red-0", "red-1", "red-2"))),
            draw(st.sampled_from(("v1", "v2"))),
            draw(st.integers(min_value=0, max_value=50)),
            draw(nodes),
        )
        out[r.reinstatement_id] = r
    return out


@PROPERTY
@given(reinstatement_sets(), reinstatement_sets(), reinstatement_sets())
def test_reinstatements_merge_commutatively_associatively_and_idempotently(
    a: dict[str, Reinstatement], b: dict[str, Reinstatement], c: dict[str, Reinstatement]
) -> None:
    # Sets drawn separately may reuse an id for another record: keep only agreeing ids.
    b = {k: v for k, v in b.items() if a.get(k, v) == v}
    c = {k: v for k, v in c.items() if a.get(k, v) == v and b.get(k, v) == v}
    assert merge_reinstatements(a, b) == merge_reinstatements(b, a)
    assert merge_reinstatements(merge_reinstatements(a, b), c) == merge_reinstatements(
        a, merge_reinstatements(b, c)
    )
    assert merge_reinstatements(merge_reinstatements(a, b), a) == merge_reinstatements(a, b)
