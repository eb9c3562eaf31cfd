"""A member's vouchers at the till (node.services.vouchers): the vouchers HQ issued to
the member, each with its state on the branch's date."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT
from node.services import vouchers
from node.services.cards import day_of
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/members/{member_id}/vouchers")
@requires("members:view")
async def member_vouchers(request: web.Request) -> web.Response:
    """Every voucher of the member's duplicate group: unused, used (where) or expired."""
    context = request.app[CONTEXT]
    member_id = request.match_info["member_id"]
    day = day_of(context.store.writer.now_ms(), context.config.zone)
    found = await context.store.read(lambda conn: vouchers.member_vouchers(conn, member_id, day))
    return web.json_response(found)
