"""HQ's operation log (FEATURES S3): every change made at HQ, with who, when and from
where, hash-chained and signed, so an edit or a deletion is found.

Rules:
1. Each change at HQ (operators, master data, conflict resolutions, enrollment tokens)
   appends one operation in the same transaction as the change: the change and its
   record commit together or not at all.
2. Operation `seq` counts 1, 2, 3, ... without gaps; each carries the SHA-256 of the
   one before it (32 zero bytes for the first), and its own hash is SHA-256 over the
   canonical msgpack of [1, seq, at_ms, actor_id, actor, address, action, subject,
   detail, prev_hash], the `detail` a map of text keys.
3. Each hash is signed with HQ's Ed25519 key: rewriting the chain after an edit would
   need the key too, not only write access to the database.
4. `first_break` walks the stored rows and names the first that does not hold: a
   field edited (its hash no longer matches), a row deleted (a gap, or a broken
   link), or a signature not HQ's. Deleting the newest rows leaves a shorter chain
   that still holds; `branchline hq audit verify` prints the head it checked, so a
   head noted earlier (a printed report, a backup) shows a truncation.

Pure: rows in, bytes and verdicts out; the store writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol import codec

OPERATION_FORMAT = 1
GENESIS = bytes(32)
SIGNING_CONTEXT = "branchline-operation-v1"  # HQ's key signs feeds too: never the same bytes
MAX_DETAIL_BYTES = 4096  # a summary of the change, not the change itself


@dataclass(frozen=True)
class Doer:
    """Who made a change and from where: an operator's session at an address, or a
    command run on HQ's machine (`actor_id` empty)."""

    actor_id: str
    actor: str
    address: str


@dataclass(frozen=True)
class Operation:
    doer: Doer
    at_ms: int
    action: str  # "operator.add", "master.upsert", "conflict.resolve", ...
    subject: str  # what it acted on: a login, a kind of master data, a conflict id
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedOperation:
    seq: int
    at_ms: int
    actor_id: str
    actor: str
    address: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev_hash: bytes
    hash: bytes
    signature: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at_ms": self.at_ms,
            "actor_id": self.actor_id,
            "actor": self.actor,
            "address": self.address,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
            "hash": self.hash.hex(),
        }


def operation_bytes(
    seq: int, at_ms: int, actor_id: str, actor: str, address: str, action: str, subject: str,
    detail: dict[str, Any], prev_hash: bytes,
) -> bytes:  # fmt: skip
    return codec.pack_canonical(
        codec.canonical(
            [OPERATION_FORMAT, seq, at_ms, actor_id, actor, address, action, subject, detail, prev_hash]
        )
    )


def signing_bytes(digest: bytes) -> bytes:
    return codec.pack([SIGNING_CONTEXT, digest])


def chained(
    previous: tuple[int, bytes] | None, operation: Operation, sign: Callable[[bytes], bytes]
) -> LoggedOperation:
    """The operation as the next row after `previous` (its seq and hash), signed (rules 2, 3)."""
    detail = json.loads(json.dumps(operation.detail))  # plain JSON values, as stored
    if len(json.dumps(detail)) > MAX_DETAIL_BYTES:
        raise ValueError(f"an operation's detail is at most {MAX_DETAIL_BYTES} bytes of JSON")
    seq, prev_hash = (1, GENESIS) if previous is None else (previous[0] + 1, previous[1])
    doer, at_ms = operation.doer, operation.at_ms
    raw = operation_bytes(
        seq,
        at_ms,
        doer.actor_id,
        doer.actor,
        doer.address,
        operation.action,
        operation.subject,
        detail,
        prev_hash,
    )
    digest = hashlib.sha256(raw).digest()
    return LoggedOperation(
        seq, at_ms, doer.actor_id, doer.actor, doer.address, operation.action, operation.subject, detail,
        prev_hash, digest, sign(signing_bytes(digest)),
    )  # fmt: skip


def first_break(rows: Iterable[LoggedOperation], signed_by_hq: Callable[[bytes, bytes], bool]) -> str | None:
    """The first row where the chain does not hold, said as a person reads it; None if
    every row holds (rule 4). `rows` in seq order, as stored; `signed_by_hq(message,
    signature)` checks a signature with HQ's public key."""
    expected_seq, prev_hash = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            return f"operation {expected_seq} is missing (the next stored is {row.seq}): a row was deleted"
        raw = operation_bytes(
            row.seq, row.at_ms, row.actor_id, row.actor, row.address, row.action, row.subject, row.detail,
            row.prev_hash,
        )  # fmt: skip
        if hashlib.sha256(raw).digest() != row.hash:
            what = f"{row.action} {row.subject}"[:80]
            return f"operation {row.seq} ({what}) was altered: its fields do not give its hash"
        if row.prev_hash != prev_hash:
            return f"operation {row.seq} does not follow operation {row.seq - 1}: a row before it was changed"
        if not signed_by_hq(signing_bytes(row.hash), row.signature):
            return f"operation {row.seq} is not signed by HQ's key: it was rewritten"
        expected_seq, prev_hash = row.seq + 1, row.hash
    return None
