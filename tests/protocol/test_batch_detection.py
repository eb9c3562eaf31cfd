"""Signed batches: one signature over the head vouches for the chain, so any tampering is refused.

Receiving a batch means: decode every entry's raw bytes, then `verify_batch` with the origin's
pinned key. Every change to those bytes, to their order, to their number or to the signature
must end in a ProtocolError, never in silent acceptance.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.batch import SignedBatch, sign_batch, verify_batch
from protocol.entry import GENESIS_HASH, check_chain, decode_entry
from protocol.errors import BadSignature, ChainBroken, MalformedMessage, MessageTooLarge, ProtocolError
from protocol.limits import MAX_BATCH_ENTRIES
from tests.protocol.strategies import (
    FEW,
    NODE_KEY,
    NODE_PUBLIC_KEY,
    OTHER_KEY,
    OTHER_PUBLIC_KEY,
    PROPERTY,
    flip_bit,
    make_chain,
    signed_batches,
)


def receive(origin: str, raws: list[bytes], signature: bytes) -> SignedBatch:
    """What a receiver does with a batch off the wire; raises a ProtocolError if it must refuse it."""
    batch = SignedBatch(origin, tuple(decode_entry(raw) for raw in raws), signature)
    verify_batch(batch, NODE_PUBLIC_KEY)
    return batch


def raws_of(batch: SignedBatch) -> list[bytes]:
    return [entry.raw for entry in batch.entries]


def three_sales() -> SignedBatch:
    entries = make_chain("B01", [{"amount_fen": 1800}, {"amount_fen": 3600}, {"amount_fen": 500}])
    return sign_batch(NODE_KEY, "B01", entries)


# -- worked examples ------------------------------------------------------------------------------


def test_a_batch_signed_by_its_origin_verifies_and_its_head_is_the_last_entry() -> None:
    batch = three_sales()
    verify_batch(batch, NODE_PUBLIC_KEY)
    assert (batch.first_seq, batch.last_seq) == (1, 3)
    assert batch.head.origin == "B01"
    assert batch.head.seq == 3
    assert batch.head.hash == batch.entries[2].hash


def test_every_single_bit_flipped_in_any_entry_of_a_three_entry_batch_is_refused() -> None:
    batch = three_sales()
    for index, entry in enumerate(batch.entries):
        for bit in range(len(entry.raw) * 8):
            raws = raws_of(batch)
            raws[index] = flip_bit(entry.raw, bit)
            with pytest.raises(ProtocolError):
                receive("B01", raws, batch.signature)


def test_every_single_bit_flipped_in_the_signature_is_refused_as_bad_signature() -> None:
    batch = three_sales()
    for bit in range(len(batch.signature) * 8):
        with pytest.raises(BadSignature):
            receive("B01", raws_of(batch), flip_bit(batch.signature, bit))


def test_a_batch_of_another_origins_entries_is_broken() -> None:
    batch = three_sales()
    with pytest.raises(ChainBroken, match="belongs to 'B01'"):
        verify_batch(SignedBatch("B02", batch.entries, batch.signature), NODE_PUBLIC_KEY)


def test_an_empty_batch_cannot_be_signed_or_verified() -> None:
    with pytest.raises(MalformedMessage, match="at least one entry"):
        sign_batch(NODE_KEY, "B01", [])
    with pytest.raises(MalformedMessage, match="at least one entry"):
        verify_batch(SignedBatch("B01", (), bytes(64)), NODE_PUBLIC_KEY)


def test_a_batch_holds_at_most_500_entries() -> None:
    entries = make_chain("B01", [{"amount_fen": n} for n in range(MAX_BATCH_ENTRIES + 1)])
    verify_batch(sign_batch(NODE_KEY, "B01", entries[:MAX_BATCH_ENTRIES]), NODE_PUBLIC_KEY)
    with pytest.raises(MessageTooLarge, match="500"):
        sign_batch(NODE_KEY, "B01", entries)
    with pytest.raises(MessageTooLarge, match="500"):
        verify_batch(SignedBatch("B01", tuple(entries), bytes(64)), NODE_PUBLIC_KEY)


# -- properties over chains of 1 to 30 entries ------------------------------------------------------


@PROPERTY
@given(batch=signed_batches())
def test_a_signed_chain_from_genesis_verifies_with_the_origins_key(batch: SignedBatch) -> None:
    verify_batch(batch, NODE_PUBLIC_KEY)
    check_chain(list(batch.entries), origin=batch.origin, prev_hash=GENESIS_HASH)
    assert receive(batch.origin, raws_of(batch), batch.signature) == batch


@PROPERTY
@given(batch=signed_batches(), data=st.data())
def test_any_single_flipped_bit_in_any_entry_is_refused(batch: SignedBatch, data: st.DataObject) -> None:
    verify_batch(batch, NODE_PUBLIC_KEY)
    index = data.draw(st.integers(0, len(batch.entries) - 1), label="entry")
    raw = batch.entries[index].raw
    bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
    raws = raws_of(batch)
    raws[index] = flip_bit(raw, bit)
    with pytest.raises(ProtocolError):
        receive(batch.origin, raws, batch.signature)


@PROPERTY
@given(batch=signed_batches(), bit=st.integers(0, 64 * 8 - 1))
def test_any_single_flipped_bit_in_the_signature_is_refused(batch: SignedBatch, bit: int) -> None:
    with pytest.raises(BadSignature):
        receive(batch.origin, raws_of(batch), flip_bit(batch.signature, bit))


@PROPERTY
@given(batch=signed_batches().filter(lambda b: len(b.entries) >= 2), data=st.data())
def test_reordering_two_entries_is_refused_as_a_broken_chain(batch: SignedBatch, data: st.DataObject) -> None:
    last = len(batch.entries) - 1
    first_index = data.draw(st.integers(0, last - 1), label="first")
    second_index = data.draw(st.integers(first_index + 1, last), label="second")
    raws = raws_of(batch)
    raws[first_index], raws[second_index] = raws[second_index], raws[first_index]
    with pytest.raises(ChainBroken):
        receive(batch.origin, raws, batch.signature)


@PROPERTY
@given(batch=signed_batches().filter(lambda b: len(b.entries) >= 3), data=st.data())
def test_dropping_a_middle_entry_is_refused_as_a_broken_chain(
    batch: SignedBatch, data: st.DataObject
) -> None:
    index = data.draw(st.integers(1, len(batch.entries) - 2), label="dropped")
    raws = raws_of(batch)
    del raws[index]
    with pytest.raises(ChainBroken):
        receive(batch.origin, raws, batch.signature)


@PROPERTY
@given(batch=signed_batches().filter(lambda b: len(b.entries) >= 2))
def test_dropping_the_last_entry_changes_the_head_so_the_signature_fails(batch: SignedBatch) -> None:
    with pytest.raises(BadSignature):
        receive(batch.origin, raws_of(batch)[:-1], batch.signature)


@PROPERTY
@given(batch=signed_batches().filter(lambda b: len(b.entries) >= 2))
def test_dropping_the_first_entry_leaves_a_signed_sub_chain_that_no_longer_links_to_genesis(
    batch: SignedBatch,
) -> None:
    # The head and its signature are untouched, so the batch alone still verifies: continuity
    # with what the receiver holds is the receiver's check, with its stored hash.
    rest = receive(batch.origin, raws_of(batch)[1:], batch.signature)
    with pytest.raises(ChainBroken, match="known entry"):
        check_chain(list(rest.entries), origin=batch.origin, prev_hash=GENESIS_HASH)


@FEW
@given(batch=signed_batches())
def test_a_batch_re_signed_with_another_key_fails_with_the_origins_key(batch: SignedBatch) -> None:
    forged = sign_batch(OTHER_KEY, batch.origin, batch.entries)
    verify_batch(forged, OTHER_PUBLIC_KEY)
    with pytest.raises(BadSignature):
        verify_batch(forged, NODE_PUBLIC_KEY)
