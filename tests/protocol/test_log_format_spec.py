"""An outside verifier of Branchline logs, written from docs/log-format.md alone.

The verifier (the first half of this file) uses hashlib, msgpack's decoder and
cryptography's Ed25519, and encodes with its own few lines of msgpack: it imports nothing
of Branchline's, so it checks our bytes against the page, not against our encoder. The
tests run it over the known-answer vectors, over logs the production code writes (the only
place `protocol` is imported, to produce them), and over tampered logs it must refuse. If
our bytes drift from the page, a test here fails.
"""

from __future__ import annotations

import hashlib
import random
import re
import struct
from pathlib import Path
from typing import Any, NamedTuple

import msgpack
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

SPEC = Path(__file__).parents[2] / "docs" / "log-format.md"
VECTORS = Path(__file__).with_name("vectors")

# -- the verifier: sections 2, 3, 5, 6 and 9 of the page --------------------------------------

GENESIS = bytes(32)
MAX_ENTRY_BYTES = 65_536
MAX_MESSAGE_BYTES = 2_097_152
MAX_BATCH_ENTRIES = 500
MAX_NAME_CHARS = 64
HEAD_CONTEXT = "branchline-head-v1"
REQUEST_CONTEXT = "branchline-request-v1"


class Refused(Exception):
    """The bytes are not what docs/log-format.md says; the message says where."""


class Entry(NamedTuple):
    origin: str
    seq: int
    hlc: int
    prev_hash: bytes
    kind: str
    entity_id: str
    op: str
    payload: Any
    hash: bytes


def encode_int(number: int) -> bytes:
    """The smallest encoding; the unsigned family for non-negative numbers."""
    if 0 <= number <= 0x7F:
        return bytes([number])
    if -32 <= number < 0:
        return bytes([number & 0xFF])
    tags = (0xCC, 0xCD, 0xCE, 0xCF) if number >= 0 else (0xD0, 0xD1, 0xD2, 0xD3)
    for tag, width in zip(tags, (1, 2, 4, 8), strict=True):
        try:
            return bytes([tag]) + number.to_bytes(width, "big", signed=number < 0)
        except OverflowError:
            continue
    raise Refused(f"integer {number} is outside -2^63 .. 2^64-1")


# (tag, bytes of length) for each family, smallest first; fixstr, fixarray and fixmap come before.
STR_LENGTHS = ((0xD9, 1), (0xDA, 2), (0xDB, 4))
BIN_LENGTHS = ((0xC4, 1), (0xC5, 2), (0xC6, 4))
ARRAY_LENGTHS = ((0xDC, 2), (0xDD, 4))
MAP_LENGTHS = ((0xDE, 2), (0xDF, 4))


def _header(length: int, fix: int | None, fix_max: int, lengths: tuple[tuple[int, int], ...]) -> bytes:
    if fix is not None and length <= fix_max:
        return bytes([fix | length])
    for tag, width in lengths:
        if length < 1 << (8 * width):
            return bytes([tag]) + length.to_bytes(width, "big")
    raise Refused(f"a length of {length} does not fit msgpack")


def encode_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return _header(len(data), 0xA0, 31, STR_LENGTHS) + data


def encode(value: Any) -> bytes:
    """Canonical msgpack, section 2: one byte string per value."""
    if value is None:
        return b"\xc0"
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        return encode_int(value)
    if isinstance(value, str):
        return encode_str(value)
    if isinstance(value, bytes):
        return _header(len(value), None, 0, BIN_LENGTHS) + value
    if isinstance(value, list):
        return _header(len(value), 0x90, 15, ARRAY_LENGTHS) + b"".join(encode(item) for item in value)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise Refused("map keys are str only")
        # Code-point order is the order of the keys' UTF-8 bytes.
        keys = sorted(value, key=lambda key: key.encode("utf-8"))
        body = b"".join(encode_str(key) + encode(value[key]) for key in keys)
        return _header(len(value), 0x80, 15, MAP_LENGTHS) + body
    raise Refused(f"{type(value).__name__} is never written (floats, ext types, timestamps)")


def decode(data: bytes, max_bytes: int) -> Any:
    """Exactly one msgpack value of the types the page allows."""
    if len(data) > max_bytes:
        raise Refused(f"{len(data)} bytes; the bound is {max_bytes}")
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except msgpack.ExtraData:
        raise Refused("trailing bytes after the value") from None
    except (ValueError, TypeError, msgpack.FormatError, msgpack.StackError) as exc:
        raise Refused(f"not one msgpack value: {exc!r}") from None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(type(key) is str for key in item):
                raise Refused("map keys are str only")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            raise Refused("a float; money and quantities are integers")
        elif item is not None and not isinstance(item, bool | int | str | bytes):
            raise Refused(f"{type(item).__name__} (an extension type) is not accepted")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_NAME_CHARS


def check_entry(raw: bytes) -> Entry:
    """Steps 1, 2 and 4 of section 9."""
    fields = decode(raw, MAX_ENTRY_BYTES)
    if not isinstance(fields, list) or len(fields) != 9:
        raise Refused("an entry is an array of 9 fields")
    fmt, origin, seq, hlc, prev_hash, kind, entity_id, op, payload = fields
    if not _is_int(fmt) or fmt != 1:
        raise Refused(f"format {fmt!r}; the page describes 1")
    if not all(_is_name(name) for name in (origin, kind, entity_id, op)):
        raise Refused("origin, kind, entity_id and op are names of 1 to 64 characters")
    if not _is_int(seq) or seq < 1 or not _is_int(hlc) or hlc < 0:
        raise Refused("seq is an integer from 1 and hlc one from 0")
    if not isinstance(prev_hash, bytes) or len(prev_hash) != 32:
        raise Refused("prev_hash is 32 bytes of bin")
    if encode(fields) != raw:
        raise Refused(f"entry {seq} is not in canonical form")
    return Entry(origin, seq, hlc, prev_hash, kind, entity_id, op, payload, hashlib.sha256(raw).digest())


def head_bytes(origin: str, seq: int, entry_hash: bytes) -> bytes:
    """Section 5, assembled by hand: array of 4, context, origin, seq, bin8 of 32."""
    return (
        b"\x94\xb2" + HEAD_CONTEXT.encode() + encode_str(origin) + encode_int(seq) + b"\xc4\x20" + entry_hash
    )


def request_bytes(branch: str, method: str, path_qs: str, timestamp_ms: int) -> bytes:
    """Section 7: array of 5, context (fixstr of 21), branch, method, path, timestamp."""
    parts = (encode_str(branch), encode_str(method), encode_str(path_qs), encode_int(timestamp_ms))
    return b"\x95\xb5" + REQUEST_CONTEXT.encode() + b"".join(parts)


def check_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    if len(public_key) != 32 or len(signature) != 64:
        raise Refused("a public key is 32 bytes and a signature 64")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        raise Refused("the signature does not verify with the origin's key") from None


def verify_log(
    origin: str,
    raws: list[bytes],
    public_key: bytes,
    signature: bytes,
    prev_hash: bytes | None = None,
) -> list[Entry]:
    """Section 9, steps 1 to 7: entries of `origin`, linked, under a signed head."""
    if not raws:
        raise Refused("a signed run holds at least one entry")
    entries = [check_entry(raw) for raw in raws]
    previous: Entry | None = None
    for entry in entries:
        if entry.origin != origin:
            raise Refused(f"entry {entry.seq} belongs to {entry.origin!r}, not {origin!r}")
        if previous is None:
            if prev_hash is not None and entry.prev_hash != prev_hash:
                raise Refused(f"entry {entry.seq} does not link to the hash it should start from")
        elif entry.seq != previous.seq + 1 or entry.prev_hash != previous.hash:
            raise Refused(f"entry {entry.seq} does not follow entry {previous.seq}")
        previous = entry
    last = entries[-1]
    check_signature(public_key, head_bytes(origin, last.seq, last.hash), signature)
    return entries


def verify_message(data: bytes, public_key: bytes, kind: str) -> tuple[str, list[Entry], int]:
    """A push or a feed page, section 6: (origin, verified entries, backlog or available seq)."""
    message = decode(data, MAX_MESSAGE_BYTES)
    if not isinstance(message, list) or len(message) != 6 or message[0] != kind or not _is_int(message[1]):
        raise Refused(f"not a {kind} message")
    if message[1] != 1:
        raise Refused(f"not a {kind} message of version 1")
    if encode(message) != data:
        raise Refused("the message is not in canonical form")
    _, _, origin, raws, signature, count = message
    if not _is_name(origin) or not _is_int(count) or count < 0 or not isinstance(signature, bytes):
        raise Refused(f"a malformed {kind} message")
    if not isinstance(raws, list) or not all(isinstance(raw, bytes) for raw in raws):
        raise Refused("entries travel as a list of bin")
    if len(raws) > MAX_BATCH_ENTRIES:
        raise Refused(f"{len(raws)} entries; a batch holds at most {MAX_BATCH_ENTRIES}")
    if not raws and kind == "feed" and signature == b"":
        return origin, [], count
    return origin, verify_log(origin, raws, public_key, signature), count


# -- what the tests build on ------------------------------------------------------------------


def vector(name: str) -> bytes:
    return bytes.fromhex((VECTORS / f"{name}.hex").read_text(encoding="ascii"))


def public_key_of(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def entry_bytes(origin: str, seq: int, prev_hash: bytes, payload: Any, *, hlc: int = 1 << 56) -> bytes:
    return encode([1, origin, seq, hlc, prev_hash, "sale", f"s-{seq}", "checkout", payload])


def signed_run(key: Ed25519PrivateKey, origin: str, raws: list[bytes]) -> bytes:
    """Sign the head of `raws` as an origin would, whatever the entries hold."""
    last = raws[-1]
    seq = msgpack.unpackb(last, raw=False, strict_map_key=False)[2]
    return key.sign(head_bytes(origin, seq, hashlib.sha256(last).digest()))


def spec_blocks() -> list[str]:
    return re.findall(r"```\n(.*?)```", SPEC.read_text(encoding="utf-8"), flags=re.DOTALL)


def annotated_hex(block: str) -> str:
    """The hex of a worked example: each line's hex before the gap that starts its note,
    as a pattern in which `...` stands for bytes the page leaves out."""
    pattern = ""
    for line in block.splitlines():
        first = re.split(r"\s{2,}", line.strip())[0]
        if re.fullmatch(r"[0-9a-f.]{2,}( [0-9a-f.]{2,})*", first):
            pattern += first.replace(" ", "").replace("...", "(?:[0-9a-f]{2})*")
    return pattern


TEST_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
BR01_KEY = vector("br01_public_key")
BR01_LOG = [vector(f"br01_entry_{seq}") for seq in range(1, 6)]
SOLD_MS = 1_718_015_415_789


# -- (a) the known-answer vectors -------------------------------------------------------------


def test_b01s_first_three_entries_verify_under_their_signed_head() -> None:
    raws = [vector(f"entry_{seq}") for seq in (1, 2, 3)]
    entries = verify_log("B01", raws, vector("node_public_key"), vector("batch_signature"), GENESIS)
    assert head_bytes("B01", 3, entries[-1].hash) == vector("head_signing_bytes")
    assert verify_message(vector("push_request"), vector("node_public_key"), "push")[1] == entries


def test_br01s_log_verifies_from_genesis_through_both_pushes() -> None:
    entries = verify_log("BR01", BR01_LOG, BR01_KEY, vector("br01_head_5_signature"), GENESIS)
    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    _, first, backlog = verify_message(vector("br01_push_1"), BR01_KEY, "push")
    origin, second, _ = verify_message(vector("br01_push_2"), BR01_KEY, "push")
    # The second push continues the first: its first entry links to the first one's head.
    assert (origin, backlog, first + second) == ("BR01", 0, entries)
    assert second[0].prev_hash == first[-1].hash
    assert [entry.hlc for entry in entries] == sorted({entry.hlc for entry in entries})
    for seq in (2, 5):
        signing_bytes = head_bytes("BR01", seq, entries[seq - 1].hash)
        assert signing_bytes == vector(f"br01_head_{seq}_signing_bytes")
        check_signature(BR01_KEY, signing_bytes, vector(f"br01_head_{seq}_signature"))


def test_the_checkout_vector_is_a_sale_as_the_page_describes_it() -> None:
    spend, points, sale = (check_entry(raw) for raw in BR01_LOG[2:])
    assert [(e.kind, e.op) for e in (spend, points, sale)] == [("ledger", "entry")] * 2 + [
        ("sale", "checkout")
    ]
    # One checkout, one millisecond: the logical counter orders its three entries.
    assert [(e.hlc >> 16, e.hlc & 0xFFFF) for e in (spend, points, sale)] == [(SOLD_MS, n) for n in (0, 1, 2)]
    body = sale.payload
    assert list(body) == sorted(body)  # decoded in the order the bytes hold: code-point order
    assert sum(line["amount_fen"] for line in body["lines"]) == body["total_fen"] == 16_100
    assert sum(t["amount_fen"] for t in body["tenders"]) - body["total_fen"] == body["change_fen"] == 400
    assert body["points_earned"] == points.payload["amount"] == 161
    assert [m["cost_fen"] for m in body["moves"]] == [-line["cost_fen"] for line in body["lines"]]
    held = body["tenders"][0]
    assert (held["mode"], held["hold"], spend.payload["amount"]) == ("online", spend.payload["hold"], -10_000)
    assert spend.entity_id == f"{sale.entity_id}-t0"
    assert points.entity_id == f"{sale.entity_id}-pts"


def test_the_ids_are_uuidv7_text_stamped_with_their_millisecond() -> None:
    sale = check_entry(BR01_LOG[4])
    value = int(sale.entity_id.replace("-", ""), 16)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", sale.entity_id
    )
    assert value >> 80 == SOLD_MS == sale.payload["at_ms"]


def test_hqs_feed_page_for_br01_verifies_with_hqs_key_under_origin_hq_br01() -> None:
    origin, entries, available = verify_message(vector("hq_feed_page"), vector("hq_public_key"), "feed")
    assert (origin, available, [entry.seq for entry in entries]) == ("hq:BR01", 3, [1, 2, 3])
    assert entries[0].prev_hash == GENESIS
    assert head_bytes(origin, 3, entries[-1].hash) == vector("hq_feed_head_signing_bytes")
    assert [check_entry(vector(f"hq_feed_entry_{seq}")) for seq in (1, 2, 3)] == entries
    # A product is every field of HQ's record: 17 keys, so a map16.
    assert encode(entries[1].payload)[:3] == bytes.fromhex("de0011")


def test_an_empty_feed_page_carries_no_signature() -> None:
    page = b"\x96\xa4feed\x01\xa7hq:BR01\x90\xc4\x00\x03"
    assert verify_message(page, vector("hq_public_key"), "feed") == ("hq:BR01", [], 3)


def test_the_signed_feed_read_is_the_request_bytes_of_the_page() -> None:
    signing_bytes = request_bytes("BR01", "GET", "/api/feed?after=3&wait_s=20", 1_718_015_462_250)
    assert signing_bytes == vector("request_signing_bytes")
    check_signature(BR01_KEY, signing_bytes, vector("request_signature"))
    # The header of the page's example: `sig=499fa22b...b60b`, 128 hex digits.
    sig = vector("request_signature").hex()
    assert (sig[:8], sig[-4:], len(sig)) == ("499fa22b", "b60b", 128)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        *((n, f"{n:02x}") for n in (0, 5, 127)),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (300, "cd012c"),
        (65_535, "cdffff"),
        (65_536, "ce00010000"),
        (2**32 - 1, "ceffffffff"),
        (2**32, "cf0000000100000000"),
        (2**64 - 1, "cf" + "ff" * 8),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-128, "d080"),
        (-129, "d1ff7f"),
        (-32_768, "d18000"),
        (-32_769, "d2ffff7fff"),
        (-(2**31), "d280000000"),
        (-(2**31) - 1, "d3ffffffff7fffffff"),
        (-(2**63), "d38000000000000000"),
        (None, "c0"),
        (False, "c2"),
        (True, "c3"),
        (b"", "c400"),
        ("", "a0"),
        ("a" * 31, "bf" + "61" * 31),
        ("景德镇手工青花瓷茶杯套装", "d924" + "景德镇手工青花瓷茶杯套装".encode().hex()),
        ([], "90"),
        ({}, "80"),
    ],
)
def test_the_encoding_table_of_section_2(value: Any, written: str) -> None:
    assert encode(value).hex() == written


def test_integers_beyond_64_bits_cannot_be_written() -> None:
    for number in (2**64, -(2**63) - 1):
        with pytest.raises(Refused, match="outside"):
            encode_int(number)


def test_the_canonical_value_re_encodes_to_its_bytes_with_keys_in_code_point_order() -> None:
    data = vector("canonical_value")
    value = decode(data, MAX_MESSAGE_BYTES)
    assert encode(value) == data
    assert list(value["keys"]) == ["B", "Z", "a", "ab", "é", "！", "😀"]
    # UTF-16 order (JavaScript's default sort) would put the astral key first among the last two.
    utf16 = sorted(value["keys"], key=lambda key: key.encode("utf-16-be"))
    assert utf16[-2:] == ["😀", "！"]
    assert data.count(bytes.fromhex("c50100")) == 1  # 256 bytes of bin: bin16
    assert data.count(bytes.fromhex("da0102")) == 1  # 86 x 茶, 258 bytes of UTF-8: str16


def test_the_worked_examples_of_the_page_are_the_vectors_byte_for_byte() -> None:
    blocks = {block.splitlines()[0].split()[0]: block for block in spec_blocks()}
    assert annotated_hex(blocks["94"]) == vector("br01_head_5_signing_bytes").hex()
    assert annotated_hex(blocks["95"]) == vector("request_signing_bytes").hex()
    assert re.fullmatch(annotated_hex(blocks["99"]), vector("br01_entry_4").hex())
    push = vector("br01_push_1")
    assert push.startswith(bytes.fromhex("96 a4 70757368 01 a4 42523031 92 c4 c5 9901a442523031"))
    assert push.endswith(b"\xc4\x40" + vector("br01_head_2_signature") + b"\x00")
    entry_4 = check_entry(BR01_LOG[3])
    assert entry_4.hlc == SOLD_MS << 16 | 1
    assert entry_4.hlc.bit_length() == 57  # so a uint64, `cf`
    assert len(entry_4.entity_id) == 40
    assert entry_4.hash.hex() == "061abc514ca78c5042f3c61004018222fe3267a86f4360fc08f6a8871469edc2"
    text = SPEC.read_text(encoding="utf-8")
    for name in ("br01_public_key", "br01_head_5_signature"):
        assert vector(name).hex()[:64] in text
        assert vector(name).hex()[64:] in text


# -- (b) logs the production code writes ------------------------------------------------------


def production_log(origin: str, rows: list[tuple[str, str, str, Any]], first_seq: int = 1) -> list[bytes]:
    """Entries written by protocol's encoder (the only use of Branchline's code here)."""
    from protocol import hlc
    from protocol.entry import GENESIS_HASH, encode_entry

    prev_hash, clock, raws = GENESIS_HASH, hlc.HybridLogicalClock(), []
    if first_seq > 1:
        prev_hash = hashlib.sha256(b"the entry before").digest()
    for seq, (kind, entity_id, op, payload) in enumerate(rows, start=first_seq):
        entry = encode_entry(
            origin=origin,
            seq=seq,
            hlc=clock.tick(SOLD_MS + seq // 3),
            prev_hash=prev_hash,
            kind=kind,
            entity_id=entity_id,
            op=op,
            payload=payload,
        )
        raws.append(entry.raw)
        prev_hash = entry.hash
    return raws


def trading_day(rng: random.Random, count: int) -> list[tuple[str, str, str, Any]]:
    """Sales, top-ups and returns with figures of every size, as a branch writes them."""
    rows: list[tuple[str, str, str, Any]] = []
    for number in range(count):
        sale_id = f"019001b2-d5ed-7d38-bd2c-{number:012x}"
        qty, price = rng.choice([1, 2, 12, 300]), rng.choice([99, 2_500, 68_000, 1_288_000])
        cost = price * qty * rng.randint(30, 70) // 100
        rows.append(
            (
                "sale",
                sale_id,
                "checkout",
                {
                    "member_id": None if number % 4 else f"0190016b-3c80-7178-8f1a-{number:012x}",
                    "warehouse": "浦东-MAIN",
                    "lines": [
                        {
                            "sku": "TEA-乌龙-250",
                            "qty": qty,
                            "unit_price_fen": price,
                            "amount_fen": price * qty,
                            "cost_fen": cost,
                            "gross_profit_fen": price * qty - cost,
                        }
                    ],
                    "tenders": [{"kind": "cash", "amount_fen": price * qty}],
                    "total_fen": price * qty,
                    "change_fen": 0,
                    "points_earned": price * qty // 100,
                    "at_ms": SOLD_MS + number,
                    "moves": [
                        {"warehouse": "浦东-MAIN", "sku": "TEA-乌龙-250", "qty": -qty, "cost_fen": -cost}
                    ],
                },
            )
        )
        if number % 7 == 0:
            card = {"card_id": "8800000000012345", "ledger": "stored_value", "kind": "top_up"}
            rows.append(("ledger", f"t-{number}", "entry", {**card, "amount": 50_000, "paid_by": "cash"}))
    return rows


def test_a_branchs_log_written_by_the_production_code_verifies_push_by_push() -> None:
    from protocol import messages
    from protocol.batch import sign_batch
    from protocol.entry import decode_entry

    origin = "PUDONG-LUJIAZUI-FLAGSHIP-STORE-1"  # a 32-character code: str8 in the head
    raws = production_log(origin, trading_day(random.Random(20240610), 600))
    pushes = [raws[start : start + 500] for start in range(0, len(raws), 500)]
    assert len(pushes) == 2
    prev_hash = GENESIS
    for push in pushes:
        batch = sign_batch(TEST_KEY, origin, [decode_entry(raw) for raw in push])
        data = messages.encode(messages.PushRequest(batch, len(raws) - batch.last_seq))
        assert head_bytes(origin, batch.last_seq, batch.head.hash) == batch.head.signing_bytes()
        _, entries, _ = verify_message(data, public_key_of(TEST_KEY), "push")
        assert entries[0].prev_hash == prev_hash
        prev_hash = entries[-1].hash


def test_a_feed_page_hq_signs_verifies_with_the_key_the_node_pinned() -> None:
    from protocol import messages
    from protocol.batch import sign_batch
    from protocol.entry import decode_entry

    origin = "hq:BR02"
    rows = [("product", "GIFT-BOX", "upsert", {"sku": "GIFT-BOX", "name": "礼盒", "price_fen": 29_900})]
    raws = production_log(origin, rows * 3)
    page = sign_batch(OTHER_KEY, origin, [decode_entry(raw) for raw in raws])
    data = messages.encode(messages.FeedPage(origin, page, 3))
    assert verify_message(data, public_key_of(OTHER_KEY), "feed")[2] == 3
    with pytest.raises(Refused, match="signature"):
        verify_message(data, public_key_of(TEST_KEY), "feed")
    empty = messages.encode(messages.FeedPage(origin, None, 3))
    assert verify_message(empty, public_key_of(OTHER_KEY), "feed") == (origin, [], 3)


def test_an_entry_of_exactly_64_kib_travels_in_a_push_as_bin32() -> None:
    from protocol import messages
    from protocol.batch import sign_batch
    from protocol.entry import decode_entry

    (small,) = production_log("BR01", [("sale", "s-1", "checkout", b"")])
    fill = MAX_ENTRY_BYTES - len(small) - 1  # `c4 00` grows into `c5 XXXX` and `fill` bytes
    (raw,) = production_log("BR01", [("sale", "s-1", "checkout", bytes(fill))])
    assert len(raw) == MAX_ENTRY_BYTES
    batch = sign_batch(TEST_KEY, "BR01", [decode_entry(raw)])
    data = messages.encode(messages.PushRequest(batch, 0))
    assert b"\xc6\x00\x01\x00\x00" + raw in data
    assert verify_message(data, public_key_of(TEST_KEY), "push")[1][0].payload == bytes(fill)


def test_enrollment_and_acks_are_framed_as_the_page_says() -> None:
    from protocol import messages

    key = public_key_of(TEST_KEY)
    framed: dict[messages.Message, list[Any]] = {
        messages.EnrollRequest("one-time-token", "BR01", key): ["enroll", 1, "one-time-token", "BR01", key],
        messages.EnrollResponse("BR01", key, "hq:BR01"): ["enrolled", 1, "BR01", key, "hq:BR01"],
        messages.PushAck("BR01", 5, 3, 2): ["ack", 1, "BR01", 5, 3, 2],
    }
    for message, fields in framed.items():
        assert messages.encode(message) == encode(fields)


payload_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=6), inner, max_size=20),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None)
@given(
    payload=payload_values,
    origin=st.text(min_size=1, max_size=MAX_NAME_CHARS),
    seq=st.integers(1, 2**40),
)
def test_any_entry_the_production_encoder_writes_is_canonical_by_the_page(
    payload: Any, origin: str, seq: int
) -> None:
    (raw,) = production_log(origin, [("sale", "s-1", "checkout", payload)], first_seq=seq)
    entry = check_entry(raw)
    assert (entry.origin, entry.seq, entry.payload) == (origin, seq, payload)
    assert (entry.kind, entry.entity_id, entry.op) == ("sale", "s-1", "checkout")


@settings(max_examples=60, deadline=None)
@given(
    branch=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", fullmatch=True),
    path=st.text(min_size=1, max_size=300),
    timestamp_ms=st.integers(0, 2**63),
)
def test_any_request_the_production_code_signs_is_signed_over_the_page_bytes(
    branch: str, path: str, timestamp_ms: int
) -> None:
    from protocol.signing import request_signing_bytes, sign_request

    assert request_signing_bytes(branch, "POST", path, timestamp_ms) == request_bytes(
        branch, "POST", path, timestamp_ms
    )
    signature = sign_request(TEST_KEY, branch, "POST", path, timestamp_ms)
    check_signature(public_key_of(TEST_KEY), request_bytes(branch, "POST", path, timestamp_ms), signature)


# -- (c) what the verifier refuses ------------------------------------------------------------


def test_every_single_altered_byte_of_br01s_log_is_refused() -> None:
    signature = vector("br01_head_5_signature")
    for index, raw in enumerate(BR01_LOG):
        for offset in range(len(raw)):
            altered = list(BR01_LOG)
            altered[index] = raw[:offset] + bytes([raw[offset] ^ 0x01]) + raw[offset + 1 :]
            with pytest.raises(Refused):
                verify_log("BR01", altered, BR01_KEY, signature, GENESIS)


@pytest.mark.parametrize(
    "order", [[0, 1, 3, 2, 4], [1, 0, 2, 3, 4], [0, 1, 2, 4], [0, 2, 3, 4], [4, 0, 1, 2, 3]]
)
def test_reordered_or_missing_entries_are_refused(order: list[int]) -> None:
    with pytest.raises(Refused, match=r"follow|link"):
        verify_log("BR01", [BR01_LOG[i] for i in order], BR01_KEY, vector("br01_head_5_signature"), GENESIS)


def test_a_float_payload_is_refused_even_when_chained_and_signed() -> None:
    valid = entry_bytes("BR01", 1, GENESIS, {"amount_fen": 0})
    assert valid.endswith(b"\xaaamount_fen\x00")
    floaty = valid[:-1] + b"\xcb" + struct.pack(">d", 161.0)
    raws = [floaty]
    with pytest.raises(Refused, match="float"):
        verify_log("BR01", raws, public_key_of(TEST_KEY), signed_run(TEST_KEY, "BR01", raws), GENESIS)
    single = valid[:-1] + b"\xca" + struct.pack(">f", 161.0)
    with pytest.raises(Refused, match="float"):
        check_entry(single)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(OTHER_KEY.sign(head_bytes("BR01", 5, check_entry(BR01_LOG[4]).hash)), id="another-key"),
        pytest.param(vector("br01_head_2_signature"), id="another-head"),
        pytest.param(
            bytes([vector("br01_head_5_signature")[0] ^ 0x80]) + vector("br01_head_5_signature")[1:],
            id="one-bit-flipped",
        ),
        pytest.param(vector("br01_head_5_signature")[:63], id="63-bytes"),
    ],
)
def test_a_wrong_signature_is_refused(signature: bytes) -> None:
    with pytest.raises(Refused, match="signature"):
        verify_log("BR01", BR01_LOG, BR01_KEY, signature, GENESIS)


def test_a_head_signature_over_other_bytes_than_the_page_says_is_refused() -> None:
    last = check_entry(BR01_LOG[4])
    raw_head = encode([HEAD_CONTEXT, "BR01", 5, last.hash])
    assert raw_head == head_bytes("BR01", 5, last.hash)
    for message in (raw_head[1:], encode(["branchline-head-v2", "BR01", 5, last.hash]), last.hash):
        with pytest.raises(Refused, match="signature"):
            check_signature(public_key_of(TEST_KEY), head_bytes("BR01", 5, last.hash), TEST_KEY.sign(message))


def _with_payload_bytes(payload: bytes) -> bytes:
    return entry_bytes("BR01", 1, GENESIS, None)[:-1] + payload


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(_with_payload_bytes(b"\x82\xa1b\x01\xa1a\x02"), "canonical", id="keys-out-of-order"),
        pytest.param(_with_payload_bytes(b"\xcc\x05"), "canonical", id="5-in-two-bytes"),
        pytest.param(_with_payload_bytes(b"\xd9\x01a"), "canonical", id="str8-of-1-byte"),
        pytest.param(_with_payload_bytes(b"\x82\xa1a\x01\xa1a\x02"), "canonical", id="repeated-key"),
        pytest.param(_with_payload_bytes(b"\xd6\xff\x00\x00\x00\x01"), "extension", id="timestamp"),
        pytest.param(_with_payload_bytes(b"\xd4\x01\x01"), "extension", id="ext-type"),
        pytest.param(_with_payload_bytes(b"\x81\x01\x02"), "keys", id="int-key"),
        pytest.param(_with_payload_bytes(b"\x81\xc4\x01a\x02"), "keys", id="bin-key"),
        pytest.param(_with_payload_bytes(b"\xa2\xff\xfe"), "msgpack", id="not-utf8"),
        pytest.param(entry_bytes("BR01", 1, GENESIS, None) + b"\x00", "trailing", id="trailing-byte"),
        pytest.param(
            encode([1, "BR01", True, 0, GENESIS, "sale", "s", "checkout", None]), "seq", id="bool-seq"
        ),
        pytest.param(
            encode([True, "BR01", 1, 0, GENESIS, "sale", "s", "checkout", None]), "format", id="bool-format"
        ),
        pytest.param(
            encode([2, "BR01", 1, 0, GENESIS, "sale", "s", "checkout", None]), "format", id="format-2"
        ),
        pytest.param(
            encode([1, "BR01", 1, -1, GENESIS, "sale", "s", "checkout", None]), "hlc", id="negative-hlc"
        ),
        pytest.param(
            encode([1, "BR01", 1, 0, GENESIS[:31], "sale", "s", "checkout", None]),
            "prev_hash",
            id="prev-hash-31-bytes",
        ),
        pytest.param(
            encode([1, "BR01", 1, 0, "0" * 32, "sale", "s", "checkout", None]),
            "prev_hash",
            id="prev-hash-as-str",
        ),
        pytest.param(
            encode([1, "B" * 65, 1, 0, GENESIS, "sale", "s", "checkout", None]), "names", id="origin-of-65"
        ),
        pytest.param(encode([1, "BR01", 1, 0, GENESIS, "", "s", "checkout", None]), "names", id="empty-kind"),
        pytest.param(encode([1, "BR01", 1, 0, GENESIS, "sale", "s", "checkout"]), "9 fields", id="8-fields"),
        pytest.param(entry_bytes("BR01", 1, GENESIS, "x" * MAX_ENTRY_BYTES), "bound", id="over-64-kib"),
    ],
)
def test_an_entry_not_of_the_format_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        check_entry(raw)


def test_names_count_characters_not_bytes() -> None:
    long_name = "浦" * MAX_NAME_CHARS  # 192 bytes of UTF-8, 64 characters
    assert (
        check_entry(encode([1, long_name, 1, 0, GENESIS, "sale", "s", "checkout", None])).origin == long_name
    )


def test_an_entry_of_another_origin_or_not_linking_to_the_start_is_refused() -> None:
    raws = [entry_bytes("BR02", 1, GENESIS, None)]
    with pytest.raises(Refused, match="belongs"):
        verify_log("BR01", raws, public_key_of(TEST_KEY), signed_run(TEST_KEY, "BR01", raws))
    with pytest.raises(Refused, match="link"):
        verify_log("BR01", BR01_LOG[1:], BR01_KEY, vector("br01_head_5_signature"), GENESIS)
    # Without a starting hash the run proves itself up to its head (a proof from seq N).
    assert verify_log("BR01", BR01_LOG[1:], BR01_KEY, vector("br01_head_5_signature"))[0].seq == 2


def test_a_push_of_more_than_500_entries_is_refused() -> None:
    raws = [entry_bytes("BR01", 1, GENESIS, None)] * 501
    data = encode(["push", 1, "BR01", raws, bytes(64), 0])
    with pytest.raises(Refused, match="at most 500"):
        verify_message(data, BR01_KEY, "push")
