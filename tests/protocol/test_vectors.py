"""Known-answer vectors: the exact bytes of entries, signed heads, pushes, a feed page and a request.

The files in vectors/ were written once by make_vectors.py. If a test here fails, the wire format
changed: if that was deliberate, bump the format version and regenerate; otherwise it is a bug.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from protocol import codec, hlc, messages
from protocol.batch import SignedBatch, verify_batch
from protocol.entry import GENESIS_HASH, Entry, check_chain, decode_entry, encode_entry
from protocol.errors import (
    BadSignature,
    ClockDriftTooLarge,
    MalformedMessage,
    MessageTooLarge,
    UnsupportedVersion,
)
from protocol.hlc import check_drift
from protocol.signing import Head, request_signing_bytes, verify_head, verify_request
from tests.protocol.make_vectors import CANONICAL_VALUE, VECTORS_DIR, build_vectors, read_vector

VECTOR_FILES = sorted(path.name for path in VECTORS_DIR.glob("*.hex"))


def test_every_vector_file_is_one_the_generator_writes_and_none_is_missing() -> None:
    assert sorted(build_vectors()) == VECTOR_FILES


@pytest.mark.parametrize("name", sorted(build_vectors()))
def test_re_encoding_the_fixed_inputs_gives_the_checked_in_bytes(name: str) -> None:
    assert build_vectors()[name].hex() == read_vector(name).hex()


def test_the_stored_signature_verifies_the_stored_head_with_the_stored_key() -> None:
    public_key = read_vector("node_public_key.hex")
    entries = [decode_entry(read_vector(f"entry_{seq}.hex")) for seq in (1, 2, 3)]
    head = Head("B01", 3, hashlib.sha256(read_vector("entry_3.hex")).digest())
    assert head.signing_bytes() == read_vector("head_signing_bytes.hex")
    verify_head(public_key, head, read_vector("batch_signature.hex"))
    verify_batch(SignedBatch("B01", tuple(entries), read_vector("batch_signature.hex")), public_key)


def test_the_stored_key_is_rfc_8032_test_1() -> None:
    assert read_vector("node_public_key.hex").hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )


def test_the_stored_entries_are_b01s_first_three_changes_linked_from_genesis() -> None:
    member, top_up, sale = (decode_entry(read_vector(f"entry_{seq}.hex")) for seq in (1, 2, 3))
    check_chain([member, top_up, sale], origin="B01", prev_hash=GENESIS_HASH)
    assert member.prev_hash == GENESIS_HASH
    assert (member.kind, member.op, member.payload["name"]) == ("member", "create", "王小明")
    assert (top_up.kind, top_up.op, top_up.payload["amount_fen"]) == ("card", "top_up", 20_000)
    # Two teas at 18.00 yuan: 2 x 1800 fen = 3600 fen, paid from the card.
    line = sale.payload["lines"][0]
    assert line["qty"] * line["price_fen"] == sale.payload["amount_fen"] == 3_600
    assert line["name"] == "乌龙茶"
    # Entries 1 and 2 share a millisecond; the logical counter orders them.
    assert member.hlc >> 16 == top_up.hlc >> 16 == 1_700_000_000_000
    assert (member.hlc & 0xFFFF, top_up.hlc & 0xFFFF) == (0, 1)
    assert sale.hlc == (1_700_000_000_005 << 16)


def test_the_stored_push_request_carries_the_stored_entries_and_signature_verbatim() -> None:
    push = messages.decode(read_vector("push_request.hex"))
    assert isinstance(push, messages.PushRequest)
    assert push.reported_backlog == 0
    assert [entry.raw for entry in push.batch.entries] == [
        read_vector(f"entry_{seq}.hex") for seq in (1, 2, 3)
    ]
    assert push.batch.signature == read_vector("batch_signature.hex")
    verify_batch(push.batch, read_vector("node_public_key.hex"))
    assert messages.encode(push) == read_vector("push_request.hex")


# -- BR01, HQ's feed and a signed request, as written today (docs/log-format.md) ---------------

BR01_KEY = read_vector("br01_public_key.hex")
HQ_KEY = read_vector("hq_public_key.hex")


def br01_entries() -> list[Entry]:
    return [decode_entry(read_vector(f"br01_entry_{seq}.hex")) for seq in range(1, 6)]


def test_the_branch_and_hq_keys_are_rfc_8032_tests_3_and_2() -> None:
    assert BR01_KEY.hex() == "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"
    assert HQ_KEY.hex() == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"


def test_br01s_two_pushes_verify_and_the_second_continues_the_first() -> None:
    entries = br01_entries()
    check_chain(entries, origin="BR01", prev_hash=GENESIS_HASH)
    pushes = [messages.decode(read_vector(f"br01_push_{number}.hex")) for number in (1, 2)]
    for push, (first, last) in zip(pushes, [(1, 2), (3, 5)], strict=True):
        assert isinstance(push, messages.PushRequest)
        verify_batch(push.batch, BR01_KEY)
        assert [entry.raw for entry in push.batch.entries] == [
            entry.raw for entry in entries[first - 1 : last]
        ]
        assert push.batch.head == Head("BR01", last, entries[last - 1].hash)
        assert push.batch.head.signing_bytes() == read_vector(f"br01_head_{last}_signing_bytes.hex")
        assert push.batch.signature == read_vector(f"br01_head_{last}_signature.hex")
        assert messages.encode(push) == read_vector(f"br01_push_{(1, 3).index(first) + 1}.hex")


def test_br01s_checkout_is_the_payload_node_checkout_writes() -> None:
    spend, points, sale = br01_entries()[2:]
    assert sorted(sale.payload) == sorted(
        [
            *("member_id", "warehouse", "lines", "tenders", "total_fen", "change_fen"),
            *("points_earned", "at_ms", "moves"),
        ]
    )
    assert set(sale.payload["lines"][0]) == {
        *("sku", "qty", "unit_price_fen", "amount_fen", "cost_fen", "gross_profit_fen"),
    }
    assert set(sale.payload["moves"][0]) == {"warehouse", "sku", "qty", "cost_fen", "cause"}
    stored_value, cash = sale.payload["tenders"]
    assert set(stored_value) == {"kind", "amount_fen", "card", "mode", "hold"}
    assert cash == {"kind": "cash", "amount_fen": 6_500}
    # 2 x 68.00 + 25.00 = 161.00; 100.00 from the card and 65.00 cash leave 4.00 change.
    assert sale.payload["total_fen"] == 2 * 6_800 + 2_500 == 16_100
    assert sale.payload["change_fen"] == 10_000 + 6_500 - 16_100
    assert points.payload["amount"] == sale.payload["points_earned"] == 16_100 // 100
    assert spend.payload["amount"] == -stored_value["amount_fen"]
    assert spend.payload["hold"] == stored_value["hold"] == f"{sale.entity_id}-{stored_value['card']}"


def test_hqs_feed_page_verifies_with_hqs_key_under_origin_hq_br01() -> None:
    page = messages.decode(read_vector("hq_feed_page.hex"))
    assert isinstance(page, messages.FeedPage)
    assert page.batch is not None
    assert (page.origin, page.available_seq, page.batch.last_seq) == ("hq:BR01", 3, 3)
    verify_batch(page.batch, HQ_KEY)
    check_chain(list(page.batch.entries), origin="hq:BR01", prev_hash=GENESIS_HASH)
    assert [entry.raw for entry in page.batch.entries] == [
        read_vector(f"hq_feed_entry_{seq}.hex") for seq in (1, 2, 3)
    ]
    assert page.batch.head.signing_bytes() == read_vector("hq_feed_head_signing_bytes.hex")
    assert page.batch.signature == read_vector("hq_feed_signature.hex")
    with pytest.raises(BadSignature):
        verify_batch(page.batch, BR01_KEY)


def test_the_signed_feed_read_verifies_with_br01s_key() -> None:
    args = ("BR01", "GET", "/api/feed?after=3&wait_s=20", 1_718_015_462_250)
    assert request_signing_bytes(*args) == read_vector("request_signing_bytes.hex")
    verify_request(BR01_KEY, *args, read_vector("request_signature.hex"))


def test_the_canonical_value_decodes_to_its_input_and_packs_back_to_its_bytes() -> None:
    data = read_vector("canonical_value.hex")
    assert codec.unpack(data) == CANONICAL_VALUE
    assert codec.pack(codec.unpack(data)) == data


# -- what docs/log-format.md says our decoder refuses, and what it lets through ------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(b"\x01\x02", MalformedMessage, id="trailing-bytes"),
        pytest.param(b"\x92\x01", MalformedMessage, id="cut-short"),
        pytest.param(b"\xca\x00\x00\x00\x00", MalformedMessage, id="float32"),
        pytest.param(b"\x91\xcb" + bytes(8), MalformedMessage, id="float64"),
        pytest.param(b"\xd6\xff\x00\x00\x00\x01", MalformedMessage, id="timestamp"),
        pytest.param(b"\xd4\x01\x01", MalformedMessage, id="ext"),
        pytest.param(b"\x81\x01\x02", MalformedMessage, id="int-key"),
        pytest.param(b"\x81\xc4\x01a\x02", MalformedMessage, id="bin-key"),
        pytest.param(b"\xa2\xff\xfe", MalformedMessage, id="not-utf8"),
        pytest.param(b"\x91" * 1025 + b"\xc0", MalformedMessage, id="nested-1025"),
        pytest.param(b"\xc0" * (2_097_152 + 1), MessageTooLarge, id="over-2-mib"),
    ],
)
def test_the_decoder_refuses_what_the_page_lists(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        codec.unpack(data)


def test_the_decoder_takes_1024_levels_of_nesting_and_a_message_of_exactly_2_mib() -> None:
    assert codec.unpack(b"\x91" * 1024 + b"\xc0") is not None
    exactly = b"\xc6" + (2_097_152 - 5).to_bytes(4, "big") + bytes(2_097_152 - 5)
    assert len(exactly) == 2_097_152
    assert codec.unpack(exactly) == bytes(2_097_152 - 5)


def test_an_entry_over_64_kib_is_refused_and_one_of_exactly_64_kib_is_read() -> None:
    head = entry_with_payload(b"\xc0")
    pad = 65_536 - len(head) + 1 - 3  # a bin16 header of 3 bytes replaces the nil
    exact = head[:-1] + b"\xc5" + pad.to_bytes(2, "big") + bytes(pad)
    assert len(exact) == 65_536
    assert decode_entry(exact).payload == bytes(pad)
    one_more = head[:-1] + b"\xc5" + (pad + 1).to_bytes(2, "big") + bytes(pad + 1)
    assert len(one_more) == 65_537
    with pytest.raises(MessageTooLarge):
        decode_entry(one_more)


def entry_with_payload(payload: bytes) -> bytes:
    """An entry whose payload bytes are given as is, to show what the decoder accepts."""
    entry = encode_entry(
        origin="BR01",
        seq=1,
        hlc=0,
        prev_hash=GENESIS_HASH,
        kind="sale",
        entity_id="s",
        op="checkout",
        payload=None,
    )
    assert entry.raw.endswith(b"\xc0")
    return entry.raw[:-1] + payload


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x82\xa1b\x01\xa1a\x02", id="keys-out-of-order"),
        pytest.param(b"\xcc\x05", id="5-in-two-bytes"),
        pytest.param(b"\xd0\x05", id="5-as-int8"),
        pytest.param(b"\xd9\x01a", id="str8-of-1-byte"),
        pytest.param(b"\x82\xa1a\x01\xa1a\x02", id="repeated-key"),
    ],
)
def test_non_canonical_entries_decode_and_hash_as_received(payload: bytes) -> None:
    raw = entry_with_payload(payload)
    entry = decode_entry(raw)
    assert entry.raw == raw
    assert entry.hash == hashlib.sha256(raw).digest()
    assert codec.pack(entry.payload) != payload  # our encoder would never have written it


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param(
            [True, "BR01", 1, 0, GENESIS_HASH, "sale", "s", "checkout", None],
            UnsupportedVersion,
            id="bool-format",
        ),
        pytest.param(
            [1, "BR01", True, 0, GENESIS_HASH, "sale", "s", "checkout", None], MalformedMessage, id="bool-seq"
        ),
        pytest.param(
            [1, "BR01", 1, False, GENESIS_HASH, "sale", "s", "checkout", None],
            MalformedMessage,
            id="bool-hlc",
        ),
        pytest.param(
            [1, "浦" * 65, 1, 0, GENESIS_HASH, "sale", "s", "checkout", None],
            MalformedMessage,
            id="origin-of-65",
        ),
    ],
)
def test_an_entry_with_a_bool_for_an_integer_or_a_name_of_65_characters_is_refused(
    fields: list[Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        decode_entry(codec.pack(fields))


def test_a_name_of_64_characters_of_three_utf8_bytes_each_is_read() -> None:
    fields = [1, "浦" * 64, 1, 0, GENESIS_HASH, "sale", "s", "checkout", None]
    assert decode_entry(codec.pack(fields)).origin == "浦" * 64


def test_hq_takes_an_entry_exactly_one_hour_ahead_and_refuses_one_a_millisecond_later() -> None:
    now_ms = 1_718_015_415_789
    check_drift(hlc.pack(now_ms + 3_600_000), now_ms)
    with pytest.raises(ClockDriftTooLarge):
        check_drift(hlc.pack(now_ms + 3_600_001), now_ms)
