"""A card's life at the till after its sale (FEATURES M5): renewed, replaced by a new
number, upgraded to a dearer type, given a password.

Each is one write and one change entry (CARD_CHANGE), and what the member paid for it
is takings as a card sale's price is: a renewal at its type's `renew_fen`, a
replacement card at its `replace_fen`, an upgrade at the difference between the two
types' prices (with the stored value, credit and uses the dearer type adds, and its
validity from the upgrade's day; conflict.card_life rule 3). The directory
records are derived from the entry by the same function here and at every replica
(conflict.wire.card_change_records). All of it works offline; what two branches do to
one card while apart merges by conflict.card_life's rules.

A card password is a salted Argon2 hash (protocol.passwords) kept in the directory,
so any branch checks it offline. It is checked before the write, on a worker thread
(a hash takes about 55 ms), and wrong ones are slowed down per card
(protocol.throttle); the write then confirms the password it checked is still the
card's, so a change that raced the check cannot be spent past.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Literal, NamedTuple

from conflict.wire import card_change_records
from node.errors import (
    CardBlocked,
    CardNotChangeable,
    CardTaken,
    InvalidRequest,
    TenderShort,
    UnknownCard,
    WrongCardPassword,
)
from node.services import fields
from node.services.card_sales import cash_tenders
from node.services.card_types import card_type, card_type_sold
from node.services.cards import day_of, require_card
from node.store.store import Store
from node.store.writer import Tx
from protocol import limits, passwords
from protocol.contract import CARD_CHANGE
from protocol.throttle import FailureThrottle
from shared_tables import directory_store

# A card password is what a member keys in at a PIN pad: digits or a short word.
MIN_CARD_PASSWORD_CHARS = 6
MAX_CARD_PASSWORD_CHARS = 32
# Five wrong passwords for one card in a quarter of an hour lock it for a quarter of an
# hour: a six-digit password then takes years to guess at one till.
PASSWORD_FAILURES = 5
PASSWORD_WINDOW_MS = 15 * 60_000


class ChangeRequest(NamedTuple):
    kind: str  # renew | replace | upgrade
    cash_fen: tuple[int, ...]
    request_key: str | None
    days: int | None = None  # renew: for a type with no validity_days of its own
    new_card: str | None = None  # replace
    card_type: str | None = None  # upgrade


def parse_change(kind: str, body: dict[str, Any], request_key: str | None) -> ChangeRequest:
    """A renewal {days?, tenders?}, a replacement {new_card, tenders?} or an upgrade
    {card_type, tenders?}; the tenders are cash, as for a card sale."""
    allowed = {"tenders", {"renew": "days", "replace": "new_card", "upgrade": "card_type"}[kind]}
    unknown = set(body) - allowed
    if unknown:
        raise InvalidRequest(f"unknown fields for a {kind}: {', '.join(sorted(unknown))}")
    cash = cash_tenders(body.get("tenders", []), minimum=0)
    key = fields.request_key(request_key)
    if kind == "renew":
        days = body.get("days")
        return ChangeRequest(
            kind,
            cash,
            key,
            days=None
            if days is None
            else fields.integer(days, "days", minimum=1, maximum=limits.MAX_CARD_VALIDITY_DAYS),
        )
    if kind == "replace":
        return ChangeRequest(kind, cash, key, new_card=fields.card_number(body.get("new_card"), "new_card"))
    return ChangeRequest(kind, cash, key, card_type=str(fields.text(body, "card_type")))


class _Change(NamedTuple):
    filed_under: str  # the root, or the number replaced
    detail: dict[str, Any]
    fee_fen: int
    stored_value_fen: int = 0
    credit_limit_fen: int = 0


def change_job(card_id: str, request: ChangeRequest, change_id: str, zone: datetime.tzinfo) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        replayed = _replayed(conn, request.request_key)
        if replayed is not None:
            return replayed
        require_card(conn, card_id)
        state = directory_store.card_status(conn, card_id)
        # A lost or suspended card is what gets replaced; nothing else changes a card
        # that may not be used.
        if state in ("returned", "replaced") or (state != "active" and request.kind != "replace"):
            raise CardBlocked(f"card {card_id} is {state}; it takes no {request.kind}")
        today = day_of(tx.wall_ms, zone)
        change = _PLANS[request.kind](conn, card_id, request, today)
        return _book(tx, card_id, request, change_id, change)

    return job


def _renewal(conn: sqlite3.Connection, card_id: str, request: ChangeRequest, today: str) -> _Change:
    issued = directory_store.card_record(conn, card_id)
    if issued is None:
        raise CardNotChangeable(f"card {card_id} is a plain card: it never expires, so it is not renewed")
    if not issued.valid_until:
        raise CardNotChangeable(f"card {card_id} ({issued.card_type}) never expires: nothing to renew")
    kind = card_type_sold(conn, issued.card_type)
    type_days = None if kind is None else kind.validity_days
    if type_days is not None and request.days not in (None, type_days):
        raise CardNotChangeable(
            f"a {issued.card_type} card renews by its {type_days} days, not {request.days}"
        )
    days = type_days or request.days
    if days is None:
        raise InvalidRequest(f"a {issued.card_type} card runs to a fixed day: give the days the renewal adds")
    return _Change(
        directory_store.card_root(conn, card_id),
        {"days": days, "day": today},
        0 if kind is None else kind.renew_fen,
    )


def _replacement(conn: sqlite3.Connection, card_id: str, request: ChangeRequest, today: str) -> _Change:
    new_card = str(request.new_card)
    owner = directory_store.card_owner(conn, new_card)
    if owner is not None or directory_store.card_root(conn, new_card) != new_card:
        raise CardTaken(f"card {new_card} is already in use; hand over a blank card")
    issued = directory_store.card_record(conn, card_id)
    kind = None if issued is None else card_type_sold(conn, issued.card_type)
    return _Change(card_id, {"new_card": new_card}, 0 if kind is None else kind.replace_fen)


def _upgrade(conn: sqlite3.Connection, card_id: str, request: ChangeRequest, today: str) -> _Change:
    issued = directory_store.card_record(conn, card_id)
    if issued is None:
        raise CardNotChangeable(f"card {card_id} is a plain card: sell the member a card of a type instead")
    target = card_type(conn, str(request.card_type))
    current = card_type_sold(conn, issued.card_type)
    if current is None:
        raise CardNotChangeable(
            f"card {card_id}'s type {issued.card_type} has not reached this branch: upgrade it after the sync"
        )
    if target.code == issued.card_type:
        raise CardNotChangeable(f"card {card_id} is a {issued.card_type} card already")
    if target.price_fen < current.price_fen:
        raise CardNotChangeable(
            f"{target.code} costs {target.price_fen} fen, less than {current.code}'s {current.price_fen}:"
            " an upgrade goes to a dearer type; return the card for a cheaper one"
        )
    # The stored value an upgrade adds is money on the card: the member pays at least
    # that, even where the dearer type's price is barely above the old one's (a month of
    # massages, 99,900, to a 1,000-yuan stored-value card, 100,000, is not 100 fen).
    stored_value_fen = max(0, target.stored_value_fen - current.stored_value_fen)
    # The card runs by its new type from today (conflict.card_life rule 3), and gets the
    # uses that type bundles beyond the old one's: the price difference paid for them.
    had = {line["sku"]: int(line["qty"]) for line in current.uses}
    uses = [
        {"qty": int(line["qty"]) - had.get(line["sku"], 0), "sku": line["sku"]}
        for line in target.uses
        if int(line["qty"]) > had.get(line["sku"], 0)
    ]
    return _Change(
        directory_store.card_root(conn, card_id),
        {
            "from_type": issued.card_type,
            "card_type": target.code,
            "level": target.level,
            "discount_rate": target.discount_rate,
            **({"uses": uses} if uses else {}),
            "valid_until": target.validity(today),
        },
        max(target.price_fen - current.price_fen, stored_value_fen),
        stored_value_fen,
        max(0, target.credit_limit_fen - current.credit_limit_fen),
    )


_PLANS = {"renew": _renewal, "replace": _replacement, "upgrade": _upgrade}


def _book(tx: Tx, card_id: str, request: ChangeRequest, change_id: str, change: _Change) -> dict[str, Any]:
    tendered_fen = sum(request.cash_fen)
    if tendered_fen < change.fee_fen:
        raise TenderShort(f"tenders cover {tendered_fen} fen of the {request.kind}'s {change.fee_fen} fen")
    payload = {
        "at_ms": tx.wall_ms,
        "card_id": change.filed_under,
        "change_fen": tendered_fen - change.fee_fen,
        "credit_limit_fen": change.credit_limit_fen,
        "fee_fen": change.fee_fen,
        "kind": request.kind,
        "stored_value_fen": change.stored_value_fen,
        "tenders": [{"amount_fen": amount, "kind": "cash"} for amount in request.cash_fen],
        **change.detail,
    }
    entry = tx.record(CARD_CHANGE, change_id, payload)
    directory_store.add_records(tx.conn, card_change_records(change_id, entry.hlc, tx.log.origin, payload))
    tx.conn.execute(
        "INSERT INTO card_changes (id, seq, card_id, kind, fee_fen, tendered_fen, change_fen, at_ms,"
        " request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            change_id,
            entry.seq,
            card_id,
            request.kind,
            change.fee_fen,
            tendered_fen,
            payload["change_fen"],
            tx.wall_ms,
            request.request_key,
        ),
    )
    return _answer(tx.conn, change_id, False)


def _replayed(conn: sqlite3.Connection, request_key: str | None) -> dict[str, Any] | None:
    if request_key is None:
        return None
    row = conn.execute("SELECT id FROM card_changes WHERE request_key = ?", (request_key,)).fetchone()
    return None if row is None else _answer(conn, row[0], True)


def _answer(conn: sqlite3.Connection, change_id: str, replayed: bool) -> dict[str, Any]:
    """What the till is told of a change: a replacement shows the number it handed over."""
    card_id, kind, fee_fen, tendered_fen, change_fen, at_ms = conn.execute(
        "SELECT card_id, kind, fee_fen, tendered_fen, change_fen, at_ms FROM card_changes WHERE id = ?",
        (change_id,),
    ).fetchone()
    change = directory_store.card_change(conn, change_id)
    shown = change.new_card if change is not None and change.kind == "replace" else card_id
    return {
        "id": change_id,
        "kind": kind,
        "fee_fen": fee_fen,
        "tendered_fen": tendered_fen,
        "change_fen": change_fen,
        "at_ms": at_ms,
        "card": directory_store.card_json(conn, shown),
        "replayed": replayed,
    }


# -- passwords ----------------------------------------------------------------------


def parse_password(body: dict[str, Any], *, reset: bool = False) -> tuple[str | None, str | None]:
    """{password: new or null to clear, old_password: the one in force, if any}; a reset
    takes no old password (nobody remembers it)."""
    allowed = {"password"} if reset else {"password", "old_password"}
    if set(body) - allowed or "password" not in body:
        raise InvalidRequest(
            "give password (the new one, or null to clear it)"
            + ("; a reset takes no old password" if reset else " and old_password if it has one")
        )
    new, old = body.get("password"), body.get("old_password")
    if new is not None and not (
        isinstance(new, str) and MIN_CARD_PASSWORD_CHARS <= len(new) <= MAX_CARD_PASSWORD_CHARS
    ):
        raise InvalidRequest(
            f"a card password is {MIN_CARD_PASSWORD_CHARS} to {MAX_CARD_PASSWORD_CHARS} characters"
        )
    if old is not None and not isinstance(old, str):
        raise InvalidRequest("old_password must be text")
    return new, old


# What a password reset stands for: the member forgot it, so nothing is checked
# against the old one. The entry names the operator who did it (every entry carries the
# session's operator), and only a permission a clerk does not hold allows it.
class Reset(Enum):
    RESET = "reset"


RESET = Reset.RESET


def password_job(
    card_id: str, new_hash: str, checked: str | Literal[Reset.RESET] | None, change_id: str
) -> Any:
    """The card's password set to `new_hash` ("" clears it), if the one in force is
    still the one checked before the write (`RESET`: whatever it is)."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        require_card(conn, card_id)
        state = directory_store.card_status(conn, card_id)
        if state in ("returned", "replaced"):
            raise CardBlocked(f"card {card_id} is {state}; its password no longer matters")
        if checked is not RESET and directory_store.card_password(conn, card_id) != checked:
            raise WrongCardPassword(f"card {card_id}'s password changed meanwhile; ask for it again")
        payload = {
            "at_ms": tx.wall_ms,
            "card_id": directory_store.card_root(conn, card_id),
            "change_fen": 0,
            "credit_limit_fen": 0,
            "fee_fen": 0,
            "kind": "password",
            "password": new_hash,
            "stored_value_fen": 0,
            "tenders": [],
        }
        entry = tx.record(CARD_CHANGE, change_id, payload)
        directory_store.add_records(conn, card_change_records(change_id, entry.hlc, tx.log.origin, payload))
        return {"id": change_id, "card": directory_store.card_json(conn, card_id)}

    return job


class CardPasswords:
    """Checks the passwords of the cards a till spends on, before the write, and slows
    down guessing per card."""

    def __init__(self) -> None:
        self.throttle = FailureThrottle(
            what="card password attempts",
            max_failures=PASSWORD_FAILURES,
            window_ms=PASSWORD_WINDOW_MS,
            lockout_ms=PASSWORD_WINDOW_MS,
        )

    async def check(
        self, store: Store, given: Mapping[str, str | None], now_ms: int
    ) -> dict[str, str | None]:
        """Each card's password hash as checked (None where the card has none); a card
        with a password and none given, or a wrong one, is refused."""
        cards = sorted(given)
        held = await store.read(lambda conn: _hashes(conn, cards))
        for card in cards:
            password_hash = held[card]
            if password_hash is None:
                continue
            self.throttle.check(card, now_ms)
            attempt = given[card]
            if attempt is None:
                raise WrongCardPassword(f"card {card} has a password: ask the member to key it in")
            if not await asyncio.to_thread(passwords.verify, password_hash, attempt):
                self.throttle.failed(card, now_ms)
                raise WrongCardPassword(f"wrong password for card {card}")
            self.throttle.succeeded(card)
        return held


def _hashes(conn: sqlite3.Connection, cards: Iterable[str]) -> dict[str, str | None]:
    found = {}
    for card in cards:
        if directory_store.card_owner(conn, card) is None:
            raise UnknownCard(
                f"no member at this branch holds card {card}; if issued elsewhere, wait for the sync"
            )
        found[card] = directory_store.card_password(conn, card)
    return found
