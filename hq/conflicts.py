"""HQ's conflict queue: what each conflict record says, and what resolving it writes.

Records are derived from conflict/'s pure views (overdrafts, duplicate groups,
voucher outcomes) and are keyed by what caused them, so recomputing after any
delivery order finds the same records. The storage backends keep them; the
decisions (which actions fit, which directory records a resolution writes) are
here, so SQLite and PostgreSQL cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conflict.duplicates import Registration, separation
from conflict.ledger import LedgerEntry
from conflict.overdraft import OverdraftRecord
from conflict.vouchers import Redemption
from conflict.wire import DirectoryRecord
from protocol.errors import Refused

# What an operator may do with each kind of conflict.
ACTIONS: Mapping[str, tuple[str, ...]] = {
    # The merge stands (confirm) or the two were different people (separate).
    "duplicate_member": ("confirm", "separate"),
    # The shortfall is forgiven and booked as a loss (write_off), or stays on the
    # card as debt that the member's next top-up repays (collect).
    "overdraft": ("write_off", "collect"),
    # A voucher used twice: the second use's value is a loss, or is asked back.
    "voucher_reused": ("write_off", "collect"),
}

# The node id HQ stamps its own directory records with.
HQ_NODE = "hq"


class UnknownConflict(Refused):
    """No conflict has this id; list them with `branchline hq conflicts list`."""

    http_status = 404
    code = "unknown_conflict"


class ConflictClosed(Refused):
    """The conflict is already resolved (or cleared by later data); nothing to do."""

    http_status = 409
    code = "conflict_closed"


class ActionNotOffered(Refused):
    """The action does not fit this kind of conflict; the message lists those that do."""

    http_status = 422
    code = "action_not_offered"


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


def overdraft_conflict(record: OverdraftRecord, entries: Mapping[str, LedgerEntry]) -> ConflictRecord:
    competing = [entries[i] for i in (*record.earlier_debits, record.entry_id) if i in entries]
    unit = "fen" if record.ledger in ("stored_value", "credit") else record.ledger
    where = ", ".join(sorted({e.node for e in competing}))
    return ConflictRecord(
        id=f"overdraft:{record.entry_id}",
        kind="overdraft",
        subject=record.card_id,
        branches=tuple(sorted({e.node for e in competing})),
        amount_fen=record.shortfall if unit == "fen" else 0,
        summary=(
            f"card {record.card_id}: spends at {where} together exceeded the {record.ledger} balance;"
            f" {record.shortfall} {unit} short, balance now {record.balance_after}"
        ),
        details={
            "card": record.card_id,
            "ledger": record.ledger,
            "entry_id": record.entry_id,
            "shortfall": record.shortfall,
            "balance_after": record.balance_after,
            "entries": [
                {"entry_id": e.entry_id, "branch": e.node, "kind": e.kind, "amount": e.amount, "hlc": e.hlc}
                for e in competing
            ],
        },
    )


def duplicate_conflict(
    survivor: Registration, alias: Registration, balances: Mapping[str, Mapping[str, int]]
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
            f" {survivor.member_id} (registered at {survivor.node}, earlier); merged into the earlier one"
        ),
        details={
            "survivor": _registration_json(survivor),
            "alias": _registration_json(alias),
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
                entry_id, details["card"], details["ledger"], "adjust", details["shortfall"], hlc, HQ_NODE
            )
        ]
    return []


def _registration_json(registration: Registration) -> dict[str, Any]:
    return {
        "member_id": registration.member_id,
        "branch": registration.node,
        "phone": registration.phone,
        "cards": sorted(registration.card_numbers),
        "hlc": registration.hlc,
    }
