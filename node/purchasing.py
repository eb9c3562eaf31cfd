"""Purchasing for this node's own warehouses (FEATURES I2): purchase orders, the
replenishment proposal, and receipts against an order or direct.

A receipt moves stock through the stock ledger at the price paid, books the
supplier's payable (node.payables, where purchase returns live too) and
appends one change entry, all in one transaction; a retried POST with the
same Idempotency-Key books once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

from aiohttp import web

from node import catalogue, documents, fields, payables, stock_ledger
from node.cards import request_key
from node.context import CONTEXT, json_body
from node.documents import ItemLine
from node.errors import (
    DocumentState,
    InvalidRequest,
    NotFound,
    NothingToReplenish,
    OverReceipt,
)
from node.store.writer import Tx
from protocol.errors import require

routes = web.RouteTableDef()

MAX_NOTE_CHARS = 200
# Newest first; a branch places a few orders a day, so this is months of them.
MAX_LISTED_ORDERS = 500
ORDER_KINDS = ("normal", "urgent", "plan")  # what a person orders; replenishment comes from the proposal
ORDER_STATES = ("open", "partial", "received", "closed")
# The states that still expect goods: only they take receipts or a close.
EXPECTING = ("open", "partial")


class ReceivedLine(NamedTuple):
    sku: str
    qty: int
    unit_cost_fen: int
    order_line_no: int | None = None


class OrderRequest(NamedTuple):
    supplier: str
    warehouse: str | None
    kind: str
    lines: list[ItemLine]
    note: str | None


# --- purchase orders ---------------------------------------------------------------


def create_order_job(order: OrderRequest, order_id: str, key: str | None, default_warehouse: str) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        done = documents.replayed(tx.conn, "purchase_orders", key)
        if done is not None:
            return {**load_order(tx.conn, done), "replayed": True}
        warehouse = catalogue.own_warehouse(
            tx.conn, order.warehouse or default_warehouse, tx.log.origin, default_warehouse
        )
        _book_order(tx, order_id, order._replace(warehouse=warehouse), key)
        return {**load_order(tx.conn, order_id), "replayed": False}

    return job


def _book_order(tx: Tx, order_id: str, order: OrderRequest, key: str | None) -> None:
    """The order and its entry; lines without a price take the product's purchase price."""
    conn = tx.conn
    require(order.warehouse is not None, "an order is booked for a resolved warehouse")
    supplier = catalogue.require_supplier(conn, order.supplier)
    lines: list[dict[str, Any]] = []
    for line in order.lines:
        item = catalogue.product(conn, line.sku)
        unit = item.purchase_price_fen if line.unit_cost_fen is None else line.unit_cost_fen
        lines.append({"sku": line.sku, "qty": line.qty, "unit_cost_fen": unit})
    total_fen = sum(line["qty"] * line["unit_cost_fen"] for line in lines)
    entry = tx.record(
        "purchase_order",
        order_id,
        "create",
        {
            "id": order_id,
            "kind": order.kind,
            "supplier": supplier,
            "warehouse": order.warehouse,
            "lines": lines,
            "total_fen": total_fen,
            "note": order.note,
            "at_ms": tx.wall_ms,
        },
    )
    conn.execute(
        "INSERT INTO purchase_orders (id, seq, kind, supplier, warehouse, state, total_fen, note, at_ms,"
        " request_key) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
        (order_id, entry.seq, order.kind, supplier, order.warehouse, total_fen, order.note, tx.wall_ms, key),
    )
    conn.executemany(
        "INSERT INTO purchase_order_lines (order_id, line_no, sku, qty, unit_cost_fen)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (order_id, number, line["sku"], line["qty"], line["unit_cost_fen"])
            for number, line in enumerate(lines)
        ],
    )


def close_job(order_id: str, key: str | None) -> Any:
    """Close an order: what it still expects is cancelled. Closing is idempotent for a
    client that sends a key: a closed order answers as the first close did."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        state = _order_state(conn, order_id)
        if state == "closed" and key is not None:
            return {**load_order(conn, order_id), "replayed": True}
        if state not in EXPECTING:
            raise DocumentState(f"purchase order {order_id} is {state}; only an open or partial order closes")
        cancelled = [
            {"sku": sku, "qty": qty}
            for sku, qty in conn.execute(
                "SELECT sku, qty - received_qty FROM purchase_order_lines"
                " WHERE order_id = ? AND qty > received_qty ORDER BY line_no",
                (order_id,),
            )
        ]
        tx.record(
            "purchase_order", order_id, "close", {"id": order_id, "cancelled": cancelled, "at_ms": tx.wall_ms}
        )
        conn.execute("UPDATE purchase_orders SET state = 'closed' WHERE id = ?", (order_id,))
        return {**load_order(conn, order_id), "replayed": False}

    return job


def _order_state(conn: sqlite3.Connection, order_id: str) -> str:
    row = conn.execute("SELECT state FROM purchase_orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"no purchase order {order_id} at this branch")
    return str(row[0])


def load_order(conn: sqlite3.Connection, order_id: str) -> dict[str, Any]:
    order = documents.one(
        conn,
        "SELECT id, seq, kind, supplier, warehouse, state, total_fen, note, at_ms"
        " FROM purchase_orders WHERE id = ?",
        (order_id,),
        f"no purchase order {order_id} at this branch",
    )
    order["lines"] = documents.rows(
        conn,
        "SELECT line_no, sku, qty, unit_cost_fen, qty * unit_cost_fen AS amount_fen, received_qty"
        " FROM purchase_order_lines WHERE order_id = ? ORDER BY line_no",
        (order_id,),
    )
    order["receipts"] = [
        r[0] for r in conn.execute("SELECT id FROM receipts WHERE order_id = ? ORDER BY seq", (order_id,))
    ]
    expecting = order["state"] in EXPECTING
    for line in order["lines"]:
        line["outstanding_qty"] = line["qty"] - line["received_qty"] if expecting else 0
    order["received_fen"] = sum(line["received_qty"] * line["unit_cost_fen"] for line in order["lines"])
    return order


def list_orders(conn: sqlite3.Connection, state: str | None, supplier: str | None) -> list[dict[str, Any]]:
    where, args = documents.where_equal({"state": state, "supplier": supplier})
    ids = conn.execute(
        f"SELECT id FROM purchase_orders {where} ORDER BY seq DESC LIMIT ?", (*args, MAX_LISTED_ORDERS)
    ).fetchall()
    return [load_order(conn, order_id) for (order_id,) in ids]


# --- replenishment (I2) ------------------------------------------------------------


def proposal(conn: sqlite3.Connection, warehouse: str) -> dict[str, Any]:
    """Every active product under its lower limit in `warehouse`, with the quantity that
    brings it to its upper limit (else its lower limit) counting what open orders
    still bring, grouped by its default supplier."""
    on_order = dict(
        conn.execute(
            "SELECT l.sku, SUM(l.qty - l.received_qty) FROM purchase_order_lines l"
            " JOIN purchase_orders o ON o.id = l.order_id"
            " WHERE o.warehouse = ? AND o.state IN ('open', 'partial') GROUP BY l.sku",
            (warehouse,),
        ).fetchall()
    )
    under = conn.execute(
        "SELECT p.sku, p.name, COALESCE(s.qty, 0), p.lower_limit, p.upper_limit, p.purchase_price_fen,"
        " p.supplier, sup.code IS NOT NULL"
        " FROM products p LEFT JOIN stock s ON s.sku = p.sku AND s.warehouse = ?"
        " LEFT JOIN suppliers sup ON sup.code = p.supplier AND sup.active"
        " WHERE p.active AND p.lower_limit IS NOT NULL AND COALESCE(s.qty, 0) < p.lower_limit"
        " ORDER BY p.sku",
        (warehouse,),
    ).fetchall()
    by_supplier: dict[str, list[dict[str, Any]]] = {}
    without_supplier: list[dict[str, Any]] = []
    covered: list[dict[str, Any]] = []
    for sku, name, on_hand, lower, upper, unit, supplier, known in under:
        # An upper limit below the lower one is a slip in master data; the lower wins.
        target = lower if upper is None else max(upper, lower)
        expected = int(on_order.get(sku, 0))
        line = {
            "sku": sku,
            "name": name,
            "on_hand": on_hand,
            "lower_limit": lower,
            "upper_limit": upper,
            "on_order": expected,
            "qty": max(target - on_hand - expected, 0),
            "unit_cost_fen": unit,
            "supplier": supplier,
        }
        line["amount_fen"] = line["qty"] * unit
        if line["qty"] == 0:
            covered.append(line)
        elif not known:
            without_supplier.append(line)
        else:
            by_supplier.setdefault(supplier, []).append(line)
    return {
        "warehouse": warehouse,
        "suppliers": [
            {"supplier": code, "lines": lines, "total_fen": sum(line["amount_fen"] for line in lines)}
            for code, lines in sorted(by_supplier.items())
        ],
        "without_supplier": without_supplier,
        "covered": covered,
    }


def replenish_job(
    warehouse: str | None, new_id: Callable[[], str], key: str | None, default_warehouse: str
) -> Any:
    """One order of kind replenishment per supplier, from the proposal. Its orders
    share the request's key (suffixed), so a retry finds all of them."""
    prefix = None if key is None else f"replenish:{key}:"

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        if prefix is not None:
            done = conn.execute(
                "SELECT id, warehouse FROM purchase_orders WHERE substr(request_key, 1, ?) = ? ORDER BY seq",
                (len(prefix), prefix),
            ).fetchall()
            if done:
                orders = [load_order(conn, order_id) for order_id, _ in done]
                return {"warehouse": done[0][1], "orders": orders, "without_supplier": [], "replayed": True}
        code = catalogue.own_warehouse(conn, warehouse or default_warehouse, tx.log.origin, default_warehouse)
        plan = proposal(conn, code)
        if not plan["suppliers"]:
            raise NothingToReplenish(_nothing_to_order(plan))
        ids = []
        for number, group in enumerate(plan["suppliers"]):
            order_id = new_id()
            lines = [ItemLine(line["sku"], line["qty"], line["unit_cost_fen"]) for line in group["lines"]]
            order = OrderRequest(
                group["supplier"], code, "replenishment", lines, "replenishment to the limits"
            )
            _book_order(tx, order_id, order, None if prefix is None else f"{prefix}{number}")
            ids.append(order_id)
        return {
            "warehouse": code,
            "orders": [load_order(conn, order_id) for order_id in ids],
            "without_supplier": plan["without_supplier"],
            "replayed": False,
        }

    return job


def _nothing_to_order(plan: dict[str, Any]) -> str:
    warehouse = plan["warehouse"]
    if plan["without_supplier"]:
        skus = ", ".join(line["sku"] for line in plan["without_supplier"])
        return (
            f"nothing to order for {warehouse}: {skus} under the lower limit but with no active supplier;"
            " give them a default supplier in HQ's master data or order them by hand"
        )
    if plan["covered"]:
        return f"nothing to order for {warehouse}: what is under its lower limit is already on order"
    return f"nothing to order for {warehouse}: no product is under its lower limit"


# --- receipts -----------------------------------------------------------------------


def receive_order_job(
    order_id: str, lines: list[ItemLine] | None, receipt_id: str, payable_id: str, key: str | None
) -> Any:
    """Goods arrive against an order: all it still expects (`lines` None) or the lines
    and quantities named, none beyond what its line still expects."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        done = documents.replayed(conn, "receipts", key)
        if done is not None:
            return {**load_receipt(conn, done), "replayed": True}
        state = _order_state(conn, order_id)
        if state not in EXPECTING:
            raise DocumentState(f"purchase order {order_id} is {state}; it takes no more receipts")
        supplier, warehouse = conn.execute(
            "SELECT supplier, warehouse FROM purchase_orders WHERE id = ?", (order_id,)
        ).fetchone()
        ordered = {
            sku: (line_no, qty, unit, received)
            for line_no, sku, qty, unit, received in conn.execute(
                "SELECT line_no, sku, qty, unit_cost_fen, received_qty FROM purchase_order_lines"
                " WHERE order_id = ? ORDER BY line_no",
                (order_id,),
            )
        }
        if lines is None:
            receiving = [
                ReceivedLine(sku, qty - received, unit, line_no)
                for sku, (line_no, qty, unit, received) in ordered.items()
                if qty > received
            ]
        else:
            receiving = []
            for line in lines:
                if line.sku not in ordered:
                    raise InvalidRequest(f"{line.sku} is not on purchase order {order_id}")
                line_no, qty, unit, received = ordered[line.sku]
                if line.qty > qty - received:
                    raise OverReceipt(
                        f"line {line_no} ({line.sku}) of purchase order {order_id} expects {qty - received}"
                        f" more (ordered {qty}, received {received}); this receipt brings {line.qty}"
                    )
                receiving.append(ReceivedLine(line.sku, line.qty, unit, line_no))
        require(bool(receiving), "an order that still expects goods has a line outstanding")
        _book_receipt(tx, receipt_id, payable_id, order_id, supplier, warehouse, receiving, key)
        conn.executemany(
            "UPDATE purchase_order_lines SET received_qty = received_qty + ?"
            " WHERE order_id = ? AND line_no = ?",
            [(line.qty, order_id, line.order_line_no) for line in receiving],
        )
        (outstanding,) = conn.execute(
            "SELECT SUM(qty - received_qty) FROM purchase_order_lines WHERE order_id = ?", (order_id,)
        ).fetchone()
        require(outstanding >= 0, "an order line never receives more than it ordered")
        conn.execute(
            "UPDATE purchase_orders SET state = ? WHERE id = ?",
            ("received" if outstanding == 0 else "partial", order_id),
        )
        return {**load_receipt(conn, receipt_id), "replayed": False}

    return job


def direct_receipt_job(
    supplier: str,
    warehouse: str | None,
    lines: list[ReceivedLine],
    receipt_id: str,
    payable_id: str,
    key: str | None,
    default_warehouse: str,
) -> Any:
    """Goods arrive with no order: the supplier's delivery note is the document."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        done = documents.replayed(conn, "receipts", key)
        if done is not None:
            return {**load_receipt(conn, done), "replayed": True}
        code = catalogue.own_warehouse(conn, warehouse or default_warehouse, tx.log.origin, default_warehouse)
        known = catalogue.require_supplier(conn, supplier)
        for line in lines:
            catalogue.product(conn, line.sku)
        _book_receipt(tx, receipt_id, payable_id, None, known, code, lines, key)
        return {**load_receipt(conn, receipt_id), "replayed": False}

    return job


def _book_receipt(
    tx: Tx,
    receipt_id: str,
    payable_id: str,
    order_id: str | None,
    supplier: str,
    warehouse: str,
    lines: list[ReceivedLine],
    key: str | None,
) -> None:
    """Stock in at the price paid, the supplier's payable, the receipt and its entry."""
    conn = tx.conn
    priced: list[dict[str, Any]] = [
        {
            "sku": line.sku,
            "qty": line.qty,
            "unit_cost_fen": line.unit_cost_fen,
            "amount_fen": line.qty * line.unit_cost_fen,
        }
        for line in lines
    ]
    moves = [
        stock_ledger.receive(
            conn, warehouse, line["sku"], line["qty"], line["amount_fen"], "purchase", receipt_id, tx.wall_ms
        )
        for line in priced
    ]
    amount_fen = sum(line["amount_fen"] for line in priced)
    payable = payables.book(conn, payable_id, supplier, "receipt", receipt_id, amount_fen, tx.wall_ms)
    entry = tx.record(
        "receipt",
        receipt_id,
        "post",
        {
            "id": receipt_id,
            "order_id": order_id,
            "supplier": supplier,
            "warehouse": warehouse,
            "lines": priced,
            "amount_fen": amount_fen,
            "at_ms": tx.wall_ms,
            "moves": [move.as_payload("purchase") for move in moves],
            "payable": payable,
        },
    )
    conn.execute(
        "INSERT INTO receipts (id, seq, order_id, supplier, warehouse, amount_fen, at_ms, request_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (receipt_id, entry.seq, order_id, supplier, warehouse, amount_fen, tx.wall_ms, key),
    )
    conn.executemany(
        "INSERT INTO receipt_lines (receipt_id, line_no, order_line_no, sku, qty, unit_cost_fen, amount_fen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                receipt_id,
                number,
                line.order_line_no,
                line.sku,
                line.qty,
                line.unit_cost_fen,
                row["amount_fen"],
            )
            for number, (line, row) in enumerate(zip(lines, priced, strict=True))
        ],
    )


def load_receipt(conn: sqlite3.Connection, receipt_id: str) -> dict[str, Any]:
    receipt = documents.one(
        conn,
        "SELECT id, seq, order_id, supplier, warehouse, amount_fen, at_ms FROM receipts WHERE id = ?",
        (receipt_id,),
        f"no receipt {receipt_id} at this branch",
    )
    receipt["lines"] = documents.rows(
        conn,
        "SELECT line_no, order_line_no, sku, qty, unit_cost_fen, amount_fen FROM receipt_lines"
        " WHERE receipt_id = ? ORDER BY line_no",
        (receipt_id,),
    )
    receipt["moves"] = payables.stock_moves_of(conn, receipt_id, "purchase")
    receipt["payable"] = payables.of_document(conn, "receipt", receipt_id)
    if receipt["order_id"] is not None:
        receipt["order_state"] = _order_state(conn, receipt["order_id"])
    return receipt


# --- HTTP ---------------------------------------------------------------------------


async def _optional_body(request: web.Request) -> dict[str, Any]:
    """A POST whose fields are all optional may come with no body at all."""
    return await json_body(request) if request.body_exists else {}


def _warehouse(body: dict[str, Any]) -> str | None:
    return fields.text(body, "warehouse", required=False)


@routes.post("/api/purchase-orders")
async def create_order(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request)
    documents.only_fields(body, {"supplier", "warehouse", "kind", "lines", "note"}, "purchase order")
    kind = body.get("kind", "normal")
    if kind not in ORDER_KINDS:
        raise InvalidRequest(
            f"kind must be one of {', '.join(ORDER_KINDS)}; replenishment orders come from"
            " POST /api/purchase-orders/replenish"
        )
    order = OrderRequest(
        str(fields.text(body, "supplier")),
        _warehouse(body),
        str(kind),
        documents.item_lines(body, cost=True),
        fields.text(body, "note", required=False, max_chars=MAX_NOTE_CHARS),
    )
    result = await context.store.writer.run(
        create_order_job(order, context.new_id(), request_key(request), context.config.warehouse)
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/purchase-orders")
async def orders(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in ORDER_STATES:
        raise InvalidRequest(f"state must be one of {', '.join(ORDER_STATES)}")
    supplier = request.query.get("supplier")
    found = await request.app[CONTEXT].store.read(lambda conn: list_orders(conn, state, supplier))
    return web.json_response({"orders": found})


# Before /api/purchase-orders/{order_id}, which would take "proposal" for an id.
@routes.get("/api/purchase-orders/proposal")
async def show_proposal(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    config = context.config
    asked = request.query.get("warehouse") or config.warehouse

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return proposal(conn, catalogue.own_warehouse(conn, asked, config.branch, config.warehouse))

    return web.json_response(await context.store.read(read))


@routes.post("/api/purchase-orders/replenish")
async def replenish(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await _optional_body(request)
    documents.only_fields(body, {"warehouse"}, "replenishment")
    result = await context.store.writer.run(
        replenish_job(_warehouse(body), context.new_id, request_key(request), context.config.warehouse)
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/purchase-orders/{order_id}")
async def show_order(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    return web.json_response(await request.app[CONTEXT].store.read(lambda conn: load_order(conn, order_id)))


@routes.post("/api/purchase-orders/{order_id}/close")
async def close_order(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    documents.only_fields(await _optional_body(request), set(), "close")
    result = await context.store.writer.run(close_job(request.match_info["order_id"], request_key(request)))
    return web.json_response(result, status=200)


@routes.post("/api/purchase-orders/{order_id}/receipts")
async def receive_order(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await _optional_body(request)
    documents.only_fields(body, {"lines"}, "receipt")
    lines = None if body.get("lines") is None else documents.item_lines(body)
    result = await context.store.writer.run(
        receive_order_job(
            request.match_info["order_id"], lines, context.new_id(), context.new_id(), request_key(request)
        )
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/receipts")
async def receive_direct(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request)
    documents.only_fields(body, {"supplier", "warehouse", "lines"}, "receipt")
    supplier = str(fields.text(body, "supplier"))
    lines = []
    for number, line in enumerate(documents.item_lines(body, cost=True)):
        if line.unit_cost_fen is None:
            raise InvalidRequest(
                f"lines[{number}].unit_cost_fen is required:"
                " a direct receipt has no order to take the price from"
            )
        lines.append(ReceivedLine(line.sku, line.qty, line.unit_cost_fen))
    result = await context.store.writer.run(
        direct_receipt_job(
            supplier,
            _warehouse(body),
            lines,
            context.new_id(),
            context.new_id(),
            request_key(request),
            context.config.warehouse,
        )
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/receipts/{receipt_id}")
async def show_receipt(request: web.Request) -> web.Response:
    receipt_id = request.match_info["receipt_id"]
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: load_receipt(conn, receipt_id))
    )
