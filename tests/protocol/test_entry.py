"""Change-log entries: fixed field order, canonical bytes, a hash over exactly those bytes, a linked chain."""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec, hlc
from protocol.entry import (
    ENTRY_FORMAT,
    GENESIS_HASH,
    Entry,
    check_chain,
    decode_entry,
    encode_entry,
)
from protocol.errors import ChainBroken, MalformedMessage, MessageTooLarge, UnsupportedVersion
from protocol.limits import MAX_ENTRY_BYTES
from tests.protocol.strategies import (
    EPOCH_MS,
    PROPERTY,
    UINT64_MAX,
    make_chain,
    names,
    payloads,
    same_value,
)

TOP_UP: dict[str, Any] = dict(
    origin="B01",
    seq=1,
    hlc=hlc.pack(EPOCH_MS),
    prev_hash=GENESIS_HASH,
    kind="card",
    entity_id="c-000001",
    op="top_up",
    payload={"amount_fen": 20_000, "note": "开卡充值"},
)


def entry_fields(**changes: Any) -> list[Any]:
    """The 9 wire fields of TOP_UP, with some replaced."""
    fields = {**TOP_UP, **changes}
    return [
        changes.get("format", ENTRY_FORMAT),
        fields["origin"],
        fields["seq"],
        fields["hlc"],
        fields["prev_hash"],
        fields["kind"],
        fields["entity_id"],
        fields["op"],
        fields["payload"],
    ]


def raw_entry(fields: list[Any]) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)


# -- encoding -----------------------------------------------------------------------------


def test_an_entry_is_a_9_field_array_in_fixed_order_and_its_hash_is_sha256_of_those_bytes() -> None:
    entry = encode_entry(**TOP_UP)
    assert msgpack.unpackb(entry.raw) == [
        1,
        "B01",
        1,
        hlc.pack(EPOCH_MS),
        bytes(32),
        "card",
        "c-000001",
        "top_up",
        {"amount_fen": 20_000, "note": "开卡充值"},
    ]
    assert entry.hash == hashlib.sha256(entry.raw).digest()
    assert entry.raw[0] == 0x99  # fixarray of 9


def test_an_entry_an_operator_wrote_is_format_2_with_the_operator_last() -> None:
    entry = encode_entry(**TOP_UP, actor="op-0192")
    fields = msgpack.unpackb(entry.raw)
    assert (fields[0], len(fields), fields[9]) == (2, 10, "op-0192")
    assert fields[1:9] == msgpack.unpackb(encode_entry(**TOP_UP).raw)[1:9]
    assert entry.raw[0] == 0x9A  # fixarray of 10
    decoded = decode_entry(entry.raw)
    assert (decoded.actor, decoded.hash, decoded.payload) == ("op-0192", entry.hash, TOP_UP["payload"])
    # No actor, no change: the bytes of format 1 are exactly those it always had.
    assert encode_entry(**TOP_UP).raw == encode_entry(**TOP_UP, actor="").raw
    assert decode_entry(encode_entry(**TOP_UP).raw).actor == ""


@PROPERTY
@given(
    origin=names,
    seq=st.integers(1, UINT64_MAX),
    clock=st.integers(0, UINT64_MAX),
    prev_hash=st.binary(min_size=32, max_size=32),
    kind=names,
    entity_id=names,
    op=names,
    payload=payloads,
)
def test_decode_entry_gives_back_every_field_encode_entry_was_given(
    origin: str,
    seq: int,
    clock: int,
    prev_hash: bytes,
    kind: str,
    entity_id: str,
    op: str,
    payload: Any,
) -> None:
    entry = encode_entry(
        origin=origin,
        seq=seq,
        hlc=clock,
        prev_hash=prev_hash,
        kind=kind,
        entity_id=entity_id,
        op=op,
        payload=payload,
    )
    decoded = decode_entry(entry.raw)
    assert decoded == entry
    assert (decoded.origin, decoded.seq, decoded.hlc, decoded.prev_hash) == (origin, seq, clock, prev_hash)
    assert (decoded.kind, decoded.entity_id, decoded.op) == (kind, entity_id, op)
    assert same_value(decoded.payload, payload)
    assert decoded.hash == hashlib.sha256(entry.raw).digest()


def test_the_payload_key_order_does_not_change_the_bytes_or_the_hash() -> None:
    one = encode_entry(**{**TOP_UP, "payload": {"amount_fen": 20_000, "note": "开卡充值"}})
    other = encode_entry(**{**TOP_UP, "payload": {"note": "开卡充值", "amount_fen": 20_000}})
    assert one.raw == other.raw
    assert one.hash == other.hash


def test_encode_entry_refuses_an_entry_over_64_kib() -> None:
    encode_entry(**{**TOP_UP, "payload": {"note": "x" * (MAX_ENTRY_BYTES - 200)}})
    with pytest.raises(MessageTooLarge):
        encode_entry(**{**TOP_UP, "payload": {"note": "x" * MAX_ENTRY_BYTES}})


def test_decode_entry_refuses_an_entry_over_64_kib() -> None:
    with pytest.raises(MessageTooLarge):
        decode_entry(raw_entry(entry_fields(payload={"note": "x" * MAX_ENTRY_BYTES})))


def test_encode_entry_refuses_money_as_a_float() -> None:
    with pytest.raises(TypeError, match="float"):
        encode_entry(**{**TOP_UP, "payload": {"amount_fen": 200.0}})


# -- decoding refuses anything not exactly of the format -------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param(entry_fields(format=2), UnsupportedVersion, id="format-2"),
        pytest.param(entry_fields(format=True), UnsupportedVersion, id="format-true"),
        pytest.param(entry_fields(format="1"), UnsupportedVersion, id="format-str"),
        pytest.param(entry_fields()[:8], MalformedMessage, id="8-fields"),
        # Ten fields are format 2, whose tenth names the operator who acted.
        pytest.param([*entry_fields(), None], UnsupportedVersion, id="10-fields-format-1"),
        pytest.param([*entry_fields(format=2), None], MalformedMessage, id="10-fields-no-actor"),
        pytest.param([*entry_fields(format=2), ""], MalformedMessage, id="10-fields-empty-actor"),
        pytest.param([*entry_fields(), "op-1", None], MalformedMessage, id="11-fields"),
        pytest.param(entry_fields(format=2), UnsupportedVersion, id="format-2-without-actor"),
        pytest.param(entry_fields(seq=0), MalformedMessage, id="seq-0"),
        pytest.param(entry_fields(seq=True), MalformedMessage, id="seq-true"),
        pytest.param(entry_fields(seq="1"), MalformedMessage, id="seq-str"),
        pytest.param(entry_fields(hlc=-1), MalformedMessage, id="hlc-negative"),
        pytest.param(entry_fields(hlc=False), MalformedMessage, id="hlc-false"),
        pytest.param(entry_fields(prev_hash=bytes(31)), MalformedMessage, id="prev-hash-31-bytes"),
        pytest.param(entry_fields(prev_hash=bytes(33)), MalformedMessage, id="prev-hash-33-bytes"),
        pytest.param(entry_fields(prev_hash="0" * 32), MalformedMessage, id="prev-hash-str"),
        pytest.param(entry_fields(origin=""), MalformedMessage, id="origin-empty"),
        pytest.param(entry_fields(origin="B" * 65), MalformedMessage, id="origin-65-chars"),
        pytest.param(entry_fields(kind=b"card"), MalformedMessage, id="kind-bytes"),
        pytest.param(entry_fields(entity_id=1), MalformedMessage, id="entity-id-int"),
        pytest.param(entry_fields(op=None), MalformedMessage, id="op-none"),
        pytest.param(entry_fields(payload={"amount_fen": 1.5}), MalformedMessage, id="float-payload"),
    ],
)
def test_decode_entry_refuses_fields_not_of_the_format(fields: list[Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_entry(raw_entry(fields))


@pytest.mark.parametrize("value", [{"format": 1}, "entry", 1, None])
def test_decode_entry_refuses_what_is_not_an_array(value: Any) -> None:
    with pytest.raises(MalformedMessage, match="array of 9 fields"):
        decode_entry(raw_entry(value))


def test_decode_entry_refuses_trailing_bytes() -> None:
    entry = encode_entry(**TOP_UP)
    with pytest.raises(MalformedMessage):
        decode_entry(entry.raw + b"\xc0")


def test_decode_entry_refuses_every_truncation() -> None:
    raw = encode_entry(**TOP_UP).raw
    for cut in range(len(raw)):
        with pytest.raises(MalformedMessage):
            decode_entry(raw[:cut])


def test_the_hash_is_over_the_bytes_received_never_a_re_encoding() -> None:
    # The same logical entry with its payload keys out of order: a different byte string,
    # so a different hash. Receivers hash what the signer hashed.
    unsorted = raw_entry(entry_fields(payload={"note": "开卡充值", "amount_fen": 20_000}))
    entry = decode_entry(unsorted)
    assert entry.raw == unsorted
    assert entry.hash == hashlib.sha256(unsorted).digest() != encode_entry(**TOP_UP).hash


# -- chains -------------------------------------------------------------------------------------


def three_entries() -> list[Entry]:
    return make_chain("B01", [{"amount_fen": 100}, {"amount_fen": 200}, {"amount_fen": 300}])


def test_a_chain_from_genesis_links_each_entry_to_the_hash_of_the_one_before() -> None:
    first, second, third = three_entries()
    assert first.prev_hash == GENESIS_HASH == bytes(32)
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    check_chain([first, second, third], origin="B01", prev_hash=GENESIS_HASH)


def test_a_continuation_links_to_the_last_entry_the_receiver_holds() -> None:
    held = three_entries()
    more = make_chain("B01", [{"amount_fen": 400}], first_seq=4, prev_hash=held[-1].hash)
    check_chain(more, origin="B01", prev_hash=held[-1].hash)
    with pytest.raises(ChainBroken, match="known entry"):
        check_chain(more, origin="B01", prev_hash=held[-2].hash)


def test_an_empty_chain_is_trivially_linked() -> None:
    check_chain([], origin="B01", prev_hash=GENESIS_HASH)


def test_a_chain_holding_another_origins_entry_is_broken() -> None:
    first, second, _ = three_entries()
    stranger = make_chain("B02", [{"amount_fen": 1}, {"amount_fen": 2}])[1]
    with pytest.raises(ChainBroken, match="B02"):
        check_chain([first, stranger], origin="B01")
    with pytest.raises(ChainBroken, match="B01"):
        check_chain([first, second], origin="B02")


def test_a_chain_whose_sequence_skips_is_broken() -> None:
    first, _, third = three_entries()
    with pytest.raises(ChainBroken, match="skip"):
        check_chain([first, third], origin="B01")


def test_a_chain_whose_hashes_do_not_link_is_broken() -> None:
    first, second, _ = three_entries()
    impostor = encode_entry(
        origin="B01",
        seq=2,
        hlc=second.hlc,
        prev_hash=bytes(range(32)),
        kind=second.kind,
        entity_id=second.entity_id,
        op=second.op,
        payload=second.payload,
    )
    with pytest.raises(ChainBroken, match="does not link"):
        check_chain([first, impostor], origin="B01")


def test_canonical_pack_of_an_entrys_fields_is_its_raw_bytes() -> None:
    entry = encode_entry(**TOP_UP)
    assert codec.pack(entry_fields()) == entry.raw
