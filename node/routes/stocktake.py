"""Stocktakes: preview a count, post it, read them back (node.services.stocktake)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body, request_key
from node.services import fields, stocktake
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/stocktakes")
@requires("stocktake:add")
async def post_stocktake(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    counted = stocktake.parse_stocktake(await json_body(request), context.config.warehouse)
    key = request_key(request)
    if not counted.post:
        return web.json_response(
            await context.store.read(lambda conn: stocktake.preview(conn, context.config, counted))
        )
    result = await context.store.writer.run(
        stocktake.post_job(context.new_id(), counted.warehouse, counted.lines, key, context.config.warehouse)
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/stocktakes")
@requires("stocktake:view")
async def stocktakes(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    limit = fields.query_count(request.query, "limit", stocktake.DEFAULT_LISTED, stocktake.MAX_LISTED)
    warehouse = request.query.get("warehouse")
    found = await context.store.read(lambda conn: stocktake.list_stocktakes(conn, warehouse, limit))
    return web.json_response({"stocktakes": found})


@routes.get("/api/stocktakes/{stocktake_id}")
@requires("stocktake:view")
async def show_stocktake(request: web.Request) -> web.Response:
    stocktake_id = request.match_info["stocktake_id"]
    found = await request.app[CONTEXT].store.read(lambda conn: stocktake.load_stocktake(conn, stocktake_id))
    return web.json_response(found)
