"""Known-answer vectors: the exact bytes of three entries, their signed head and a push request.

The files in vectors/ were written once by make_vectors.py. If a test here fails, the wire format
changed: if that was deliberate, bump the format version and regenerate; otherwise it is a bug.
"""

from __future__ import annotations

import hashlib

import pytest

from protocol import messages
from protocol.batch import SignedBatch, verify_batch
from protocol.entry import GENESIS_HASH, check_chain, decode_entry
from protocol.signing import Head, verify_head
from tests.protocol.make_vectors import VECTORS_DIR, build_vectors, read_vector

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
