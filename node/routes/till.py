"""The till's web pages, served by the node itself (no CDN, no internet: they work
whenever the node does, HQ or not), and what only they need: the operator's language,
the status bar, the live events (server-sent) and the reader's swipe
(node.services.till). Every figure the pages show comes from the node's API routes,
which check the operator's permissions again."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from devices.virtual import kind_for_card
from node.errors import NotFound
from node.routes.context import ACTOR, CONTEXT, SESSION_TOKEN, NodeContext, json_body
from node.services import fields, till
from node.sync.replicator import wall_ms
from protocol.access import Actor, logged_in, public, requires
from protocol.errors import Forbidden, NotLoggedIn

routes = web.RouteTableDef()

PAGES = Path(__file__).resolve().parent.parent / "till"
ASSET_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}
# Debian's fonts-droid-fallback: one TrueType file covering Chinese, for a till whose
# browser has no CJK font of its own (the page asks for the browser's first).
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf"),
)
STATUS_EVERY_S = 2.0
# A stream checks its operator's session this often, and ends once it has ended.
SESSION_CHECK_S = 10.0


def _page(name: str) -> web.Response:
    path = PAGES / name
    if path.parent != PAGES or path.suffix not in ASSET_TYPES or not path.is_file():
        raise NotFound(f"the till has no file {name!r}")
    return web.Response(
        body=path.read_bytes(),
        content_type=ASSET_TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@routes.get("/")
@logged_in
async def till_page(request: web.Request) -> web.Response:
    """The till's one page; its sections follow the operator's permissions."""
    return _page("index.html")


@routes.get("/login")
@public
async def login_page(request: web.Request) -> web.Response:
    return _page("login.html")


@routes.get("/till/{name}")
@public
async def till_asset(request: web.Request) -> web.Response:
    """The till's scripts, style and texts: no figure and no member data in them."""
    return _page(request.match_info["name"])


@routes.get("/till/font/cjk.ttf")
@public
async def cjk_font(request: web.Request) -> web.FileResponse:
    for path in CJK_FONTS:
        if path.is_file():
            return web.FileResponse(
                path, headers={"Content-Type": "font/ttf", "Cache-Control": "max-age=86400"}
            )
    raise NotFound("this node's machine has no CJK font to serve (apt-get install fonts-droid-fallback)")


@routes.put("/api/me/language")
@logged_in
async def set_language(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    language = till.parse_language(await json_body(request))
    await context.store.writer.run(till.set_language_job(request[ACTOR].operator_id, language))
    return web.json_response({"language": language})


def _status(context: NodeContext) -> dict[str, Any]:
    replication = None if context.replicator is None else context.replicator.status()
    found = till.status(replication, context.config.offline_limit_fen, wall_ms())
    return {**found, "devices": context.devices.state()}


@routes.get("/api/till/status")
@logged_in
async def status(request: web.Request) -> web.Response:
    """The status bar: HQ reachable or not, the backlog, which payments go offline;
    with ?card=, what that card may still spend offline here today."""
    context = request.app[CONTEXT]
    found = _status(context)
    card = request.query.get("card")
    if card is not None:
        if "cards:view" not in request[ACTOR].permissions:
            raise Forbidden("reading a card's offline limit needs the permission cards:view")
        card_id = fields.card_number(card, "the card query parameter")
        limit = context.config.offline_limit_fen
        found["card"] = await context.store.read(
            lambda conn: till.offline_left(conn, card_id, limit, wall_ms())
        )
    return web.json_response(found)


@routes.post("/api/till/swipe")
@requires("cards:view")
async def swipe(request: web.Request) -> web.Response:
    """A card read at this branch's reader (the virtual reader's, and a tool's): every
    open till page is told, with the member when the branch knows the card."""
    context = request.app[CONTEXT]
    card_id = fields.card_number((await json_body(request)).get("card"), "card")
    found = await context.store.read(lambda conn: till.swiped(conn, card_id))
    virtual = context.devices.virtual_reader
    if virtual is not None:
        # Through the branch's virtual reader and its driver, as a card at the counter.
        virtual.swipe(card_id, kind_for_card(card_id))  # a stripe's digits, else a line
        return web.json_response({**found, "pages_told": context.events.listeners, "via": "reader"})
    context.events.publish("swipe", found)
    return web.json_response({**found, "pages_told": context.events.listeners, "via": "api"})


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _visible(actor: Actor, event: till.TillEvent) -> dict[str, Any]:
    """What of an event this operator may see: a swipe's member only with members:view."""
    if event.kind == "swipe" and "members:view" not in actor.permissions:
        return {"card": event.data["card"], "member_id": None}
    return event.data


@routes.get("/api/till/events")
@logged_in
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for an open till page: `status` every two seconds (the status
    bar), `swipe` for a card read at the reader, `feed` when HQ's feed changed what the
    branch holds (stock that arrived with a transfer), `logged_out` when the session ends."""
    context = request.app[CONTEXT]
    actor = request[ACTOR]
    token = request[SESSION_TOKEN]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = context.events.subscribe()
    loop = asyncio.get_running_loop()
    status_due = loop.time() + STATUS_EVERY_S
    session_due = loop.time() + SESSION_CHECK_S
    try:
        with contextlib.suppress(ConnectionResetError):
            await response.write(b"retry: 1000\n\n" + _sse("status", _status(context)))
            while True:
                with contextlib.suppress(TimeoutError):
                    event = await asyncio.wait_for(queue.get(), max(0.0, status_due - loop.time()))
                    if event is till.CLOSING:
                        break  # the node is shutting down (TillEvents.close)
                    await response.write(_sse(event.kind, _visible(actor, event)))
                now = loop.time()
                if now < status_due:
                    continue
                if now >= session_due:
                    try:
                        await context.sessions.authenticate(token)
                    except NotLoggedIn as exc:
                        await response.write(_sse("logged_out", {"message": str(exc)}))
                        break
                    session_due = now + SESSION_CHECK_S
                await response.write(_sse("status", _status(context)))
                status_due = now + STATUS_EVERY_S
    finally:
        context.events.unsubscribe(queue)
    return response
