"""Logging in and out at the till (node.services.operators): works with HQ down."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.errors import MalformedBody
from node.routes.context import ACTOR, CONTEXT, SESSION_COOKIE, SESSION_TOKEN, json_body
from node.services import till
from node.sync.hq_client import NoAnswer
from protocol import passwords
from protocol.access import Actor, logged_in, public

routes = web.RouteTableDef()


def who(actor: Actor) -> dict[str, Any]:
    return {
        "operator": {
            "id": actor.operator_id,
            "login": actor.login,
            "role": actor.role,
            "branch": actor.branch,
        },
        "permissions": sorted(actor.permissions),
    }


@routes.post("/api/login")
@public
async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    login_name, password = body.get("login"), body.get("password")
    if not isinstance(login_name, str) or not isinstance(password, str):
        raise MalformedBody('give {"login": "...", "password": "..."}')
    context = request.app[CONTEXT]
    session = await context.sessions.login(login_name, password, request.remote or "unknown")
    response = web.json_response(
        {"token": session.token, "expires_at": session.expires_at_ms, **who(session.actor)}
    )
    # The same token for the till's pages (node.routes.context.SESSION_COOKIE).
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max(0, (session.expires_at_ms - context.sessions.wall_ms()) // 1000),
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


@routes.get("/api/me")
@logged_in
async def me(request: web.Request) -> web.Response:
    """Who is logged in, with what the till's pages need: the operator's language, the
    branch's business day now and its offline limit per card."""
    context = request.app[CONTEXT]
    actor = request[ACTOR]
    language = await context.store.read(lambda conn: till.language_of(conn, actor.operator_id))
    return web.json_response(
        {
            **who(actor),
            "language": language,
            "today": context.config.business_day.day_text(context.sessions.wall_ms()),
            "offline_limit_fen": context.config.offline_limit_fen,
        }
    )


@routes.post("/api/logout")
@logged_in
async def logout(request: web.Request) -> web.Response:
    await request.app[CONTEXT].sessions.logout(request[SESSION_TOKEN])
    response = web.json_response({"logged_out": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/api/password")
@logged_in
async def change_password(request: web.Request) -> web.Response:
    """The operator's own password (S2). HQ holds it, so the change is made there while
    the branch reaches HQ (504 hq_unreachable otherwise); the new password works at this
    till once the feed brings it, and the old one until then."""
    context = request.app[CONTEXT]
    body = await json_body(request)
    old, new = body.get("old_password"), body.get("new_password")
    if not isinstance(old, str) or not isinstance(new, str):
        raise MalformedBody('give {"old_password": "...", "new_password": "..."}')
    actor = request[ACTOR]
    passwords.check_new_password(new, actor.login)  # refused here already, HQ or not
    if context.hq is None:
        raise NoAnswer("this node runs without its link to HQ, which keeps passwords")
    version = await context.hq.change_password(actor.login, old, new)
    return web.json_response({"changed": True, "version": version})
