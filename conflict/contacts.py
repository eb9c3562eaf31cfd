"""A member's contact history: who contacted the member, when, how, and what was said.

Each contact is one record, minted at the branch where the operator made it and never
changed: a record of what happened, like a ledger entry. Any branch may add one for any
member, so merging is the union of records by id, commutative, associative and
idempotent; one id carrying two different contacts is refused (ContactConflict).

The history a person sees is every contact of the member's duplicate group, newest
first (`history`): by the time the contact was made, then by id (unique, and minted in
time order), so every replica lists the same records in the same order and a page's
last contact says exactly where the next page starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conflict.errors import ContactConflict, InvalidRecord, check_int, check_text, union_by_id
from protocol.contract.fields import CONTACT_CHANNELS
from protocol.limits import MAX_AT_MS, MAX_CONTACT_NOTE_CHARS, MAX_NAME_CHARS

__all__ = ["CHANNELS", "Contact", "history", "merge_contacts", "position_text", "read_position"]

CHANNELS = CONTACT_CHANNELS

Contacts = Mapping[str, "Contact"]


@dataclass(frozen=True, slots=True)
class Contact:
    """One contact with a member. `operator` is the id of the operator whose session
    wrote it; `at_ms` when the contact was made (a call logged later says when it was);
    `hlc` and `node` the stamp of the entry that carried it."""

    contact_id: str
    member_id: str
    operator: str
    at_ms: int
    channel: str
    note: str
    hlc: int
    node: str

    def __post_init__(self) -> None:
        for name in ("contact_id", "member_id", "operator", "node"):
            if len(check_text(getattr(self, name), name)) > MAX_NAME_CHARS:
                raise InvalidRecord(f"{name} must be at most {MAX_NAME_CHARS} characters")
        check_int(self.hlc, "hlc")
        if not 0 <= check_int(self.at_ms, "at_ms") <= MAX_AT_MS:
            raise InvalidRecord(f"at_ms must be 0 to {MAX_AT_MS}, not {self.at_ms}")
        if self.channel not in CHANNELS:
            raise InvalidRecord(f"unknown contact channel {self.channel!r}; expected one of {CHANNELS}")
        if not 1 <= len(check_text(self.note, "note")) <= MAX_CONTACT_NOTE_CHARS:
            raise InvalidRecord(f"a contact's note is 1 to {MAX_CONTACT_NOTE_CHARS} characters")

    @property
    def position(self) -> tuple[int, str]:
        """Where the contact stands in a history, which runs from the greatest position down."""
        return (self.at_ms, self.contact_id)


def position_text(contact: Contact) -> str:
    """A contact's position as a page of history names it for the next page (`before`)."""
    return f"{contact.at_ms}:{contact.contact_id}"


def read_position(text: str) -> tuple[int, str] | None:
    """`position_text` read back; None if the text is not one."""
    at_ms, _, contact_id = text.partition(":")
    if not (at_ms.isascii() and at_ms.isdigit() and len(at_ms) <= len(str(MAX_AT_MS))):
        return None
    if not 0 < len(contact_id) <= MAX_NAME_CHARS or not contact_id.isprintable():
        return None
    return int(at_ms), contact_id


def merge_contacts(current: Contacts, incoming: Contacts) -> dict[str, Contact]:
    """Union of contacts by id; commutative, associative and idempotent."""
    for contact_id, contact in incoming.items():
        if contact_id != contact.contact_id:
            raise InvalidRecord(f"contact filed under {contact_id!r} has id {contact.contact_id!r}")
    return union_by_id(current, incoming, ContactConflict)


def history(contacts: Iterable[Contact], members: Iterable[str]) -> list[Contact]:
    """The contacts of these members (a duplicate group), newest first."""
    wanted = set(members)
    return sorted((c for c in contacts if c.member_id in wanted), key=lambda c: c.position, reverse=True)
