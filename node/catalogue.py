"""The catalogue: HQ master data, received through the feed, read by tills."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from aiohttp import web

from node.context import CONTEXT

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def apply_product(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """HQ is the only writer of products, so its latest version simply replaces ours."""
    conn.execute(
        "INSERT INTO products (sku, name, price_fen, unit, active) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (sku) DO UPDATE SET name = excluded.name,"
        " price_fen = excluded.price_fen, unit = excluded.unit, active = excluded.active",
        (
            payload["sku"],
            payload["name"],
            payload["price_fen"],
            payload.get("unit", "pcs"),
            int(payload.get("active", True)),
        ),
    )


@routes.get("/api/products")
async def list_products(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    async with context.store.reader.execute(
        "SELECT p.sku, p.name, p.price_fen, p.unit, COALESCE(s.qty, 0) AS stock_qty"
        " FROM products p LEFT JOIN stock s ON s.sku = p.sku AND s.warehouse = ?"
        " WHERE p.active ORDER BY p.sku",
        (context.config.warehouse,),
    ) as cursor:
        rows = await cursor.fetchall()
    return web.json_response({"products": [dict(row) for row in rows]})
