"""Stocktakes (I6): a count of some products in one warehouse, previewed, then
posted as variances through the stock ledger.

Each counted line's variance is counted minus book quantity at the moment of
posting. A loss leaves at cost by the product's method, like a sale; a gain
comes in at the last known unit cost here (else the preset purchase price),
since found goods have no invoice. A line's `cost_fen` is the signed value of
its variance: positive for a gain, negative for a loss.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from inventory import costing
from node.config import NodeConfig
from node.errors import InvalidRequest
from node.services import catalogue, documents, fields, stock_ledger
from node.store.writer import Tx
from protocol.contract import STOCKTAKE_POST

DEFAULT_LISTED = 50
MAX_LISTED = 500


class Counted(NamedTuple):
    sku: str
    book_qty: int
    counted_qty: int
    variance_qty: int
    cost_fen: int  # signed value of the variance

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


def count(conn: sqlite3.Connection, warehouse: str, lines: list[documents.ItemLine]) -> list[Counted]:
    """What posting `lines` now would book, computed without writing anything.

    Goods of a product HQ has since withdrawn are still counted (they are on the shelf)."""
    counted = []
    for line in lines:
        item = catalogue.product(conn, line.sku, active_only=False)
        book_qty, _ = stock_ledger.level(conn, warehouse, line.sku)
        variance = line.qty - book_qty
        if variance < 0:
            state = stock_ledger.cost_state(conn, warehouse, item)
            cost_fen = -costing.issue(state, -variance).cost_fen
        elif variance > 0:
            cost_fen = stock_ledger.unit_cost(conn, warehouse, line.sku) * variance
        else:
            cost_fen = 0
        counted.append(Counted(line.sku, book_qty, line.qty, variance, cost_fen))
    return counted


def post_job(
    stocktake_id: str, code: str, lines: list[documents.ItemLine], key: str | None, default_warehouse: str
) -> Any:
    """Book the count: its lines, a stock movement per variance, and its entry."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        done = documents.replayed(conn, "stocktakes", key)
        if done is not None:
            return {**load_stocktake(conn, done), "replayed": True}
        warehouse = catalogue.own_warehouse(conn, code, tx.log.origin, default_warehouse)
        planned = count(conn, warehouse, lines)
        booked: list[Counted] = []
        moves = []
        for line in planned:
            if line.variance_qty > 0:
                move = stock_ledger.receive(
                    conn,
                    warehouse,
                    line.sku,
                    line.variance_qty,
                    line.cost_fen,
                    "stocktake",
                    stocktake_id,
                    tx.wall_ms,
                )
            elif line.variance_qty < 0:
                move = stock_ledger.issue(
                    conn, warehouse, line.sku, -line.variance_qty, "stocktake", stocktake_id, tx.wall_ms
                )
                # The loss is what the ledger took, which the preview computed the same way.
                line = line._replace(cost_fen=-move.issued_cost_fen)
            else:
                booked.append(line)
                continue
            moves.append(move)
            booked.append(line)
        variance_cost_fen = sum(line.cost_fen for line in booked)
        entry = tx.record(
            STOCKTAKE_POST,
            stocktake_id,
            {
                "id": stocktake_id,
                "warehouse": warehouse,
                "lines": [line.as_json() for line in booked],
                "variance_cost_fen": variance_cost_fen,
                "at_ms": tx.wall_ms,
                "moves": [move.as_payload("stocktake") for move in moves],
            },
        )
        conn.execute(
            "INSERT INTO stocktakes (id, seq, warehouse, variance_cost_fen, at_ms, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (stocktake_id, entry.seq, warehouse, variance_cost_fen, tx.wall_ms, key),
        )
        conn.executemany(
            "INSERT INTO stocktake_lines (stocktake_id, sku, book_qty, counted_qty, variance_qty, cost_fen)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(stocktake_id, *line) for line in booked],
        )
        return {**load_stocktake(conn, stocktake_id), "replayed": False}

    return job


def load_stocktake(conn: sqlite3.Connection, stocktake_id: str) -> dict[str, Any]:
    stocktake = documents.one(
        conn,
        "SELECT id, seq, warehouse, variance_cost_fen, at_ms FROM stocktakes WHERE id = ?",
        (stocktake_id,),
        f"no stocktake {stocktake_id} at this branch",
    )
    stocktake["lines"] = documents.rows(
        conn,
        "SELECT sku, book_qty, counted_qty, variance_qty, cost_fen FROM stocktake_lines"
        " WHERE stocktake_id = ? ORDER BY sku",
        (stocktake_id,),
    )
    return stocktake


def list_stocktakes(conn: sqlite3.Connection, warehouse: str | None, limit: int) -> list[dict[str, Any]]:
    where, args = documents.where_equal({"s.warehouse": warehouse})
    return documents.rows(
        conn,
        "SELECT s.id, s.seq, s.warehouse, s.variance_cost_fen, s.at_ms, COUNT(l.sku) AS lines"
        " FROM stocktakes s LEFT JOIN stocktake_lines l ON l.stocktake_id = s.id"
        f" {where} GROUP BY s.id ORDER BY s.seq DESC LIMIT ?",
        [*args, limit],
    )


class StocktakeRequest(NamedTuple):
    warehouse: str
    post: bool  # False: a preview, which books nothing
    lines: list[documents.ItemLine]


def parse_stocktake(body: dict[str, Any], default_warehouse: str) -> StocktakeRequest:
    documents.only_fields(body, {"warehouse", "lines", "post"}, "stocktake")
    code = fields.text(body, "warehouse", required=False) or default_warehouse
    post = body.get("post", True)
    if not isinstance(post, bool):
        raise InvalidRequest("post must be true (book the count) or false (preview it)")
    lines = documents.item_lines(body, minimum_qty=0, qty_field="counted_qty")
    return StocktakeRequest(code, post, lines)


def preview(conn: sqlite3.Connection, config: NodeConfig, counted: StocktakeRequest) -> dict[str, Any]:
    """What posting the count would book, as its answer would show it."""
    warehouse = catalogue.own_warehouse(conn, counted.warehouse, config.branch, config.warehouse)
    lines = count(conn, warehouse, counted.lines)
    return {
        "preview": True,
        "warehouse": warehouse,
        "lines": [line.as_json() for line in lines],
        "variance_cost_fen": sum(line.cost_fen for line in lines),
    }
