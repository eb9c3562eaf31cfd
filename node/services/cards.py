"""Member cards at the till: look up, top up, and change status.

Every balance movement is a ledger entry with its own id (conflict.ledger) and
every status change a stamped event (conflict.card_status); each is written to
the directory tables and to the change log in the same transaction.
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any

from conflict.card_status import CLEARS, CardEvent, in_force
from conflict.ledger import LedgerEntry
from node.errors import CardBlocked, CardExpired, InvalidRequest, NothingToClear, UnknownCard
from node.services import fields
from node.store.writer import Tx
from protocol.contract import CARD_EVENT, LEDGER_ENTRY
from shared_tables import directory_store

STATUS_ACTIONS = ("report_lost", "unlock", "suspend", "resume", "return")


def record_ledger_entry(
    tx: Tx, entry_id: str, card_id: str, ledger: str, kind: str, amount: int, **context: Any
) -> LedgerEntry:
    """Book one ledger movement: a change-log entry and the directory record it carries.
    `context` (sale id, payment mode, hold id) travels in the entry for HQ, not in the
    record; but for `item`, the service item a uses movement counts, which is in both."""
    entry = tx.record(
        LEDGER_ENTRY,
        entry_id,
        {"card_id": card_id, "ledger": ledger, "kind": kind, "amount": amount, **context},
    )
    record = LedgerEntry(
        entry_id, card_id, ledger, kind, amount, entry.hlc, tx.log.origin, context.get("item", "")
    )
    directory_store.add_records(tx.conn, [record])
    return record


def require_card(conn: sqlite3.Connection, card_id: str) -> str:
    """The member holding the card (before alias resolution); unknown cards are refused."""
    owner = directory_store.card_owner(conn, card_id)
    if owner is None:
        raise UnknownCard(
            f"no member at this branch holds card {card_id}; if issued elsewhere, wait for the sync"
        )
    return owner


def require_active(conn: sqlite3.Connection, card_id: str) -> None:
    state = directory_store.card_status(conn, card_id)
    if state != "active":
        raise CardBlocked(f"card {card_id} is {state}; it cannot be used until it is unlocked")


def require_valid(conn: sqlite3.Connection, card_id: str, day: str) -> None:
    """A card of a type pays only within its validity (a plain card always may)."""
    issued = directory_store.card_record(conn, card_id)
    if issued is not None and not issued.valid_on(day):
        until = issued.valid_until or "no end"
        raise CardExpired(
            f"card {card_id} is valid from {issued.valid_from} to {until}; today is {day}."
            " Renew it, or take another tender"
        )


def day_of(wall_ms: int, zone: datetime.tzinfo = datetime.UTC) -> str:
    """The date a card's validity is judged on: the branch's own date (its time zone,
    node.config), since a card valid to the 29th is valid to midnight where it is used."""
    return datetime.datetime.fromtimestamp(wall_ms / 1000, zone).date().isoformat()


def top_up_job(card_id: str, amount_fen: int, top_up_id: str, request_key: str | None) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        if request_key is not None:
            row = tx.conn.execute("SELECT id FROM top_ups WHERE request_key = ?", (request_key,)).fetchone()
            if row is not None:
                return {"id": row[0], **directory_store.card_json(tx.conn, card_id), "replayed": True}
        require_card(tx.conn, card_id)
        require_active(tx.conn, card_id)
        record_ledger_entry(tx, top_up_id, card_id, "stored_value", "top_up", amount_fen, paid_by="cash")
        tx.conn.execute(
            "INSERT INTO top_ups (id, card_id, amount_fen, at_ms, request_key) VALUES (?, ?, ?, ?, ?)",
            (top_up_id, card_id, amount_fen, tx.wall_ms, request_key),
        )
        return {"id": top_up_id, **directory_store.card_json(tx.conn, card_id), "replayed": False}

    return job


def status_job(card_id: str, action: str, event_id: str) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        require_card(tx.conn, card_id)
        events = directory_store.card_events(tx.conn, card_id)
        if any(e.kind == "return" for e in events):
            raise CardBlocked(f"card {card_id} was returned; a returned card takes no further changes")
        seen: frozenset[str] = frozenset()
        if action in CLEARS:
            # Clear exactly what this branch has seen; a loss reported elsewhere
            # and not yet synced here stays in force when it arrives.
            seen = frozenset(e.event_id for e in in_force(events, CLEARS[action]))
            if not seen:
                what = "loss report" if action == "unlock" else "suspension"
                raise NothingToClear(f"card {card_id} has no {what} in force at this branch")
        entry = tx.record(CARD_EVENT, event_id, {"card_id": card_id, "kind": action, "seen": sorted(seen)})
        directory_store.add_records(
            tx.conn, [CardEvent(event_id, card_id, action, entry.hlc, tx.log.origin, seen)]
        )
        return {**directory_store.card_json(tx.conn, card_id), "event_id": event_id}

    return job


def parse_top_up(body: dict[str, Any]) -> int:
    """A top-up's amount in fen."""
    unknown = set(body) - {"amount_fen"}
    if unknown:
        raise InvalidRequest(f"unknown top-up fields: {', '.join(sorted(unknown))}")
    return fields.integer(body.get("amount_fen"), "amount_fen", minimum=1, maximum=fields.MAX_AMOUNT_FEN)


def parse_status(body: dict[str, Any]) -> str:
    """A status change's action, one of STATUS_ACTIONS."""
    action = body.get("action")
    if action not in STATUS_ACTIONS or set(body) != {"action"}:
        raise InvalidRequest(f"give exactly one field, action, one of {', '.join(STATUS_ACTIONS)}")
    return str(action)


def card_view(conn: sqlite3.Connection, card_id: str) -> dict[str, Any]:
    """The card's balances and status, with the member (as its survivor) who holds it."""
    owner = require_card(conn, card_id)
    member = directory_store.group_of(conn, owner).survivor(owner)
    return {**directory_store.card_json(conn, card_id), "member_id": member}
