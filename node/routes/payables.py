"""What this node owes its suppliers, and purchase returns (node.services.payables)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body, request_key
from node.services import payables
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/purchase-returns")
@requires("payables:add")
async def purchase_return(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    returned = payables.parse_purchase_return(await json_body(request))
    result = await context.store.writer.run(
        payables.return_job(
            returned, context.new_id(), context.new_id(), request_key(request), context.config.warehouse
        )
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/purchase-returns/{return_id}")
@requires("payables:view")
async def show_return(request: web.Request) -> web.Response:
    return_id = request.match_info["return_id"]
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: payables.load_return(conn, return_id))
    )


@routes.get("/api/payables")
@requires("payables:view")
async def show_payables(request: web.Request) -> web.Response:
    supplier = request.query.get("supplier")
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: payables.balances(conn, supplier))
    )
