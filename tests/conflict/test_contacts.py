"""A member's contact history (conflict.contacts): a union of records by id, listed newest
first across the member's duplicate group, the same at every replica whatever order the
contacts arrive in; one id naming two different contacts is refused."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.contacts import CHANNELS, Contact, history, merge_contacts, position_text, read_position
from conflict.directory import Directory, decode, merge
from conflict.duplicates import Registration
from conflict.errors import ContactConflict, InvalidRecord
from conflict.wire import from_entry, from_payload, records_of, to_payload
from protocol.limits import MAX_CONTACT_NOTE_CHARS
from tests.conflict.strategies import PROPERTY, nodes

# 9 March 2026, 10:00 and 10:30 Beijing time (02:00 and 02:30 UTC).
TEN_AM = 1_773_021_600_000
HALF_PAST_TEN = TEN_AM + 30 * 60_000


def call(
    contact_id: str, member: str, at_ms: int, node: str = "BR01", hlc: int = 1, **changes: Any
) -> Contact:
    fields: dict[str, Any] = {
        "contact_id": contact_id,
        "member_id": member,
        "operator": f"op-{node}",
        "at_ms": at_ms,
        "channel": "phone",
        "note": "asked about the spring promotion",
        "hlc": hlc,
        "node": node,
    }
    fields.update(changes)
    return Contact(**fields)


def test_contacts_made_at_two_branches_apart_are_all_kept_newest_first() -> None:
    # BR01 phones Lin at 10:00; BR02, cut off from it, records her visit at 10:30.
    at_br01 = Directory().with_contact(call("c-1", "m1", TEN_AM, "BR01"))
    at_br02 = Directory().with_contact(
        call("c-2", "m1", HALF_PAST_TEN, "BR02", channel="visit", note="tried the new tea")
    )
    merged = merge(at_br01, at_br02)
    assert merged.encode() == merge(at_br02, at_br01).encode()
    assert [c.contact_id for c in merged.contact_history("m1")] == ["c-2", "c-1"]


def test_the_history_of_duplicates_is_every_contact_of_the_group() -> None:
    # Lin registered at BR01 (m1) and again at BR02 (m2) with one phone: one person.
    directory = Directory(
        registrations={
            "m1": Registration("m1", "13800000002", frozenset({"m1"}), 5, "BR01"),
            "m2": Registration("m2", "13800000002", frozenset({"m2"}), 7, "BR02"),
        }
    )
    directory = directory.with_contact(call("c-1", "m1", TEN_AM, "BR01"))
    directory = directory.with_contact(call("c-2", "m2", HALF_PAST_TEN, "BR02"))
    assert directory.survivor("m2") == "m1"
    for looked_up_as in ("m1", "m2"):
        assert [c.contact_id for c in directory.contact_history(looked_up_as)] == ["c-2", "c-1"]


def test_contacts_made_in_the_same_minute_are_ordered_by_their_ids() -> None:
    both = [call("c-a", "m1", TEN_AM), call("c-b", "m1", TEN_AM, "BR02")]
    assert [c.contact_id for c in history(both, ["m1"])] == ["c-b", "c-a"]
    assert [c.contact_id for c in history(reversed(both), ["m1"])] == ["c-b", "c-a"]


def test_one_id_naming_two_different_contacts_is_refused() -> None:
    held = {"c-1": call("c-1", "m1", TEN_AM)}
    assert merge_contacts(held, held) == held
    with pytest.raises(ContactConflict, match="'c-1' names two different records"):
        merge_contacts(held, {"c-1": call("c-1", "m1", TEN_AM, note="a different note")})


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"channel": "fax"}, "unknown contact channel 'fax'"),
        ({"note": ""}, "note must be a non-empty string"),
        ({"note": "x" * (MAX_CONTACT_NOTE_CHARS + 1)}, f"note is 1 to {MAX_CONTACT_NOTE_CHARS} characters"),
        ({"at_ms": -1}, "at_ms must be 0 to"),
        ({"at_ms": 1.5}, "at_ms must be an integer"),
        ({"operator": ""}, "operator must be a non-empty string"),
        ({"member_id": "m" * 65}, "member_id must be at most 64 characters"),
    ],
)
def test_a_malformed_contact_is_refused(changes: dict[str, Any], refusal: str) -> None:
    with pytest.raises(InvalidRecord, match=refusal):
        call("c-1", "m1", **{"at_ms": TEN_AM, **changes})


def test_a_contact_travels_in_the_feed_and_in_a_branch_entry_unchanged() -> None:
    contact = call("c-1", "m1", TEN_AM, "BR01", hlc=42)
    assert from_payload(to_payload(contact)) == contact
    payload = {
        "member_id": "m1",
        "operator": "op-BR01",
        "at_ms": TEN_AM,
        "channel": "phone",
        "note": "asked about the spring promotion",
    }
    assert from_entry("member", "contact", "c-1", 42, "BR01", payload) == contact


def test_a_directory_without_contacts_keeps_its_bytes() -> None:
    directory = Directory(registrations={"m1": Registration("m1", None, frozenset({"m1"}), 5, "BR01")})
    assert b"contacts" not in directory.encode()
    with_one = directory.with_contact(call("c-1", "m1", TEN_AM))
    assert b"contacts" in with_one.encode()
    assert decode(with_one.encode()) == with_one
    assert call("c-1", "m1", TEN_AM) in records_of(with_one)


def test_a_page_position_reads_back_and_nothing_else_does() -> None:
    contact = call("0190c7a2-1b2c-7d3e-8f40-123456789abc", "m1", TEN_AM)
    assert read_position(position_text(contact)) == (TEN_AM, contact.contact_id)
    for text in ("", "10:", ":c-1", "-5:c-1", "ten:c-1", "1" * 20 + ":c-1", "10:" + "c" * 65, "10:c\n1"):
        assert read_position(text) is None, text


@st.composite
def contact_sets(draw: st.DrawFn) -> list[Contact]:
    """Contacts with three members from a small pool of ids, times often equal."""
    found = []
    for i in range(draw(st.integers(min_value=0, max_value=10))):
        found.append(
            Contact(
                f"c-{i}",
                draw(st.sampled_from(("m1", "m2", "m3"))),
                draw(st.sampled_from(("op-1", "op-2"))),
                TEN_AM + draw(st.integers(min_value=0, max_value=3)) * 60_000,
                draw(st.sampled_from(CHANNELS)),
                draw(st.text(min_size=1, max_size=5)),
                i + 1,
                draw(nodes),
            )
        )
    return found


@PROPERTY
@given(contact_sets(), st.data())
def test_any_delivery_order_with_repeats_gives_the_same_state_and_bytes(
    contacts: list[Contact], data: st.DataObject
) -> None:
    one_each = [Directory().with_contact(c) for c in contacts]
    expected = reduce(merge, one_each, Directory())
    # Two replicas receive every contact, in orders of their own, some more than once.
    for _ in range(2):
        repeats = data.draw(st.lists(st.sampled_from(one_each), max_size=4)) if one_each else []
        delivery = data.draw(st.permutations(one_each + repeats))
        replica = reduce(merge, delivery, Directory())
        assert replica.encode() == expected.encode()
        assert replica.contacts == {c.contact_id: c for c in contacts}
        for member in ("m1", "m2", "m3"):
            shown = replica.contact_history(member)
            assert shown == expected.contact_history(member)
            assert [c.position for c in shown] == sorted((c.position for c in shown), reverse=True)
    # Grouped any way, the merge gives the same bytes (associative, commutative).
    cut = data.draw(st.integers(min_value=0, max_value=len(one_each)))
    left = reduce(merge, one_each[:cut], Directory())
    right = reduce(merge, one_each[cut:], Directory())
    assert merge(left, right).encode() == merge(right, left).encode() == expected.encode()
    assert merge(expected, expected).encode() == expected.encode()
