"""Messages between nodes and HQ: enroll, push, ack and feed pages.

Each message is a msgpack array `[type, version, ...fields]`. Entries travel as
their raw bytes inside the message, so the receiver hashes exactly what the
sender signed. Their framing is specified in docs/log-format.md (section 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol import codec
from protocol.batch import SignedBatch, StoredBatch
from protocol.contract.registry import payload_kept
from protocol.entry import decode_entry
from protocol.errors import MalformedMessage, MessageTooLarge, UnsupportedVersion
from protocol.limits import MAX_BATCH_ENTRIES
from protocol.signing import SIGNATURE_BYTES, check_public_key

MESSAGE_VERSION = 1
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    token: str
    branch: str
    node_public_key: bytes


@dataclass(frozen=True, slots=True)
class EnrollResponse:
    branch: str
    hq_public_key: bytes
    feed_origin: str


@dataclass(frozen=True, slots=True)
class PushRequest:
    batch: SignedBatch
    reported_backlog: int  # entries the node still holds unacknowledged, for HQ's status page
    # The node's signature over the backlog and the push's head (protocol.signing);
    # empty in a push of before it was signed, whose backlog HQ does not take.
    backlog_signature: bytes = b""


@dataclass(frozen=True, slots=True)
class PushAck:
    origin: str
    acked_seq: int  # highest sequence HQ holds durably, contiguous from 1
    applied: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class FeedPage:
    origin: str
    batch: SignedBatch | None  # None when nothing follows the cursor
    available_seq: int  # newest sequence in the feed, so the node knows more pages wait


Message = EnrollRequest | EnrollResponse | PushRequest | PushAck | FeedPage


def encode(message: Message) -> bytes:
    fields: list[Any]
    if isinstance(message, EnrollRequest):
        fields = ["enroll", message.token, message.branch, message.node_public_key]
    elif isinstance(message, EnrollResponse):
        fields = ["enrolled", message.branch, message.hq_public_key, message.feed_origin]
    elif isinstance(message, PushRequest):
        batch = message.batch
        raws = [entry.raw for entry in batch.entries]
        fields = ["push", batch.origin, raws, batch.signature, message.reported_backlog]
        if message.backlog_signature:
            fields.append(message.backlog_signature)
    elif isinstance(message, PushAck):
        fields = ["ack", message.origin, message.acked_seq, message.applied, message.duplicates]
    else:
        raws, signature = [], b""
        if message.batch is not None:
            raws = [entry.raw for entry in message.batch.entries]
            signature = message.batch.signature
        fields = ["feed", message.origin, raws, signature, message.available_seq]
    return _framed(fields)


def encode_push(batch: StoredBatch, reported_backlog: int, backlog_signature: bytes) -> bytes:
    """A PushRequest's bytes, built from the sender's stored entries (protocol.batch.sign_stored)."""
    return _framed(
        ["push", batch.origin, list(batch.raws), batch.signature, reported_backlog, backlog_signature]
    )


def _framed(fields: list[Any]) -> bytes:
    return codec.pack([fields[0], MESSAGE_VERSION, *fields[1:]])


def decode(data: bytes) -> Message:
    """Decode one message; anything malformed raises a ProtocolError naming the fault."""
    value = codec.unpack(data)
    if not isinstance(value, list) or len(value) < 2 or not isinstance(value[0], str):
        raise MalformedMessage("a message is an array starting with its type and version")
    kind, version, *fields = value
    if version != MESSAGE_VERSION or isinstance(version, bool):
        raise UnsupportedVersion(f"message version {version!r}; this build speaks 1")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise MalformedMessage(f"unknown message type {kind!r}")
    return decoder(fields)


def _enroll(fields: list[Any]) -> EnrollRequest:
    token, branch, key = _arity(fields, 3, "enroll")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise MalformedMessage("token must be a non-empty string")
    codec.check_branch_code(branch)
    return EnrollRequest(token, branch, check_public_key(key, "node_public_key"))


def _enrolled(fields: list[Any]) -> EnrollResponse:
    branch, key, feed_origin = _arity(fields, 3, "enrolled")
    codec.check_branch_code(branch)
    codec.check_name(feed_origin, "feed_origin")
    return EnrollResponse(branch, check_public_key(key, "hq_public_key"), feed_origin)


def _push(fields: list[Any]) -> PushRequest:
    backlog_signature = b""
    if len(fields) == 5:  # the backlog signed: the field after it
        *fields, backlog_signature = fields
        if not isinstance(backlog_signature, bytes) or len(backlog_signature) != SIGNATURE_BYTES:
            raise MalformedMessage(f"backlog_signature must be {SIGNATURE_BYTES} bytes")
    origin, raws, signature, backlog = _arity(fields, 4, "push")
    codec.check_name(origin, "origin")
    batch = _batch(origin, raws, signature)
    if batch is None:
        raise MalformedMessage("a push holds at least one entry")
    if not codec.is_int(backlog) or backlog < 0:
        raise MalformedMessage("reported_backlog must be a non-negative integer")
    return PushRequest(batch, backlog, backlog_signature)


def _ack(fields: list[Any]) -> PushAck:
    origin, acked, applied, duplicates = _arity(fields, 4, "ack")
    codec.check_name(origin, "origin")
    for name, number in (("acked_seq", acked), ("applied", applied), ("duplicates", duplicates)):
        if not codec.is_int(number) or number < 0:
            raise MalformedMessage(f"{name} must be a non-negative integer")
    return PushAck(origin, acked, applied, duplicates)


def _feed(fields: list[Any]) -> FeedPage:
    origin, raws, signature, available = _arity(fields, 4, "feed")
    codec.check_name(origin, "origin")
    if not codec.is_int(available) or available < 0:
        raise MalformedMessage("available_seq must be a non-negative integer")
    return FeedPage(origin, _batch(origin, raws, signature), available)


def _batch(origin: str, raws: Any, signature: Any) -> SignedBatch | None:
    if not isinstance(raws, list) or not all(isinstance(raw, bytes) for raw in raws):
        raise MalformedMessage("entries must be a list of byte strings")
    if len(raws) > MAX_BATCH_ENTRIES:
        raise MessageTooLarge(f"batch holds {len(raws)} entries; the limit is {MAX_BATCH_ENTRIES}")
    if not raws:
        if signature != b"":
            raise MalformedMessage("an empty page carries no signature")
        return None
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise MalformedMessage(f"signature must be {SIGNATURE_BYTES} bytes")
    return SignedBatch(origin, tuple(decode_entry(raw, payload_kept) for raw in raws), signature)


def _arity(fields: list[Any], count: int, kind: str) -> list[Any]:
    if len(fields) != count:
        raise MalformedMessage(f"a {kind} message has {count} fields, got {len(fields)}")
    return fields


_DECODERS: dict[str, Callable[[list[Any]], Message]] = {
    "enroll": _enroll,
    "enrolled": _enrolled,
    "push": _push,
    "ack": _ack,
    "feed": _feed,
}
