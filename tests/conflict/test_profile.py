"""A member's profile merges last-writer-wins per field (conflict.profile), every field
of it: what one branch changed never hides what another changed in another field."""

from __future__ import annotations

import random
from functools import reduce
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conflict.profile import PROFILE_FIELDS, StampedField, merge_profiles, stamp_fields, values
from hq.plan import PROFILE_KEYS
from protocol.contract import MEMBER_EDIT, MEMBER_REGISTER, MEMBER_UPSERT
from protocol.contract.fields import MEMBER_PROFILE
from tests.conflict.strategies import PROPERTY

Profile = dict[str, StampedField]

REGISTERED = {
    "name": "Lin Xiaoyu",
    "phone": "13800000002",
    "birthday": "1991-03-08",
    "gender": "female",
    "address": "1 Old Road",
    "region": "Luohu",
    "car_plate": "粤B11111",
    "family_notes": "one son",
    "salesperson": "E-0042",
    "referrer": "M-ZHOU",
    "notes": "new member",
}


def test_two_branches_editing_apart_keep_the_latest_write_of_each_field() -> None:
    registered = stamp_fields(REGISTERED, 100, "BR01")
    # Apart: BR01 writes at hlc 200, BR02 at hlc 210; both change the address.
    at_br01 = merge_profiles(
        registered,
        stamp_fields({"address": "2 New Road", "region": "Futian", "referrer": "M-WU"}, 200, "BR01"),
    )
    at_br02 = merge_profiles(
        registered,
        stamp_fields({"address": "3 Other Road", "car_plate": "粤B22222", "gender": None}, 210, "BR02"),
    )
    expected = {
        **REGISTERED,
        "address": "3 Other Road",  # BR02's, stamped 210 > 200
        "region": "Futian",  # BR01's only
        "referrer": "M-WU",  # BR01's only
        "car_plate": "粤B22222",  # BR02's only
        "gender": None,  # BR02 cleared it: a null is a value like any other
    }
    assert values(merge_profiles(at_br01, at_br02)) == expected
    assert values(merge_profiles(at_br02, at_br01)) == expected


def test_on_equal_clocks_the_greater_node_id_wins_the_field() -> None:
    at_br01 = stamp_fields({"salesperson": "E-0001", "notes": "kept"}, 300, "BR01")
    at_br02 = stamp_fields({"salesperson": "E-0002"}, 300, "BR02")
    merged = values(merge_profiles(at_br01, at_br02))
    assert merged == values(merge_profiles(at_br02, at_br01)) == {"salesperson": "E-0002", "notes": "kept"}


# -- the rule as a property, over every field -----------------------------------------------

field_values = st.none() | st.sampled_from(("a", "b", "female", "M-1", "粤B1")) | st.text(max_size=3)
# One write: the fields it sets, under a stamp no other write has (an HLC never
# repeats at one node).
writes = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(PROFILE_FIELDS), field_values, min_size=1, max_size=4),
        st.integers(min_value=0, max_value=20),
        st.sampled_from(("BR01", "BR02", "BR03")),
    ),
    max_size=12,
    unique_by=lambda write: (write[1], write[2]),
)


def latest_per_field(all_writes: list[tuple[dict[str, Any], int, str]]) -> dict[str, Any]:
    """The rule stated plainly: each field holds the value of the latest write naming it."""
    latest: dict[str, tuple[tuple[int, str], Any]] = {}
    for fields, hlc, node in all_writes:
        for field, value in fields.items():
            if field not in latest or (hlc, node) > latest[field][0]:
                latest[field] = ((hlc, node), value)
    return {field: value for field, (_, value) in latest.items()}


@PROPERTY
@given(writes, st.randoms(use_true_random=False))
def test_replicas_fed_the_same_writes_in_any_order_and_grouping_hold_the_latest_per_field(
    all_writes: list[tuple[dict[str, Any], int, str]], rng: random.Random
) -> None:
    stamped = [stamp_fields(fields, hlc, node) for fields, hlc, node in all_writes]
    expected = latest_per_field(all_writes)
    for _ in range(3):
        # A replica's delivery: any order, with repeats, merged in two halves first.
        delivery = stamped + rng.sample(stamped, k=len(stamped) // 2)
        rng.shuffle(delivery)
        cut = rng.randint(0, len(delivery))
        left: Profile = reduce(merge_profiles, delivery[:cut], {})
        right: Profile = reduce(merge_profiles, delivery[cut:], {})
        assert values(merge_profiles(left, right)) == expected
        assert merge_profiles(left, right) == merge_profiles(right, left)


# -- one list of fields, everywhere a profile is written or read ------------------------------


def test_every_profile_field_is_on_the_wire_and_read_at_hq() -> None:
    assert tuple(MEMBER_PROFILE) == PROFILE_FIELDS
    assert tuple(MEMBER_EDIT.schema.optional) == PROFILE_FIELDS  # type: ignore[attr-defined]
    register = MEMBER_REGISTER.schema
    written = (*register.required, *register.optional)  # type: ignore[attr-defined]
    assert set(written) == {"home_branch", "cards", *PROFILE_FIELDS}
    forwarded = MEMBER_UPSERT.schema.required["profile"].optional  # type: ignore[attr-defined]
    assert tuple(forwarded) == PROFILE_FIELDS
    assert PROFILE_KEYS == PROFILE_FIELDS
