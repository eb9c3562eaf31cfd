"""Checking every chain HQ keeps (FEATURES S3), for `branchline hq audit verify`:
HQ's operation log (hq.operation_log), each branch's change log as HQ holds it, and
each branch's feed as HQ wrote it.

A branch's log holds if every entry's stored bytes give its stored hash, decode as an
entry of that branch with the next sequence, and link to the entry before, and the
newest head the branch signed that HQ kept is over the hash HQ holds at that
sequence, signed with the branch's enrolled key. A feed holds likewise, without a
signature (HQ signs a page's head when it serves it). The first break is named:
which chain, which row, what is wrong.

Pure: rows in, findings out; the store reads the rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from protocol.entry import GENESIS_HASH, decode_entry
from protocol.errors import ProtocolError
from protocol.signing import Head, verify_head


@dataclass
class AuditReport:
    checked: dict[str, int] = field(default_factory=dict)  # chain -> rows checked
    heads: dict[str, str] = field(default_factory=dict)  # chain -> "seq:hash" of its newest row
    breaks: list[str] = field(default_factory=list)  # the first break of each chain that has one

    @property
    def holds(self) -> bool:
        return not self.breaks


def first_break_in_log(
    origin: str,
    rows: Iterable[tuple[int, bytes, bytes]],
    signed_head: tuple[int, bytes, bytes] | None = None,
    public_key: bytes | None = None,
) -> tuple[str | None, int, str]:
    """(the first break or None, rows checked, the newest "seq:hash") of one origin's
    log; `rows` are (seq, stored hash, stored bytes) in seq order."""
    expected, previous, count = 1, GENESIS_HASH, 0
    hashes: dict[int, bytes] = {}
    for seq, stored_hash, raw in rows:
        count += 1
        where = f"{origin} entry {seq}"
        if seq != expected:
            return f"{origin} entry {expected} is missing (the next stored is {seq})", count, ""
        if hashlib.sha256(raw).digest() != stored_hash:
            return f"{where} was altered: its bytes do not give its hash", count, ""
        try:
            entry = decode_entry(raw)
        except ProtocolError as refused:
            return f"{where} was altered: it no longer reads as an entry ({refused})", count, ""
        if entry.origin != origin or entry.seq != seq:
            return f"{where} was altered: it says it is {entry.origin} entry {entry.seq}", count, ""
        if entry.prev_hash != previous:
            return f"{where} does not link to the entry before it: a row before it was changed", count, ""
        if signed_head is not None and signed_head[0] == seq:
            hashes[seq] = stored_hash
        expected, previous = seq + 1, stored_hash
    if signed_head is not None and public_key is not None:
        head_seq, head_hash, signature = signed_head
        if hashes.get(head_seq, head_hash) != head_hash:
            return f"{origin} entry {head_seq} differs from the head the branch signed", count, ""
        try:
            verify_head(public_key, Head(origin, head_seq, head_hash), signature)
        except ProtocolError:
            return f"{origin}'s signed head at {head_seq} does not verify with the branch's key", count, ""
    return None, count, f"{expected - 1}:{previous.hex()}"
