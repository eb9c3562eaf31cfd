"""Sales at the till: ring one up, read one back, and the day's summary
(node.services.checkout, which takes the holds at HQ too)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body
from node.services import checkout
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/sales")
@requires("sales:add")
async def create_sale(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    sale = checkout.parse_sale(await json_body(request), request.headers.get("Idempotency-Key"))
    result = await checkout.sell(context.store, context.hq, context.config, sale, context.new_id())
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/sales/summary")
@requires("sales:view")
async def sales_summary(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    count, total_fen = await context.store.read(checkout.sales_summary)
    return web.json_response({"branch": context.config.branch, "count": count, "total_fen": total_fen})


@routes.get("/api/sales/{sale_id}")
@requires("sales:view")
async def show_sale(request: web.Request) -> web.Response:
    sale_id = request.match_info["sale_id"]
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: checkout.sale_view(conn, sale_id))
    )
