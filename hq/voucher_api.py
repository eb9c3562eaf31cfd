"""HQ's HTTP API for voucher campaigns (hq.vouchers): an operator issues vouchers to the
members a campaign's criteria pick, and follows what they brought.

POST /api/voucher-campaigns `{code, name, value_fen, min_spend_fen?, valid_from,
valid_until, criteria?}` (members:edit, HQ roles) issues a voucher to each member who
fits and holds none of the campaign's yet: 201 for a new campaign, 200 for a run of one
HQ holds (the same terms; other terms are 409). GET /api/voucher-campaigns and
GET /api/voucher-campaigns/{code} (members:view, HQ roles) answer the tracking: issued,
redeemed, expired and unused vouchers, what they took off, and the sales they paid for.
"""

from __future__ import annotations

from aiohttp import web

from hq.http_common import HQ_KEY, doer, json_body
from protocol.access import Scope, requires

routes = web.RouteTableDef()


@routes.post("/api/voucher-campaigns")
@requires("members:edit", Scope.HQ)
async def run_campaign(request: web.Request) -> web.Response:
    hq = request.app[HQ_KEY]
    body = await json_body(request, "{code, name, value_fen, valid_from, valid_until, criteria}")
    new, issued = await hq.run_voucher_campaign(body, doer(request))
    found = await hq.store.voucher_campaign(body["code"], hq.wall_ms())
    del found["vouchers"]  # a campaign may hold thousands; GET .../{code} lists them
    found["issued_now"] = [{"voucher_id": v.voucher_id, "member_id": v.member_id} for v in issued]
    return web.json_response(found, status=201 if new else 200)


@routes.get("/api/voucher-campaigns")
@requires("members:view", Scope.HQ)
async def list_campaigns(request: web.Request) -> web.Response:
    hq = request.app[HQ_KEY]
    return web.json_response({"campaigns": await hq.store.voucher_campaigns(hq.wall_ms())})


@routes.get("/api/voucher-campaigns/{code}")
@requires("members:view", Scope.HQ)
async def show_campaign(request: web.Request) -> web.Response:
    hq = request.app[HQ_KEY]
    return web.json_response(await hq.store.voucher_campaign(request.match_info["code"], hq.wall_ms()))
