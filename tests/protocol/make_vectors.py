"""Write the known-answer vectors of the wire format into tests/protocol/vectors/.

Run by hand, and only when the format changes on purpose (a new ENTRY_FORMAT, MESSAGE_VERSION
or HEAD_CONTEXT), from the repository root:

    python -m tests.protocol.make_vectors

then review the diff of tests/protocol/vectors/ and commit it with the format change. The test
suite never runs this script: `test_vectors.py` rebuilds the same values with `build_vectors()`
and compares them byte for byte with the checked-in files, so an accidental change to the
encoding fails a test instead of passing unnoticed. Ed25519 is deterministic, so the signature
is as stable as the bytes it signs.

The inputs, all fixed here and described in docs/log-format.md:

- `entry_*`, `head_signing_bytes`, `batch_signature`, `push_request`: the RFC 8032 section 7.1
  TEST 1 key, and branch B01's first three entries (a member joins, tops up her card with
  200.00 yuan, buys two teas at 18.00 with stored value). The first vectors; their payloads
  predate today's checkout and are kept because they guard the encoding.
- `br01_*`: branch BR01 (RFC 8032 TEST 3 key) as a node writes today: a member registers and
  tops up (push 1, head 2), then one checkout writes a stored-value spend, the points earned and
  the sale itself (push 2, head 5).
- `hq_*`: HQ (RFC 8032 TEST 2 key) serving BR01's feed, origin `hq:BR01`: the main warehouse,
  a product and a member registered at BR02, as one signed feed page.
- `request_*`: BR01's signed feed read. `canonical_value`: one value exercising every encoding
  rule (integer widths, str versus bin, key order beyond ASCII).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import codec, hlc, messages
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.ids import uuid7
from protocol.signing import public_key_bytes, request_signing_bytes, sign_request

VECTORS_DIR = Path(__file__).with_name("vectors")

NODE_KEY_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ORIGIN = "B01"
T0_MS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC

# (hlc, kind, entity_id, op, payload) of entries 1, 2 and 3.
ENTRIES = [
    (
        hlc.pack(T0_MS, 0),
        "member",
        "m-000001",
        "create",
        {"name": "王小明", "phone": "13800138000", "tier": "银卡"},
    ),
    (
        hlc.pack(T0_MS, 1),  # same millisecond: the logical counter orders them
        "card",
        "c-000001",
        "top_up",
        {"amount_fen": 20_000, "card": "c-000001", "member": "m-000001", "note": "开卡充值"},
    ),
    (
        hlc.pack(T0_MS + 5, 0),
        "sale",
        "s-000001",
        "checkout",
        {
            "amount_fen": 3_600,
            "lines": [{"name": "乌龙茶", "price_fen": 1_800, "qty": 2, "sku": "TEA-OOLONG-250"}],
            "member": "m-000001",
            "paid_with": "stored_value",
        },
    ),
]
REPORTED_BACKLOG = 0

# -- BR01 as a node writes today --------------------------------------------------------------

BRANCH_KEY_SEED = bytes.fromhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7")
BRANCH = "BR01"
WAREHOUSE = "BR01-MAIN"
REGISTERED_MS = 1_718_010_723_456  # 2024-06-10 09:12:03.456 UTC
TOPPED_UP_MS = 1_718_010_761_007  # 09:12:41.007
SOLD_MS = 1_718_015_415_789  # 10:30:15.789; the checkout's three entries share it
MEMBER_ID = uuid7(REGISTERED_MS, bytes.fromhex("3c5e0f1a2b4d6e7f8091"))
TOP_UP_ID = uuid7(TOPPED_UP_MS, bytes.fromhex("a1b2c3d4e5f60718293a"))
SALE_ID = uuid7(SOLD_MS, bytes.fromhex("5f4e3d2c1b0a99887766"))
CARD = "8800000000012345"
HOLD_ID = f"{SALE_ID}-{CARD}"  # node.checkout names a hold after its sale and card

# Two oolong teas at 68.00 (cost 39.00 each) and a ceramic cup at 25.00 (cost 11.00),
# 100.00 from the card held online at HQ and 65.00 in cash: 161.00, change 4.00, 161 points.
SALE_LINES = [
    {
        "sku": "TEA-OOLONG-250",
        "qty": 2,
        "unit_price_fen": 6_800,
        "amount_fen": 13_600,
        "cost_fen": 7_800,
        "gross_profit_fen": 5_800,
    },
    {
        "sku": "CUP-CERAMIC",
        "qty": 1,
        "unit_price_fen": 2_500,
        "amount_fen": 2_500,
        "cost_fen": 1_100,
        "gross_profit_fen": 1_400,
    },
]
STORED_VALUE_FEN = 10_000
CASH_FEN = 6_500
TOTAL_FEN = 16_100
POINTS_EARNED = 161

# (wall_ms, kind, entity_id, op, payload), in the order node/ records them: node.members
# register_job, node.cards top_up_job, then node.checkout's _pay, _earn_points and the sale.
BRANCH_ENTRIES: list[tuple[int, str, str, str, Any]] = [
    (
        REGISTERED_MS,
        "member",
        MEMBER_ID,
        "register",
        {
            "home_branch": BRANCH,
            "name": "李娜",
            "phone": "13912345678",
            "birthday": "1990-05-17",
            "cards": [CARD],
        },
    ),
    (
        TOPPED_UP_MS,
        "ledger",
        TOP_UP_ID,
        "entry",
        {"card_id": CARD, "ledger": "stored_value", "kind": "top_up", "amount": 50_000, "paid_by": "cash"},
    ),
    (
        SOLD_MS,
        "ledger",
        f"{SALE_ID}-t0",
        "entry",
        {
            "card_id": CARD,
            "ledger": "stored_value",
            "kind": "spend",
            "amount": -STORED_VALUE_FEN,
            "sale_id": SALE_ID,
            "mode": "online",
            "hold": HOLD_ID,
        },
    ),
    (
        SOLD_MS,
        "ledger",
        f"{SALE_ID}-pts",
        "entry",
        {"card_id": CARD, "ledger": "points", "kind": "earn", "amount": POINTS_EARNED, "sale_id": SALE_ID},
    ),
    (
        SOLD_MS,
        "sale",
        SALE_ID,
        "checkout",
        {
            "member_id": MEMBER_ID,
            "warehouse": WAREHOUSE,
            "lines": SALE_LINES,
            "tenders": [
                {
                    "kind": "stored_value",
                    "amount_fen": STORED_VALUE_FEN,
                    "card": CARD,
                    "mode": "online",
                    "hold": HOLD_ID,
                },
                {"kind": "cash", "amount_fen": CASH_FEN},
            ],
            "total_fen": TOTAL_FEN,
            "change_fen": STORED_VALUE_FEN + CASH_FEN - TOTAL_FEN,
            "points_earned": POINTS_EARNED,
            "at_ms": SOLD_MS,
            "moves": [
                {
                    "warehouse": WAREHOUSE,
                    "sku": "TEA-OOLONG-250",
                    "qty": -2,
                    "cost_fen": -7_800,
                    "cause": "sale",
                },
                {
                    "warehouse": WAREHOUSE,
                    "sku": "CUP-CERAMIC",
                    "qty": -1,
                    "cost_fen": -1_100,
                    "cause": "sale",
                },
            ],
        },
    ),
]
# The node pushed its log twice: after the top-up, and after the checkout's group commit.
BRANCH_PUSHES = ((1, 2), (3, 5))

# -- HQ's feed for BR01 -----------------------------------------------------------------------

HQ_KEY_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
FEED_ORIGIN = f"hq:{BRANCH}"
ENROLLED_MS = 1_718_006_400_000  # 08:00:00.000: the snapshot a new branch's feed starts with
FORWARDED_MS = 1_718_012_000_000  # 09:33:20.000: a member registered at BR02 reaches HQ
BR02_MEMBER_ID = uuid7(1_718_011_999_870, bytes.fromhex("0f1e2d3c4b5a69788796"))
BR02_REGISTERED_HLC = hlc.pack(1_718_011_999_870, 0)

# (hlc, kind, entity_id, op, payload) as hq/storage/sqlite.py appends them.
FEED_ENTRIES: list[tuple[int, str, str, str, Any]] = [
    (
        hlc.pack(ENROLLED_MS, 0),
        "warehouse",
        WAREHOUSE,
        "upsert",
        {"code": WAREHOUSE, "name": "BR01 main warehouse", "branch": BRANCH, "active": True},
    ),
    (
        hlc.pack(ENROLLED_MS, 1),
        "product",
        "TEA-OOLONG-250",
        "upsert",
        {
            "sku": "TEA-OOLONG-250",
            "name": "Oolong tea 250 g / 乌龙茶",
            "price_fen": 6_800,
            "unit": "box",
            "active": True,
            "category": None,
            "spec": None,
            "model": None,
            "colour": None,
            "lower_limit": None,
            "upper_limit": None,
            "purchase_price_fen": 3_900,
            "discount_mode": "none",
            "discount_rate": 100,
            "costing_method": "moving_average",
            "specified_cost_fen": None,
            "supplier": None,
        },
    ),
    (
        hlc.pack(FORWARDED_MS, 0),
        "directory",
        f"registration:{BR02_MEMBER_ID}",
        "record",
        {
            "type": "registration",
            "record": [BR02_MEMBER_ID, "13700001111", ["8800000000067890"], BR02_REGISTERED_HLC, "BR02"],
        },
    ),
]
FEED_AVAILABLE_SEQ = 3

# BR01's next long-poll of its feed, signed as node/replicator.py signs it.
REQUEST_METHOD = "GET"
REQUEST_PATH = "/api/feed?after=3&wait_s=20"
REQUEST_MS = 1_718_015_462_250  # 10:31:02.250

# One value through every encoding rule of docs/log-format.md: each integer width at its
# edges, str and bin (a str's length counts UTF-8 bytes), and map keys ordered by code point
# (U+FF01 before U+1F600, which UTF-16 order would reverse).
CANONICAL_VALUE: dict[str, Any] = {
    "ints": [
        *(0, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**64 - 1),
        *(-1, -32, -33, -128, -129, -32_768, -32_769, -(2**31), -(2**31) - 1, -(2**63)),
    ],
    "text": ["", "BR01", "乌龙茶", "a" * 31, "景德镇手工青花瓷茶杯套装", "茶" * 86],
    "bytes": [b"", GENESIS_HASH, bytes(range(256))],
    "keys": {"😀": 1, "！": 2, "é": 3, "ab": 4, "a": 5, "Z": 6, "B": 7},
    "flags": [None, True, False],
    "nested": [[], {}, [[1, "一"]], {"z": {"y": []}}],
}


def chain(origin: str, rows: list[tuple[int, str, str, str, Any]]) -> list[Entry]:
    """Encode `rows` (hlc, kind, entity_id, op, payload) as `origin`'s log from genesis."""
    entries: list[Entry] = []
    prev_hash = GENESIS_HASH
    for seq, (clock, kind, entity_id, op, payload) in enumerate(rows, start=1):
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
        entries.append(entry)
        prev_hash = entry.hash
    return entries


def build_entries() -> list[Entry]:
    return chain(ORIGIN, ENTRIES)


def build_branch_entries() -> list[Entry]:
    """BR01's five entries; the node's clock ticks within the checkout's millisecond."""
    clock = hlc.HybridLogicalClock()
    rows = [
        (clock.tick(wall_ms), kind, entity_id, op, payload)
        for wall_ms, kind, entity_id, op, payload in BRANCH_ENTRIES
    ]
    return chain(BRANCH, rows)


def build_feed_entries() -> list[Entry]:
    return chain(FEED_ORIGIN, FEED_ENTRIES)


def build_vectors() -> dict[str, bytes]:
    """File name in vectors/ -> the bytes it holds (as one line of lowercase hex)."""
    key = Ed25519PrivateKey.from_private_bytes(NODE_KEY_SEED)
    entries = build_entries()
    batch = sign_batch(key, ORIGIN, entries)
    vectors = {
        "node_public_key.hex": public_key_bytes(key),
        **{f"entry_{entry.seq}.hex": entry.raw for entry in entries},
        "head_signing_bytes.hex": batch.head.signing_bytes(),
        "batch_signature.hex": batch.signature,
        "push_request.hex": messages.encode(messages.PushRequest(batch, REPORTED_BACKLOG)),
    }
    vectors.update(_branch_vectors())
    vectors.update(_feed_vectors())
    vectors["canonical_value.hex"] = codec.pack(CANONICAL_VALUE)
    return vectors


def _branch_vectors() -> dict[str, bytes]:
    key = Ed25519PrivateKey.from_private_bytes(BRANCH_KEY_SEED)
    entries = build_branch_entries()
    vectors = {"br01_public_key.hex": public_key_bytes(key)}
    vectors.update({f"br01_entry_{entry.seq}.hex": entry.raw for entry in entries})
    for number, (first, last) in enumerate(BRANCH_PUSHES, start=1):
        batch = sign_batch(key, BRANCH, entries[first - 1 : last])
        vectors[f"br01_head_{last}_signing_bytes.hex"] = batch.head.signing_bytes()
        vectors[f"br01_head_{last}_signature.hex"] = batch.signature
        vectors[f"br01_push_{number}.hex"] = messages.encode(messages.PushRequest(batch, 0))
    vectors["request_signing_bytes.hex"] = request_signing_bytes(
        BRANCH, REQUEST_METHOD, REQUEST_PATH, REQUEST_MS
    )
    vectors["request_signature.hex"] = sign_request(key, BRANCH, REQUEST_METHOD, REQUEST_PATH, REQUEST_MS)
    return vectors


def _feed_vectors() -> dict[str, bytes]:
    key = Ed25519PrivateKey.from_private_bytes(HQ_KEY_SEED)
    entries = build_feed_entries()
    page = sign_batch(key, FEED_ORIGIN, entries)
    return {
        "hq_public_key.hex": public_key_bytes(key),
        **{f"hq_feed_entry_{entry.seq}.hex": entry.raw for entry in entries},
        "hq_feed_head_signing_bytes.hex": page.head.signing_bytes(),
        "hq_feed_signature.hex": page.signature,
        "hq_feed_page.hex": messages.encode(messages.FeedPage(FEED_ORIGIN, page, FEED_AVAILABLE_SEQ)),
    }


def read_vector(name: str) -> bytes:
    return bytes.fromhex((VECTORS_DIR / name).read_text(encoding="ascii"))


def main() -> None:
    VECTORS_DIR.mkdir(exist_ok=True)
    for name, data in build_vectors().items():
        (VECTORS_DIR / name).write_text(data.hex() + "\n", encoding="ascii")
        print(f"wrote {VECTORS_DIR / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
