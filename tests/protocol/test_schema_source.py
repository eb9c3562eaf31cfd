"""A schema's generated checks accept exactly what its closures accept.

For every entry type of the contract and every construct of the schema language:
each drawn valid value is kept, each single-place break is refused, and on any
value at all (drawn junk, maps of any shape) the generated functions and the
closures agree; a value said to be canonical as it stands packs to the bytes of
protocol.codec's walk. Where a generated check and the closures would disagree,
the guarded check says so loudly.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec
from protocol.contract import ENTRY_TYPES, EntryType
from protocol.errors import InvariantBroken, PayloadInvalid
from protocol.schema import (
    Bool,
    Bytes,
    Choice,
    Integer,
    ListOf,
    Map,
    Nullable,
    OneOf,
    Schema,
    Text,
    Tuple,
    validator,
)
from protocol.schema_source import (
    CANONICAL,
    KEPT,
    REFUSED,
    Guarded,
    guarded,
    keeps,
    keeps_canonically,
    keeps_whole,
)
from tests.protocol.contract_strategies import UNKNOWN_KEY, holds, mutations, values
from tests.protocol.strategies import FEW

ALL = sorted(ENTRY_TYPES.values(), key=lambda t: t.name)

# Every construct of the schema language, each where it can be broken in its own ways.
LANGUAGE: dict[str, Schema] = {
    "texts": Map(
        {"plain": Text(8, 1), "shaped": Text(6, 2, r"[A-Z][a-z0-9]*"), "word": Choice(("cash", "card"))},
        {"maybe": Nullable(Text(3))},
    ),
    "numbers": Map({"qty": Integer(1, 100), "signed": Integer(-5, 5), "flag": Bool(), "hash": Bytes(4, 4)}),
    "closed edit": Map({}, {"name": Text(10, 1), "phone": Text(10, 1)}, closed=True, at_least_one=True),
    "lists": Map(
        {
            "lines": ListOf(Map({"sku": Text(8, 1)}), 3, 1),
            "stamp": Tuple((Text(4, 1), Integer(0, 9))),
            "tagged": Tuple((Text(4, 1),), optional=(Integer(0, 9), Bool())),
        }
    ),
    "tenders": ListOf(
        OneOf(
            "kind",
            {
                "cash": Map({"amount_fen": Integer(1, 1_000)}, closed=True),
                "voucher": Map({"amount_fen": Integer(1, 1_000), "voucher": Text(8, 1)}),
            },
        ),
        4,
    ),
}

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["kind", "qty", "sku", "lines", "amount_fen", "name", "x"]), inner, max_size=5
        )
    ),
    max_leaves=12,
)
SCHEMAS = [*(t.schema for t in ALL), *LANGUAGE.values()]
NAMES = [*(t.name for t in ALL), *LANGUAGE]


def closures_keep(schema: Schema, value: Any) -> bool:
    try:
        validator("t/t", schema)(value)
    except PayloadInvalid:
        return False
    return True


@pytest.mark.parametrize("schema", SCHEMAS, ids=NAMES)
@FEW
@given(data=st.data())
def test_the_generated_check_keeps_every_drawn_value_and_refuses_every_break(
    schema: Schema, data: st.DataObject
) -> None:
    check = keeps("t/t", schema)
    value = data.draw(values(schema))
    assert check(value)
    for mutation in mutations(schema, value):
        assert not check(mutation.apply(value)), mutation.what


@pytest.mark.parametrize("schema", SCHEMAS, ids=NAMES)
@FEW
@given(value=junk)
def test_on_any_value_the_generated_check_and_the_closures_agree(schema: Schema, value: Any) -> None:
    assert keeps("t/t", schema)(value) == closures_keep(schema, value)


def reversed_maps(value: Any) -> Any:
    """The same value with every map's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reversed_maps(value[key]) for key in reversed(list(value))}
    if isinstance(value, list | tuple):
        return [reversed_maps(item) for item in value]
    return value


def has_a_map_of_two_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return len(value) > 1 or any(has_a_map_of_two_keys(item) for item in value.values())
    return isinstance(value, list | tuple) and any(has_a_map_of_two_keys(item) for item in value)


@pytest.mark.parametrize("schema", SCHEMAS, ids=NAMES)
@FEW
@given(data=st.data())
def test_a_value_is_canonical_as_it_stands_only_when_msgpack_writes_the_canonical_bytes(
    schema: Schema, data: st.DataObject
) -> None:
    """A kept value whose maps hold only named keys in sorted order is written by msgpack
    as it stands; one in another order, or with a key the schema does not name, is not."""
    check = keeps_canonically("t/t", schema)
    value = data.draw(values(schema))
    sorted_value = codec.canonical(value)
    assert check(value) != REFUSED
    assert check(sorted_value) == (KEPT if holds(value, UNKNOWN_KEY) else CANONICAL)
    if has_a_map_of_two_keys(sorted_value):
        assert check(reversed_maps(sorted_value)) == KEPT
    for drawn in (value, sorted_value):
        if check(drawn) == CANONICAL:
            assert msgpack.packb(drawn, use_bin_type=True) == codec.pack(drawn)
    for mutation in mutations(schema, value):
        assert check(mutation.apply(value)) == REFUSED, mutation.what


@pytest.mark.parametrize("schema", SCHEMAS, ids=NAMES)
@FEW
@given(value=junk)
def test_on_any_value_the_canonical_check_keeps_what_the_closures_keep(schema: Schema, value: Any) -> None:
    kept = keeps_canonically("t/t", schema)(value)
    assert (kept != REFUSED) == closures_keep(schema, value)
    if kept == CANONICAL:
        assert msgpack.packb(value, use_bin_type=True) == codec.pack(value)


@pytest.mark.parametrize("schema", SCHEMAS, ids=NAMES)
@FEW
@given(data=st.data())
def test_a_value_is_kept_whole_only_when_every_key_in_it_is_one_its_schema_names(
    schema: Schema, data: st.DataObject
) -> None:
    check = keeps_whole("t/t", schema)
    value = data.draw(values(schema))
    assert check(value) == (not holds(value, UNKNOWN_KEY))
    for mutation in mutations(schema, value):
        assert not check(mutation.apply(value)), mutation.what


@pytest.mark.parametrize("schema", SCHEMAS, ids=NAMES)
@FEW
@given(value=junk)
def test_on_any_value_what_is_kept_whole_the_closures_keep_and_the_walk_takes(
    schema: Schema, value: Any
) -> None:
    if keeps_whole("t/t", schema)(value):
        assert closures_keep(schema, value)
        assert codec.unpack(msgpack.packb(value, use_bin_type=True)) == value  # no float, no bytes key


def test_a_refused_payload_is_named_by_the_closures() -> None:
    """The generated check only says no; the refusal names the place as it always did."""
    sale: EntryType = ENTRY_TYPES[("sale", "checkout")]
    line = {"sku": "CUP", "qty": 2, "unit_price_fen": 2_500, "amount_fen": 5_000}
    payload = {
        "member_id": None,
        "warehouse": "BR01-MAIN",
        "lines": [line, {**line, "qty": 1.5}],
        "tenders": [{"kind": "cash", "amount_fen": 20_000}],
        "total_fen": 10_000,
        "change_fen": 10_000,
        "at_ms": 1_700_000_000_000,
    }
    with pytest.raises(PayloadInvalid) as refused:
        sale.check(payload)
    assert (refused.value.entry_type, refused.value.path) == ("sale/checkout", "lines[1].qty")


def test_a_generated_check_that_disagrees_with_its_closures_is_a_bug_said_aloud() -> None:
    quantity = validator("t/qty", Integer(1, 10))
    # Refuses what the schema keeps.
    wrong = Guarded(lambda value: False, lambda value: REFUSED, lambda value: False, quantity)
    with pytest.raises(InvariantBroken, match="generated check of t/qty"):
        wrong(5)
    with pytest.raises(InvariantBroken, match="generated check of t/qty"):
        wrong.canonical(5)
    assert guarded(quantity)(5) is None
