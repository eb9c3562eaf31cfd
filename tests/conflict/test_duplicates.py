"""Duplicate members: one survivor per group linked by phone or card; nothing deleted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.duplicates import (
    MAX_REGISTRATIONS_PER_KEY,
    Registration,
    find_duplicates,
    merge_registrations,
    resolve,
)
from conflict.errors import RegistrationConflict
from tests.conflict.strategies import PROPERTY, registration_sets, separation_sets


def reg(member_id: str, phone: str | None, cards: set[str], hlc: int, node: str = "A") -> Registration:
    return Registration(member_id, phone, frozenset(cards), hlc, node)


def test_the_same_phone_at_two_branches_keeps_the_earliest_registration() -> None:
    # Registered at B at hlc 5 and at A at hlc 9 with the same phone: B's member survives.
    result = find_duplicates([reg("mA", "138", set(), 9, "A"), reg("mB", "138", set(), 5, "B")])
    assert result.aliases == {"mA": "mB"}
    assert result.groups == (("mB", "mA"),)


def test_equal_stamps_keep_the_smallest_member_id() -> None:
    result = find_duplicates([reg("m2", None, {"c1"}, 5), reg("m1", None, {"c1"}, 5, "B")])
    assert result.aliases == {"m2": "m1"}


def test_a_merge_of_merges_resolves_to_one_survivor_through_phone_or_card() -> None:
    # m1 and m2 share a phone; m2 and m3 share a card; m3 and m4 share another phone.
    regs = [reg("m1", "111", set(), 1), reg("m2", "111", {"c9"}, 2), reg("m3", "222", {"c9"}, 3)]
    regs.append(reg("m4", "222", set(), 4))
    result = find_duplicates(regs)
    assert result.aliases == {"m2": "m1", "m3": "m1", "m4": "m1"}
    assert [resolve(m, result.aliases) for m in ("m1", "m2", "m3", "m4", "m9")] == ["m1"] * 4 + ["m9"]


def test_resolve_follows_chained_alias_maps() -> None:
    assert resolve("m3", {"m3": "m2", "m2": "m1"}) == "m1"


def test_an_operator_separation_keeps_two_members_apart_even_through_a_third() -> None:
    # m1-m2 share a phone, m2-m3 share a card; the operator says m1 and m3 differ.
    # Joins in order of the later member's rank: m2 joins m1 first, then m3 may not join m2's group.
    regs = [reg("m1", "111", set(), 1), reg("m2", "111", {"c9"}, 2), reg("m3", None, {"c9"}, 3)]
    result = find_duplicates(regs, {("m1", "m3")})
    assert result.aliases == {"m2": "m1"}
    assert find_duplicates(regs, {("m1", "m2")}).aliases == {"m3": "m2"}


def test_a_placeholder_phone_on_many_registrations_joins_nobody() -> None:
    regs = [reg(f"m{i}", "00000000", set(), i) for i in range(MAX_REGISTRATIONS_PER_KEY + 1)]
    result = find_duplicates(regs)
    assert result.aliases == {}
    assert result.crowded_keys == ("phone:00000000",)


def test_two_different_registrations_under_one_member_id_are_refused() -> None:
    with pytest.raises(RegistrationConflict):
        merge_registrations({"m1": reg("m1", "1", set(), 1)}, {"m1": reg("m1", "2", set(), 1)})


@PROPERTY
@given(registration_sets(), st.data())
def test_resolution_is_independent_of_input_order(regs: dict[str, Registration], data: st.DataObject) -> None:
    separations = data.draw(separation_sets(sorted(regs)))
    items = list(regs.values())
    shuffled = data.draw(st.permutations(items))
    flipped = {(b, a) for a, b in separations}
    assert find_duplicates(shuffled, flipped) == find_duplicates(items, separations)


@PROPERTY
@given(registration_sets(), st.data())
def test_every_alias_points_at_a_survivor_that_shares_its_group_and_no_separated_pair_is_joined(
    regs: dict[str, Registration], data: st.DataObject
) -> None:
    separations = data.draw(separation_sets(sorted(regs)))
    result = find_duplicates(regs.values(), separations)
    for alias, survivor in result.aliases.items():
        assert survivor not in result.aliases
        assert regs[survivor].rank < regs[alias].rank
    for a, b in separations:
        assert resolve(a, result.aliases) != resolve(b, result.aliases)
    members = [m for group in result.groups for m in group]
    assert len(members) == len(set(members))


@PROPERTY
@given(registration_sets())
def test_without_separations_members_sharing_a_phone_or_card_share_a_survivor(
    regs: dict[str, Registration],
) -> None:
    result = find_duplicates(regs.values())
    for a in regs.values():
        for b in regs.values():
            if set(a.keys) & set(b.keys):
                assert resolve(a.member_id, result.aliases) == resolve(b.member_id, result.aliases)
