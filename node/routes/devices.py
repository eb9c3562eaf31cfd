"""The branch's card reader and receipt printer as the till and its operators see them:
their state, and the receipts printed and waiting (node.services.printouts)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT
from node.services import fields, printouts
from protocol.access import logged_in, requires

routes = web.RouteTableDef()
MAX_LISTED = 200


@routes.get("/api/devices")
@logged_in
async def devices(request: web.Request) -> web.Response:
    """Each device's state (null for one the branch has none of): a till's status bar
    shows whether the printer prints and the reader reads."""
    return web.json_response(request.app[CONTEXT].devices.state())


@routes.get("/api/printouts")
@requires("sales:view")
async def printout_list(request: web.Request) -> web.Response:
    """The receipts waiting for the printer, oldest first, and the latest printed
    (?limit=, 50; at most 200), each with its text; ?ref= only a sale's (a top-up's...)."""
    limit = fields.query_count(request.query, "limit", 50, MAX_LISTED)
    ref = request.query.get("ref")
    found = await request.app[CONTEXT].store.read(lambda conn: printouts.listing(conn, limit, ref))
    return web.json_response(found)


@routes.post("/api/printouts/{job_id}/reprint")
@requires("sales:add")
async def reprint(request: web.Request) -> web.Response:
    """A copy of a receipt, marked as a copy on the paper, printed after what waits."""
    raw = request.match_info["job_id"]
    job_id = fields.query_count({"job_id": raw}, "job_id", 0, 2**62)
    context = request.app[CONTEXT]
    found = await context.store.writer.run(printouts.reprint_job(job_id))
    context.devices.wake()
    return web.json_response(found, status=201)
