"""A member's whole profile at the till (FEATURES M1): each field registered, edited,
cleared and shown; bad values refused 422 `invalid` naming the field, with nothing
changed; and the referrer rules (a member the branch knows, never the member itself)."""

from __future__ import annotations

from typing import Any

import pytest

from conflict.profile import PROFILE_FIELDS
from tests.harness import Chain
from tests.hq.operator import author

NEW_FIELDS = ("gender", "address", "region", "car_plate", "family_notes", "salesperson", "referrer", "notes")
UNKNOWN_ID = "01a20823-0000-7000-8000-000000000000"


@pytest.fixture
async def till(chain: Chain) -> str:
    # A registration credits an active employee of the branch (FEATURES B4): the ones
    # named here, published before the branch enrolls, arrive with its first feed.
    staff = [{"code": code, "name": "Staff", "branch": "BR01"} for code in ("E-0042", "E-0007", "E" * 32)]
    await author(chain, "employees", staff)
    return (await chain.add_node("BR01")).url


async def register(chain: Chain, till: str, body: dict[str, Any], status: int = 201) -> Any:
    return await chain.post(till + "/api/members", body, status=status)


async def edit(chain: Chain, till: str, member_id: str, body: Any, status: int = 200) -> Any:
    async with chain.session.patch(f"{till}/api/members/{member_id}", json=body) as response:
        assert response.status == status, f"PATCH: {response.status} {await response.text()}"
        return await response.json()


async def head_seq(chain: Chain, till: str) -> int:
    return int((await chain.sync(till_code(chain, till)))["head_seq"])


def till_code(chain: Chain, till: str) -> str:
    return next(code for code, server in chain.nodes.items() if server.url == till)


async def test_every_field_is_registered_shown_and_found(chain: Chain, till: str) -> None:
    referrer = await register(chain, till, {"name": "Zhou Jie", "phone": "13800000001"})
    profile = {
        "name": "Lin Xiaoyu",
        "phone": "13800000002",
        "birthday": "1991-03-08",
        "gender": "female",
        "address": "Room 1203, Building 5, 88 Shennan Road",
        "region": "Futian",
        "car_plate": "粤B12345",
        "family_notes": "two children, 6 and 9",
        "salesperson": "E-0042",
        "referrer": referrer["id"],
        "notes": "prefers weekday mornings\nallergic to lavender oil",
        "photo": None,  # named by uploading the image (tests/node/test_member_photo.py)
    }
    member = await register(chain, till, profile)
    assert {field: member[field] for field in PROFILE_FIELDS} == profile
    assert await chain.get(f"{till}/api/members/{member['id']}") == member
    found = await chain.get(till + "/api/members", params={"phone": "13800000002"})
    assert found["members"] == [member]


async def test_a_member_registered_with_name_and_phone_shows_every_other_field_as_null(
    chain: Chain, till: str
) -> None:
    member = await register(chain, till, {"name": "Zhou Jie", "phone": "13800000001"})
    assert {field: member[field] for field in NEW_FIELDS} == dict.fromkeys(NEW_FIELDS)
    assert member["birthday"] is None


EDITS = [
    ("gender", "male"),
    ("address", "12 Binhai Avenue"),
    ("region", "Nanshan"),
    ("car_plate", "粤B54321"),
    ("family_notes", "married; a daughter at university"),
    ("salesperson", "E-0007"),
    ("notes", "asked for the new spa menu"),
]


@pytest.mark.parametrize(("field", "value"), EDITS, ids=[field for field, _ in EDITS])
async def test_an_edit_changes_its_field_and_no_other(
    chain: Chain, till: str, field: str, value: str
) -> None:
    start = {
        "name": "Lin Xiaoyu",
        "phone": "13800000002",
        "gender": "female",
        "address": "Room 1203, Building 5, 88 Shennan Road",
        "region": "Futian",
        "car_plate": "粤B12345",
        "family_notes": "two children",
        "salesperson": "E-0042",
        "notes": "prefers mornings",
    }
    member = await register(chain, till, start)
    edited = await edit(chain, till, member["id"], {field: value})
    assert edited == {**member, field: value}
    assert await chain.get(f"{till}/api/members/{member['id']}") == edited


async def test_the_referrer_is_set_changed_and_cleared_by_edits(chain: Chain, till: str) -> None:
    first = await register(chain, till, {"name": "Zhou Jie", "phone": "13800000001"})
    second = await register(chain, till, {"name": "Wu Lei", "phone": "13800000003"})
    member = await register(chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002"})
    assert (await edit(chain, till, member["id"], {"referrer": first["id"]}))["referrer"] == first["id"]
    assert (await edit(chain, till, member["id"], {"referrer": second["id"]}))["referrer"] == second["id"]
    assert (await edit(chain, till, member["id"], {"referrer": None}))["referrer"] is None


async def test_null_clears_an_optional_field_and_the_others_stay(chain: Chain, till: str) -> None:
    member = await register(
        chain,
        till,
        {"name": "Lin Xiaoyu", "phone": "13800000002", "gender": "other", "car_plate": "粤B12345"},
    )
    cleared = await edit(chain, till, member["id"], {"car_plate": None, "notes": None})
    assert (cleared["car_plate"], cleared["notes"], cleared["gender"]) == (None, None, "other")


async def test_text_is_trimmed_plates_are_capitals_and_notes_keep_their_lines(
    chain: Chain, till: str
) -> None:
    member = await register(
        chain,
        till,
        {
            "name": "Lin Xiaoyu",
            "phone": "13800000002",
            "address": "  12 Binhai Avenue ",
            "car_plate": " 粤b 12345 ",
            "notes": "first line\r\nsecond line\n",
            "family_notes": "\tone son",
        },
    )
    assert member["address"] == "12 Binhai Avenue"
    assert member["car_plate"] == "粤B 12345"
    assert member["notes"] == "first line\nsecond line"
    assert member["family_notes"] == "one son"


# The longest value each field takes; one character more is refused (next list).
LONGEST = {
    "address": "A" * 200,
    "region": "R" * 64,
    "car_plate": "P" * 16,
    "family_notes": "F" * 500,
    "salesperson": "E" * 32,
    "notes": "N" * 500,
}


async def test_the_longest_value_of_each_field_is_taken(chain: Chain, till: str) -> None:
    member = await register(chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002", **LONGEST})
    assert {field: member[field] for field in LONGEST} == LONGEST
    other = await register(chain, till, {"name": "Wu Lei", "phone": "13800000003"})
    edited = await edit(chain, till, other["id"], LONGEST)
    assert {field: edited[field] for field in LONGEST} == LONGEST


BAD_FIELDS = [
    pytest.param("gender", "f", id="gender not a word"),
    pytest.param("gender", "Female", id="gender in capitals"),
    pytest.param("gender", "", id="gender empty"),
    pytest.param("gender", 1, id="gender a number"),
    pytest.param("address", "", id="address empty"),
    pytest.param("address", "   ", id="address blank"),
    pytest.param("address", "A" * 201, id="address 201"),
    pytest.param("address", "1 Road\n2 Road", id="address two lines"),
    pytest.param("address", ["1 Road"], id="address a list"),
    pytest.param("region", "R" * 65, id="region 65"),
    pytest.param("region", "Futian\x00", id="region NUL"),
    pytest.param("car_plate", "P" * 17, id="plate 17"),
    pytest.param("car_plate", "粤B\n12345", id="plate over two lines"),
    pytest.param("car_plate", "ß" * 9, id="plate 18 in capitals"),
    pytest.param("family_notes", "F" * 501, id="family notes 501"),
    pytest.param("family_notes", "a\x07bell", id="family notes control"),
    pytest.param("salesperson", "E 0042", id="salesperson a space"),
    pytest.param("salesperson", "-E0042", id="salesperson starts with a dash"),
    pytest.param("salesperson", "E" * 33, id="salesperson 33"),
    pytest.param("salesperson", 42, id="salesperson a number"),
    pytest.param("referrer", "", id="referrer empty"),
    pytest.param("referrer", "M 1", id="referrer a space"),
    pytest.param("referrer", "M" * 65, id="referrer 65"),
    pytest.param("referrer", 7, id="referrer a number"),
    pytest.param("notes", "N" * 501, id="notes 501"),
    pytest.param("notes", {"text": "hi"}, id="notes an object"),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_a_bad_value_is_refused_at_registration_naming_the_field(
    chain: Chain, till: str, field: str, value: Any
) -> None:
    before = await head_seq(chain, till)
    refused = await register(
        chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002", field: value}, status=422
    )
    assert refused["error"] == "invalid"
    assert refused["message"].startswith(field + " must be")
    assert await head_seq(chain, till) == before
    found = await chain.get(till + "/api/members", params={"phone": "13800000002"})
    assert found["members"] == []


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_a_bad_value_is_refused_in_an_edit_naming_the_field(
    chain: Chain, till: str, field: str, value: Any
) -> None:
    member = await register(chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002", "region": "Futian"})
    before = await head_seq(chain, till)
    refused = await edit(chain, till, member["id"], {"region": "Nanshan", field: value}, status=422)
    assert refused["error"] == "invalid"
    assert refused["message"].startswith(field + " must be")
    assert await head_seq(chain, till) == before
    assert await chain.get(f"{till}/api/members/{member['id']}") == member


async def test_an_edit_naming_a_field_the_profile_does_not_have_is_refused(chain: Chain, till: str) -> None:
    member = await register(chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002"})
    refused = await edit(chain, till, member["id"], {"notes": "ok", "shoe_size": "38"}, status=422)
    assert (refused["error"], refused["message"]) == ("invalid", "unknown member fields: shoe_size")
    refused = await edit(chain, till, member["id"], {}, status=422)
    assert refused["message"].startswith("nothing to change: give at least one of name, phone, birthday")
    assert await chain.get(f"{till}/api/members/{member['id']}") == member


# -- the referrer ---------------------------------------------------------------------------


async def test_a_referrer_the_branch_does_not_know_is_refused_at_registration(
    chain: Chain, till: str
) -> None:
    before = await head_seq(chain, till)
    refused = await register(
        chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002", "referrer": UNKNOWN_ID}, status=404
    )
    assert refused["error"] == "unknown_member"
    assert refused["message"].startswith(f"referrer {UNKNOWN_ID} is no member this branch knows")
    assert await head_seq(chain, till) == before
    assert (await chain.get(till + "/api/members", params={"phone": "13800000002"}))["members"] == []


async def test_a_referrer_the_branch_does_not_know_is_refused_in_an_edit(chain: Chain, till: str) -> None:
    member = await register(chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002"})
    before = await head_seq(chain, till)
    refused = await edit(chain, till, member["id"], {"referrer": UNKNOWN_ID}, status=404)
    assert refused["error"] == "unknown_member"
    assert "referrer" in refused["message"]
    assert await head_seq(chain, till) == before
    assert await chain.get(f"{till}/api/members/{member['id']}") == member


async def test_a_member_cannot_be_their_own_referrer(chain: Chain, till: str) -> None:
    member = await register(chain, till, {"name": "Lin Xiaoyu", "phone": "13800000002"})
    before = await head_seq(chain, till)
    refused = await edit(chain, till, member["id"], {"referrer": member["id"]}, status=422)
    assert refused["error"] == "invalid"
    assert refused["message"] == f"referrer {member['id']} is this member: a member cannot refer themselves"
    assert await head_seq(chain, till) == before
    assert (await chain.get(f"{till}/api/members/{member['id']}"))["referrer"] is None
