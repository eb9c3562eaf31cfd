"""HQ's web console: its page and assets (served by HQ itself, no CDN), the live
stream of sales and branch figures (server-sent events, hq.live), and the operator's
language. The reports it shows are hq.report_api's; their files, hq.export_api's."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from hq import live
from hq.errors import InvalidQuery, NotFound
from hq.http_common import ACTOR, HQ_KEY, branch_scope, json_body, session_token
from hq.service import wall_ms
from protocol.access import Scope, logged_in, public, requires
from protocol.errors import NotLoggedIn

routes = web.RouteTableDef()

ASSETS = Path(__file__).with_name("console")
ASSET_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}
LANGUAGES = ("zh-CN", "en")
# The live stream looks for new sales this often: a sale reaches an open page well
# within a second of HQ booking it, whichever HQ process booked it.
LIVE_POLL_S = 0.25
FIGURES_EVERY_S = 2.0
# A stream re-checks its operator's session this often, and ends once it has ended.
SESSION_CHECK_S = 10.0
KEEPALIVE_S = 15.0


def _asset(name: str) -> web.Response:
    path = ASSETS / name
    if path.parent != ASSETS or path.suffix not in ASSET_TYPES or not path.is_file():
        raise NotFound(f"the console has no file {name!r}")
    return web.Response(
        body=path.read_bytes(),
        content_type=ASSET_TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@routes.get("/")
@logged_in
async def console(request: web.Request) -> web.Response:
    """The console's one page; what it shows follows the operator's permissions, and
    every figure it reads is checked again by the route that serves it."""
    return _asset("index.html")


@routes.get("/console/{name}")
@public
async def console_asset(request: web.Request) -> web.Response:
    """The console's scripts, style and texts: no figure and no member data in them."""
    return _asset(request.match_info["name"])


# A CJK font for browsers that have none, served from HQ's own machine (Debian's
# fonts-droid-fallback: one TrueType file covering Chinese); the page asks for the
# browser's own CJK fonts first and for this one only when it has none.
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf"),
)


@routes.get("/console/font/cjk.ttf")
@public
async def cjk_font(request: web.Request) -> web.FileResponse:
    for path in CJK_FONTS:
        if path.is_file():
            return web.FileResponse(
                path, headers={"Content-Type": "font/ttf", "Cache-Control": "max-age=86400"}
            )
    raise NotFound("HQ's machine has no CJK font to serve (apt-get install fonts-droid-fallback)")


@routes.put("/api/me/language")
@logged_in
async def set_language(request: web.Request) -> web.Response:
    body = await json_body(request, '{"language": "zh-CN" or "en"}')
    language = body.get("language") if isinstance(body, dict) else None
    if language not in LANGUAGES:
        raise InvalidQuery(f"language must be one of {', '.join(LANGUAGES)}")
    await request.app[HQ_KEY].store.set_operator_language(request[ACTOR].login, language)
    return web.json_response({"language": language})


def _sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@routes.get("/api/live")
@requires("reports:view", Scope.STORE)
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `sale` for each sale or return as HQ books it, `figures` for
    today's totals and branch health every two seconds and after sales. Each event's
    id is the stream's cursor (hq.live): a browser reconnects with it (Last-Event-ID),
    a tool with ?after=, and misses nothing."""
    hq = request.app[HQ_KEY]
    actor = request[ACTOR]
    branch = branch_scope(request)
    chain_wide = branch is None and actor.at_hq
    branches = await hq.store.branches()
    resume = request.headers.get("Last-Event-ID", request.query.get("after"))
    cursor = live.present(branches, branch) if resume is None else live.Cursor.parse(resume)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    figures_due = session_due = keepalive_due = 0.0
    token = session_token(request)
    with contextlib.suppress(ConnectionResetError):
        await response.write(b"retry: 1000\n\n")
        while not hq.notifier.closed:
            now = loop.time()
            if now >= session_due:
                try:
                    await hq.accounts.authenticate(token)
                except NotLoggedIn as exc:
                    await response.write(_sse("logged_out", {"message": str(exc)}))
                    break
                session_due = now + SESSION_CHECK_S
            sales, after = await live.sales_after(hq.store, cursor, branches, branch)
            for sale, event_id in live.stamped(sales, cursor, after):
                await response.write(_sse("sale", sale.as_json(), event_id))
            cursor = after
            if sales or now >= figures_due:
                data = await live.figures(hq.store, branches, branch, wall_ms(), chain_wide=chain_wide)
                await response.write(_sse("figures", data, cursor.text()))
                figures_due = keepalive_due = now + FIGURES_EVERY_S
            elif now >= keepalive_due:
                await response.write(b": keepalive\n\n")
                keepalive_due = now + KEEPALIVE_S
            await asyncio.sleep(LIVE_POLL_S)
            branches = await hq.store.branches()
    return response
