"""Refusals of the merge rules: every error here is *theirs* (a node sent a bad record).

Two kinds: a record that is malformed on its own (`InvalidRecord`), and two
different records under one id (`DuplicateIdConflict` and its leaves). Both map to
an HTTP status through `http_status`, like the protocol errors they extend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from protocol.errors import MalformedMessage, ProtocolError


class InvalidRecord(MalformedMessage):
    """A directory record is malformed: wrong kind, a float or bool amount, a sign
    that does not fit its kind. Fix the sender; the record is not merged."""

    http_status = 422
    code = "invalid_record"


class DuplicateIdConflict(ProtocolError):
    """Two different records arrived under one id. Ids are minted once, so one of the
    senders is broken or forged: the record is refused and the origin must be checked."""

    http_status = 409
    code = "duplicate_id_conflict"


class LedgerEntryConflict(DuplicateIdConflict):
    """Two different ledger entries share one entry id."""

    code = "ledger_entry_conflict"


class CardEventConflict(DuplicateIdConflict):
    """Two different card status events share one event id."""

    code = "card_event_conflict"


class RegistrationConflict(DuplicateIdConflict):
    """Two different registrations share one member id."""

    code = "registration_conflict"


class SightingConflict(DuplicateIdConflict):
    """HQ sighted one registration twice under different order numbers: HQ's
    store is damaged or a feed was forged."""

    code = "sighting_conflict"


class RedemptionConflict(DuplicateIdConflict):
    """Two different voucher redemptions share one redemption id."""

    code = "redemption_conflict"


class ReinstatementConflict(DuplicateIdConflict):
    """Two different reinstatements of voucher redemptions share one id."""

    code = "reinstatement_conflict"


class CardIssueConflict(DuplicateIdConflict):
    """One card number issued twice on different terms (or to different members):
    two branches handed out the same physical card while apart."""

    code = "card_issue_conflict"


class CardChangeConflict(DuplicateIdConflict):
    """Two different card changes (renewal, replacement, upgrade, password) share one id."""

    code = "card_change_conflict"


class ContactConflict(DuplicateIdConflict):
    """Two different contacts with a member share one contact id."""

    code = "contact_conflict"


class ProfileStampConflict(DuplicateIdConflict):
    """Two different values of one profile field carry the same (hlc, node) stamp;
    a node reused a clock reading, so last-writer-wins cannot pick deterministically."""

    code = "profile_stamp_conflict"


Record = TypeVar("Record")


def union_by_id(
    current: Mapping[str, Record], incoming: Mapping[str, Record], error: type[DuplicateIdConflict]
) -> dict[str, Record]:
    """The union of two id-keyed record sets; one id seen twice must carry one record."""
    merged = dict(current)
    for record_id, record in incoming.items():
        held = merged.get(record_id)
        if held is None:
            merged[record_id] = record
        elif held != record:
            raise error(f"id {record_id!r} names two different records: {held!r} and {record!r}")
    return merged


def check_int(value: object, field: str) -> int:
    """An integer that is not a bool; floats are refused because money is integer fen."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRecord(f"{field} must be an integer (got {type(value).__name__})")
    return value


def check_text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"{field} must be a non-empty string")
    return value
