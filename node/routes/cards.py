"""Member cards at the till: look up, top up, change status (node.services.cards), and
sell cards of the types HQ publishes (node.services.card_sales)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body, request_key
from node.services import card_sales, card_types, cards, fields
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/cards/{card}")
@requires("cards:view")
async def show(request: web.Request) -> web.Response:
    card_id = fields.card_number(request.match_info["card"])
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: cards.card_view(conn, card_id))
    )


@routes.post("/api/cards/{card}/top-up")
@requires("cards:add")
async def top_up(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    amount_fen = cards.parse_top_up(await json_body(request))
    result = await context.store.writer.run(
        cards.top_up_job(card_id, amount_fen, context.new_id(), request_key(request))
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/card-types")
@requires("cards:view")
async def list_card_types(request: web.Request) -> web.Response:
    types = await request.app[CONTEXT].store.read(card_types.card_types)
    return web.json_response({"card_types": types})


@routes.post("/api/card-sales")
@requires("cards:add")
async def sell_card(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    sale = card_sales.parse_card_sale(await json_body(request), request.headers.get("Idempotency-Key"))
    result = await context.store.writer.run(
        card_sales.card_sale_job(sale, context.new_id(), context.config.warehouse, context.config.zone)
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/cards/{card}/status")
@requires("cards:edit")
async def change_status(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    action = cards.parse_status(await json_body(request))
    result = await context.store.writer.run(cards.status_job(card_id, action, context.new_id()))
    return web.json_response(result, status=201)
