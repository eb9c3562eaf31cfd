"""Member cards at the till: look up, top up, and change status.

Every balance movement is a ledger entry with its own id (conflict.ledger) and
every status change a stamped event (conflict.card_status); each is written to
the directory tables and to the change log in the same transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from conflict.card_status import CLEARS, CardEvent, in_force
from conflict.ledger import LedgerEntry
from conflict.wire import ENTRY_KINDS
from node import fields
from node.context import CONTEXT, json_body
from node.errors import CardBlocked, InvalidRequest, NothingToClear, UnknownCard
from node.store.writer import Tx
from shared_tables import directory_store

routes = web.RouteTableDef()

STATUS_ACTIONS = ("report_lost", "unlock", "suspend", "resume", "return")
MAX_REQUEST_KEY_CHARS = 64


def record_ledger_entry(
    tx: Tx, entry_id: str, card_id: str, ledger: str, kind: str, amount: int, **context: Any
) -> LedgerEntry:
    """Book one ledger movement: a change-log entry and the directory record it carries.
    `context` (sale id, payment mode, hold id) travels in the entry for HQ, not in the record."""
    kind_name, op = ENTRY_KINDS["ledger"]
    entry = tx.record(
        kind_name,
        entry_id,
        op,
        {"card_id": card_id, "ledger": ledger, "kind": kind, "amount": amount, **context},
    )
    record = LedgerEntry(entry_id, card_id, ledger, kind, amount, entry.hlc, tx.log.origin)
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
        kind_name, op = ENTRY_KINDS["card_event"]
        entry = tx.record(kind_name, event_id, op, {"card_id": card_id, "kind": action, "seen": sorted(seen)})
        directory_store.add_records(
            tx.conn, [CardEvent(event_id, card_id, action, entry.hlc, tx.log.origin, seen)]
        )
        return {**directory_store.card_json(tx.conn, card_id), "event_id": event_id}

    return job


def request_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_REQUEST_KEY_CHARS:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_REQUEST_KEY_CHARS} characters")
    return key


@routes.get("/api/cards/{card}")
async def show(request: web.Request) -> web.Response:
    card_id = fields.card_number(request.match_info["card"])

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        owner = require_card(conn, card_id)
        member = directory_store.group_of(conn, owner).survivor(owner)
        return {**directory_store.card_json(conn, card_id), "member_id": member}

    return web.json_response(await request.app[CONTEXT].store.read(read))


@routes.post("/api/cards/{card}/top-up")
async def top_up(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    body = await json_body(request)
    unknown = set(body) - {"amount_fen"}
    if unknown:
        raise InvalidRequest(f"unknown top-up fields: {', '.join(sorted(unknown))}")
    amount = fields.integer(body.get("amount_fen"), "amount_fen", minimum=1, maximum=fields.MAX_AMOUNT_FEN)
    result = await context.store.writer.run(
        top_up_job(card_id, amount, context.new_id(), request_key(request))
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/cards/{card}/status")
async def change_status(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    body = await json_body(request)
    action = body.get("action")
    if action not in STATUS_ACTIONS or set(body) != {"action"}:
        raise InvalidRequest(f"give exactly one field, action, one of {', '.join(STATUS_ACTIONS)}")
    result = await context.store.writer.run(status_job(card_id, str(action), context.new_id()))
    return web.json_response(result, status=201)
