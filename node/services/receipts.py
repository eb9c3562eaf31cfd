"""Receipts for this node's own warehouses (FEATURES I2): goods from a supplier,
against a purchase order or direct.

A receipt moves stock through the stock ledger at the price paid, books the
supplier's payable (node.services.payables, where purchase returns live too) and
appends one change entry, all in one transaction; a retried POST with the
same Idempotency-Key books once.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from node.errors import DocumentState, InvalidRequest, OverReceipt
from node.services import catalogue, documents, fields, payables, stock_ledger
from node.services.documents import ItemLine
from node.services.purchasing import EXPECTING, order_state
from node.store.writer import Tx
from protocol.contract import RECEIPT_POST
from protocol.errors import require


class ReceivedLine(NamedTuple):
    sku: str
    qty: int
    unit_cost_fen: int
    order_line_no: int | None = None


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
        state = order_state(conn, order_id)
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
        RECEIPT_POST,
        receipt_id,
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
        receipt["order_state"] = order_state(conn, receipt["order_id"])
    return receipt


# --- what a request asks for --------------------------------------------------------


def parse_order_receipt(body: dict[str, Any]) -> list[ItemLine] | None:
    """The lines a receipt against an order brings; None: all the order still expects."""
    documents.only_fields(body, {"lines"}, "receipt")
    return None if body.get("lines") is None else documents.item_lines(body)


def parse_direct_receipt(body: dict[str, Any]) -> tuple[str, str | None, list[ReceivedLine]]:
    """A receipt without an order: the supplier, the warehouse and the priced lines."""
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
    return supplier, fields.text(body, "warehouse", required=False), lines
