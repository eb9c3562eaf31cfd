"""Decoding an entry whose payload its contract keeps whole (decode_entry with
payload_kept, as every push and feed page is decoded): the same entry the walk gives,
decoded once; and anything the walk refuses (a float, a key that is not text, where the
contract leaves a map open or names an integer) still refused, with the walk's error."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import hlc
from protocol.contract import ENTRY_TYPES, EntryType, Writer, check_entry
from protocol.contract.registry import payload_kept
from protocol.entry import GENESIS_HASH, Entry, KeptEntry, decode_entry
from protocol.errors import MalformedMessage, PayloadInvalid, UnsupportedVersion
from protocol.schema import Integer, Map
from tests.protocol.contract_strategies import UNKNOWN_KEY, holds, values
from tests.protocol.strategies import EPOCH_MS
from tests.protocol.test_contract import entry_of

ALL = sorted(ENTRY_TYPES.values(), key=lambda t: t.name)
# Run for each of some sixty entry types: a few examples each add up. (Filtering: see
# tests.protocol.strategies.)
SOME = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
# Entry types whose payload is a map open to keys it does not name: where a newer
# writer's key, and so anything at all, may sit.
OPEN = [t for t in ALL if isinstance(t.schema, Map) and not t.schema.closed]
# Entry types whose payload names an integer at its top level.
WITH_AN_INTEGER = [
    t
    for t in ALL
    if isinstance(t.schema, Map) and any(isinstance(f, Integer) for f in t.schema.required.values())
]


def envelope(entry_type: EntryType, payload: Any) -> list[Any]:
    return [1, "BR01", 7, hlc.pack(EPOCH_MS), GENESIS_HASH, entry_type.kind, "e-1", entry_type.op, payload]


def test_the_entry_types_these_tests_break_exist() -> None:
    assert ENTRY_TYPES[("sale", "checkout")] in OPEN
    assert WITH_AN_INTEGER


@pytest.mark.parametrize("entry_type", ALL, ids=lambda t: t.name)
@SOME
@given(data=st.data())
def test_an_entry_its_contract_keeps_whole_decodes_once_to_what_the_walk_gives(
    entry_type: EntryType, data: st.DataObject
) -> None:
    payload = data.draw(values(entry_type.schema))
    raw = entry_of(entry_type, payload, actor=data.draw(st.sampled_from(["", "op-1"]))).raw
    walked, once = decode_entry(raw), decode_entry(raw, payload_kept)
    assert once == walked
    assert type(walked) is Entry
    # A key the contract does not name is walked, and its payload checked again later.
    assert type(once) is (Entry if holds(payload, UNKNOWN_KEY) else KeptEntry)
    assert check_entry(once, entry_type.writer) is entry_type


@pytest.mark.parametrize("entry_type", OPEN, ids=lambda t: t.name)
@pytest.mark.parametrize(
    ("added", "refusal"),
    [
        pytest.param({UNKNOWN_KEY: 1.5}, "floats are not accepted", id="float"),
        pytest.param({UNKNOWN_KEY: [1, {"deep": 0.25}]}, "floats are not accepted", id="float-deep-inside"),
        pytest.param({b"bytes-key": 1}, "map keys must be strings", id="bytes-key"),
    ],
)
@SOME
@given(data=st.data())
def test_what_the_walk_refuses_in_a_map_the_contract_leaves_open_is_refused_as_the_walk_refuses_it(
    entry_type: EntryType, added: dict[Any, Any], refusal: str, data: st.DataObject
) -> None:
    payload = {**data.draw(values(entry_type.schema)), **added}
    raw = msgpack.packb(envelope(entry_type, payload), use_bin_type=True)
    for kept in (None, payload_kept):
        with pytest.raises(MalformedMessage, match=refusal):
            decode_entry(raw, kept)


@pytest.mark.parametrize("entry_type", WITH_AN_INTEGER, ids=lambda t: t.name)
@SOME
@given(data=st.data())
def test_a_float_where_the_contract_names_an_integer_is_refused_as_the_walk_refuses_it(
    entry_type: EntryType, data: st.DataObject
) -> None:
    assert isinstance(entry_type.schema, Map)
    key = next(k for k, f in entry_type.schema.required.items() if isinstance(f, Integer))
    payload = {**data.draw(values(entry_type.schema)), key: 1.0}
    raw = msgpack.packb(envelope(entry_type, payload), use_bin_type=True)
    with pytest.raises(MalformedMessage, match="floats are not accepted"):
        decode_entry(raw, payload_kept)


def test_an_entry_its_contract_refuses_decodes_walked_and_is_refused_when_checked() -> None:
    checkout = ENTRY_TYPES[("sale", "checkout")]
    raw = msgpack.packb(envelope(checkout, {"lines": "not a list"}), use_bin_type=True)
    entry = decode_entry(raw, payload_kept)
    assert type(entry) is Entry
    with pytest.raises(PayloadInvalid):
        check_entry(entry, Writer.BRANCH)


def test_a_kind_this_build_does_not_read_is_walked() -> None:
    raw = msgpack.packb(
        [1, "BR01", 7, hlc.pack(EPOCH_MS), GENESIS_HASH, "newer", "e-1", "kind", {"at": 1}], use_bin_type=True
    )
    assert type(decode_entry(raw, payload_kept)) is Entry
    float_inside = msgpack.packb(
        [1, "BR01", 7, hlc.pack(EPOCH_MS), GENESIS_HASH, "newer", "e-1", "kind", {"at": 1.5}],
        use_bin_type=True,
    )
    with pytest.raises(MalformedMessage, match="floats are not accepted"):
        decode_entry(float_inside, payload_kept)


CHECKOUT = ENTRY_TYPES[("sale", "checkout")]
UNSET = object()  # the field left out


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        pytest.param({0: 3}, UnsupportedVersion, id="format-3"),
        pytest.param({0: True}, UnsupportedVersion, id="format-true"),
        pytest.param({0: True, 9: UNSET}, UnsupportedVersion, id="format-true-without-actor"),
        pytest.param({0: 2, 9: UNSET}, UnsupportedVersion, id="format-2-without-actor"),
        pytest.param({0: 1}, UnsupportedVersion, id="actor-in-format-1"),
        pytest.param({1: ""}, MalformedMessage, id="origin-empty"),
        pytest.param({2: 0}, MalformedMessage, id="seq-0"),
        pytest.param({2: True}, MalformedMessage, id="seq-true"),
        pytest.param({3: -1}, MalformedMessage, id="hlc-negative"),
        pytest.param({4: bytes(31)}, MalformedMessage, id="prev-hash-31-bytes"),
        pytest.param({6: 1}, MalformedMessage, id="entity-id-int"),
        pytest.param({6: "e" * 65}, MalformedMessage, id="entity-id-65-chars"),
        pytest.param({9: ""}, MalformedMessage, id="actor-empty"),
        pytest.param({9: None}, MalformedMessage, id="actor-none"),
        pytest.param({9: "o" * 65}, MalformedMessage, id="actor-65-chars"),
        pytest.param({10: "more"}, MalformedMessage, id="11-fields"),
    ],
)
@SOME
@given(data=st.data())
def test_an_envelope_not_of_the_format_is_refused_whatever_its_payload_keeps(
    changes: dict[int, Any], refusal: type[Exception], data: st.DataObject
) -> None:
    """Each fault in a format-2 entry (an operator's sale) of a payload its contract keeps."""
    fields: list[Any] = [*envelope(CHECKOUT, data.draw(values(CHECKOUT.schema))), "op-1"]
    fields[0] = 2
    for index, value in sorted(changes.items(), reverse=True):
        fields[index : index + 1] = [] if value is UNSET else [value]
    raw = msgpack.packb(fields, use_bin_type=True)
    for kept in (None, payload_kept):
        with pytest.raises(refusal):
            decode_entry(raw, kept)
