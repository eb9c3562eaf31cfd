"""Logging in and out at the till (node.services.operators): works with HQ down."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.errors import MalformedBody
from node.routes.context import ACTOR, CONTEXT, json_body
from node.sync.hq_client import NoAnswer
from protocol import passwords
from protocol.access import Actor, bearer_token, logged_in, public

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
    session = await request.app[CONTEXT].sessions.login(login_name, password, request.remote or "unknown")
    return web.json_response(
        {"token": session.token, "expires_at": session.expires_at_ms, **who(session.actor)}
    )


@routes.get("/api/me")
@logged_in
async def me(request: web.Request) -> web.Response:
    return web.json_response(who(request[ACTOR]))


@routes.post("/api/logout")
@logged_in
async def logout(request: web.Request) -> web.Response:
    token = bearer_token(request.headers.get("Authorization"))
    assert token is not None  # the session check let the request in
    await request.app[CONTEXT].sessions.logout(token)
    return web.json_response({"logged_out": True})


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
