"""Change-log entries: the canonical bytes, their hash and the chain that links them.

An entry is a msgpack array with a fixed field order:

    [1, origin, seq, hlc, prev_hash, kind, entity_id, op, payload]
    [2, origin, seq, hlc, prev_hash, kind, entity_id, op, payload, actor]

Format 2 adds who acted: the id of the operator whose session wrote the entry at a
till, or who authored it at HQ. An entry no operator wrote (a transfer booked as it
arrives, a feed snapshot) keeps format 1, so every entry of format 1 ever written
still reads and hashes as it did.

Each entry carries the SHA-256 of the previous entry of its origin, so one
signature over the newest entry's hash (the head) vouches for every entry
before it. Hashes are always taken over stored bytes, never a re-encoding.
The bytes are specified for outside verifiers in docs/log-format.md (section 3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

from protocol import codec
from protocol.errors import ChainBroken, MalformedMessage, MessageTooLarge, UnsupportedVersion
from protocol.limits import MAX_ENTRY_BYTES, MAX_NAME_CHARS

ENTRY_FORMAT = 1
ENTRY_FORMAT_WITH_ACTOR = 2
HASH_BYTES = 32
GENESIS_HASH = bytes(HASH_BYTES)  # prev_hash of an origin's first entry


def entry_hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


class Entry(NamedTuple):
    """One change, as decoded. `raw` is the exact bytes it was decoded from. A tuple:
    a node mints one per write and HQ decodes one per entry it ingests, and a tuple
    is built several times faster than a frozen dataclass of ten fields."""

    origin: str
    seq: int
    hlc: int
    prev_hash: bytes
    kind: str
    entity_id: str
    op: str
    payload: Any
    raw: bytes
    hash: bytes
    actor: str = ""  # the operator who wrote it; "" for none (format 1)


class KeptEntry(Entry):
    """An Entry whose payload its entry type's contract was found, as it was decoded, to
    keep whole: every key one the contract names, every value of the type it names
    (decode_entry with `kept`). protocol.contract.check_entry does not check it again."""

    __slots__ = ()


# Whether the payload of an entry of (kind, op) keeps its contract whole, every key
# named and typed (protocol.contract.registry.payload_kept).
PayloadKept = Callable[[str, str, Any], bool]


def encode_entry(
    *,
    origin: str,
    seq: int,
    hlc: int,
    prev_hash: bytes,
    kind: str,
    entity_id: str,
    op: str,
    payload: Any,
    payload_is_canonical: bool = False,
    actor: str = "",
) -> Entry:
    """Build an entry and its canonical bytes (the only place entries are encoded).
    `payload_is_canonical`: the caller has established that the payload's maps hold
    their keys in sorted order and nothing but msgpack's own types (the wire contract's
    generated check does, protocol.schema_source), so it is packed as it stands."""
    if not payload_is_canonical:
        payload = codec.canonical(payload)
    fields = [ENTRY_FORMAT, origin, seq, hlc, prev_hash, kind, entity_id, op, payload]
    if actor:
        fields[0] = ENTRY_FORMAT_WITH_ACTOR
        fields.append(actor)
    _check_fields(fields)
    raw = codec.pack_canonical(fields)
    if len(raw) > MAX_ENTRY_BYTES:
        raise MessageTooLarge(f"entry is {len(raw)} bytes; the limit is {MAX_ENTRY_BYTES}")
    return Entry(origin, seq, hlc, prev_hash, kind, entity_id, op, fields[8], raw, entry_hash(raw), actor)


def decode_entry(raw: bytes, kept: PayloadKept | None = None) -> Entry:
    """Decode and type-check one entry; refuse anything not exactly of the format.

    With `kept`, an entry whose envelope is exact and whose payload `kept` finds keeps
    its contract whole is decoded once, with no walk of its maps and lists: the
    contract's check has typed every value in them, so none can be a float or have a
    key that is not text. Any other entry is decoded and walked as without `kept`,
    which names its fault. Every entry of a push and of a feed page is decoded here,
    and the walk was a third of the time."""
    if len(raw) > MAX_ENTRY_BYTES:
        raise MessageTooLarge(f"entry is {len(raw)} bytes; the limit is {MAX_ENTRY_BYTES}")
    raw = bytes(raw)
    if kept is not None:
        fields = codec.unpack_unwalked(raw)
        if type(fields) is list and _exact_envelope(fields) and kept(fields[5], fields[7], fields[8]):
            _, origin, seq, hlc, prev_hash, kind, entity_id, op, payload, *by = fields
            return KeptEntry(
                origin, seq, hlc, prev_hash, kind, entity_id, op, payload, raw, entry_hash(raw), *by
            )
    fields = codec.unpack(raw, max_bytes=MAX_ENTRY_BYTES)
    _check_fields(fields)
    _, origin, seq, hlc, prev_hash, kind, entity_id, op, payload, *by = fields
    return Entry(origin, seq, hlc, prev_hash, kind, entity_id, op, payload, raw, entry_hash(raw), *by)


def _exact_envelope(fields: list[Any]) -> bool:
    """Every field but the payload of the format and within its bounds, told in one go."""
    if len(fields) == 9:
        fmt = fields[0]
    elif len(fields) == 10 and fields[0] == ENTRY_FORMAT_WITH_ACTOR:
        actor = fields[9]
        if type(actor) is not str or not 0 < len(actor) <= MAX_NAME_CHARS:
            return False
        fmt = ENTRY_FORMAT
    else:
        return False
    _, origin, seq, hlc, prev_hash, kind, entity_id, op = fields[:8]
    return (
        type(fields[0]) is int
        and fmt == ENTRY_FORMAT
        and type(seq) is int
        and seq >= 1
        and type(hlc) is int
        and hlc >= 0
        and type(prev_hash) is bytes
        and len(prev_hash) == HASH_BYTES
        and type(origin) is str
        and type(kind) is str
        and type(entity_id) is str
        and type(op) is str
        and 0 < len(origin) <= MAX_NAME_CHARS
        and 0 < len(kind) <= MAX_NAME_CHARS
        and 0 < len(entity_id) <= MAX_NAME_CHARS
        and 0 < len(op) <= MAX_NAME_CHARS
    )


def _check_fields(fields: Any) -> None:
    # Every entry minted or read passes here: the common case is tested in one go,
    # and only an entry failing it is taken apart field by field to name the fault.
    if type(fields) is list and _exact_envelope(fields):
        return
    if not isinstance(fields, list) or len(fields) not in (9, 10):
        raise MalformedMessage("an entry is a msgpack array of 9 fields (format 1) or 10 (format 2)")
    fmt, origin, seq, hlc, prev_hash, kind, entity_id, op = fields[:8]
    if len(fields) == 10:
        if fmt != ENTRY_FORMAT_WITH_ACTOR or type(fmt) is not int:
            raise UnsupportedVersion(f"a 10-field entry is format {ENTRY_FORMAT_WITH_ACTOR}, not {fmt!r}")
        codec.check_name(fields[9], "actor")
        fmt = ENTRY_FORMAT
    if fmt != ENTRY_FORMAT or isinstance(fmt, bool):
        raise UnsupportedVersion(f"entry format {fmt!r}; this build reads {ENTRY_FORMAT}")
    codec.check_name(origin, "origin")
    codec.check_name(kind, "kind")
    codec.check_name(entity_id, "entity_id")
    codec.check_name(op, "op")
    if not codec.is_int(seq) or seq < 1:
        raise MalformedMessage("seq must be an integer from 1")
    if not codec.is_int(hlc) or hlc < 0:
        raise MalformedMessage("hlc must be a non-negative integer")
    if not isinstance(prev_hash, bytes) or len(prev_hash) != HASH_BYTES:
        raise MalformedMessage("prev_hash must be 32 bytes")


def check_chain(entries: list[Entry], *, origin: str, prev_hash: bytes | None = None) -> None:
    """Entries are one origin's, consecutive and linked; the first links to `prev_hash` if given."""
    previous: Entry | None = None
    for entry in entries:
        if entry.origin != origin:
            raise ChainBroken(f"entry {entry.seq} belongs to {entry.origin!r}, not {origin!r}")
        if previous is not None:
            if entry.seq != previous.seq + 1:
                raise ChainBroken(f"entry {entry.seq} follows {previous.seq}; sequences skip")
            if entry.prev_hash != previous.hash:
                raise ChainBroken(f"entry {entry.seq} does not link to entry {previous.seq}")
        elif prev_hash is not None and entry.prev_hash != prev_hash:
            raise ChainBroken(f"entry {entry.seq} does not link to the known entry before it")
        previous = entry
