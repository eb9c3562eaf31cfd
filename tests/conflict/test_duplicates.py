"""Duplicate members: one survivor per group linked by phone or card, the one HQ saw
first; nothing deleted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.duplicates import (
    MAX_REGISTRATIONS_PER_KEY,
    Registration,
    Sighting,
    find_duplicates,
    merge_registrations,
    merge_sightings,
    rank,
    resolve,
)
from conflict.errors import InvalidRecord, RegistrationConflict, SightingConflict
from tests.conflict.strategies import PROPERTY, registration_sets, separation_sets, sighting_sets


def reg(member_id: str, phone: str | None, cards: set[str], hlc: int, node: str = "A") -> Registration:
    return Registration(member_id, phone, frozenset(cards), hlc, node)


def seen(*member_ids: str) -> dict[str, Sighting]:
    """HQ's sightings, in the order given."""
    return {m: Sighting(m, seq) for seq, m in enumerate(member_ids, start=1)}


def test_the_same_phone_at_two_branches_keeps_the_earliest_registration_until_hq_orders_them() -> None:
    # Registered at B at hlc 5 and at A at hlc 9 with the same phone: B's member survives.
    result = find_duplicates([reg("mA", "138", set(), 9, "A"), reg("mB", "138", set(), 5, "B")])
    assert result.aliases == {"mA": "mB"}
    assert result.groups == (("mB", "mA"),)


def test_the_registration_hq_saw_first_survives_whatever_its_stamp() -> None:
    # mB claims the phone with a stamp of 1, long before mA's 9; HQ stored mA first.
    regs = [reg("mA", "138", {"c1"}, 9, "A"), reg("mB", "138", {"c1"}, 1, "B")]
    assert find_duplicates(regs, sightings=seen("mA", "mB")).aliases == {"mB": "mA"}
    # Until HQ's order for mB arrives, the sighted mA still outranks it.
    assert find_duplicates(regs, sightings=seen("mA")).aliases == {"mB": "mA"}
    assert find_duplicates(regs, sightings=seen("mB", "mA")).aliases == {"mA": "mB"}


def test_a_sighting_of_a_member_not_held_here_changes_nothing() -> None:
    regs = [reg("mA", "138", set(), 9), reg("mB", "138", set(), 5)]
    assert find_duplicates(regs, sightings=seen("m-elsewhere")).aliases == {"mA": "mB"}


def test_one_registration_sighted_twice_differently_is_refused() -> None:
    with pytest.raises(SightingConflict):
        merge_sightings(seen("m1"), {"m1": Sighting("m1", 2)})
    with pytest.raises(InvalidRecord):
        Sighting("m1", 0)


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
    sightings = data.draw(sighting_sets(sorted(regs)))
    items = list(regs.values())
    shuffled = data.draw(st.permutations(items))
    flipped = {(b, a) for a, b in separations}
    reordered = dict(data.draw(st.permutations(list(sightings.items()))))
    assert find_duplicates(shuffled, flipped, reordered) == find_duplicates(items, separations, sightings)


@PROPERTY
@given(registration_sets(), st.data())
def test_no_stamp_of_a_registration_hq_has_sighted_changes_who_survives(
    regs: dict[str, Registration], data: st.DataObject
) -> None:
    # A branch chooses its stamps; once HQ has ordered every registration, no choice
    # of stamps (the forged-early-stamp takeover) moves a survivor.
    separations = data.draw(separation_sets(sorted(regs)))
    order = data.draw(st.permutations(sorted(regs)))
    restamped = {
        m: Registration(m, r.phone, r.card_numbers, data.draw(st.integers(0, 50)), r.node)
        for m, r in regs.items()
    }
    assert find_duplicates(restamped.values(), separations, seen(*order)) == find_duplicates(
        regs.values(), separations, seen(*order)
    )


@PROPERTY
@given(registration_sets(), st.data())
def test_sighting_a_backlog_in_stamp_order_keeps_every_survivor(
    regs: dict[str, Registration], data: st.DataObject
) -> None:
    # HQ sights the registrations it held before sightings existed in stamp order
    # (hq.storage.sqlite.directory.sight_backlog): nobody's survivor may change.
    separations = data.draw(separation_sets(sorted(regs)))
    by_stamp = sorted(regs.values(), key=lambda r: (r.hlc, r.member_id, r.node))
    assert find_duplicates(regs.values(), separations, seen(*(r.member_id for r in by_stamp))) == (
        find_duplicates(regs.values(), separations)
    )


@PROPERTY
@given(registration_sets(), st.data())
def test_every_alias_points_at_a_survivor_that_shares_its_group_and_no_separated_pair_is_joined(
    regs: dict[str, Registration], data: st.DataObject
) -> None:
    separations = data.draw(separation_sets(sorted(regs)))
    sightings = data.draw(sighting_sets(sorted(regs)))
    result = find_duplicates(regs.values(), separations, sightings)
    for alias, survivor in result.aliases.items():
        assert survivor not in result.aliases
        assert rank(regs[survivor], sightings) < rank(regs[alias], sightings)
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
