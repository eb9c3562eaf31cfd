"""Customer returns of a sale (node.services.returns)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body, request_key, with_receipt
from node.services import returns
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/sales/{sale_id}/returns")
@requires("returns:add")
async def post_return(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    lines = returns.parse_lines(await json_body(request))
    job = returns.return_job(
        context.new_id(),
        request.match_info["sale_id"],
        lines,
        request_key(request),
        context.config.warehouse,
        context.config.zone,
    )
    result = await context.store.writer.run(with_receipt(context, job, "return"))
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/sales/{sale_id}/returns")
@requires("returns:view")
async def list_returns(request: web.Request) -> web.Response:
    sale_id = request.match_info["sale_id"]
    found = await request.app[CONTEXT].store.read(lambda conn: returns.returns_of(conn, sale_id))
    return web.json_response({"sale_id": sale_id, "returns": found})
