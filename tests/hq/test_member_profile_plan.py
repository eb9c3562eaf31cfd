"""HQ plans every profile field a branch may write: the longest values the contract
allows and a null that clears a field are merged, never set aside as refused."""

from __future__ import annotations

from typing import Any

from conflict.profile import PROFILE_FIELDS
from hq.plan import plan_entries
from protocol import hlc
from tests.hq.test_plan_never_wedges import entry_of

STAMP = hlc.pack(1_714_550_400_000)  # entry_of's clock

LONGEST: dict[str, Any] = {
    "name": "N" * 64,
    "phone": "+" + "1" * 20,
    "birthday": "1991-03-08",
    "gender": "other",
    "address": "地" * 200,
    "region": "R" * 64,
    "car_plate": "P" * 16,
    "family_notes": "家" * 500,
    "salesperson": "E" * 32,
    "referrer": "M" * 64,
    "notes": "记" * 500,
    "photo": "sha256:" + "f" * 64,
}


def test_the_longest_profile_a_branch_may_write_is_planned_whole_with_its_stamp() -> None:
    assert set(LONGEST) == set(PROFILE_FIELDS)
    for op, payload in (
        ("register", {"home_branch": "BR01", **LONGEST, "cards": ["K-1"]}),
        ("edit", LONGEST),
    ):
        plan = plan_entries([entry_of("member", op, payload)])
        assert plan.refused == [], plan.refused[0].refusal
        (write,) = plan.members
        assert write.profile == {field: (value, STAMP, "BR01") for field, value in LONGEST.items()}


def test_a_null_clears_any_field_but_the_name_and_the_phone() -> None:
    cleared = dict.fromkeys(field for field in PROFILE_FIELDS if field not in ("name", "phone"))
    plan = plan_entries([entry_of("member", "edit", cleared)])
    assert plan.refused == []
    (write,) = plan.members
    assert write.profile == {field: (None, STAMP, "BR01") for field in cleared}
