"""Directory records as msgpack-ready payloads, and back, validated.

Two shapes travel. A branch's own write rides in its change log, where the
entry's signed hlc and origin are the record's stamp (`from_entry`), so a
branch cannot stamp a record as someone else's. HQ forwards records to the
other branches inside its feed, whose entries carry HQ's stamps, so there the
record carries its original stamp itself (`to_payload` / `from_payload`).
HQ's sightings (the order it first stored each registration in) travel only in
HQ's feed: no branch entry carries one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conflict.card_status import CardEvent
from conflict.directory import Directory
from conflict.duplicates import Registration, Separation, Sighting, separation
from conflict.errors import InvalidRecord
from conflict.ledger import LedgerEntry
from conflict.vouchers import Redemption
from protocol.contract import CARD_EVENT, LEDGER_ENTRY, MEMBER_REGISTER, VOUCHER_REDEEM

__all__ = [
    "ENTRY_KINDS",
    "DirectoryRecord",
    "from_entry",
    "from_payload",
    "record_id",
    "records_of",
    "to_payload",
]

DirectoryRecord = Registration | CardEvent | LedgerEntry | Redemption | Sighting | Separation

# The (kind, op) of the change-log entries that carry each record type, as the
# wire contract names them.
ENTRY_KINDS: Mapping[str, tuple[str, str]] = {
    record: (entry_type.kind, entry_type.op)
    for record, entry_type in (
        ("registration", MEMBER_REGISTER),
        ("card_event", CARD_EVENT),
        ("ledger", LEDGER_ENTRY),
        ("redemption", VOUCHER_REDEEM),
    )
}


def record_type(record: DirectoryRecord) -> str:
    if isinstance(record, Registration):
        return "registration"
    if isinstance(record, CardEvent):
        return "card_event"
    if isinstance(record, LedgerEntry):
        return "ledger"
    if isinstance(record, Redemption):
        return "redemption"
    if isinstance(record, Sighting):
        return "sighting"
    return "separation"


def record_id(record: DirectoryRecord) -> str:
    """The id a record is filed under (a separation's is its ordered pair)."""
    if isinstance(record, Registration):
        return record.member_id
    if isinstance(record, CardEvent):
        return record.event_id
    if isinstance(record, LedgerEntry):
        return record.entry_id
    if isinstance(record, Redemption):
        return record.redemption_id
    if isinstance(record, Sighting):
        return record.member_id
    return f"{record[0]}|{record[1]}"


def to_payload(record: DirectoryRecord) -> dict[str, Any]:
    """The whole record with its stamp, for HQ's feed."""
    kind = record_type(record)
    if isinstance(record, Registration):
        body: list[Any] = [
            record.member_id,
            record.phone,
            sorted(record.card_numbers),
            record.hlc,
            record.node,
        ]
    elif isinstance(record, CardEvent):
        body = [record.event_id, record.card_id, record.kind, record.hlc, record.node, sorted(record.seen)]
    elif isinstance(record, LedgerEntry):
        body = [
            record.entry_id,
            record.card_id,
            record.ledger,
            record.kind,
            record.amount,
            record.hlc,
            record.node,
        ]
    elif isinstance(record, Redemption):
        body = [record.redemption_id, record.voucher_id, record.amount_fen, record.hlc, record.node]
    elif isinstance(record, Sighting):
        body = [record.member_id, record.seq]
    else:
        body = list(record)
    return {"type": kind, "record": body}


def from_payload(payload: Any) -> DirectoryRecord:
    """A record from `to_payload`'s shape; anything else is refused (InvalidRecord)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("record"), list):
        raise InvalidRecord("a directory record payload needs type and record")
    kind, body = payload.get("type"), payload["record"]
    try:
        if kind == "registration":
            member_id, phone, cards, hlc, node = body
            return Registration(member_id, phone, _frozen(cards, "cards"), hlc, node)
        if kind == "card_event":
            event_id, card_id, event_kind, hlc, node, seen = body
            return CardEvent(event_id, card_id, event_kind, hlc, node, _frozen(seen, "seen"))
        if kind == "ledger":
            return LedgerEntry(*body)
        if kind == "redemption":
            return Redemption(*body)
        if kind == "sighting":
            member_id, seq = body
            return Sighting(member_id, seq)
        if kind == "separation":
            member_a, member_b = body
            return separation(member_a, member_b)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"malformed {kind} record: {exc}") from None
    raise InvalidRecord(f"unknown directory record type {kind!r}")


def from_entry(kind: str, op: str, entity_id: str, hlc: int, origin: str, payload: Any) -> DirectoryRecord:
    """The record a branch's change-log entry carries, stamped with the entry's hlc and origin."""
    if not isinstance(payload, dict):
        raise InvalidRecord(f"{kind}/{op} payload must be a map")
    try:
        if (kind, op) == ENTRY_KINDS["registration"]:
            phone = payload.get("phone")
            return Registration(entity_id, phone, _frozen(payload.get("cards", []), "cards"), hlc, origin)
        if (kind, op) == ENTRY_KINDS["card_event"]:
            seen = _frozen(payload.get("seen", []), "seen")
            return CardEvent(entity_id, payload["card_id"], payload["kind"], hlc, origin, seen)
        if (kind, op) == ENTRY_KINDS["ledger"]:
            return LedgerEntry(
                entity_id,
                payload["card_id"],
                payload["ledger"],
                payload["kind"],
                payload["amount"],
                hlc,
                origin,
            )
        if (kind, op) == ENTRY_KINDS["redemption"]:
            return Redemption(entity_id, payload["voucher_id"], payload["amount_fen"], hlc, origin)
    except KeyError as exc:
        raise InvalidRecord(f"{kind}/{op} payload lacks {exc}") from None
    raise InvalidRecord(f"{kind}/{op} carries no directory record")


def _frozen(items: Any, name: str) -> frozenset[str]:
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidRecord(f"{name} must be a list of strings")
    return frozenset(items)


def records_of(directory: Directory) -> list[DirectoryRecord]:
    """Every record of a directory state except profiles (which travel as member upserts)."""
    return [
        *directory.registrations.values(),
        *directory.card_events.values(),
        *directory.ledger.values(),
        *directory.redemptions.values(),
        *directory.sightings.values(),
        *sorted(directory.separations),
    ]
