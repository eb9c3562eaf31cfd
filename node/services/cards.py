"""Member cards at the till: look up, top up (with HQ's bonus rules), buy uses of a
service item, pay unused stored value back, and change status.

Every balance movement is a ledger entry with its own id (conflict.ledger) and
every status change a stamped event (conflict.card_status); each is written to
the directory tables and to the change log in the same transaction. A top-up's
bonus is an entry of its own beside what was paid, so it is never paid back
(conflict.stored_value).
"""

from __future__ import annotations

import datetime
import functools
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from conflict.card_status import CLEARS, CardEvent, in_force
from conflict.credit import credit_position
from conflict.ledger import LedgerEntry
from conflict.stored_value import stored_value
from node.errors import (
    CardBlocked,
    CardExpired,
    InvalidRequest,
    NothingToClear,
    NotOnThisCard,
    NotRefundable,
    OverRepayment,
    UnknownCard,
    WrongCardPassword,
)
from node.services import card_types, catalogue, fields
from node.store.writer import Tx
from protocol import limits
from protocol.contract import CARD_EVENT, LEDGER_ENTRY
from shared_tables import directory_store

STATUS_ACTIONS = ("report_lost", "unlock", "suspend", "resume", "return")


def record_ledger_entry(
    tx: Tx, entry_id: str, card_id: str, ledger: str, kind: str, amount: int, **context: Any
) -> LedgerEntry:
    """Book one ledger movement: a change-log entry and the directory record it carries.
    `context` (sale id, payment mode, hold id) travels in the entry for HQ, not in the
    record; but for `item`, the service item a uses movement counts, and a points
    movement's lot facts (lots, of, expires_at_ms), which are in both. A replaced card's
    movements are booked on its root, the number its balances are kept under
    (conflict.card_life)."""
    card_id = directory_store.card_root(tx.conn, card_id)
    entry = tx.record(
        LEDGER_ENTRY,
        entry_id,
        {"card_id": card_id, "ledger": ledger, "kind": kind, "amount": amount, **context},
    )
    record = LedgerEntry(
        entry_id,
        card_id,
        ledger,
        kind,
        amount,
        entry.hlc,
        tx.log.origin,
        context.get("item", ""),
        tuple((lot_id, points) for lot_id, points in context.get("lots", ())),
        context.get("of", ""),
        context.get("expires_at_ms", 0),
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
    return _day_of_minute(wall_ms // 60_000, zone)


@functools.lru_cache(maxsize=256)
def _day_of_minute(minute: int, zone: datetime.tzinfo) -> str:
    # Asked at every sale. A minute is all one date: every zone's offset from UTC has
    # been whole minutes since 1972, so no midnight falls inside one.
    return datetime.datetime.fromtimestamp(minute * 60, zone).date().isoformat()


def _top_up_answer(conn: sqlite3.Connection, top_up_id: str, replayed: bool) -> dict[str, Any]:
    card_id, paid_fen, bonus_fen, rule, sku, uses = conn.execute(
        "SELECT card_id, amount_fen, bonus_fen, rule, sku, uses FROM top_ups WHERE id = ?", (top_up_id,)
    ).fetchone()
    bought = {} if sku is None else {"sku": sku, "uses": uses}
    return {
        "id": top_up_id,
        **directory_store.card_json(conn, card_id),
        "paid_fen": paid_fen,
        "bonus_fen": bonus_fen,
        "rule": rule,
        **bought,
        "replayed": replayed,
    }


def _replayed_top_up(conn: sqlite3.Connection, request_key: str | None) -> dict[str, Any] | None:
    if request_key is None:
        return None
    row = conn.execute("SELECT id FROM top_ups WHERE request_key = ?", (request_key,)).fetchone()
    return None if row is None else _top_up_answer(conn, row[0], True)


def _usable(conn: sqlite3.Connection, card_id: str, day: str) -> None:
    require_card(conn, card_id)
    require_active(conn, card_id)
    require_valid(conn, card_id, day)


def top_up_job(
    card_id: str,
    amount_fen: int,
    top_up_id: str,
    request_key: str | None,
    zone: datetime.tzinfo = datetime.UTC,
) -> Any:
    """Stored value paid in cash, and the bonus HQ's rules give for it (card_types.top_up_bonus)."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        replayed = _replayed_top_up(conn, request_key)
        if replayed is not None:
            return replayed
        day = day_of(tx.wall_ms, zone)
        _usable(conn, card_id, day)
        issued = directory_store.card_record(conn, card_id)
        rule = card_types.top_up_bonus(conn, None if issued is None else issued.card_type, amount_fen, day)
        record_ledger_entry(tx, top_up_id, card_id, "stored_value", "top_up", amount_fen, paid_by="cash")
        if rule is not None:
            record_ledger_entry(
                tx, f"{top_up_id}-bonus", card_id, "stored_value", "bonus", rule.bonus_fen, rule=rule.code
            )
        conn.execute(
            "INSERT INTO top_ups (id, card_id, amount_fen, at_ms, request_key, kind, bonus_fen, rule)"
            " VALUES (?, ?, ?, ?, ?, 'stored_value', ?, ?)",
            (
                top_up_id,
                card_id,
                amount_fen,
                tx.wall_ms,
                request_key,
                0 if rule is None else rule.bonus_fen,
                None if rule is None else rule.code,
            ),
        )
        return _top_up_answer(conn, top_up_id, False)

    return job


def uses_job(
    card_id: str,
    bought: UsesBought,
    top_up_id: str,
    request_key: str | None,
    zone: datetime.tzinfo = datetime.UTC,
) -> Any:
    """Uses of a service item bought onto a card in cash (a count card topped up): at
    the till's price for the bundle, or the item's price for each use."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        replayed = _replayed_top_up(conn, request_key)
        if replayed is not None:
            return replayed
        _usable(conn, card_id, day_of(tx.wall_ms, zone))
        item = catalogue.product(conn, bought.sku)
        if not item.service:
            raise NotOnThisCard(
                f"{bought.sku} is goods, not a service item: uses are bought of services only"
            )
        paid_fen = item.price_fen * bought.qty if bought.paid_fen is None else bought.paid_fen
        record_ledger_entry(
            tx,
            top_up_id,
            card_id,
            "uses",
            "grant",
            bought.qty,
            item=bought.sku,
            paid_by="cash",
            paid_fen=paid_fen,
        )
        conn.execute(
            "INSERT INTO top_ups (id, card_id, amount_fen, at_ms, request_key, kind, sku, uses)"
            " VALUES (?, ?, ?, ?, ?, 'uses', ?, ?)",
            (top_up_id, card_id, paid_fen, tx.wall_ms, request_key, bought.sku, bought.qty),
        )
        return _top_up_answer(conn, top_up_id, False)

    return job


def payout_job(
    card_id: str,
    payout: Payout,
    payout_id: str,
    event_id: str,
    request_key: str | None,
    checked: Mapping[str, str | None] | None = None,
) -> Any:
    """Unused stored value paid back in cash: only what was paid in, never a bonus
    (conflict.stored_value). Returning the card with it forfeits what is left (the
    bonus) and blocks the card everywhere."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        if request_key is not None:
            row = conn.execute("SELECT id FROM payouts WHERE request_key = ?", (request_key,)).fetchone()
            if row is not None:
                return {**_payout_answer(conn, row[0]), "replayed": True}
        require_card(conn, card_id)
        if checked is not None:  # the password checked before the write is still the card's
            confirm_checked(conn, checked, [card_id])
        if directory_store.card_status(conn, card_id) == "returned":
            raise CardBlocked(f"card {card_id} was returned; its stored value was settled then")
        held = stored_value(directory_store.card_entries(conn, card_id), card_id)
        amount_fen = held.refundable if payout.amount_fen is None else payout.amount_fen
        if amount_fen > held.refundable:
            raise NotRefundable(
                f"card {card_id} may pay back {held.refundable} fen: what was paid in less what was"
                f" taken; the {held.bonus_left} fen beyond it came as a bonus and is not paid back"
            )
        if amount_fen == 0 and not payout.return_card:
            raise NotRefundable(f"card {card_id} holds nothing that may be paid back")
        if amount_fen:
            record_ledger_entry(tx, payout_id, card_id, "stored_value", "payout", -amount_fen, paid_by="cash")
        forfeited = held.balance - amount_fen if payout.return_card else 0
        if forfeited > 0:
            record_ledger_entry(tx, f"{payout_id}-forfeit", card_id, "stored_value", "forfeit", -forfeited)
        if payout.return_card:
            _record_status(tx, card_id, "return", event_id, frozenset())
        conn.execute(
            "INSERT INTO payouts (id, card_id, amount_fen, forfeited_fen, returned, at_ms, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                payout_id,
                card_id,
                amount_fen,
                max(forfeited, 0),
                int(payout.return_card),
                tx.wall_ms,
                request_key,
            ),
        )
        return {**_payout_answer(conn, payout_id), "replayed": False}

    return job


def credit_job(card_id: str, action: str, amount_fen: int, entry_id: str, request_key: str | None) -> Any:
    """More credit granted on the card's line ("grant"), or what is owed repaid in cash
    ("repay"); never more repaid than is owed (conflict.credit)."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        if request_key is not None:
            row = conn.execute("SELECT id FROM credit_moves WHERE request_key = ?", (request_key,)).fetchone()
            if row is not None:
                return {"id": row[0], **credit_json(conn, card_id), "replayed": True}
        require_card(conn, card_id)
        require_active(conn, card_id)
        if action == "repay":
            owed = credit_position(directory_store.card_entries(conn, card_id), card_id).owed
            if amount_fen > owed:
                raise OverRepayment(
                    f"card {card_id} owes {max(owed, 0)} fen on credit here; {amount_fen} is more"
                )
            record_ledger_entry(tx, entry_id, card_id, "credit", "repay", amount_fen, paid_by="cash")
        else:
            record_ledger_entry(tx, entry_id, card_id, "credit", "grant", amount_fen)
        conn.execute(
            "INSERT INTO credit_moves (id, card_id, kind, amount_fen, at_ms, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (entry_id, card_id, action, amount_fen, tx.wall_ms, request_key),
        )
        return {"id": entry_id, **credit_json(conn, card_id), "replayed": False}

    return job


def credit_json(conn: sqlite3.Connection, card_id: str) -> dict[str, Any]:
    position = credit_position(directory_store.card_entries(conn, card_id), card_id)
    return {
        "card": card_id,
        "credit": {
            "granted_fen": position.granted,
            "owed_fen": position.owed,
            "available_fen": position.available,
            "owed_since_ms": None if position.owed_since_hlc is None else position.owed_since_hlc >> 16,
        },
    }


def _payout_answer(conn: sqlite3.Connection, payout_id: str) -> dict[str, Any]:
    card_id, amount_fen, forfeited_fen, returned = conn.execute(
        "SELECT card_id, amount_fen, forfeited_fen, returned FROM payouts WHERE id = ?", (payout_id,)
    ).fetchone()
    return {
        "id": payout_id,
        **directory_store.card_json(conn, card_id),
        "paid_out_fen": amount_fen,
        "forfeited_fen": forfeited_fen,
        "card_returned": bool(returned),
    }


def _record_status(tx: Tx, card_id: str, action: str, event_id: str, seen: frozenset[str]) -> None:
    entry = tx.record(CARD_EVENT, event_id, {"card_id": card_id, "kind": action, "seen": sorted(seen)})
    directory_store.add_records(
        tx.conn, [CardEvent(event_id, card_id, action, entry.hlc, tx.log.origin, seen)]
    )


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
        _record_status(tx, card_id, action, event_id, seen)
        return {**directory_store.card_json(tx.conn, card_id), "event_id": event_id}

    return job


def parse_top_up(body: dict[str, Any]) -> int:
    """A top-up's amount in fen."""
    unknown = set(body) - {"amount_fen"}
    if unknown:
        raise InvalidRequest(f"unknown top-up fields: {', '.join(sorted(unknown))}")
    return fields.integer(body.get("amount_fen"), "amount_fen", minimum=1, maximum=fields.MAX_AMOUNT_FEN)


class UsesBought(NamedTuple):
    sku: str
    qty: int
    paid_fen: int | None  # the bundle's price; None: the item's price for each use


def parse_uses(body: dict[str, Any]) -> UsesBought:
    unknown = set(body) - {"sku", "qty", "amount_fen"}
    if unknown:
        raise InvalidRequest(f"unknown fields for uses bought: {', '.join(sorted(unknown))}")
    paid = body.get("amount_fen")
    return UsesBought(
        sku=str(fields.text(body, "sku")),
        qty=fields.integer(body.get("qty"), "qty", minimum=1, maximum=limits.MAX_CARD_USES),
        paid_fen=None
        if paid is None
        else fields.integer(paid, "amount_fen", minimum=0, maximum=fields.MAX_AMOUNT_FEN),
    )


CREDIT_ACTIONS = ("grant", "repay")


def parse_credit(body: dict[str, Any]) -> tuple[str, int]:
    """A credit move: {action: grant | repay, amount_fen}."""
    action = body.get("action")
    if action not in CREDIT_ACTIONS or set(body) != {"action", "amount_fen"}:
        raise InvalidRequest(f"give action ({' or '.join(CREDIT_ACTIONS)}) and amount_fen")
    return str(action), fields.integer(
        body.get("amount_fen"), "amount_fen", minimum=1, maximum=fields.MAX_AMOUNT_FEN
    )


class Payout(NamedTuple):
    amount_fen: int | None  # None: all that may be paid back
    return_card: bool
    password: str | None = None  # the card's, when it has one (node.services.card_life)


def parse_payout(body: dict[str, Any]) -> Payout:
    unknown = set(body) - {"amount_fen", "return_card", "password"}
    if unknown:
        raise InvalidRequest(f"unknown payout fields: {', '.join(sorted(unknown))}")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise InvalidRequest("password must be text")
    amount = body.get("amount_fen")
    return_card = body.get("return_card", False)
    if not isinstance(return_card, bool):
        raise InvalidRequest("return_card must be true or false")
    return Payout(
        None
        if amount is None
        else fields.integer(amount, "amount_fen", minimum=1, maximum=fields.MAX_AMOUNT_FEN),
        return_card,
        password,
    )


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


def confirm_checked(
    conn: sqlite3.Connection, checked: Mapping[str, str | None], cards: Iterable[str]
) -> None:
    """Inside the write: each card's password is still the one checked before it."""
    for card in cards:
        held = directory_store.card_password(conn, card)
        if held is not None and checked.get(card) != held:
            raise WrongCardPassword(f"card {card} has a password: ask the member to key it in")
