"""The branch's employees as a till lists them, to credit a sale, a registration or a
card sale to one (node.services.employees)."""

from __future__ import annotations

from aiohttp import web

from node.errors import InvalidRequest
from node.routes.context import CONTEXT
from node.services import employees
from protocol.access import requires

routes = web.RouteTableDef()
_FLAGS = {"true": True, "false": False}


@routes.get("/api/employees")
@requires("catalogue:view")
async def list_employees(request: web.Request) -> web.Response:
    """This branch's active employees; ?include_inactive=true lists those who left too."""
    context = request.app[CONTEXT]
    raw = request.query.get("include_inactive", "false")
    if raw not in _FLAGS:
        raise InvalidRequest("include_inactive must be true or false")
    include_inactive = _FLAGS[raw]
    branch = context.config.branch
    found = await context.store.read(
        lambda conn: employees.employees(conn, branch, include_inactive=include_inactive)
    )
    return web.json_response({"branch": branch, "employees": found})
