"""Log-in at HQ for tools (a bearer token) and browsers (a session cookie), an
operator's own password (S2), the list of operators (hq.accounts) and HQ's
operation log (S3, hq.operation_log)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hq import operators, pages
from hq.errors import InvalidQuery
from hq.http_common import ACTOR, HQ_KEY, SESSION_COOKIE, doer, int_query, json_body, session_token
from protocol.access import Actor, Scope, logged_in, public, requires
from protocol.business_day import DEFAULT as DEFAULT_DAYS

routes = web.RouteTableDef()
MAX_OPERATIONS_PAGE = 500


async def _fields(request: web.Request, *names: str) -> list[str]:
    shape = "{" + ", ".join(f'"{name}": "..."' for name in names) + "}"
    body = await json_body(request, shape)
    if not isinstance(body, dict) or not all(isinstance(body.get(name), str) for name in names):
        raise InvalidQuery(f"the body must be {shape}")
    return [body[name] for name in names]


def _who(actor: Actor) -> dict[str, Any]:
    return {"id": actor.operator_id, "login": actor.login, "role": actor.role, "branch": actor.branch}


@routes.post("/api/login")
@public
async def login(request: web.Request) -> web.Response:
    login_name, password = await _fields(request, "login", "password")
    session = await request.app[HQ_KEY].accounts.login(login_name, password, request.remote or "unknown")
    actor = operators.actor(session.operator)
    response = web.json_response(
        {
            "token": session.token,
            "expires_at": session.expires_at_ms,
            "operator": _who(actor),
            "permissions": sorted(actor.permissions),
        }
    )
    # The same token for a browser, which never lets a script read it (HttpOnly) nor
    # sends it with a request another site starts (SameSite=Strict).
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=(session.expires_at_ms - request.app[HQ_KEY].wall_ms()) // 1000,
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


@routes.get("/login")
@public
async def login_page(request: web.Request) -> web.Response:
    return web.Response(text=pages.LOGIN_PAGE, content_type="text/html")


@routes.post("/api/logout")
@logged_in
async def logout(request: web.Request) -> web.Response:
    token = session_token(request)
    assert token is not None  # the session check let the request in
    await request.app[HQ_KEY].accounts.logout(token)
    response = web.json_response({"logged_out": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/me")
@logged_in
async def me(request: web.Request) -> web.Response:
    actor = request[ACTOR]
    language = await request.app[HQ_KEY].store.operator_language(actor.login)
    return web.json_response(
        {
            "operator": _who(actor),
            "permissions": sorted(actor.permissions),
            "language": language or "zh-CN",
            # The chain's business day now, which the console's reports default to: a
            # browser's own date is UTC's or its machine's, often a day off.
            "today": DEFAULT_DAYS.day_text(request.app[HQ_KEY].wall_ms()),
        }
    )


@routes.post("/api/password")
@logged_in
async def change_password(request: web.Request) -> web.Response:
    """The operator's own password; a branch's operator's new hash reaches the branch
    in its feed, so the old password keeps working there until the branch syncs."""
    old, new = await _fields(request, "old_password", "new_password")
    record = await request.app[HQ_KEY].accounts.change_password(request[ACTOR].login, old, new, doer(request))
    return web.json_response({"changed": True, "version": record.version})


@routes.get("/api/operators")
@requires("operators:view", Scope.HQ)
async def operator_list(request: web.Request) -> web.Response:
    found = await request.app[HQ_KEY].store.operators()
    return web.json_response({"operators": [operators.as_json(record) for record in found]})


@routes.get("/api/operations")
@requires("operators:view", Scope.HQ)
async def operation_list(request: web.Request) -> web.Response:
    """HQ's operation log, newest first: ?before=SEQ pages back, ?limit= (at most 500)."""
    limit = min(int_query(request, "limit", 100), MAX_OPERATIONS_PAGE) or MAX_OPERATIONS_PAGE
    before = int_query(request, "before", 0) or None
    found = await request.app[HQ_KEY].store.operations(before, limit)
    return web.json_response({"operations": [operation.as_json() for operation in found]})
