"""What this node owes its suppliers (FEATURES F1), and purchase returns (I3), the
documents that reduce it.

Each receipt (node.services.receipts) and each purchase return books one payable row
in its own transaction: a receipt's amount owed, a return's credit (negative).
Rows are never edited, so a supplier's balance is always the sum of its documents.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from node.errors import DocumentState, InsufficientStock, InvalidRequest, NotFound
from node.services import catalogue, documents, fields, stock_ledger
from node.services.documents import ItemLine
from node.store.writer import Tx
from protocol.contract import PURCHASE_RETURN_POST
from protocol.errors import require

MAX_ID_CHARS = 64
# Kinds of document a payable row comes from, and the sign of its amount.
DOC_KINDS = {"receipt": 1, "purchase_return": -1}
# A supplier's statement lists its latest documents; a year of daily deliveries fits.
MAX_LISTED_DOCUMENTS = 500


def book(
    conn: sqlite3.Connection,
    payable_id: str,
    supplier: str,
    doc_kind: str,
    doc_id: str,
    amount_fen: int,
    at_ms: int,
) -> dict[str, Any]:
    """The payable of one document; returns it as the document's entry carries it."""
    # Documents compute these amounts: a wrong sign is our bug, not the caller's input.
    require(amount_fen * DOC_KINDS[doc_kind] >= 0, f"a {doc_kind} payable has the sign of its kind")
    conn.execute(
        "INSERT INTO payables (id, supplier, doc_kind, doc_id, amount_fen, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        (payable_id, supplier, doc_kind, doc_id, amount_fen, at_ms),
    )
    return {"id": payable_id, "supplier": supplier, "amount_fen": amount_fen}


def of_document(conn: sqlite3.Connection, doc_kind: str, doc_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, supplier, amount_fen FROM payables WHERE doc_kind = ? AND doc_id = ?", (doc_kind, doc_id)
    ).fetchone()
    return None if row is None else {"id": row[0], "supplier": row[1], "amount_fen": row[2]}


def balances(conn: sqlite3.Connection, supplier: str | None = None) -> dict[str, Any]:
    """Per supplier: what is owed, split into receipts and returns, and its latest
    documents (oldest first). The balance always counts every document."""
    where, args = ("WHERE p.supplier = ?", (supplier,)) if supplier is not None else ("", ())
    totals = conn.execute(
        "SELECT p.supplier, s.name, SUM(p.amount_fen),"
        " SUM(CASE WHEN p.doc_kind = 'receipt' THEN p.amount_fen ELSE 0 END),"
        " SUM(CASE WHEN p.doc_kind = 'purchase_return' THEN p.amount_fen ELSE 0 END), COUNT(*)"
        f" FROM payables p LEFT JOIN suppliers s ON s.code = p.supplier {where}"
        " GROUP BY p.supplier ORDER BY p.supplier",
        args,
    ).fetchall()
    listed = []
    for code, name, balance_fen, receipts_fen, returns_fen, count in totals:
        latest = conn.execute(
            "SELECT doc_kind, doc_id, amount_fen, at_ms FROM payables WHERE supplier = ?"
            " ORDER BY at_ms DESC, id DESC LIMIT ?",
            (code, MAX_LISTED_DOCUMENTS),
        ).fetchall()
        listed.append(
            {
                "supplier": code,
                "name": name,
                "balance_fen": balance_fen,
                "receipts_fen": receipts_fen,
                "returns_fen": returns_fen,
                "document_count": count,
                "documents": [
                    {"doc_kind": kind, "doc_id": doc_id, "amount_fen": amount, "at_ms": at_ms}
                    for kind, doc_id, amount, at_ms in reversed(latest)
                ],
            }
        )
    return {
        "suppliers": listed,
        "balance_fen": sum(owed["balance_fen"] for owed in listed),
        "receipts_fen": sum(owed["receipts_fen"] for owed in listed),
        "returns_fen": sum(owed["returns_fen"] for owed in listed),
    }


# --- purchase returns (I3) ------------------------------------------------------------


class ReturnRequest(NamedTuple):
    supplier: str
    warehouse: str | None
    receipt_id: str | None
    lines: list[ItemLine]


def return_job(
    request: ReturnRequest, return_id: str, payable_id: str, key: str | None, default_warehouse: str
) -> Any:
    """Goods go back to the supplier: the supplier credits them at the receipt's price
    (else the last unit cost here); they leave stock at the cost the method gives."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        done = documents.replayed(conn, "purchase_returns", key)
        if done is not None:
            return {**load_return(conn, done), "replayed": True}
        supplier = catalogue.require_supplier(conn, request.supplier)
        warehouse = request.warehouse
        returnable: dict[str, tuple[int, int]] | None = None  # sku -> (qty still returnable, unit)
        if request.receipt_id is not None:
            warehouse, returnable = _returnable(conn, request, supplier)
        code = catalogue.own_warehouse(conn, warehouse or default_warehouse, tx.log.origin, default_warehouse)
        priced: list[dict[str, Any]] = []
        for line in request.lines:
            catalogue.product(conn, line.sku, active_only=False)
            if returnable is None:
                unit = stock_ledger.unit_cost(conn, code, line.sku)
            else:
                if line.sku not in returnable:
                    raise InvalidRequest(f"{line.sku} is not on receipt {request.receipt_id}")
                left, unit = returnable[line.sku]
                if line.qty > left:
                    raise DocumentState(
                        f"receipt {request.receipt_id} has {left} of {line.sku} left to return"
                        f" (received less earlier returns); this return asks for {line.qty}"
                    )
            on_hand, _ = stock_ledger.level(conn, code, line.sku)
            if on_hand < line.qty:
                raise InsufficientStock(f"{code} has {on_hand} of {line.sku}; the return asks for {line.qty}")
            if line.unit_cost_fen is not None:  # a credit agreed with the supplier
                unit = line.unit_cost_fen
            priced.append(
                {"sku": line.sku, "qty": line.qty, "unit_cost_fen": unit, "amount_fen": line.qty * unit}
            )
        moves = [
            stock_ledger.issue(conn, code, line["sku"], line["qty"], "purchase_return", return_id, tx.wall_ms)
            for line in priced
        ]
        for row, move in zip(priced, moves, strict=True):
            row["cost_fen"] = move.issued_cost_fen
        amount_fen = sum(line["amount_fen"] for line in priced)
        cost_fen = sum(line["cost_fen"] for line in priced)
        payable = book(conn, payable_id, supplier, "purchase_return", return_id, -amount_fen, tx.wall_ms)
        entry = tx.record(
            PURCHASE_RETURN_POST,
            return_id,
            {
                "id": return_id,
                "supplier": supplier,
                "warehouse": code,
                "receipt_id": request.receipt_id,
                "lines": priced,
                "amount_fen": amount_fen,
                "cost_fen": cost_fen,
                "at_ms": tx.wall_ms,
                "moves": [move.as_payload("purchase_return") for move in moves],
                "payable": payable,
            },
        )
        conn.execute(
            "INSERT INTO purchase_returns (id, seq, supplier, warehouse, receipt_id, amount_fen, cost_fen,"
            " at_ms, request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (return_id, entry.seq, supplier, code, request.receipt_id, amount_fen, cost_fen, tx.wall_ms, key),
        )
        conn.executemany(
            "INSERT INTO purchase_return_lines"
            " (return_id, line_no, sku, qty, unit_cost_fen, amount_fen, cost_fen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    return_id,
                    number,
                    line["sku"],
                    line["qty"],
                    line["unit_cost_fen"],
                    line["amount_fen"],
                    line["cost_fen"],
                )
                for number, line in enumerate(priced)
            ],
        )
        return {**load_return(conn, return_id), "replayed": False}

    return job


def _returnable(
    conn: sqlite3.Connection, request: ReturnRequest, supplier: str
) -> tuple[str, dict[str, tuple[int, int]]]:
    """The receipt's warehouse, and per product what it brought in less what earlier
    returns against it took back, with the unit price it was bought at."""
    row = conn.execute(
        "SELECT supplier, warehouse FROM receipts WHERE id = ?", (request.receipt_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no receipt {request.receipt_id} at this branch")
    if row[0] != supplier:
        raise InvalidRequest(f"receipt {request.receipt_id} came from {row[0]}, not {supplier}")
    if request.warehouse is not None and request.warehouse != row[1]:
        raise InvalidRequest(
            f"receipt {request.receipt_id} brought goods into {row[1]}; they go back from there,"
            f" not from {request.warehouse}"
        )
    returned = dict(
        conn.execute(
            "SELECT l.sku, SUM(l.qty) FROM purchase_return_lines l"
            " JOIN purchase_returns r ON r.id = l.return_id WHERE r.receipt_id = ? GROUP BY l.sku",
            (request.receipt_id,),
        ).fetchall()
    )
    received = conn.execute(
        "SELECT sku, SUM(qty), MAX(unit_cost_fen) FROM receipt_lines WHERE receipt_id = ? GROUP BY sku",
        (request.receipt_id,),
    ).fetchall()
    return str(row[1]), {sku: (qty - returned.get(sku, 0), unit) for sku, qty, unit in received}


def load_return(conn: sqlite3.Connection, return_id: str) -> dict[str, Any]:
    returned = documents.one(
        conn,
        "SELECT id, seq, supplier, warehouse, receipt_id, amount_fen, cost_fen, at_ms"
        " FROM purchase_returns WHERE id = ?",
        (return_id,),
        f"no purchase return {return_id} at this branch",
    )
    returned["lines"] = documents.rows(
        conn,
        "SELECT line_no, sku, qty, unit_cost_fen, amount_fen, cost_fen FROM purchase_return_lines"
        " WHERE return_id = ? ORDER BY line_no",
        (return_id,),
    )
    returned["moves"] = stock_moves_of(conn, return_id, "purchase_return")
    returned["payable"] = of_document(conn, "purchase_return", return_id)
    return returned


def stock_moves_of(conn: sqlite3.Connection, ref: str, cause: str) -> list[dict[str, Any]]:
    """The stock movements a document made, as its answer shows them."""
    return [
        {
            "warehouse": warehouse,
            "sku": sku,
            "qty": qty,
            "cost_fen": cost,
            "correction_fen": correction,
            "variance_fen": variance,
        }
        for warehouse, sku, qty, cost, correction, variance in conn.execute(
            "SELECT warehouse, sku, qty_delta, cost_fen, correction_fen, variance_fen FROM stock_moves"
            " WHERE ref_id = ? AND cause = ? ORDER BY id",
            (ref, cause),
        )
    ]


def parse_purchase_return(body: dict[str, Any]) -> ReturnRequest:
    documents.only_fields(body, {"supplier", "warehouse", "receipt_id", "lines"}, "purchase return")
    return ReturnRequest(
        str(fields.text(body, "supplier")),
        fields.text(body, "warehouse", required=False),
        fields.text(body, "receipt_id", required=False, max_chars=MAX_ID_CHARS),
        documents.item_lines(body, cost=True),
    )
