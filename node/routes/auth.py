"""Logging in and out at the till (node.services.operators): works with HQ down."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.errors import MalformedBody
from node.routes.context import ACTOR, CONTEXT, json_body
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
