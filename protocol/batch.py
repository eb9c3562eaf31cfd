"""Signed batches: consecutive entries of one origin and a signature over their head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.entry import Entry, check_chain, decode_entry
from protocol.errors import MalformedMessage, MessageTooLarge
from protocol.limits import MAX_BATCH_ENTRIES
from protocol.signing import Head, sign_head, verify_head


@dataclass(frozen=True, slots=True)
class SignedBatch:
    origin: str
    entries: tuple[Entry, ...]
    signature: bytes

    @property
    def head(self) -> Head:
        last = self.entries[-1]
        return Head(self.origin, last.seq, last.hash)

    @property
    def first_seq(self) -> int:
        return self.entries[0].seq

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq


def sign_batch(key: Ed25519PrivateKey, origin: str, entries: Sequence[Entry]) -> SignedBatch:
    batch = SignedBatch(origin, tuple(entries), b"")
    _check_shape(batch)
    return SignedBatch(origin, batch.entries, sign_head(key, batch.head))


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A batch as its origin sends it from its own store: the entries' bytes as they
    were written, and the signature over their head. The sender minted and checked
    these entries when it wrote them, and the receiver decodes and checks every one
    (verify_batch), so the sender does not decode them again to send them: only the
    last, whose seq the head names."""

    origin: str
    raws: tuple[bytes, ...]
    head: Head
    signature: bytes


def sign_stored(key: Ed25519PrivateKey, origin: str, raws: Sequence[bytes]) -> StoredBatch:
    """Sign consecutive stored entries of `origin` (the caller reads them in seq order)."""
    if not raws:
        raise MalformedMessage("a batch holds at least one entry")
    if len(raws) > MAX_BATCH_ENTRIES:
        raise MessageTooLarge(f"batch holds {len(raws)} entries; the limit is {MAX_BATCH_ENTRIES}")
    last = decode_entry(raws[-1])
    if last.origin != origin:
        raise MalformedMessage(f"an entry of {last.origin!r} in a batch of {origin!r}")
    head = Head(origin, last.seq, last.hash)
    return StoredBatch(origin, tuple(raws), head, sign_head(key, head))


def verify_batch(batch: SignedBatch, public_key: bytes) -> None:
    """The entries form one unbroken chain and the origin signed its head.

    Continuity with what the receiver already holds is the receiver's check
    (it needs its stored hash); see `check_chain(..., prev_hash=...)`.
    """
    _check_shape(batch)
    check_chain(list(batch.entries), origin=batch.origin)
    verify_head(public_key, batch.head, batch.signature)


def _check_shape(batch: SignedBatch) -> None:
    if not batch.entries:
        raise MalformedMessage("a batch holds at least one entry")
    if len(batch.entries) > MAX_BATCH_ENTRIES:
        raise MessageTooLarge(f"batch holds {len(batch.entries)} entries; the limit is {MAX_BATCH_ENTRIES}")
