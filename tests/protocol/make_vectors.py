"""Write the known-answer vectors of the wire format into tests/protocol/vectors/.

Run by hand, and only when the format changes on purpose (a new ENTRY_FORMAT, MESSAGE_VERSION
or HEAD_CONTEXT), from the repository root:

    python -m tests.protocol.make_vectors

then review the diff of tests/protocol/vectors/ and commit it with the format change. The test
suite never runs this script: `test_vectors.py` rebuilds the same values with `build_vectors()`
and compares them byte for byte with the checked-in files, so an accidental change to the
encoding fails a test instead of passing unnoticed. Ed25519 is deterministic, so the signature
is as stable as the bytes it signs.

The inputs: the RFC 8032 section 7.1 TEST 1 key, and branch B01's first three entries (a member
joins, tops up her card with 200.00 yuan, buys two teas at 18.00 with stored value).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import hlc, messages
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.signing import public_key_bytes

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


def build_entries() -> list[Entry]:
    entries: list[Entry] = []
    prev_hash = GENESIS_HASH
    for seq, (clock, kind, entity_id, op, payload) in enumerate(ENTRIES, start=1):
        entry = encode_entry(
            origin=ORIGIN,
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
    return vectors


def read_vector(name: str) -> bytes:
    return bytes.fromhex((VECTORS_DIR / name).read_text(encoding="ascii"))


def main() -> None:
    VECTORS_DIR.mkdir(exist_ok=True)
    for name, data in build_vectors().items():
        (VECTORS_DIR / name).write_text(data.hex() + "\n", encoding="ascii")
        print(f"wrote {VECTORS_DIR / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
