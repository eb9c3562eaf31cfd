"""Stock at a glance, stock alerts and the stock ledger, read-only (node.services.stock)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT
from node.services import stock
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/stock")
@requires("stock:view")
async def levels(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    code = request.query.get("warehouse")
    return web.json_response(await context.store.read(lambda conn: stock.levels(conn, context.config, code)))


@routes.get("/api/stock/alerts")
@requires("stock:view")
async def alerts(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    code = request.query.get("warehouse")
    return web.json_response(await context.store.read(lambda conn: stock.alerts(conn, context.config, code)))


@routes.get("/api/stock/moves")
@requires("stock:view")
async def stock_moves(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    asked = stock.parse_moves_query(request.query)
    return web.json_response(await context.store.read(lambda conn: stock.ledger(conn, context.config, asked)))
