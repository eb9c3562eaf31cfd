"""Members: register, edit and look up; profiles merge per field (conflict.profile).

A registration or edit is a change entry of kind "member"; members registered at
other branches arrive from HQ's feed as "member/upsert" with stamped fields, and
their registrations as directory records. Every lookup answers with the survivor
of the member's duplicate group (shared_tables.directory_store), so an alias's id, phone
or card finds the merged member. The directory's records and HQ's conflict
resolutions that the feed brings are applied here too.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from conflict.duplicates import MAX_CARDS_PER_REGISTRATION, Registration
from conflict.errors import DuplicateIdConflict
from conflict.ledger import LedgerEntry
from conflict.profile import PROFILE_FIELDS, stamp_fields
from conflict.wire import from_payload, record_id, record_type
from node.errors import CardTaken, InvalidRequest, PhoneTaken, UnknownMember
from node.services import employees, fields
from node.store.writer import Tx
from protocol import codec, limits
from protocol.contract import MEMBER_EDIT, MEMBER_REGISTER
from protocol.errors import require
from shared_tables import directory_store

log = logging.getLogger(__name__)


def _cards_from_body(body: dict[str, Any]) -> list[str]:
    cards = body.pop("cards", None)
    if cards is None:
        return []
    if not isinstance(cards, list) or len(cards) > MAX_CARDS_PER_REGISTRATION:
        raise InvalidRequest(f"cards must be a list of at most {MAX_CARDS_PER_REGISTRATION} card numbers")
    return sorted({fields.card_number(card, "cards[]") for card in cards})


# How a till's value of each profile field but the name and the phone is read: each
# is optional, and null clears it.
_OPTIONAL_FIELDS: Mapping[str, Callable[[Any], Any]] = {
    "birthday": fields.birthday,
    "gender": fields.gender,
    "address": lambda value: fields.line(value, "address", limits.MAX_ADDRESS_CHARS),
    "region": lambda value: fields.line(value, "region", limits.MAX_REGION_CHARS),
    "car_plate": fields.car_plate,
    "family_notes": lambda value: fields.note(value, "family_notes", limits.MAX_FAMILY_NOTES_CHARS),
    "salesperson": lambda value: fields.employee_code(value, "salesperson"),
    "referrer": lambda value: fields.member_id(value, "referrer"),
    "notes": lambda value: fields.note(value, "notes", limits.MAX_MEMBER_NOTES_CHARS),
    "photo": fields.photo,
}
require(
    ("name", "phone", *_OPTIONAL_FIELDS) == PROFILE_FIELDS,
    "a till can set every profile field conflict.profile merges, and only those",
)


def _profile_from_body(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    if not partial or "name" in body:
        profile["name"] = fields.text(body, "name")
    if not partial or "phone" in body:
        profile["phone"] = fields.phone(body.get("phone"))
    for name, parse in _OPTIONAL_FIELDS.items():
        if name in body:
            profile[name] = parse(body[name])
    unknown = set(body) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown member fields: {', '.join(sorted(unknown))}")
    if partial and not profile:
        raise InvalidRequest(f"nothing to change: give at least one of {', '.join(PROFILE_FIELDS)}")
    return profile


def _check_phone_free(conn: sqlite3.Connection, phone: str, member_id: str | None) -> None:
    row = conn.execute(
        "SELECT id FROM members WHERE phone = ? AND id IS NOT ?", (phone, member_id)
    ).fetchone()
    if row is not None:
        raise PhoneTaken(f"phone {phone} already belongs to member {row[0]}")


def _check_cards_free(conn: sqlite3.Connection, cards: list[str]) -> None:
    for card in cards:
        owner = directory_store.card_owner(conn, card)
        if owner is not None:
            raise CardTaken(f"card {card} already belongs to member {owner}")


def _check_referrer(conn: sqlite3.Connection, referrer: str | None, member_id: str) -> None:
    """A referrer this branch names is a member it knows, and someone other than the
    member (or a duplicate of the member, which is the same person)."""
    if referrer is None:
        return
    try:
        survivor = member_or_survivor(conn, referrer)
    except UnknownMember:
        raise UnknownMember(
            f"referrer {referrer} is no member this branch knows: look the referrer up by phone or"
            " card; if registered at another branch, wait for the sync"
        ) from None
    if survivor == member_id:
        raise InvalidRequest(f"referrer {referrer} is this member: a member cannot refer themselves")


def register_job(member_id: str, branch: str, profile: dict[str, Any], cards: list[str] | None = None) -> Any:
    """Register a member with the cards handed over; without one, the member gets a
    virtual card numbered as its member id, so stored value and points have a home."""
    card_numbers = sorted(cards) if cards else [member_id]

    def job(tx: Tx) -> dict[str, Any]:
        if profile.get("salesperson") is not None:
            # Who signed the member up: an active employee of the registering branch.
            employees.require_salesperson(tx.conn, profile["salesperson"], branch)
        _check_phone_free(tx.conn, profile["phone"], None)
        _check_cards_free(tx.conn, card_numbers)
        _check_referrer(tx.conn, profile.get("referrer"), member_id)
        entry = tx.record(
            MEMBER_REGISTER, member_id, {"home_branch": branch, **profile, "cards": card_numbers}
        )
        directory_store.store_profile(tx.conn, member_id, branch, stamp_fields(profile, entry.hlc, branch))
        directory_store.add_records(
            tx.conn, [Registration(member_id, profile["phone"], frozenset(card_numbers), entry.hlc, branch)]
        )
        return directory_store.member_json(tx.conn, member_id) or {}

    return job


def edit_job(looked_up_as: str, branch: str, changes: dict[str, Any]) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        # An edit made through an alias's id goes to the survivor, whose profile shows.
        member_id = member_or_survivor(tx.conn, looked_up_as)
        if "phone" in changes:
            _check_phone_free(tx.conn, changes["phone"], member_id)
        if "referrer" in changes:
            _check_referrer(tx.conn, changes["referrer"], member_id)
        entry = tx.record(MEMBER_EDIT, member_id, changes)
        directory_store.merge_profile(tx.conn, member_id, branch, stamp_fields(changes, entry.hlc, branch))
        return directory_store.member_json(tx.conn, member_id) or {}

    return job


def apply_member_upsert(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """A member as HQ's directory holds it; merged field by field with ours."""
    incoming = {name: tuple(stamped) for name, stamped in payload["profile"].items()}
    directory_store.merge_profile(conn, payload["id"], payload["home_branch"], incoming)


def member_or_survivor(conn: sqlite3.Connection, member_id: str) -> str:
    """The survivor a member id stands for; refuses ids this branch has not seen."""
    group = directory_store.group_of(conn, member_id)
    if member_id not in group.registrations:
        if conn.execute("SELECT 1 FROM members WHERE id = ?", (member_id,)).fetchone() is None:
            raise UnknownMember(
                f"no member {member_id} at this branch; if registered elsewhere, wait for the sync"
            )
        return member_id
    return group.survivor(member_id)


def parse_registration(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A till's registration: the profile and the card numbers handed over."""
    cards = _cards_from_body(body)
    return _profile_from_body(body, partial=False), cards


def parse_edit(body: dict[str, Any]) -> dict[str, Any]:
    """A till's edit: the profile fields it changes (at least one)."""
    return _profile_from_body(body, partial=True)


def parse_lookup(query: Mapping[str, str]) -> tuple[str, str | None]:
    """A lookup by ?card= or ?phone=: the directory key to look for, and the phone if by phone."""
    if "card" in query:
        return "card:" + fields.card_number(query["card"], "the card query parameter"), None
    phone = fields.phone(query.get("phone"), "the phone query parameter")
    return "phone:" + phone, phone


def members_with(conn: sqlite3.Connection, key: str, phone: str | None) -> list[dict[str, Any]]:
    """Members by a directory key, as their survivors (an alias's phone finds the survivor).
    A card is found by whoever holds it, as GET /api/cards/{card} finds it: handed over
    at registration (the directory's key), or sold of a type, or a replacement's number."""
    found = set(directory_store.members_with_key(conn, key))
    if not found and key.startswith("card:"):
        owner = directory_store.card_owner(conn, key.removeprefix("card:"))
        if owner is not None:
            found.add(member_or_survivor(conn, owner))
    if phone is not None:  # a phone changed by an edit is found too
        rows = conn.execute("SELECT id FROM members WHERE phone = ?", (phone,)).fetchall()
        found.update(member_or_survivor(conn, member_id) for (member_id,) in rows)
    views = [directory_store.member_json(conn, member_id) for member_id in sorted(found)]
    return [view for view in views if view is not None]


def member_view(conn: sqlite3.Connection, member_id: str) -> dict[str, Any]:
    member = directory_store.member_json(conn, member_id)
    if member is None:
        raise UnknownMember(
            f"no member {member_id} at this branch; if registered elsewhere, wait for the sync"
        )
    return member


# -- the directory as HQ's feed brings it ----------------------------------------------


def apply_directory_record(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """A record of the shared directory another branch (or HQ) wrote: union it in. One
    that names an id this branch holds a different record under (a card number sold
    here and at another branch while both were cut off: HQ kept the other sale and
    queued ours) is set aside here, where `set_aside` shows it, and so is what that
    card's sale put on the card (its ledger entries carry the card record's stamp),
    which would otherwise land on this branch's member's card. Refusing the record
    would stop HQ's whole feed at this branch."""
    record = from_payload(payload)
    if isinstance(record, LedgerEntry) and _beside_set_aside_card(conn, record):
        _set_aside(conn, record, payload, "card_sold_twice", f"card {record.card_id}'s record was set aside")
        return
    try:
        directory_store.add_records(conn, [record])
    except DuplicateIdConflict as collision:
        _set_aside(conn, record, payload, collision.code, str(collision))


def _beside_set_aside_card(conn: sqlite3.Connection, entry: LedgerEntry) -> bool:
    found = conn.execute(
        "SELECT 1 FROM directory_set_aside"
        " WHERE record_type = 'card' AND record_id = ? AND node = ? AND hlc = ?",
        (entry.card_id, entry.node, entry.hlc),
    ).fetchone()
    return found is not None


def _set_aside(conn: sqlite3.Connection, record: Any, payload: dict[str, Any], code: str, why: str) -> None:
    log.warning("feed record %s %s set aside: %s", record_type(record), record_id(record), why)
    conn.execute(
        "INSERT OR IGNORE INTO directory_set_aside VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            record_type(record),
            record_id(record),
            str(getattr(record, "node", "")),  # every kind that can collide is stamped
            int(getattr(record, "hlc", 0)),
            code,
            why,
            codec.pack(payload),
        ),
    )


def set_aside(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The feed's records this branch set aside, oldest stamp first."""
    rows = conn.execute(
        "SELECT record_type, record_id, node, hlc, code, message FROM directory_set_aside"
        " ORDER BY hlc, record_type, record_id"
    )
    return [
        {"type": kind, "id": found, "node": node, "stamped_ms": hlc >> 16, "code": code, "message": why}
        for kind, found, node, hlc, code, why in rows
    ]


def set_aside_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM directory_set_aside").fetchone()[0])


def apply_resolution(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """An operator's decision on a conflict; the records it implies arrive beside it."""
    conn.execute(
        "INSERT OR REPLACE INTO conflict_resolutions (id, kind, action, resolution) VALUES (?, ?, ?, ?)",
        (str(payload["id"]), str(payload["kind"]), str(payload["action"]), codec.pack(payload)),
    )


def directory_digest(conn: sqlite3.Connection) -> dict[str, Any]:
    """SHA-256 of this branch's directory in canonical bytes; equal to HQ's once synced."""
    data = directory_store.load_directory(conn).encode()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
