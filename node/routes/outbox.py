"""The branch's message outbox, newest first, for an operator (node.services.outbox)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT
from node.services import fields, outbox
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/outbox")
@requires("members:view")  # the messages carry members' names and phones, as a lookup does
async def messages(request: web.Request) -> web.Response:
    limit = fields.query_count(request.query, "limit", outbox.DEFAULT_LISTED, outbox.MAX_LISTED)
    found = await request.app[CONTEXT].store.read(lambda conn: outbox.listed(conn, limit))
    return web.json_response({"messages": found})
