"""The branch's daily settlement and the close of its drawer (node.services.settlement)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import ACTOR, CONTEXT, json_body, request_key, with_receipt
from node.services import settlement
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/settlement")
@requires("sales:view")
async def show_settlement(request: web.Request) -> web.Response:
    """?day=YYYY-MM-DD, the branch's today when none is given."""
    context = request.app[CONTEXT]
    days = context.config.business_day
    day = settlement.asked_day(request.query.get("day"), context.store.writer.now_ms(), days)
    found = await context.store.read(
        lambda conn: settlement.settlement(conn, context.config.branch, day, days)
    )
    return web.json_response(found)


@routes.post("/api/settlement/{day}/close")
@requires("sales:edit")  # a store manager's; a clerk sells but does not close the day
async def close_day(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    day = settlement.parse_day(request.match_info["day"])
    count = settlement.parse_close(await json_body(request))
    job = settlement.close_job(
        context.config.branch,
        day,
        context.config.business_day,
        count,
        request[ACTOR].login,
        request_key(request),
    )
    result = await context.store.writer.run(with_receipt(context, job, "settlement", ref_key="day"))
    return web.json_response(result, status=200 if result["replayed"] else 201)
