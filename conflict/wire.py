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

from conflict.card_life import CardChange
from conflict.card_status import CardEvent
from conflict.cards import CardIssue
from conflict.contacts import Contact
from conflict.directory import (
    Directory,
    card_from_row,
    card_row,
    change_from_row,
    change_row,
    contact_from_row,
    contact_row,
    ledger_from_row,
    ledger_row,
    lots_from_row,
    reinstatement_from_row,
    reinstatement_row,
)
from conflict.duplicates import Registration, Separation, Sighting, separation
from conflict.errors import InvalidRecord
from conflict.ledger import LedgerEntry
from conflict.voucher_use import Reinstatement
from conflict.vouchers import Redemption
from protocol.contract import (
    CARD_CHANGE,
    CARD_EVENT,
    CARD_ISSUE,
    LEDGER_ENTRY,
    MEMBER_CONTACT,
    MEMBER_REGISTER,
    VOUCHER_REDEEM,
    VOUCHER_REINSTATE,
)
from protocol.contract.fields import CARD_CHANGE_FIELDS

__all__ = [
    "ENTRY_KINDS",
    "DirectoryRecord",
    "from_entry",
    "from_payload",
    "record_id",
    "records_from_entry",
    "records_of",
    "to_payload",
]

DirectoryRecord = (
    Registration
    | CardEvent
    | LedgerEntry
    | Redemption
    | Sighting
    | Separation
    | CardIssue
    | CardChange
    | Contact
    | Reinstatement
)

# The (kind, op) of the change-log entries that carry each record type, as the
# wire contract names them.
ENTRY_KINDS: Mapping[str, tuple[str, str]] = {
    record: (entry_type.kind, entry_type.op)
    for record, entry_type in (
        ("registration", MEMBER_REGISTER),
        ("card_event", CARD_EVENT),
        ("ledger", LEDGER_ENTRY),
        ("redemption", VOUCHER_REDEEM),
        ("contact", MEMBER_CONTACT),
        ("reinstatement", VOUCHER_REINSTATE),
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
    if isinstance(record, CardIssue):
        return "card"
    if isinstance(record, CardChange):
        return "card_change"
    if isinstance(record, Contact):
        return "contact"
    if isinstance(record, Reinstatement):
        return "reinstatement"
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
    if isinstance(record, CardIssue):
        return record.card_id
    if isinstance(record, CardChange):
        return record.change_id
    if isinstance(record, Contact):
        return record.contact_id
    if isinstance(record, Reinstatement):
        return record.reinstatement_id
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
        body = ledger_row(record)
    elif isinstance(record, Redemption):
        body = [record.redemption_id, record.voucher_id, record.amount_fen, record.hlc, record.node]
    elif isinstance(record, Sighting):
        body = [record.member_id, record.seq]
    elif isinstance(record, CardIssue):
        body = card_row(record)
    elif isinstance(record, CardChange):
        body = change_row(record)
    elif isinstance(record, Contact):
        body = contact_row(record)
    elif isinstance(record, Reinstatement):
        body = reinstatement_row(record)
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
            return ledger_from_row(body)
        if kind == "redemption":
            return Redemption(*body)
        if kind == "sighting":
            member_id, seq = body
            return Sighting(member_id, seq)
        if kind == "separation":
            member_a, member_b = body
            return separation(member_a, member_b)
        if kind == "card":
            return card_from_row(body)
        if kind == "card_change":
            return change_from_row(body)
        if kind == "contact":
            return contact_from_row(body)
        if kind == "reinstatement":
            return reinstatement_from_row(body)
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
                payload.get("item", ""),
                lots_from_row(payload.get("lots", [])),
                payload.get("of", ""),
                payload.get("expires_at_ms", 0),
            )
        if (kind, op) == ENTRY_KINDS["redemption"]:
            return Redemption(entity_id, payload["voucher_id"], payload["amount_fen"], hlc, origin)
        if (kind, op) == ENTRY_KINDS["contact"]:
            return Contact(
                entity_id,
                payload["member_id"],
                payload["operator"],
                payload["at_ms"],
                payload["channel"],
                payload["note"],
                hlc,
                origin,
            )
        if (kind, op) == ENTRY_KINDS["reinstatement"]:
            return Reinstatement(entity_id, payload["redemption_id"], payload["voucher_id"], hlc, origin)
    except KeyError as exc:
        raise InvalidRecord(f"{kind}/{op} payload lacks {exc}") from None
    raise InvalidRecord(f"{kind}/{op} carries no directory record")


def records_from_entry(
    kind: str, op: str, entity_id: str, hlc: int, origin: str, payload: Any
) -> list[DirectoryRecord]:
    """Every record an entry carries: one for most, several for a card sold with its
    stored value, credit and uses (`card_issue_records`)."""
    if (kind, op) == CARD_ISSUE.key:
        return card_issue_records(entity_id, hlc, origin, payload)
    if (kind, op) == CARD_CHANGE.key:
        return card_change_records(entity_id, hlc, origin, payload)
    return [from_entry(kind, op, entity_id, hlc, origin, payload)]


def card_change_records(change_id: str, hlc: int, origin: str, payload: Any) -> list[DirectoryRecord]:
    """The change a card/change entry makes, and for an upgrade the stored value, credit
    and uses its new type adds beyond the old one's, ids following from the change's.
    An upgrade's last day travels as null for "never expires"; the record holds ""."""
    if not isinstance(payload, dict):
        raise InvalidRecord("card/change payload must be a map")
    try:
        detail = {name: payload[name] for name in CARD_CHANGE_FIELDS[payload["kind"]]}
        if "valid_until" in payload:
            detail["valid_until"] = payload["valid_until"] or ""
        card_id = payload["card_id"]
        records: list[DirectoryRecord] = [
            CardChange(change_id, card_id, payload["kind"], hlc, origin, **detail),
            *_money_put_on(card_id, change_id, hlc, origin, payload),
            *_uses_granted(card_id, change_id, hlc, origin, payload.get("uses", ())),
        ]
    except (KeyError, TypeError) as exc:
        raise InvalidRecord(f"card/change payload is malformed: {exc!r}") from None
    return records


def _money_put_on(card_id: str, entry_id: str, hlc: int, origin: str, payload: Any) -> list[LedgerEntry]:
    """The stored value a card type puts on a card (a liability) and the credit line it
    gives, as a card sale or an upgrade carries them, under ids that follow from the entry's."""
    found = []
    if payload["stored_value_fen"]:
        stored = payload["stored_value_fen"]
        found.append(LedgerEntry(f"{entry_id}-sv", card_id, "stored_value", "issue", stored, hlc, origin))
    if payload["credit_limit_fen"]:
        line = payload["credit_limit_fen"]
        found.append(LedgerEntry(f"{entry_id}-cr", card_id, "credit", "grant", line, hlc, origin))
    return found


def _uses_granted(card_id: str, entry_id: str, hlc: int, origin: str, uses: Any) -> list[LedgerEntry]:
    """One grant per service item of a card's bundle (a card sale's, or what an upgrade's
    new type bundles beyond the old one's), under ids that follow from the entry's."""
    return [
        LedgerEntry(f"{entry_id}-u{number}", card_id, "uses", "grant", line["qty"], hlc, origin, line["sku"])
        for number, line in enumerate(uses)
    ]


def card_issue_records(sale_id: str, hlc: int, origin: str, payload: Any) -> list[DirectoryRecord]:
    """The card record of a card sold from a type, and the ledger entries that fill it:
    its initial stored value, its credit line, and the uses of each service item in its
    bundle. The branch books these and every replica derives them from the entry alike,
    so their ids follow from the sale's id."""
    if not isinstance(payload, dict):
        raise InvalidRecord("card/issue payload must be a map")
    try:
        card_id = payload["card_id"]
        records: list[DirectoryRecord] = [
            CardIssue(
                card_id,
                payload["member_id"],
                payload["card_type"],
                payload["level"],
                payload["discount_rate"],
                payload["valid_from"],
                payload["valid_until"] or "",
                _frozen(payload["services"], "services"),
                hlc,
                origin,
            )
        ]
        records += _money_put_on(card_id, sale_id, hlc, origin, payload)
        records += _uses_granted(card_id, sale_id, hlc, origin, payload["uses"])
    except (KeyError, TypeError) as exc:
        raise InvalidRecord(f"card/issue payload is malformed: {exc!r}") from None
    return records


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
        *directory.cards.values(),
        *directory.changes.values(),
        *directory.contacts.values(),
        *directory.reinstatements.values(),
    ]
