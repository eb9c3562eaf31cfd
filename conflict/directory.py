"""The shared member directory as one mergeable state, and the views derived from it.

A `Directory` holds everything more than one branch may write: profiles (last
writer wins per field), cards of a type and their changes (renewals, replacements,
upgrades, passwords), card status events, ledger entries, registrations with
the operators' separations and HQ's sightings, voucher redemptions and the returns
that reinstated them (conflict.voucher_use), and the contact history
(conflict.contacts). `merge` joins two states (commutative, associative,
idempotent); `encode` gives canonical bytes, so two replicas that have seen the
same records hold byte-identical encodings.
Views (survivors, balances, status, overdrafts, flagged vouchers) are computed
from the state, never stored in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from conflict.card_life import (
    CardChange,
    blocked_by_replacement,
    double_replacements,
    merge_changes,
    root_of,
    stale_upgrades,
)
from conflict.card_status import CardEvent, merge_events, status
from conflict.cards import CardIssue, merge_cards
from conflict.contacts import Contact, history, merge_contacts
from conflict.duplicates import (
    DuplicateResolution,
    Registration,
    Separation,
    Sighting,
    find_duplicates,
    merge_registrations,
    merge_separations,
    merge_sightings,
    rank,
    resolve,
    separation,
)
from conflict.errors import InvalidRecord, ProfileStampConflict
from conflict.ledger import LedgerEntry, merge_ledgers
from conflict.overdraft import OverdraftRecord, find_overdrafts
from conflict.profile import StampedField, merge_profiles
from conflict.voucher_use import Reinstatement, merge_reinstatements, standing
from conflict.vouchers import Redemption, VoucherOutcome, merge_redemptions, settle_vouchers
from protocol.codec import pack, unpack

__all__ = ["ENCODING_VERSION", "Directory", "decode", "merge"]

ENCODING_VERSION = 2  # 2: HQ's sightings

Profile = Mapping[str, StampedField]


@dataclass(frozen=True)
class Directory:
    """One replica's view of the shared directory. Treat as immutable: every change
    returns a new Directory."""

    profiles: Mapping[str, Profile] = field(default_factory=dict)
    card_events: Mapping[str, CardEvent] = field(default_factory=dict)
    ledger: Mapping[str, LedgerEntry] = field(default_factory=dict)
    registrations: Mapping[str, Registration] = field(default_factory=dict)
    separations: frozenset[Separation] = frozenset()
    sightings: Mapping[str, Sighting] = field(default_factory=dict)
    redemptions: Mapping[str, Redemption] = field(default_factory=dict)
    cards: Mapping[str, CardIssue] = field(default_factory=dict)
    changes: Mapping[str, CardChange] = field(default_factory=dict)
    contacts: Mapping[str, Contact] = field(default_factory=dict)
    reinstatements: Mapping[str, Reinstatement] = field(default_factory=dict)

    # --- writes (each is a merge with a one-record state) ---

    def with_profile(self, member_id: str, fields: Profile) -> Directory:
        return merge(self, Directory(profiles={member_id: dict(fields)}))

    def with_card_event(self, event: CardEvent) -> Directory:
        return merge(self, Directory(card_events={event.event_id: event}))

    def with_entry(self, entry: LedgerEntry) -> Directory:
        return merge(self, Directory(ledger={entry.entry_id: entry}))

    def with_registration(self, registration: Registration) -> Directory:
        return merge(self, Directory(registrations={registration.member_id: registration}))

    def with_separation(self, member_a: str, member_b: str) -> Directory:
        return merge(self, Directory(separations=frozenset({separation(member_a, member_b)})))

    def with_sighting(self, sighting: Sighting) -> Directory:
        return merge(self, Directory(sightings={sighting.member_id: sighting}))

    def with_redemption(self, redemption: Redemption) -> Directory:
        return merge(self, Directory(redemptions={redemption.redemption_id: redemption}))

    def with_card(self, card: CardIssue) -> Directory:
        return merge(self, Directory(cards={card.card_id: card}))

    def with_change(self, change: CardChange) -> Directory:
        return merge(self, Directory(changes={change.change_id: change}))

    def with_contact(self, contact: Contact) -> Directory:
        return merge(self, Directory(contacts={contact.contact_id: contact}))

    def with_reinstatement(self, reinstatement: Reinstatement) -> Directory:
        return merge(self, Directory(reinstatements={reinstatement.reinstatement_id: reinstatement}))

    # --- views ---

    @cached_property
    def duplicates(self) -> DuplicateResolution:
        return find_duplicates(self.registrations.values(), self.separations, self.sightings)

    def survivor(self, member_id: str) -> str:
        """The member id that `member_id` stands for after duplicate resolution."""
        return resolve(member_id, self.duplicates.aliases)

    def survivor_profile(self, member_id: str) -> dict[str, StampedField]:
        """The profile of a member's whole duplicate group, last writer winning per field."""
        survivor = self.survivor(member_id)
        group = next((g for g in self.duplicates.groups if g[0] == survivor), (survivor,))
        merged: dict[str, StampedField] = {}
        for member in sorted(group):
            merged = _merge_profile(merged, self.profiles.get(member, {}))
        return merged

    @cached_property
    def card_owners(self) -> dict[str, str]:
        """Card number -> the member registered with it (the first by `rank` if several),
        or else the member a card of a type was issued to."""
        owners: dict[str, Registration] = {}
        for registration in self.registrations.values():
            for card_id in registration.card_numbers:
                held = owners.get(card_id)
                if held is None or rank(registration, self.sightings) < rank(held, self.sightings):
                    owners[card_id] = registration
        found = {card_id: owners[card_id].member_id for card_id in owners}
        for card_id, card in self.cards.items():
            found.setdefault(card_id, card.member_id)
        # A replacement's new number is held by whoever holds the card it stands for.
        for change in self.changes.values():
            if change.kind == "replace" and change.new_card not in found:
                owner = found.get(self.card_root(change.card_id))
                if owner is not None:
                    found[change.new_card] = owner
        return dict(sorted(found.items()))

    def card_root(self, card_id: str) -> str:
        """The number a card was first issued under, which its ledger entries are booked
        on (conflict.card_life); a number never replaced into is its own root."""
        return root_of(card_id, self.changes.values())

    def balances_by_survivor(self) -> dict[str, dict[str, int]]:
        """Survivor member id -> ledger -> balance over all cards of its group.
        Cards registered to no one are in `unowned_balances`."""
        totals: dict[str, dict[str, int]] = {}
        for entry in self.ledger.values():
            owner = self.card_owners.get(entry.card_id)
            if owner is None:
                continue
            per_ledger = totals.setdefault(self.survivor(owner), {})
            per_ledger[entry.ledger] = per_ledger.get(entry.ledger, 0) + entry.amount
        return {m: dict(sorted(totals[m].items())) for m in sorted(totals)}

    def unowned_balances(self) -> dict[tuple[str, str], int]:
        """(card id, ledger) -> balance for cards no registration claims (yet)."""
        totals: dict[tuple[str, str], int] = {}
        for entry in self.ledger.values():
            if entry.card_id not in self.card_owners:
                key = (entry.card_id, entry.ledger)
                totals[key] = totals.get(key, 0) + entry.amount
        return dict(sorted(totals.items()))

    def card_status(self, card_id: str) -> str:
        """A number replaced (or handed over by a replacement that lost to another) is
        "replaced"; a card returned under its root is returned under every number."""
        if blocked_by_replacement(card_id, self.changes.values()):
            return "replaced"
        root = self.card_root(card_id)
        if (
            root != card_id
            and status(e for e in self.card_events.values() if e.card_id == root) == "returned"
        ):
            return "returned"
        return status(e for e in self.card_events.values() if e.card_id == card_id)

    def overdrafts(self, credit_limits_fen: Mapping[str, int] | None = None) -> list[OverdraftRecord]:
        """Overdraft records of every card and ledger, sorted by card, ledger and stamp.
        `credit_limits_fen` (card id -> limit) lowers a card's stored-value floor."""
        limits = {} if credit_limits_fen is None else credit_limits_fen
        keys = sorted({(e.card_id, e.ledger, e.item) for e in self.ledger.values()})
        records: list[OverdraftRecord] = []
        for card_id, ledger, item in keys:
            limit = limits.get(card_id, 0) if ledger == "stored_value" else 0
            records.extend(find_overdrafts(self.ledger.values(), card_id, ledger, limit, item))
        return records

    def double_replacements(self) -> list[tuple[CardChange, CardChange]]:
        """(winner, loser) for every number replaced more than once (conflict.card_life rule 2)."""
        by_number: dict[str, list[CardChange]] = {}
        for change in self.changes.values():
            if change.kind == "replace":
                by_number.setdefault(change.card_id, []).append(change)
        return [pair for _, found in sorted(by_number.items()) for pair in double_replacements(found)]

    def stale_upgrades(self) -> list[tuple[str, CardChange]]:
        """(type in force, upgrade) for each upgrade reckoned from a stale type (rule 3)."""
        by_card: dict[str, list[CardChange]] = {}
        for change in self.changes.values():
            if change.kind == "upgrade":
                by_card.setdefault(change.card_id, []).append(change)
        return [
            pair
            for card, found in sorted(by_card.items())
            if card in self.cards
            for pair in stale_upgrades(self.cards[card].card_type, found)
        ]

    def contact_history(self, member_id: str) -> list[Contact]:
        """Every contact with the member's whole duplicate group, newest first."""
        survivor = self.survivor(member_id)
        group = next((g for g in self.duplicates.groups if g[0] == survivor), (survivor,))
        return history(self.contacts.values(), group)

    def vouchers(self) -> VoucherOutcome:
        """The single-use rule over the redemptions no return reinstated."""
        return settle_vouchers(standing(self.redemptions.values(), self.reinstatements.values()))

    # --- bytes ---

    def encode(self) -> bytes:
        """Canonical bytes: every collection sorted, so equal states give equal bytes."""
        return pack(
            {
                "version": ENCODING_VERSION,
                "profiles": {
                    member: {name: list(stamped) for name, stamped in sorted(profile.items())}
                    for member, profile in sorted(self.profiles.items())
                },
                "card_events": [
                    [e.event_id, e.card_id, e.kind, e.hlc, e.node, sorted(e.seen)]
                    for _, e in sorted(self.card_events.items())
                ],
                "ledger": [ledger_row(e) for _, e in sorted(self.ledger.items())],
                "registrations": [
                    [r.member_id, r.phone, sorted(r.card_numbers), r.hlc, r.node]
                    for _, r in sorted(self.registrations.items())
                ],
                "separations": [list(pair) for pair in sorted(self.separations)],
                "sightings": [[s.member_id, s.seq] for _, s in sorted(self.sightings.items())],
                "redemptions": [
                    [r.redemption_id, r.voucher_id, r.amount_fen, r.hlc, r.node]
                    for _, r in sorted(self.redemptions.items())
                ],
                # Only when there are any: a directory from before cards of a type
                # keeps its bytes, and so its digest.
                **({"cards": [card_row(c) for _, c in sorted(self.cards.items())]} if self.cards else {}),
                **(
                    {"changes": [change_row(c) for _, c in sorted(self.changes.items())]}
                    if self.changes
                    else {}
                ),
                **(
                    {"contacts": [contact_row(c) for _, c in sorted(self.contacts.items())]}
                    if self.contacts
                    else {}
                ),
                **(
                    {"reinstatements": [reinstatement_row(r) for _, r in sorted(self.reinstatements.items())]}
                    if self.reinstatements
                    else {}
                ),
            }
        )


def ledger_row(entry: LedgerEntry) -> list[object]:
    """A ledger entry as a list; the item, and after it a points movement's lot facts,
    only when it has them, so the entries written before either existed keep their bytes."""
    row: list[object] = [
        entry.entry_id,
        entry.card_id,
        entry.ledger,
        entry.kind,
        entry.amount,
        entry.hlc,
        entry.node,
    ]
    if entry.has_lot_facts:
        lots = [[lot_id, points] for lot_id, points in entry.lots]
        return [*row, entry.item, lots, entry.of, entry.expires_at_ms]
    return [*row, entry.item] if entry.item else row


def ledger_from_row(body: list[Any]) -> LedgerEntry:
    """`ledger_row`'s list back: lots come over msgpack as lists of lists."""
    if len(body) > 8:
        body = [*body[:8], lots_from_row(body[8]), *body[9:]]
    return LedgerEntry(*body)


def lots_from_row(parts: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(parts, list | tuple):
        raise InvalidRecord("lots must be a list of (lot id, points) pairs")
    return tuple(tuple(part) if isinstance(part, list | tuple) else part for part in parts)


def card_row(card: CardIssue) -> list[object]:
    return [
        card.card_id,
        card.member_id,
        card.card_type,
        card.level,
        card.discount_rate,
        card.valid_from,
        card.valid_until,
        sorted(card.services),
        card.hlc,
        card.node,
    ]


def card_from_row(row: object) -> CardIssue:
    """`card_row`'s list back; anything else is refused (InvalidRecord)."""
    if not isinstance(row, list) or len(row) != 10:
        raise InvalidRecord("a card record is a list of 10 fields")
    card_id, member_id, card_type, level, rate, start, end, services, hlc, node = row
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise InvalidRecord("a card's services must be a list of strings")
    return CardIssue(card_id, member_id, card_type, level, rate, start, end, frozenset(services), hlc, node)


def change_row(change: CardChange) -> list[object]:
    return [
        change.change_id,
        change.card_id,
        change.kind,
        change.hlc,
        change.node,
        change.days,
        change.day,
        change.new_card,
        change.from_type,
        change.card_type,
        change.level,
        change.discount_rate,
        change.password,
        # Only when the upgrade set days, so a change written before keeps its bytes.
        *([] if change.valid_until is None else [change.valid_until]),
    ]


def change_from_row(row: object) -> CardChange:
    """`change_row`'s list back; anything else is refused (InvalidRecord)."""
    if not isinstance(row, list) or len(row) not in (13, 14):
        raise InvalidRecord("a card change is a list of 13 fields, or 14 for an upgrade that set days")
    return CardChange(*row)


def contact_row(contact: Contact) -> list[object]:
    return [
        contact.contact_id,
        contact.member_id,
        contact.operator,
        contact.at_ms,
        contact.channel,
        contact.note,
        contact.hlc,
        contact.node,
    ]


def contact_from_row(row: object) -> Contact:
    """`contact_row`'s list back; anything else is refused (InvalidRecord)."""
    if not isinstance(row, list) or len(row) != 8:
        raise InvalidRecord("a contact is a list of 8 fields")
    return Contact(*row)


def reinstatement_row(reinstatement: Reinstatement) -> list[object]:
    return [
        reinstatement.reinstatement_id,
        reinstatement.redemption_id,
        reinstatement.voucher_id,
        reinstatement.hlc,
        reinstatement.node,
    ]


def reinstatement_from_row(row: object) -> Reinstatement:
    """`reinstatement_row`'s list back; anything else is refused (InvalidRecord)."""
    if not isinstance(row, list) or len(row) != 5:
        raise InvalidRecord("a reinstatement is a list of 5 fields")
    return Reinstatement(*row)


def merge(a: Directory, b: Directory) -> Directory:
    """The join of two directory states."""
    profiles: dict[str, dict[str, StampedField]] = {m: dict(p) for m, p in a.profiles.items()}
    for member, profile in b.profiles.items():
        profiles[member] = _merge_profile(profiles.get(member, {}), profile)
    return Directory(
        profiles=profiles,
        card_events=merge_events(a.card_events, b.card_events),
        ledger=merge_ledgers(a.ledger, b.ledger),
        registrations=merge_registrations(a.registrations, b.registrations),
        separations=merge_separations(a.separations, b.separations),
        sightings=merge_sightings(a.sightings, b.sightings),
        redemptions=merge_redemptions(a.redemptions, b.redemptions),
        cards=merge_cards(a.cards, b.cards),
        changes=merge_changes(a.changes, b.changes),
        contacts=merge_contacts(a.contacts, b.contacts),
        reinstatements=merge_reinstatements(a.reinstatements, b.reinstatements),
    )


def decode(data: bytes) -> Directory:
    """A directory from `encode`'s bytes; malformed input is refused (InvalidRecord)."""
    raw = unpack(data)
    try:
        if raw["version"] != ENCODING_VERSION:
            raise InvalidRecord(f"directory encoding version {raw['version']!r} is not {ENCODING_VERSION}")
        profiles: dict[str, dict[str, StampedField]] = {
            member: {name: (s[0], s[1], s[2]) for name, s in profile.items()}
            for member, profile in raw["profiles"].items()
        }
        card_events = [
            CardEvent(i, c, k, h, n, frozenset(seen)) for i, c, k, h, n, seen in raw["card_events"]
        ]
        ledger = [ledger_from_row(row) for row in raw["ledger"]]
        registrations = [
            Registration(m, phone, frozenset(cards), h, n) for m, phone, cards, h, n in raw["registrations"]
        ]
        separations = frozenset(separation(a, b) for a, b in raw["separations"])
        sightings = [Sighting(m, seq) for m, seq in raw["sightings"]]
        redemptions = [Redemption(*row) for row in raw["redemptions"]]
        cards = [card_from_row(row) for row in raw.get("cards", [])]
        changes = [change_from_row(row) for row in raw.get("changes", [])]
        contacts = [contact_from_row(row) for row in raw.get("contacts", [])]
        reinstatements = [reinstatement_from_row(row) for row in raw.get("reinstatements", [])]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InvalidRecord(f"not a directory encoding: {exc!r}") from None
    directory = Directory(separations=separations)
    for member, profile in profiles.items():
        directory = directory.with_profile(member, profile)
    return merge(
        directory,
        Directory(
            card_events={e.event_id: e for e in card_events},
            ledger={e.entry_id: e for e in ledger},
            registrations={r.member_id: r for r in registrations},
            sightings={s.member_id: s for s in sightings},
            redemptions={r.redemption_id: r for r in redemptions},
            cards={c.card_id: c for c in cards},
            changes={c.change_id: c for c in changes},
            contacts={c.contact_id: c for c in contacts},
            reinstatements={r.reinstatement_id: r for r in reinstatements},
        ),
    )


def _merge_profile(current: Profile, incoming: Profile) -> dict[str, StampedField]:
    # merge_profiles keeps the held value on equal stamps; two different values under
    # one stamp would make the result depend on delivery order, so they are refused.
    for name, candidate in incoming.items():
        held = current.get(name)
        if held is not None and held[1:] == candidate[1:] and held[0] != candidate[0]:
            raise ProfileStampConflict(f"field {name!r} has two values under stamp {held[1:]!r}")
    return merge_profiles(current, incoming)
