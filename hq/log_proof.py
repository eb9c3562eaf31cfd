"""Proving an entry of a branch's log HQ holds: the entries from it up to the first
signed head HQ kept at or after it, that head, and the branch's enrolled key.

Every push that stored new entries leaves its signed head as a checkpoint, so a
proof normally spans one push. Anyone holding the proof checks it with the
protocol's own functions: decode each entry, check the chain from the first to
the last, check that the last is the head, and verify the head's signature with
the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.limits import MAX_MESSAGE_BYTES

# A proof spans the entries of one push, at most a push body's worth. Entries stored
# before HQ kept every head (schema 4 and older) are proven by the one head kept
# then, over a longer stretch; sixteen pushes' worth still answers in one response.
MAX_PROOF_BYTES = 16 * MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class SignedHead:
    """A head a branch signed, as HQ received it with a push."""

    seq: int
    hash: bytes
    signature: bytes


@dataclass(frozen=True)
class LogProof:
    origin: str
    seq: int  # the entry proven, the first of `entries`
    entries: tuple[bytes, ...]  # stored bytes, from `seq` to `head.seq`
    head: SignedHead
    public_key: bytes  # the branch's enrolled key

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "seq": self.seq,
            "entries": [raw.hex() for raw in self.entries],
            "head": {
                "seq": self.head.seq,
                "hash": self.head.hash.hex(),
                "signature": self.head.signature.hex(),
            },
            "public_key": self.public_key.hex(),
        }
