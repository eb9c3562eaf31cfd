"""HQ's conflict queue: what each conflict record says, and what resolving it writes.

Records are derived from conflict/'s pure views (overdrafts, duplicate groups,
voucher outcomes) and are keyed by what caused them, so recomputing after any
delivery order finds the same records. The storage backends keep them; the
decisions (which actions fit, which directory records a resolution writes) are
here, so SQLite and PostgreSQL cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from conflict.card_life import CardChange, double_replacements, paid_after_return, stale_upgrades
from conflict.card_status import CardEvent
from conflict.cards import CardIssue
from conflict.duplicates import DuplicateResolution, Registration, Sighting, separation
from conflict.ledger import LedgerEntry
from conflict.overdraft import OverdraftRecord, find_overdrafts
from conflict.voucher_use import Reinstatement
from conflict.vouchers import Redemption, settle_vouchers
from conflict.wire import DirectoryRecord, to_payload
from hq.errors import ActionNotOffered, ConflictClosed, UnknownConflict

# What an operator may do with each kind of conflict.
ACTIONS: Mapping[str, tuple[str, ...]] = {
    # The merge stands (confirm) or the two were different people (separate).
    "duplicate_member": ("confirm", "separate"),
    # The shortfall is forgiven and booked as a loss (write_off), or stays on the
    # card as debt that the member's next top-up repays (collect).
    "overdraft": ("write_off", "collect"),
    # A voucher used twice: the second use's value is a loss, or is asked back.
    "voucher_reused": ("write_off", "collect"),
    # One card replaced at two branches apart: the earlier new number is the card and
    # the later one is refused (conflict.card_life); someone must take the refused card
    # back from the member, and its fee may be owed back.
    "card_replaced_twice": ("acknowledge",),
    # An upgrade reckoned from a type another upgrade had already replaced: its price
    # difference was worked out on the wrong type and may need settling with the member.
    "stale_upgrade": ("acknowledge",),
    # A renewal, upgrade or replacement paid for at a branch that had not heard the card
    # was returned elsewhere: the fee is owed back to the member.
    "paid_after_return": ("acknowledge",),
    # One card number sold at two branches apart: the first sale HQ heard of keeps the
    # number; the other member paid for a card nobody else knows, and must be given
    # another with what it held.
    "card_sold_twice": ("acknowledge",),
}

# The node id HQ stamps its own directory records with.
HQ_NODE = "hq"


@dataclass(frozen=True)
class ConflictRecord:
    id: str
    kind: str
    subject: str  # the card, member or voucher it is about
    branches: tuple[str, ...]  # where the competing writes happened
    amount_fen: int  # what is at stake (0 for a duplicate member)
    summary: str  # one line a person can read
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def actions(self) -> tuple[str, ...]:
        return ACTIONS[self.kind]


@dataclass(frozen=True)
class Conflict:
    """A conflict as HQ's queue holds it: the record, its state and any resolution."""

    id: str
    kind: str
    state: str  # open | resolved | cleared
    subject: str
    branches: tuple[str, ...]
    amount_fen: int
    summary: str
    details: dict[str, Any]
    detected_at_ms: int
    updated_at_ms: int
    resolution: dict[str, Any] | None
    resolved_at_ms: int | None
    # What an operator may do; fixed when the conflict is read (an open one's kind's actions).
    actions: tuple[str, ...]

    def record(self) -> ConflictRecord:
        return ConflictRecord(
            self.id, self.kind, self.subject, self.branches, self.amount_fen, self.summary, self.details
        )

    def as_json(self) -> dict[str, Any]:
        """The conflict as the API and the CLI show it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "subject": self.subject,
            "branches": list(self.branches),
            "amount_fen": self.amount_fen,
            "summary": self.summary,
            "details": self.details,
            "detected_at_ms": self.detected_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "resolution": self.resolution,
            "resolved_at_ms": self.resolved_at_ms,
            "actions": list(self.actions),
        }


def stored_conflict(
    record: ConflictRecord,
    state: str,
    detected_at_ms: int,
    updated_at_ms: int,
    resolution: dict[str, Any] | None,
    resolved_at_ms: int | None,
) -> Conflict:
    """A queued conflict as a backend reads it back: an open one offers its kind's actions."""
    return Conflict(
        record.id,
        record.kind,
        state,
        record.subject,
        record.branches,
        record.amount_fen,
        record.summary,
        record.details,
        detected_at_ms,
        updated_at_ms,
        resolution,
        resolved_at_ms,
        ACTIONS[record.kind] if state == "open" else (),
    )


def details_text(details: Mapping[str, Any]) -> str:
    """A conflict's details as stored: canonical JSON, so an unchanged conflict compares equal."""
    return json.dumps(details, sort_keys=True)


def check_open(conflict: Conflict | None, conflict_id: str) -> Conflict:
    """The conflict an operator resolves: it must exist and still be open."""
    if conflict is None:
        raise UnknownConflict(f"no conflict {conflict_id}")
    if conflict.state != "open":
        raise ConflictClosed(f"conflict {conflict_id} is {conflict.state}; nothing to resolve")
    return conflict


def resolution(
    conflict: Conflict, action: str, note: str, by: str, at_ms: int, records: Iterable[DirectoryRecord]
) -> dict[str, Any]:
    """What a resolution says, kept with the conflict and sent to every branch."""
    return {
        "id": conflict.id,
        "kind": conflict.kind,
        "action": action,
        "note": note,
        "by": by,
        "at_ms": at_ms,
        "records": [to_payload(r) for r in records],
    }


def answered(conflict: Conflict, resolution: dict[str, Any]) -> Conflict:
    """The conflict as the resolving operator is answered: resolved, with its resolution;
    the rest as it was read (the actions it offered when it was resolved)."""
    return replace(conflict, state="resolved", resolution=resolution)


# -- what a batch of directory records may have raised or cleared ------------------------


@dataclass(frozen=True)
class Touched:
    """The subjects whose conflicts records may change: cards with ledger entries, members
    registered or separated, vouchers redeemed or reinstated; each sorted, so every
    backend walks them alike."""

    cards: tuple[str, ...]
    members: tuple[str, ...]
    vouchers: tuple[str, ...]
    changed_cards: tuple[str, ...] = ()  # numbers with card changes filed under them
    returned_cards: tuple[str, ...] = ()  # numbers a return was filed under


def touched(records: Iterable[DirectoryRecord]) -> Touched:
    records = list(records)
    cards = {r.card_id for r in records if isinstance(r, LedgerEntry)}
    members = {r.member_id for r in records if isinstance(r, (Registration, Sighting))}
    # A separation regroups its two members (and whoever they joined through).
    members |= {m for r in records if isinstance(r, tuple) for m in r}
    vouchers = {r.voucher_id for r in records if isinstance(r, (Redemption, Reinstatement))}
    changed = {r.card_id for r in records if isinstance(r, CardChange)}
    returned = {r.card_id for r in records if isinstance(r, CardEvent) and r.kind == "return"}
    return Touched(
        tuple(sorted(cards)),
        tuple(sorted(members)),
        tuple(sorted(vouchers)),
        tuple(sorted(changed)),
        tuple(sorted(returned)),
    )


def card_change_conflicts(issued_type: str | None, changes: list[CardChange]) -> list[ConflictRecord]:
    """A number replaced twice, and upgrades reckoned from a stale type (conflict.card_life
    rules 2 and 3), from every change filed under the number."""
    found = [_replaced_twice(winner, loser) for winner, loser in double_replacements(changes)]
    if issued_type is not None:
        found += [_stale_upgrade(before, upgrade) for before, upgrade in stale_upgrades(issued_type, changes)]
    return found


def fees_after_return(
    events: list[CardEvent], changes: list[CardChange], fee_of: Callable[[CardChange], int]
) -> list[ConflictRecord]:
    """The paid changes made after the card's return (conflict.card_life rule 6), each
    with the fee the branch took for it (`fee_of`: HQ's booking of the change's sale)."""
    return [
        _paid_after_return(returned, change, fee_of(change))
        for returned, change in paid_after_return(events, changes)
    ]


def _paid_after_return(returned: CardEvent, change: CardChange, fee_fen: int) -> ConflictRecord:
    return ConflictRecord(
        id=f"after-return:{change.change_id}",
        kind="paid_after_return",
        subject=change.card_id,
        branches=tuple(sorted({returned.node, change.node})),
        amount_fen=fee_fen,
        summary=(
            f"card {change.card_id} was returned at {returned.node}, then {_CHANGED[change.kind]} at"
            f" {change.node}, which had not heard of the return: {fee_fen} fen paid for it is owed"
            " back to the member"
        ),
        details={
            "card": change.card_id,
            "change_id": change.change_id,
            "kind": change.kind,
            "branch": change.node,
            "fee_fen": fee_fen,
            "returned": {"event_id": returned.event_id, "branch": returned.node},
        },
    )


_CHANGED = {"renew": "renewed", "upgrade": "upgraded", "replace": "replaced"}


def _replaced_twice(winner: CardChange, loser: CardChange) -> ConflictRecord:
    return ConflictRecord(
        id=f"replaced:{loser.change_id}",
        kind="card_replaced_twice",
        subject=winner.card_id,
        branches=tuple(sorted({winner.node, loser.node})),
        amount_fen=0,
        summary=(
            f"card {winner.card_id} was replaced at {winner.node} by {winner.new_card} and again at"
            f" {loser.node} by {loser.new_card}; {winner.new_card} is the card, {loser.new_card} is refused"
        ),
        details={
            "card": winner.card_id,
            "winner": {"change_id": winner.change_id, "branch": winner.node, "new_card": winner.new_card},
            "refused": {"change_id": loser.change_id, "branch": loser.node, "new_card": loser.new_card},
        },
    )


def sold_twice(kept: CardIssue, refused: CardIssue, filling: list[LedgerEntry]) -> ConflictRecord:
    """The card sale HQ heard of second, for a number another branch had already sold on
    other terms: its takings are booked, its card record and what it put on the card
    (`filling`: stored value, credit, uses) are not, since they would land on the other
    member's card. What it put on is what the operator must carry to a new card."""
    stored = sum(entry.amount for entry in filling if entry.ledger == "stored_value")
    uses = {entry.item: entry.amount for entry in filling if entry.ledger == "uses"}
    return ConflictRecord(
        id=f"sold-twice:{refused.node}:{refused.card_id}:{refused.hlc}",
        kind="card_sold_twice",
        subject=refused.card_id,
        branches=tuple(sorted({kept.node, refused.node})),
        amount_fen=stored,
        summary=(
            f"card {refused.card_id} was sold at {kept.node} to member {kept.member_id} ({kept.card_type})"
            f" and at {refused.node} to member {refused.member_id} ({refused.card_type}) while apart; the"
            f" number stays {kept.member_id}'s: give {refused.member_id} another card with"
            f" {stored} fen of stored value{''.join(f', {qty} x {sku}' for sku, qty in sorted(uses.items()))}"
        ),
        details={
            "card": refused.card_id,
            "kept": {"branch": kept.node, "member_id": kept.member_id, "card_type": kept.card_type},
            "refused": {
                "branch": refused.node,
                "member_id": refused.member_id,
                "card_type": refused.card_type,
                "stored_value_fen": stored,
                "uses": dict(sorted(uses.items())),
                "entries": sorted(entry.entry_id for entry in filling),
            },
        },
    )


def _stale_upgrade(before: str, upgrade: CardChange) -> ConflictRecord:
    return ConflictRecord(
        id=f"upgrade:{upgrade.change_id}",
        kind="stale_upgrade",
        subject=upgrade.card_id,
        branches=(upgrade.node,),
        amount_fen=0,
        summary=(
            f"card {upgrade.card_id} was upgraded at {upgrade.node} from {upgrade.from_type} to"
            f" {upgrade.card_type}, but it was a {before} card by then: the difference was reckoned"
            " on the wrong type"
        ),
        details={
            "card": upgrade.card_id,
            "change_id": upgrade.change_id,
            "branch": upgrade.node,
            "from_type": upgrade.from_type,
            "to_type": upgrade.card_type,
            "type_in_force": before,
        },
    )


def card_overdrafts(card_id: str, entries: list[LedgerEntry]) -> list[ConflictRecord]:
    """Every overdraft of every ledger of the card, from all its entries."""
    by_id = {e.entry_id: e for e in entries}
    return [
        overdraft_conflict(record, by_id)
        for ledger, item in sorted({(e.ledger, e.item) for e in entries})
        for record in find_overdrafts(entries, card_id, ledger, item=item)
    ]


def group_duplicates(
    registrations: Mapping[str, Registration],
    duplicates: DuplicateResolution,
    sightings: Mapping[str, Sighting],
    balances_of: Callable[[str], Mapping[str, int]],
) -> tuple[list[ConflictRecord], list[str]]:
    """A duplicate group's conflicts (one per alias), and the ids of the conflicts of its
    members that are no alias any more (an earlier registration or a separation changed
    the group): those are cleared."""
    found = []
    for members in duplicates.groups:
        survivor = registrations[members[0]]
        for alias_id in members[1:]:
            alias = registrations[alias_id]
            balances = {
                card: balances_of(card) for card in sorted(survivor.card_numbers | alias.card_numbers)
            }
            found.append(duplicate_conflict(survivor, alias, sightings, balances))
    not_aliases = [f"duplicate:{m}" for m in registrations if m not in duplicates.aliases]
    return found, not_aliases


def voucher_reuses(redemptions: list[Redemption], voucher_id: str) -> list[ConflictRecord]:
    """The reuses of a voucher among its standing redemptions (those no return
    reinstated: conflict.voucher_use); none when a return gave its only use back."""
    outcome = settle_vouchers(redemptions)
    winner = outcome.winners.get(voucher_id)
    return [] if winner is None else [voucher_conflict(flagged, winner) for flagged in outcome.flagged]


def overdraft_conflict(record: OverdraftRecord, entries: Mapping[str, LedgerEntry]) -> ConflictRecord:
    competing = [entries[i] for i in (*record.earlier_debits, record.entry_id) if i in entries]
    unit = "fen" if record.ledger in ("stored_value", "credit") else record.ledger
    where = ", ".join(sorted({e.node for e in competing}))
    overdrawn = entries.get(record.entry_id)
    # Uses are counted per service item: the item overspent is named, and a write-off
    # gives back that item's uses.
    item = "" if overdrawn is None else overdrawn.item
    balance = f"{record.ledger} balance" if not item else f"{record.ledger} balance of {item}"
    return ConflictRecord(
        id=f"overdraft:{record.entry_id}",
        kind="overdraft",
        subject=record.card_id,
        branches=tuple(sorted({e.node for e in competing})),
        amount_fen=record.shortfall if unit == "fen" else 0,
        summary=(
            f"card {record.card_id}: spends at {where} together exceeded the {balance};"
            f" {record.shortfall} {unit} short, balance now {record.balance_after}"
        ),
        details={
            "card": record.card_id,
            "ledger": record.ledger,
            "entry_id": record.entry_id,
            "shortfall": record.shortfall,
            "balance_after": record.balance_after,
            **({"item": item} if item else {}),
            "entries": [
                {"entry_id": e.entry_id, "branch": e.node, "kind": e.kind, "amount": e.amount, "hlc": e.hlc}
                for e in competing
            ],
        },
    )


def duplicate_conflict(
    survivor: Registration,
    alias: Registration,
    sightings: Mapping[str, Sighting],
    balances: Mapping[str, Mapping[str, int]],
) -> ConflictRecord:
    shared = sorted(set(survivor.keys) & set(alias.keys))
    return ConflictRecord(
        id=f"duplicate:{alias.member_id}",
        kind="duplicate_member",
        subject=survivor.member_id,
        branches=tuple(sorted({survivor.node, alias.node})),
        amount_fen=0,
        summary=(
            f"member {alias.member_id} (registered at {alias.node}) shares {', '.join(shared)} with"
            f" {survivor.member_id} (registered at {survivor.node}); merged into {survivor.member_id},"
            " which HQ saw first"
        ),
        details={
            "survivor": _registration_json(survivor, sightings),
            "alias": _registration_json(alias, sightings),
            "shared_keys": shared,
            "card_balances": {card: dict(b) for card, b in sorted(balances.items())},
        },
    )


def voucher_conflict(flagged: Redemption, winner: Redemption) -> ConflictRecord:
    return ConflictRecord(
        id=f"voucher:{flagged.redemption_id}",
        kind="voucher_reused",
        subject=flagged.voucher_id,
        branches=tuple(sorted({flagged.node, winner.node})),
        amount_fen=flagged.amount_fen,
        summary=(
            f"voucher {flagged.voucher_id} was used at {winner.node} first and again at {flagged.node};"
            f" the second use took {flagged.amount_fen} fen off a sale"
        ),
        details={
            "voucher": flagged.voucher_id,
            "winner": {"redemption_id": winner.redemption_id, "branch": winner.node, "hlc": winner.hlc},
            "flagged": {
                "redemption_id": flagged.redemption_id,
                "branch": flagged.node,
                "hlc": flagged.hlc,
                "amount_fen": flagged.amount_fen,
            },
        },
    )


def resolution_records(
    conflict: ConflictRecord, action: str, entry_id: str, hlc: int
) -> list[DirectoryRecord]:
    """The directory records an action writes (none for those that only decide)."""
    if action not in conflict.actions:
        raise ActionNotOffered(
            f"{action!r} does not fit a {conflict.kind} conflict; choose one of {', '.join(conflict.actions)}"
        )
    if conflict.kind == "duplicate_member" and action == "separate":
        alias = conflict.details["alias"]["member_id"]
        survivor = conflict.details["survivor"]["member_id"]
        return [separation(alias, survivor)]
    if conflict.kind == "overdraft" and action == "write_off":
        details = conflict.details
        return [
            LedgerEntry(
                entry_id,
                details["card"],
                details["ledger"],
                "adjust",
                details["shortfall"],
                hlc,
                HQ_NODE,
                details.get("item", ""),
            )
        ]
    return []


def _registration_json(registration: Registration, sightings: Mapping[str, Sighting]) -> dict[str, Any]:
    seen = sightings.get(registration.member_id)
    return {
        "member_id": registration.member_id,
        "branch": registration.node,
        "phone": registration.phone,
        "cards": sorted(registration.card_numbers),
        "hlc": registration.hlc,
        # HQ's order of first sight: the survivor is the smallest (conflict.duplicates).
        "seen_by_hq": None if seen is None else seen.seq,
    }
