"""Members at the till: register, edit and look up (node.services.members), what they
bought here (node.services.member_stats), and a level bought with points
(node.services.level_purchase)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body
from node.services import checkout, fields, level_purchase, member_stats, members
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/members")
@requires("members:add")
async def register(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile, cards = members.parse_registration(await json_body(request))
    member = await context.store.writer.run(
        members.register_job(context.new_id(), context.config.branch, profile, cards)
    )
    return web.json_response(member, status=201)


@routes.patch("/api/members/{member_id}")
@requires("members:edit")
async def edit(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    changes = members.parse_edit(await json_body(request))
    member = await context.store.writer.run(
        members.edit_job(request.match_info["member_id"], context.config.branch, changes)
    )
    return web.json_response(member)


@routes.get("/api/members")
@requires("members:view")
async def find(request: web.Request) -> web.Response:
    """Members by ?phone= or ?card=, as their survivors."""
    key, phone = members.parse_lookup(request.query)
    found = await request.app[CONTEXT].store.read(lambda conn: members.members_with(conn, key, phone))
    return web.json_response({"members": found})


@routes.get("/api/members/{member_id}")
@requires("members:view")
async def show(request: web.Request) -> web.Response:
    member_id = request.match_info["member_id"]
    member = await request.app[CONTEXT].store.read(lambda conn: members.member_view(conn, member_id))
    return web.json_response(member)


@routes.post("/api/members/{member_id}/level/buy")
@requires("cards:add")  # as a card's upgrade: the member pays, here in points
async def buy_level(request: web.Request) -> web.Response:
    """{level, card?}: the next level up for its points; 201 with the purchase, 200 for a
    replay of an Idempotency-Key."""
    context = request.app[CONTEXT]
    purchase = level_purchase.parse_purchase(await json_body(request), request.headers.get("Idempotency-Key"))
    result = await context.store.writer.run(
        level_purchase.purchase_job(request.match_info["member_id"], purchase, context.new_id())
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/members/{member_id}/level")
@requires("members:view")
async def show_level(request: web.Request) -> web.Response:
    """The member's level now, HQ's grade and the levels bought here that still hold."""
    context = request.app[CONTEXT]
    member_id, now_ms = request.match_info["member_id"], context.store.writer.now_ms()
    found = await context.store.read(lambda conn: level_purchase.level_view(conn, member_id, now_ms))
    return web.json_response(found)


@routes.get("/api/members/{member_id}/sales")
@requires("members:view")
async def sales(request: web.Request) -> web.Response:
    """The member's purchases at this branch (aliases included), newest first, at most
    ?limit= (20; at most 500): the member page's history."""
    context = request.app[CONTEXT]
    limit = fields.query_count(request.query, "limit", 20, checkout.MAX_LISTED_SALES)
    member_id = request.match_info["member_id"]
    found = await context.store.read(lambda conn: member_stats.member_sales(conn, member_id, limit))
    return web.json_response(found)


@routes.get("/api/members/{member_id}/stats")
@requires("members:view")
async def stats(request: web.Request) -> web.Response:
    """?from=&to= (the branch's days, YYYY-MM-DD, both inclusive; to: today) and ?top=."""
    context = request.app[CONTEXT]
    zone = context.config.zone
    period = member_stats.parse_period(request.query, context.store.writer.now_ms(), zone)
    top = member_stats.parse_top(request.query)
    member_id = request.match_info["member_id"]
    found = await context.store.read(
        lambda conn: member_stats.member_stats(conn, member_id, context.config.branch, zone, period, top)
    )
    return web.json_response(found)
