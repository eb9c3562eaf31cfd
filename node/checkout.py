"""Checkout: a sale of catalogue products, paid in cash, moving the branch's stock.

The sale, its lines and tenders, its stock moves and its change entry commit in
one transaction. Stock may go negative: a branch is never stopped from selling
because its count is behind (the goods are in the customer's hands).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node import fields
from node.context import CONTEXT, json_body
from node.errors import (
    InvalidRequest,
    NotFound,
    TenderShort,
    UnknownMember,
    UnknownProduct,
    UnsupportedTender,
)
from node.writer import Tx

routes = web.RouteTableDef()

MAX_SALE_LINES = 200  # a long supermarket receipt; more is a runaway till
MAX_TENDERS = 8
MAX_LINE_QTY = 100_000
TENDER_KINDS = ("cash",)  # stored value, points and vouchers arrive with loyalty
MAX_REQUEST_KEY_CHARS = 64


@dataclass(frozen=True)
class SaleRequest:
    member_id: str | None
    lines: tuple[tuple[str, int], ...]  # (sku, qty)
    tenders: tuple[tuple[str, int], ...]  # (kind, amount_fen)
    request_key: str | None  # the till's Idempotency-Key: a retried POST books once


def parse_sale(body: dict[str, Any], request_key: str | None) -> SaleRequest:
    unknown = set(body) - {"member_id", "lines", "tenders"}
    if unknown:
        raise InvalidRequest(f"unknown sale fields: {', '.join(sorted(unknown))}")
    member_id = fields.text(body, "member_id", required=False)
    lines = []
    for number, line in enumerate(fields.items(body.get("lines"), "lines", maximum=MAX_SALE_LINES)):
        sku = fields.text(line, "sku")
        qty = fields.integer(line.get("qty"), f"lines[{number}].qty", minimum=1, maximum=MAX_LINE_QTY)
        lines.append((str(sku), qty))
    tenders = []
    for number, tender in enumerate(fields.items(body.get("tenders"), "tenders", maximum=MAX_TENDERS)):
        kind = tender.get("kind")
        if kind not in TENDER_KINDS:
            raise UnsupportedTender(
                f"tenders[{number}].kind {kind!r} is not accepted;"
                f" this branch takes {', '.join(TENDER_KINDS)}"
            )
        tenders.append(
            (
                str(kind),
                fields.amount_fen(tender.get("amount_fen"), f"tenders[{number}].amount_fen"),
            )
        )
    if request_key is not None and not 0 < len(request_key) <= MAX_REQUEST_KEY_CHARS:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_REQUEST_KEY_CHARS} characters")
    return SaleRequest(member_id, tuple(lines), tuple(tenders), request_key)


def checkout_job(sale: SaleRequest, sale_id: str, warehouse: str) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        if sale.request_key is not None:
            row = conn.execute("SELECT id FROM sales WHERE request_key = ?", (sale.request_key,)).fetchone()
            if row is not None:
                return {**load_sale(conn, row[0]), "replayed": True}
        if sale.member_id is not None:
            known = conn.execute("SELECT 1 FROM members WHERE id = ?", (sale.member_id,)).fetchone()
            if known is None:
                raise UnknownMember(f"no member {sale.member_id} at this branch")
        skus = sorted({sku for sku, _ in sale.lines})
        marks = ",".join("?" * len(skus))
        prices = dict(
            conn.execute(f"SELECT sku, price_fen FROM products WHERE active AND sku IN ({marks})", skus)
        )
        missing = [sku for sku in skus if sku not in prices]
        if missing:
            raise UnknownProduct(f"not in this branch's catalogue: {', '.join(missing)}")
        lines = [
            {"sku": sku, "qty": qty, "unit_price_fen": prices[sku], "amount_fen": prices[sku] * qty}
            for sku, qty in sale.lines
        ]
        total_fen = sum(line["amount_fen"] for line in lines)
        tendered_fen = sum(amount for _, amount in sale.tenders)
        if tendered_fen < total_fen:
            raise TenderShort(f"tenders cover {tendered_fen} fen of a {total_fen} fen sale")
        change_fen = tendered_fen - total_fen  # cash is the only tender, so change is cash
        entry = tx.record(
            "sale",
            sale_id,
            "checkout",
            {
                "member_id": sale.member_id,
                "warehouse": warehouse,
                "lines": lines,
                "tenders": [{"kind": kind, "amount_fen": amount} for kind, amount in sale.tenders],
                "total_fen": total_fen,
                "change_fen": change_fen,
                "at_ms": tx.wall_ms,
            },
        )
        conn.execute(
            "INSERT INTO sales (id, seq, member_id, total_fen, change_fen, at_ms, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                sale_id,
                entry.seq,
                sale.member_id,
                total_fen,
                change_fen,
                tx.wall_ms,
                sale.request_key,
            ),
        )
        conn.executemany(
            "INSERT INTO sale_lines (sale_id, line_no, sku, qty, unit_price_fen, amount_fen)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    sale_id,
                    number,
                    line["sku"],
                    line["qty"],
                    line["unit_price_fen"],
                    line["amount_fen"],
                )
                for number, line in enumerate(lines)
            ],
        )
        conn.executemany(
            "INSERT INTO sale_tenders (sale_id, tender_no, kind, amount_fen) VALUES (?, ?, ?, ?)",
            [(sale_id, number, kind, amount) for number, (kind, amount) in enumerate(sale.tenders)],
        )
        conn.executemany(
            "INSERT INTO stock_moves (warehouse, sku, qty_delta, cause, ref_id, at_ms)"
            " VALUES (?, ?, ?, 'sale', ?, ?)",
            [(warehouse, sku, -qty, sale_id, tx.wall_ms) for sku, qty in sale.lines],
        )
        conn.executemany(
            "INSERT INTO stock (warehouse, sku, qty) VALUES (?, ?, ?)"
            " ON CONFLICT (warehouse, sku) DO UPDATE SET qty = qty + excluded.qty",
            [(warehouse, sku, -qty) for sku, qty in sale.lines],
        )
        return {
            "id": sale_id,
            "seq": entry.seq,
            "member_id": sale.member_id,
            "lines": lines,
            "total_fen": total_fen,
            "change_fen": change_fen,
            "replayed": False,
        }

    return job


SALE_COLUMNS = "id, seq, member_id, total_fen, change_fen"
LINE_QUERY = "SELECT sku, qty, unit_price_fen, amount_fen FROM sale_lines WHERE sale_id = ? ORDER BY line_no"


def load_sale(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any]:
    conn.row_factory = sqlite3.Row
    try:
        sale = dict(conn.execute(f"SELECT {SALE_COLUMNS} FROM sales WHERE id = ?", (sale_id,)).fetchone())
        sale["lines"] = [dict(line) for line in conn.execute(LINE_QUERY, (sale_id,))]
    finally:
        conn.row_factory = None
    return sale


@routes.post("/api/sales")
async def create_sale(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    sale = parse_sale(await json_body(request), request.headers.get("Idempotency-Key"))
    result = await context.store.writer.run(checkout_job(sale, context.new_id(), context.config.warehouse))
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/sales/summary")
async def sales_summary(request: web.Request) -> web.Response:
    async with request.app[CONTEXT].store.reader.execute(
        "SELECT COUNT(*), COALESCE(SUM(total_fen), 0) FROM sales"
    ) as cursor:
        count, total_fen = await cursor.fetchone()  # type: ignore[misc]
    return web.json_response(
        {"branch": request.app[CONTEXT].config.branch, "count": count, "total_fen": total_fen}
    )


@routes.get("/api/sales/{sale_id}")
async def show_sale(request: web.Request) -> web.Response:
    reader = request.app[CONTEXT].store.reader
    sale_id = request.match_info["sale_id"]
    async with reader.execute(f"SELECT {SALE_COLUMNS} FROM sales WHERE id = ?", (sale_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no sale {sale_id} at this branch")
    async with reader.execute(LINE_QUERY, (sale_id,)) as cursor:
        lines = [dict(line) for line in await cursor.fetchall()]
    return web.json_response({**dict(row), "lines": lines})
