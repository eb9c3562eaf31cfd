"""Shared ground for the protocol tests: fixed keys, Hypothesis strategies and chain builders.

Keys are fixed (RFC 8032 section 7.1, tests 1 and 2) so every failure replays exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from protocol import hlc
from protocol.batch import SignedBatch, sign_batch
from protocol.codec import Value
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.limits import MAX_NAME_CHARS
from protocol.signing import public_key_bytes

# Enough examples to find a one-in-a-hundred case, few enough to keep the package under 20 s.
# A schema with a rule across its fields (a ledger entry's kind must be one of its
# ledger's, its amount of that kind's sign) is drawn by filtering its fields' values
# through the rule, which keeps about one draw in eight: enough to test with, and by
# chance often few enough at the start to trip Hypothesis's filtering health check.
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])

NODE_KEY = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
)
NODE_PUBLIC_KEY = public_key_bytes(NODE_KEY)
OTHER_PUBLIC_KEY = public_key_bytes(OTHER_KEY)

# 2023-11-14 22:13:20 UTC, a round figure to read hybrid timestamps against.
EPOCH_MS = 1_700_000_000_000

INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1

names = st.text(min_size=1, max_size=MAX_NAME_CHARS)
branch_codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", fullmatch=True)
# msgpack carries integers from -2**63 to 2**64 - 1.
wire_ints = st.integers(INT64_MIN, UINT64_MAX)
scalars: st.SearchStrategy[Value] = (
    st.none() | st.booleans() | wire_ints | st.text(max_size=16) | st.binary(max_size=16)
)
payloads: st.SearchStrategy[Value] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
small_payloads: st.SearchStrategy[Value] = st.fixed_dictionaries(
    {"amount_fen": st.integers(0, 10_000_000), "sku": st.text(max_size=8)}
)


def same_value(left: Any, right: Any) -> bool:
    """Equal, and of the same types all the way down (Python says True == 1; the wire does not)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return set(left) == set(right) and all(same_value(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same_value(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def make_chain(
    origin: str,
    payload_list: Sequence[Value],
    *,
    first_seq: int = 1,
    prev_hash: bytes = GENESIS_HASH,
) -> list[Entry]:
    """Entries of one origin, each linked to the previous one's hash, one millisecond apart."""
    entries: list[Entry] = []
    for offset, payload in enumerate(payload_list):
        seq = first_seq + offset
        entry = encode_entry(
            origin=origin,
            seq=seq,
            hlc=hlc.pack(EPOCH_MS + seq),
            prev_hash=prev_hash,
            kind="sale",
            entity_id=f"s-{seq:06d}",
            op="checkout",
            payload=payload,
        )
        entries.append(entry)
        prev_hash = entry.hash
    return entries


@st.composite
def signed_batches(draw: st.DrawFn, *, max_entries: int = 30) -> SignedBatch:
    """A chain of 1..max_entries entries from genesis, signed with NODE_KEY."""
    origin = draw(branch_codes)
    entry_payloads = draw(st.lists(small_payloads, min_size=1, max_size=max_entries))
    return sign_batch(NODE_KEY, origin, make_chain(origin, entry_payloads))


def flip_bit(data: bytes, bit: int) -> bytes:
    """`data` with bit number `bit` inverted (bit 0 is the lowest bit of the first byte)."""
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)
