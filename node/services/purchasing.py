"""Purchase orders for this node's own warehouses (FEATURES I2), and the
replenishment proposal that turns stock under its lower limit into orders.

An order and its change entry commit in one transaction; a retried POST with the
same Idempotency-Key books once. Goods arrive against an order as a receipt
(node.services.receipts).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from node.config import NodeConfig
from node.errors import DocumentState, InvalidRequest, NotFound, NothingToReplenish
from node.services import catalogue, documents, fields
from node.services.documents import ItemLine
from node.store.writer import Tx
from protocol.contract import PURCHASE_ORDER_CLOSE, PURCHASE_ORDER_CREATE
from protocol.errors import require

MAX_NOTE_CHARS = 200
# Newest first; a branch places a few orders a day, so this is months of them.
MAX_LISTED_ORDERS = 500
ORDER_KINDS = ("normal", "urgent", "plan")  # what a person orders; replenishment comes from the proposal
ORDER_STATES = ("open", "partial", "received", "closed")
# The states that still expect goods: only they take receipts or a close.
EXPECTING = ("open", "partial")


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
        PURCHASE_ORDER_CREATE,
        order_id,
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
        state = order_state(conn, order_id)
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
            PURCHASE_ORDER_CLOSE, order_id, {"id": order_id, "cancelled": cancelled, "at_ms": tx.wall_ms}
        )
        conn.execute("UPDATE purchase_orders SET state = 'closed' WHERE id = ?", (order_id,))
        return {**load_order(conn, order_id), "replayed": False}

    return job


def order_state(conn: sqlite3.Connection, order_id: str) -> str:
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


def proposal_at(conn: sqlite3.Connection, config: NodeConfig, code: str) -> dict[str, Any]:
    """The proposal for warehouse `code`, which must be one this branch keeps."""
    return proposal(conn, catalogue.own_warehouse(conn, code, config.branch, config.warehouse))


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


# --- what a request asks for --------------------------------------------------------


def warehouse_field(body: dict[str, Any]) -> str | None:
    return fields.text(body, "warehouse", required=False)


def parse_order(body: dict[str, Any]) -> OrderRequest:
    documents.only_fields(body, {"supplier", "warehouse", "kind", "lines", "note"}, "purchase order")
    kind = body.get("kind", "normal")
    if kind not in ORDER_KINDS:
        raise InvalidRequest(
            f"kind must be one of {', '.join(ORDER_KINDS)}; replenishment orders come from"
            " POST /api/purchase-orders/replenish"
        )
    return OrderRequest(
        str(fields.text(body, "supplier")),
        warehouse_field(body),
        str(kind),
        documents.item_lines(body, cost=True),
        fields.text(body, "note", required=False, max_chars=MAX_NOTE_CHARS),
    )


def parse_listing(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """?state= and ?supplier= of an order listing."""
    state = query.get("state")
    if state is not None and state not in ORDER_STATES:
        raise InvalidRequest(f"state must be one of {', '.join(ORDER_STATES)}")
    return state, query.get("supplier")


def parse_replenishment(body: dict[str, Any]) -> str | None:
    """The warehouse to replenish (None: the branch's main one)."""
    documents.only_fields(body, {"warehouse"}, "replenishment")
    return warehouse_field(body)
