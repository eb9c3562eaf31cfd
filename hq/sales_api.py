"""One sale as its branch booked it, read back at HQ (GET /api/sales/{id}?branch=):
its lines, tenders and the points it earned with the reason for each, in the
reader's words (FEATURES L1: "HQ can say why each point was earned"). HQ keeps every
branch's entries verbatim, so this is the entry the branch signed, decoded."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hq.errors import InvalidQuery, NotFound
from hq.http_common import HQ_KEY, branch_scope
from loyalty.reasons import shown
from protocol.access import Scope, requires
from protocol.entry import decode_entry

routes = web.RouteTableDef()


@routes.get("/api/sales/{sale_id}")
@requires("sales:view", Scope.STORE)
async def sale(request: web.Request) -> web.Response:
    branch = branch_scope(request)
    if branch is None:
        raise InvalidQuery("name the branch that booked the sale: ?branch=BR01")
    sale_id = request.match_info["sale_id"]
    raw = await request.app[HQ_KEY].store.sale_entry(branch, sale_id)
    if raw is None:
        raise NotFound(f"HQ holds no sale {sale_id} of {branch} (not booked there, or not yet sent)")
    entry = decode_entry(raw)
    payload: dict[str, Any] = dict(entry.payload)
    payload["points_reasons"] = shown(payload.get("points_reasons", []))
    return web.json_response(
        {"branch": branch, "id": sale_id, "seq": entry.seq, "kind": f"{entry.kind}/{entry.op}", **payload}
    )
