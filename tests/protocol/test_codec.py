"""Canonical msgpack: one encoding per value, and a strict, bounded decoder that refuses the rest."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec
from protocol.errors import MalformedMessage, MessageTooLarge, ProtocolError
from protocol.limits import MAX_MESSAGE_BYTES, MAX_NAME_CHARS
from tests.protocol.strategies import PROPERTY, payloads, same_value


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same value with every map's keys inserted in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


def contains_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(contains_float(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_float(item) for item in value)
    return isinstance(value, float)


# -- canonical encoding ---------------------------------------------------------------------


def test_maps_are_encoded_with_sorted_keys() -> None:
    # fixmap of 2, "a" -> 1, "b" -> 2, whatever order the dict was built in.
    expected = bytes.fromhex("82 a161 01 a162 02")
    assert codec.pack({"b": 2, "a": 1}) == codec.pack({"a": 1, "b": 2}) == expected


def test_bytes_and_str_stay_distinct_on_the_wire() -> None:
    assert codec.pack(b"ab") == bytes.fromhex("c4 02 6162")  # bin 8
    assert codec.pack("ab") == bytes.fromhex("a2 6162")  # fixstr
    assert codec.unpack(codec.pack([b"ab", "ab"])) == [b"ab", "ab"]


@PROPERTY
@given(value=payloads, seed=st.integers(0, 2**32))
def test_the_same_value_with_keys_inserted_in_any_order_encodes_to_the_same_bytes(
    value: Any, seed: int
) -> None:
    assert codec.pack(shuffled(value, random.Random(seed))) == codec.pack(value)


@PROPERTY
@given(value=payloads)
def test_pack_then_unpack_gives_back_the_value_with_its_types(value: Any) -> None:
    assert same_value(codec.unpack(codec.pack(value)), value)


def test_tuples_travel_as_arrays() -> None:
    assert codec.pack((1, 2)) == codec.pack([1, 2])


@pytest.mark.parametrize("value", [1.5, {"amount_fen": 0.1}, [1, [2.0]], {1: "a"}, {"set": {1}}])
def test_pack_refuses_floats_non_str_keys_and_foreign_types(value: Any) -> None:
    with pytest.raises(TypeError):
        codec.pack(value)


# -- strict decoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(b"\x92\x01", id="array-of-2-holding-1"),
        pytest.param(b"\xa3ab", id="str-cut-short"),
        pytest.param(b"\xa2\xff\xfe", id="str-not-utf8"),
        pytest.param(b"\x81\x01\x02", id="int-map-key"),
        pytest.param(b"\x81\x90\x02", id="array-map-key"),
        pytest.param(b"\xd4\x01\x01", id="ext-type"),
        pytest.param(b"\xd6\xff\x00\x00\x00\x01", id="timestamp-ext"),
        pytest.param(b"\x81\xa1a\xd6\xff\x00\x00\x00\x01", id="timestamp-in-a-map"),
        pytest.param(b"\x91\xd6\xff\x00\x00\x00\x01", id="timestamp-in-an-array"),
        pytest.param(b"\x81\xc4\x01a\x02", id="bytes-map-key"),
        pytest.param(b"\x91" * 100_000 + b"\xc0", id="nested-too-deep"),
    ],
)
def test_unpack_refuses_garbage_as_malformed(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        codec.unpack(data)


def test_unpack_refuses_trailing_bytes_after_one_value() -> None:
    assert codec.unpack(b"\x01") == 1
    with pytest.raises(MalformedMessage, match=r"[Ee]xtra data"):
        codec.unpack(b"\x01\x02")


@pytest.mark.parametrize(
    "value",
    [0.5, [1, 2, 0.5], {"amount_fen": 0.5}, {"lines": [{"qty": 1, "price_fen": 1.0}]}],
)
@pytest.mark.parametrize("use_single_float", [False, True], ids=["float64", "float32"])
def test_unpack_refuses_floats_anywhere(value: Any, use_single_float: bool) -> None:
    data = msgpack.packb(value, use_single_float=use_single_float)
    with pytest.raises(MalformedMessage, match="floats"):
        codec.unpack(data)


def test_unpack_refuses_input_over_its_bound_before_decoding_it() -> None:
    eleven_bytes = codec.pack("x" * 10)
    assert len(eleven_bytes) == 11
    assert codec.unpack(eleven_bytes, max_bytes=11) == "x" * 10
    with pytest.raises(MessageTooLarge):
        codec.unpack(eleven_bytes, max_bytes=10)
    with pytest.raises(MessageTooLarge):
        codec.unpack(b"\xc0" * (MAX_MESSAGE_BYTES + 1))  # garbage too, but size is checked first


def test_unpack_refuses_what_is_not_bytes() -> None:
    with pytest.raises(MalformedMessage):
        codec.unpack("82a161")  # type: ignore[arg-type]


@PROPERTY
@given(data=st.binary(max_size=64))
def test_unpack_of_random_bytes_returns_a_value_or_refuses_with_a_protocol_error(data: bytes) -> None:
    try:
        value = codec.unpack(data)
    except ProtocolError:
        return
    assert not contains_float(value)


def test_unpack_refuses_bytes_map_keys_which_canonical_could_never_produce() -> None:
    data = msgpack.packb({"lines": [{b"amount_fen": 100}]}, use_bin_type=True)
    with pytest.raises(MalformedMessage, match="keys"):
        codec.unpack(data)


floaty_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.binary(max_size=8)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, width=32),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@PROPERTY
@given(value=floaty_values, use_single_float=st.booleans())
def test_unpack_refuses_a_value_exactly_when_it_holds_a_float(value: Any, use_single_float: bool) -> None:
    data = msgpack.packb(value, use_bin_type=True, use_single_float=use_single_float)
    if contains_float(value):
        with pytest.raises(MalformedMessage, match="floats"):
            codec.unpack(data)
    else:
        assert same_value(codec.unpack(data), value)


# -- names ------------------------------------------------------------------------------------


def test_a_name_is_1_to_64_characters_of_text() -> None:
    assert codec.check_name("乌龙茶-250g", "sku") == "乌龙茶-250g"
    assert codec.check_name("x" * MAX_NAME_CHARS, "sku") == "x" * MAX_NAME_CHARS
    for bad in ["", "x" * (MAX_NAME_CHARS + 1), 7, None, b"sku"]:
        with pytest.raises(MalformedMessage, match="sku"):
            codec.check_name(bad, "sku")


@pytest.mark.parametrize("code", ["B01", "br-01_a", "9", "A" * 32])
def test_a_branch_code_is_up_to_32_letters_digits_dashes_and_underscores(code: str) -> None:
    assert codec.check_branch_code(code) == code


@pytest.mark.parametrize("code", ["", "-B01", "_B", "A" * 33, "B 01", "B/01", "分店", "B01\x00", 1])
def test_other_branch_codes_are_refused(code: object) -> None:
    with pytest.raises(MalformedMessage, match="branch"):
        codec.check_branch_code(code)


def test_a_branch_code_with_a_trailing_newline_is_refused() -> None:
    # A pattern ending in '$' would also match before a final newline; branch codes name files.
    for code in ["B01\n", "B01\r\n", "\nB01"]:
        with pytest.raises(MalformedMessage):
            codec.check_branch_code(code)


@PROPERTY
@given(value=st.one_of(st.booleans(), st.integers(), st.none(), st.text(max_size=2)))
def test_is_int_means_an_integer_that_is_not_a_bool(value: object) -> None:
    assert codec.is_int(value) == (type(value) is int)
