"""HQ's decision on an incoming batch, sans-IO: what it already holds, what is new,
and whether the batch leaves a gap or forks the log.

Rules, in order:
1. The batch is verified before it gets here (`protocol.batch.verify_batch`):
   one origin, consecutive sequences, each entry linked to the one before, the
   head signed. What is left is the batch against what the receiver holds:
   `acked_seq`, the highest sequence it holds (contiguous from 1), and
   `head_hash`, the hash of that entry (GENESIS_HASH when it holds none).
2. A batch that starts after acked_seq + 1 leaves a gap: nothing of it is
   stored, and the sender resends from acked_seq + 1.
3. Entries at or below acked_seq are known. Each must be byte-identical to the
   entry held under its sequence, and then counts as a duplicate. A known entry
   that differs is a fork at its sequence: the origin signed two histories, and
   both entries are the evidence.
4. Entries above acked_seq are new. The first must link to head_hash; because
   the batch is linked within itself, that one check shows the whole batch
   extends the held log. If it does not link, the origin signed a history whose
   entry acked_seq differs from the one held: a fork at acked_seq (with no held
   bytes when acked_seq is 0).
5. Otherwise the batch is either all held (a resend: nothing to store) or brings
   new entries to store, with how many of it were duplicates.

Entries are compared as the bytes received and stored, never a re-encoding. The
receiver reads the held bytes the decision needs (`held_range`) inside its own
transaction and passes them in, so every storage backend decides alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from protocol.entry import Entry
from protocol.errors import InvariantBroken, SequenceGap, require


@dataclass(frozen=True, slots=True)
class AllHeld:
    """Every entry of the batch is held already, byte for byte: acknowledge, store nothing."""

    duplicates: int


@dataclass(frozen=True, slots=True)
class NewEntries:
    """Entries to store, in order, extending the held log; `duplicates` came before them."""

    entries: tuple[Entry, ...]
    duplicates: int


@dataclass(frozen=True, slots=True)
class Gap:
    """The batch starts past the next sequence; nothing is stored."""

    expected_seq: int
    first_seq: int

    def refusal(self, origin: str) -> SequenceGap:
        return SequenceGap(
            f"HQ holds {origin} up to {self.expected_seq - 1}; the batch starts at {self.first_seq}",
            expected_seq=self.expected_seq,
        )


@dataclass(frozen=True, slots=True)
class Fork:
    """Two signed histories under one origin: the entry held under `seq` and the one offered."""

    seq: int
    held: bytes  # empty when the fork is at sequence 0 (an entry 1 not linking to genesis)
    offered: bytes


Decision = AllHeld | NewEntries | Gap | Fork


def held_range(first_seq: int, last_seq: int, acked_seq: int) -> range:
    """The sequences whose held bytes `decide` needs for a batch first_seq..last_seq:
    the known ones, and entry acked_seq when the batch brings new entries (the
    evidence if they do not link). Empty for a gap or when nothing is held."""
    if first_seq > acked_seq + 1:
        return range(0)
    return range(max(1, min(first_seq, acked_seq)), min(last_seq, acked_seq) + 1)


def decide(
    entries: Sequence[Entry], *, acked_seq: int, head_hash: bytes, held: Mapping[int, bytes]
) -> Decision:
    """Rules 2 to 5 for a verified batch; `held` maps at least `held_range`'s sequences
    to the bytes stored under them."""
    require(bool(entries), "a verified batch holds at least one entry")
    first_seq = entries[0].seq
    require(
        entries[-1].seq == first_seq + len(entries) - 1,
        "a verified batch's sequences are consecutive",
    )
    if first_seq > acked_seq + 1:
        return Gap(acked_seq + 1, first_seq)
    known = max(0, min(len(entries), acked_seq - first_seq + 1))
    for entry in entries[:known]:
        held_raw = _held(held, entry.seq)
        if held_raw != entry.raw:
            return Fork(entry.seq, held_raw, entry.raw)
    if known == len(entries):
        return AllHeld(known)
    fresh = tuple(entries[known:])
    if fresh[0].prev_hash != head_hash:
        return Fork(acked_seq, _held(held, acked_seq) if acked_seq else b"", fresh[0].raw)
    return NewEntries(fresh, known)


def _held(held: Mapping[int, bytes], seq: int) -> bytes:
    raw = held.get(seq)
    if raw is None:
        raise InvariantBroken(f"the receiver holds entry {seq}: every sequence up to acked_seq is stored")
    return raw
