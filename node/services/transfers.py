"""Transfers between warehouses (DESIGN 7): out at the source, in at the destination
by itself, exactly once.

The source's transfer-out takes the goods out of its warehouse at cost and
holds them "in transit" (a `transfers` row in state in_transit, with each
line's cost). HQ routes the `transfer/send` entry into the destination's feed
as `transfer/deliver`. The destination books the stock-in when it applies that
feed entry: in the page's transaction, at the transferred cost, keyed by the
transfer's id, so a replayed page, a restart in the middle, or a second copy
of the delivery finds the id booked and does nothing. Its `transfer/receive`
entry flows back through HQ, which tells the source (`transfer/received`).

A count at the destination that differs from what was sent is a discrepancy
record with its own stock movement, never an edit of the transfer.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any, NamedTuple

from node.errors import (
    DocumentState,
    InsufficientStock,
    InvalidRequest,
    NotFound,
    TransferToItself,
)
from node.services import catalogue, documents, fields, stock_ledger
from node.store.writer import Tx
from protocol.contract import TRANSFER_DISCREPANCY, TRANSFER_RECEIVE, TRANSFER_SEND

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 200
STATES = ("in_transit", "received")


def send_job(
    transfer_id: str,
    from_warehouse: str,
    to_warehouse: str,
    lines: list[documents.ItemLine],
    note: str | None,
    key: str | None,
    default_warehouse: str,
) -> Any:
    """The transfer-out: stock leaves `from_warehouse` at cost and is in transit
    until the destination books it."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        done = documents.replayed(conn, "transfers", key)
        if done is not None:
            return {**load_transfer(conn, done, "out"), "replayed": True}
        branch = tx.log.origin
        source = catalogue.own_warehouse(conn, from_warehouse, branch, default_warehouse)
        if to_warehouse == source:
            raise TransferToItself(
                f"a transfer from {source} to {source} moves nothing; name another warehouse"
            )
        to_branch = catalogue.warehouse_branch(conn, to_warehouse)
        for line in lines:
            catalogue.product(conn, line.sku)
            on_hand, _ = stock_ledger.level(conn, source, line.sku)
            if on_hand < line.qty:
                raise InsufficientStock(
                    f"{source} has {on_hand} of {line.sku}; the transfer asks for {line.qty}"
                )
        moves = [
            stock_ledger.issue(conn, source, line.sku, line.qty, "transfer_out", transfer_id, tx.wall_ms)
            for line in lines
        ]
        sent: list[dict[str, Any]] = [
            {"sku": line.sku, "qty": line.qty, "cost_fen": move.issued_cost_fen}
            for line, move in zip(lines, moves, strict=True)
        ]
        payload = {
            "id": transfer_id,
            "source_branch": branch,
            "from_warehouse": source,
            "to_branch": to_branch,
            "to_warehouse": to_warehouse,
            "lines": sent,
            "cost_fen": sum(line["cost_fen"] for line in sent),
            "note": note,
            "sent_at_ms": tx.wall_ms,
            "moves": [move.as_payload("transfer_out") for move in moves],
        }
        tx.record(TRANSFER_SEND, transfer_id, payload)
        _insert(conn, payload, "out", key)
        if to_branch == branch:
            # Between two warehouses of this branch: nothing to wait for.
            _book_in(tx, payload)
        return {**load_transfer(conn, transfer_id, "out"), "replayed": False}

    return job


def _insert(conn: sqlite3.Connection, payload: dict[str, Any], direction: str, key: str | None) -> None:
    conn.execute(
        "INSERT INTO transfers (id, direction, source_branch, from_warehouse, to_branch, to_warehouse,"
        " state, cost_fen, sent_at_ms, note, request_key)"
        " VALUES (?, ?, ?, ?, ?, ?, 'in_transit', ?, ?, ?, ?)",
        (
            payload["id"],
            direction,
            payload["source_branch"],
            payload["from_warehouse"],
            payload["to_branch"],
            payload["to_warehouse"],
            payload["cost_fen"],
            payload["sent_at_ms"],
            payload.get("note"),
            key,
        ),
    )
    conn.executemany(
        "INSERT INTO transfer_lines (transfer_id, direction, line_no, sku, qty, cost_fen)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (payload["id"], direction, number, line["sku"], line["qty"], line["cost_fen"])
            for number, line in enumerate(payload["lines"])
        ],
    )


def _book_in(tx: Tx, payload: dict[str, Any]) -> None:
    """The stock-in at the destination, at the transferred cost, and its entry."""
    conn = tx.conn
    transfer_id = payload["id"]
    if payload["to_branch"] != payload["source_branch"]:
        _insert(conn, payload, "in", None)
    moves = [
        stock_ledger.receive(
            conn,
            payload["to_warehouse"],
            line["sku"],
            line["qty"],
            line["cost_fen"],
            "transfer_in",
            transfer_id,
            tx.wall_ms,
        )
        for line in payload["lines"]
    ]
    tx.record(
        TRANSFER_RECEIVE,
        transfer_id,
        {
            "id": transfer_id,
            "source_branch": payload["source_branch"],
            "from_warehouse": payload["from_warehouse"],
            "to_branch": payload["to_branch"],
            "to_warehouse": payload["to_warehouse"],
            "lines": [
                {"sku": line["sku"], "qty": line["qty"], "cost_fen": line["cost_fen"]}
                for line in payload["lines"]
            ],
            "cost_fen": payload["cost_fen"],
            "received_at_ms": tx.wall_ms,
            "moves": [move.as_payload("transfer_in") for move in moves],
        },
    )
    conn.execute(
        "UPDATE transfers SET state = 'received', received_at_ms = ? WHERE id = ?",
        (tx.wall_ms, transfer_id),
    )
    conn.execute(
        "UPDATE transfer_lines SET received_qty = qty WHERE transfer_id = ?",
        (transfer_id,),
    )


def apply_delivery(tx: Tx, payload: dict[str, Any]) -> None:
    """A transfer addressed to this branch arrived in HQ's feed: book it once."""
    transfer_id = payload.get("id")
    if payload.get("to_branch") != tx.log.origin:
        log.warning(
            "transfer %s is addressed to %s, not this branch; ignored", transfer_id, payload.get("to_branch")
        )
        return
    booked = tx.conn.execute(
        "SELECT 1 FROM transfers WHERE id = ? AND direction = 'in'", (transfer_id,)
    ).fetchone()
    if booked is not None:
        log.info("transfer %s was already booked here; this copy changes nothing", transfer_id)
        return
    _book_in(tx, payload)
    log.info(
        "transfer %s from %s booked into %s", transfer_id, payload["from_warehouse"], payload["to_warehouse"]
    )


def apply_receipt_notice(tx: Tx, payload: dict[str, Any]) -> None:
    """HQ tells the source that the destination booked its transfer: no longer in transit."""
    tx.conn.execute(
        "UPDATE transfers SET state = 'received', received_at_ms = ? WHERE id = ? AND direction = 'out'",
        (payload.get("received_at_ms"), payload.get("id")),
    )


def discrepancy_job(
    transfer_id: str, counted: list[documents.ItemLine], note: str | None, doc_id: str
) -> Any:
    """The destination counted something other than what was sent: each differing
    line becomes a discrepancy record and a stock movement of the difference."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        transfer = conn.execute(
            "SELECT to_warehouse, state FROM transfers WHERE id = ? AND direction = 'in'", (transfer_id,)
        ).fetchone()
        if transfer is None:
            raise NotFound(f"no transfer {transfer_id} was received at this branch")
        warehouse = transfer[0]
        sent = {
            row[1]: (row[0], row[2], row[3])
            for row in conn.execute(
                "SELECT line_no, sku, qty, cost_fen FROM transfer_lines"
                " WHERE transfer_id = ? AND direction = 'in'",
                (transfer_id,),
            )
        }
        records = []
        moves = []
        for line in counted:
            if line.sku not in sent:
                raise InvalidRequest(f"{line.sku} is not on transfer {transfer_id}")
            line_no, sent_qty, sent_cost = sent[line.sku]
            if line.qty == sent_qty:
                continue
            already = conn.execute(
                "SELECT 1 FROM transfer_discrepancies WHERE transfer_id = ? AND branch = ? AND line_no = ?",
                (transfer_id, tx.log.origin, line_no),
            ).fetchone()
            if already is not None:
                raise DocumentState(
                    f"a discrepancy for {line.sku} on transfer {transfer_id} is already recorded"
                )
            delta = line.qty - sent_qty
            if delta > 0:
                # More arrived than was sent: valued at the transfer's unit cost.
                cost = (2 * sent_cost * delta + sent_qty) // (2 * sent_qty)
                move = stock_ledger.receive(
                    conn, warehouse, line.sku, delta, cost, "transfer_discrepancy", transfer_id, tx.wall_ms
                )
            else:
                move = stock_ledger.issue(
                    conn, warehouse, line.sku, -delta, "transfer_discrepancy", transfer_id, tx.wall_ms
                )
            moves.append(move)
            records.append(
                {
                    "line_no": line_no,
                    "sku": line.sku,
                    "sent_qty": sent_qty,
                    "received_qty": line.qty,
                    "cost_fen": move.cost_fen,
                }
            )
        if not records:
            raise InvalidRequest(
                "every counted quantity equals what was sent: there is no discrepancy to record"
            )
        for number, record in enumerate(records):
            conn.execute(
                "INSERT INTO transfer_discrepancies (id, transfer_id, branch, line_no, sku, sent_qty,"
                " received_qty, cost_fen, note, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"{doc_id}-{number}",
                    transfer_id,
                    tx.log.origin,
                    record["line_no"],
                    record["sku"],
                    record["sent_qty"],
                    record["received_qty"],
                    record["cost_fen"],
                    note,
                    tx.wall_ms,
                ),
            )
            conn.execute(
                "UPDATE transfer_lines SET received_qty = ?"
                " WHERE transfer_id = ? AND direction = 'in' AND line_no = ?",
                (record["received_qty"], transfer_id, record["line_no"]),
            )
        tx.record(
            TRANSFER_DISCREPANCY,
            doc_id,
            {
                "id": doc_id,
                "transfer_id": transfer_id,
                "branch": tx.log.origin,
                "warehouse": warehouse,
                "lines": records,
                "note": note,
                "at_ms": tx.wall_ms,
                "moves": [move.as_payload("transfer_discrepancy") for move in moves],
            },
        )
        return {"id": doc_id, "transfer_id": transfer_id, "lines": records}

    return job


def load_transfer(conn: sqlite3.Connection, transfer_id: str, direction: str) -> dict[str, Any]:
    transfer = documents.one(
        conn,
        "SELECT id, direction, source_branch, from_warehouse, to_branch, to_warehouse, state, cost_fen,"
        " sent_at_ms, received_at_ms, note FROM transfers WHERE id = ? AND direction = ?",
        (transfer_id, direction),
        f"no transfer {transfer_id} at this branch",
    )
    transfer["lines"] = documents.rows(
        conn,
        "SELECT sku, qty, cost_fen, received_qty FROM transfer_lines"
        " WHERE transfer_id = ? AND direction = ? ORDER BY line_no",
        (transfer_id, direction),
    )
    transfer["discrepancies"] = documents.rows(
        conn,
        "SELECT sku, sent_qty, received_qty, cost_fen, note, at_ms FROM transfer_discrepancies"
        " WHERE transfer_id = ? ORDER BY line_no",
        (transfer_id,),
    )
    return transfer


def list_transfers(
    conn: sqlite3.Connection, state: str | None, direction: str | None
) -> list[dict[str, Any]]:
    where, args = documents.where_equal({"state": state, "direction": direction})
    ids = conn.execute(
        f"SELECT id, direction FROM transfers {where} ORDER BY sent_at_ms, id", args
    ).fetchall()
    return [load_transfer(conn, transfer_id, kind) for transfer_id, kind in ids]


def transfer_view(conn: sqlite3.Connection, transfer_id: str) -> dict[str, Any]:
    """One transfer; both directions ({"out", "in"}) when it moved between this branch's warehouses."""
    kinds = [row[0] for row in conn.execute("SELECT direction FROM transfers WHERE id = ?", (transfer_id,))]
    if not kinds:
        raise NotFound(f"no transfer {transfer_id} at this branch")
    found = [load_transfer(conn, transfer_id, kind) for kind in sorted(kinds, reverse=True)]
    return found[0] if len(found) == 1 else {"out": found[0], "in": found[1]}


# -- what a request asks for -------------------------------------------------------------


class SendRequest(NamedTuple):
    from_warehouse: str
    to_warehouse: str
    lines: list[documents.ItemLine]
    note: str | None


def parse_send(body: dict[str, Any], default_warehouse: str) -> SendRequest:
    documents.only_fields(body, {"from_warehouse", "to_warehouse", "lines", "note"}, "transfer")
    source = fields.text(body, "from_warehouse", required=False) or default_warehouse
    destination = str(fields.text(body, "to_warehouse"))
    note = fields.text(body, "note", required=False, max_chars=MAX_NOTE_CHARS)
    return SendRequest(source, destination, documents.item_lines(body), note)


def parse_discrepancy(body: dict[str, Any]) -> tuple[list[documents.ItemLine], str | None]:
    """The counted lines ({sku, received_qty}) and the note."""
    documents.only_fields(body, {"lines", "note"}, "discrepancy")
    counted = documents.item_lines(body, minimum_qty=0, qty_field="received_qty")
    return counted, fields.text(body, "note", required=False, max_chars=MAX_NOTE_CHARS)


def parse_listing(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """?state= and ?direction= of a transfer listing."""
    state = query.get("state")
    if state is not None and state not in STATES:
        raise InvalidRequest(f"state must be one of {', '.join(STATES)}")
    direction = query.get("direction")
    if direction is not None and direction not in ("out", "in"):
        raise InvalidRequest("direction must be out or in")
    return state, direction
