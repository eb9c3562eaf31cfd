"""A member's contact history at the till (FEATURES M1): who contacted the member, when,
how, and what was said.

A contact is one write and one change entry (member/contact) that becomes a record of
the shared directory (conflict.contacts), so every branch and HQ learn it; it works
offline like every write and reaches the others when the link returns. The operator
is whoever is logged in (the writer's acting operator), never a field of the body.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from conflict.contacts import CHANNELS, Contact
from conflict.wire import from_entry
from node.errors import InvalidRequest, UnknownMember
from node.services import fields
from node.services.members import member_or_survivor
from node.store.writer import Tx
from protocol import limits
from protocol.contract import MEMBER_CONTACT
from protocol.errors import InvariantBroken, require
from shared_tables import directory_store

# A page of contact history: a screenful by default, a few screens at most.
DEFAULT_CONTACTS_PAGE = 50
MAX_CONTACTS_PAGE = 200
# A contact is logged as it happens or afterwards; a till's clock a minute ahead of the
# node's is tolerated, a contact further in the future is a typo.
FUTURE_SLACK_MS = 60_000
# The earliest day a contact can have been made: before the chain kept any records.
EARLIEST_AT_MS = 946_684_800_000  # 2000-01-01 UTC

_FIELDS = ("channel", "note", "at_ms")


def parse_contact(body: dict[str, Any]) -> dict[str, Any]:
    """A till's contact: its channel, its note, and when it was made if not just now."""
    if "operator" in body:
        raise InvalidRequest(
            "operator is whoever is logged in and cannot be given: leave it out, or log in as"
            " the operator who made the contact"
        )
    unknown = set(body) - set(_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"unknown contact fields: {', '.join(sorted(unknown))}; a contact has {', '.join(_FIELDS)}"
        )
    channel = body.get("channel")
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise InvalidRequest(f"channel must be one of {', '.join(CHANNELS)}")
    what = f"what was said, 1 to {limits.MAX_CONTACT_NOTE_CHARS} characters"
    if body.get("note") is None:
        raise InvalidRequest(f"note is required: {what}")
    try:
        note = fields.note(body["note"], "note", limits.MAX_CONTACT_NOTE_CHARS)
    except InvalidRequest:
        raise InvalidRequest(f"note must be text: {what}") from None
    contact: dict[str, Any] = {"channel": channel, "note": note}
    if body.get("at_ms") is not None:
        contact["at_ms"] = fields.integer(
            body["at_ms"], "at_ms", minimum=EARLIEST_AT_MS, maximum=limits.MAX_AT_MS
        )
    return contact


def add_job(
    contact_id: str, looked_up_as: str, contact: dict[str, Any], request_key: str | None = None
) -> Any:
    """Record a contact with the member (filed under the survivor of its duplicates): the
    contact as the history lists it, and whether it was booked before, by a request under
    the same Idempotency-Key (a till's retry answers the contact it booked)."""

    def job(tx: Tx) -> tuple[dict[str, Any], bool]:
        require(bool(tx.actor), "a contact is written in an operator's session, which names who made it")
        if request_key is not None:
            booked = tx.conn.execute(
                "SELECT contact_id FROM contact_requests WHERE request_key = ?", (request_key,)
            ).fetchone()
            if booked is not None:
                found = directory_store.contact(tx.conn, booked[0])
                require(found is not None, "a contact booked under a key is in the directory")
                assert found is not None
                return directory_store.contact_json(found), True
        member_id = member_or_survivor(tx.conn, looked_up_as)
        at_ms = contact.get("at_ms", tx.wall_ms)
        if at_ms > tx.wall_ms + FUTURE_SLACK_MS:
            raise InvalidRequest(
                f"at_ms {at_ms} is in the future (now is {tx.wall_ms}): give when the contact was made,"
                " or leave at_ms out for now"
            )
        payload = {
            "member_id": member_id,
            "operator": tx.actor,
            "at_ms": at_ms,
            "channel": contact["channel"],
            "note": contact["note"],
        }
        entry = tx.record(MEMBER_CONTACT, contact_id, payload)
        # The record every replica derives from the entry (conflict.wire), kept here alike.
        record = from_entry(entry.kind, entry.op, contact_id, entry.hlc, tx.log.origin, payload)
        if not isinstance(record, Contact):
            raise InvariantBroken(f"a member/contact entry carries a contact, not {type(record).__name__}")
        directory_store.add_records(tx.conn, [record])
        if request_key is not None:
            tx.conn.execute("INSERT INTO contact_requests VALUES (?, ?)", (request_key, contact_id))
        return directory_store.contact_json(record), False

    return job


def history(
    conn: sqlite3.Connection, member_id: str, limit: int, before: tuple[int, str] | None
) -> dict[str, Any]:
    found = directory_store.contact_history(conn, member_id, limit, before)
    if found is None:
        raise UnknownMember(
            f"no member {member_id} at this branch; if registered elsewhere, wait for the sync"
        )
    return found
