"""Member cards at the till: look up, top up, change status (node.services.cards), and
sell cards of the types HQ publishes (node.services.card_sales)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from node.routes.context import CONTEXT, NodeContext, json_body, optional_body, request_key, with_receipt
from node.services import card_life, card_sales, card_types, cards, fields, levels, loyalty, points
from node.store.writer import Job
from protocol import passwords
from protocol.access import requires
from shared_tables import credit as credit_lines

routes = web.RouteTableDef()
# Credit is owed for this many days before it is overdue, unless the caller asks another term.
CREDIT_TERM_DAYS = 30
MAX_TERM_DAYS = 3650


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
    amount_fen = cards.parse_top_up(await json_body(request))
    return await _card_write(
        request,
        lambda context, card_id: with_receipt(
            context,
            cards.top_up_job(
                card_id, amount_fen, context.new_id(), request_key(request), context.config.zone
            ),
            "top_up",
        ),
    )


@routes.post("/api/cards/{card}/uses")
@requires("cards:add")
async def buy_uses(request: web.Request) -> web.Response:
    bought = cards.parse_uses(await json_body(request))
    return await _card_write(
        request,
        lambda context, card_id: cards.uses_job(
            card_id, bought, context.new_id(), request_key(request), context.config.zone
        ),
    )


@routes.post("/api/cards/{card}/credit")
@requires("cards:edit")
async def credit(request: web.Request) -> web.Response:
    """More credit on the card's line, or a repayment of what it owes, in cash."""
    action, amount_fen = cards.parse_credit(await json_body(request))
    return await _card_write(
        request,
        lambda context, card_id: cards.credit_job(
            card_id, action, amount_fen, context.new_id(), request_key(request)
        ),
    )


@routes.get("/api/credit/overdue")
@requires("members:view")
async def overdue(request: web.Request) -> web.Response:
    """Members owing credit for longer than ?days= (30 by default), the longest first."""
    context = request.app[CONTEXT]
    days = fields.query_count(request.query, "days", CREDIT_TERM_DAYS, MAX_TERM_DAYS)
    now = context.store.writer.now_ms()
    found = await context.store.read(lambda conn: credit_lines.overdue(conn, now, days))
    return web.json_response({"days": days, "cards": found})


@routes.post("/api/cards/{card}/payout")
@requires("returns:add")
async def pay_out(request: web.Request) -> web.Response:
    """Unused stored value back in cash (a refund of the card), and the card returned if
    asked; the card's password, if it has one, as for a spend."""
    context = request.app[CONTEXT]
    payout = cards.parse_payout(await optional_body(request))
    card_id = fields.card_number(request.match_info["card"])
    checked = await context.card_passwords.check(
        context.store, {card_id: payout.password}, context.store.writer.now_ms()
    )
    return await _card_write(
        request,
        lambda context, card_id: cards.payout_job(
            card_id, payout, context.new_id(), context.new_id(), request_key(request), checked
        ),
    )


async def _card_write(request: web.Request, job_for: Callable[[NodeContext, str], Job[Any]]) -> web.Response:
    """Run the job for the card the path names: 201 with what it booked, 200 for a
    replay of an Idempotency-Key."""
    context = request.app[CONTEXT]
    result = await context.store.writer.run(job_for(context, fields.card_number(request.match_info["card"])))
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/cards/{card}/renew")
@requires("cards:add")
async def renew(request: web.Request) -> web.Response:
    """The card's validity extended by its type's days, at its type's renewal price."""
    return await _change(request, "renew")


@routes.post("/api/cards/{card}/replace")
@requires("cards:edit")
async def replace(request: web.Request) -> web.Response:
    """A new number for the card (lost, worn out): balances, uses and history follow it,
    and the old number is refused everywhere once the change has spread."""
    return await _change(request, "replace")


@routes.post("/api/cards/{card}/upgrade")
@requires("cards:add")
async def upgrade(request: web.Request) -> web.Response:
    """The card made a card of a dearer type, for the difference in price."""
    return await _change(request, "upgrade")


async def _change(request: web.Request, kind: str) -> web.Response:
    change = card_life.parse_change(
        kind, await optional_body(request), request.headers.get("Idempotency-Key")
    )
    return await _card_write(
        request,
        lambda context, card_id: card_life.change_job(card_id, change, context.new_id(), context.config.zone),
    )


@routes.post("/api/cards/{card}/password")
@requires("cards:edit")
async def set_password(request: web.Request) -> web.Response:
    """Set, change or clear the card's password: the old one is keyed in first."""
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    new, old = card_life.parse_password(await json_body(request))
    checked = await context.card_passwords.check(context.store, {card_id: old}, context.store.writer.now_ms())
    new_hash = "" if new is None else await asyncio.to_thread(passwords.hash_password, new)
    result = await context.store.writer.run(
        card_life.password_job(card_id, new_hash, checked[card_id], context.new_id())
    )
    return web.json_response(result, status=201)


@routes.post("/api/cards/{card}/password/reset")
@requires("cards:delete")
async def reset_password(request: web.Request) -> web.Response:
    """A forgotten password replaced (or cleared) without the old one: the member has
    proved who they are to a store manager, whose session the entry names. The card's
    lockout after wrong guesses ends with it."""
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    new, _ = card_life.parse_password(await json_body(request), reset=True)
    new_hash = "" if new is None else await asyncio.to_thread(passwords.hash_password, new)
    result = await context.store.writer.run(
        card_life.password_job(card_id, new_hash, card_life.RESET, context.new_id())
    )
    context.card_passwords.throttle.succeeded(card_id)
    return web.json_response(result, status=201)


@routes.get("/api/levels")
@requires("members:view")
async def list_levels(request: web.Request) -> web.Response:
    """The member levels HQ grades members into, highest rank first."""
    found = await request.app[CONTEXT].store.read(levels.levels)
    return web.json_response({"levels": found})


@routes.get("/api/card-types")
@requires("cards:view")
async def list_card_types(request: web.Request) -> web.Response:
    types = await request.app[CONTEXT].store.read(card_types.card_types)
    return web.json_response({"card_types": types})


@routes.post("/api/cards/{card}/points/convert")
@requires("cards:add")
async def convert_points(request: web.Request) -> web.Response:
    """The card's points turned into stored value on a card of the same member, at the
    chain's worth per point (FEATURES L9)."""
    context = request.app[CONTEXT]
    amount, to_card = points.parse_conversion(await json_body(request))
    convert_id = points.conversion_id(context.config.branch, request_key(request), context.new_id())
    return await _card_write(
        request,
        lambda context, card_id: points.convert_job(
            card_id, amount, to_card, convert_id, context.config.zone
        ),
    )


@routes.get("/api/cards/{card}/points")
@requires("cards:view")
async def show_points(request: web.Request) -> web.Response:
    """The card's points lot by lot: what each holds and when it expires, what may be
    spent now and what a return left owing."""
    card_id = fields.card_number(request.match_info["card"])
    context = request.app[CONTEXT]
    at_ms = context.sessions.wall_ms()
    return web.json_response(await context.store.read(lambda conn: points.lots_view(conn, card_id, at_ms)))


@routes.get("/api/points-rules")
@requires("sales:view")
async def list_points_rules(request: web.Request) -> web.Response:
    """HQ's points rules as this branch holds them (switched-off ones marked) and the
    chain's points settings: what the till's points come from."""
    return web.json_response(await request.app[CONTEXT].store.read(loyalty.points_rules))


@routes.get("/api/top-up-rules")
@requires("cards:view")
async def list_top_up_rules(request: web.Request) -> web.Response:
    rules = await request.app[CONTEXT].store.read(card_types.top_up_rules)
    return web.json_response({"top_up_rules": rules})


@routes.post("/api/card-sales")
@requires("cards:add")
async def sell_card(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    sale = card_sales.parse_card_sale(await json_body(request), request.headers.get("Idempotency-Key"))
    job = card_sales.card_sale_job(sale, context.new_id(), context.config.warehouse, context.config.zone)
    result = await context.store.writer.run(with_receipt(context, job, "card_sale"))
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/cards/{card}/status")
@requires("cards:edit")
async def change_status(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    card_id = fields.card_number(request.match_info["card"])
    action = cards.parse_status(await json_body(request))
    result = await context.store.writer.run(cards.status_job(card_id, action, context.new_id()))
    return web.json_response(result, status=201)
