"""What HQ's HTTP route modules share: the app's keys, operator authentication and
query and body parsing."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hq.errors import InvalidQuery
from hq.operation_log import Doer
from hq.sales_report import MAX_PERIOD_DAYS as MAX_PERIOD_DAYS
from hq.service import HQ
from protocol import access, json_text
from protocol.codec import check_branch_code
from protocol.errors import NotLoggedIn

HQ_KEY = web.AppKey("hq", HQ)
ACTOR = web.RequestKey("actor", access.Actor)  # the operator whose session the request carries
# Browsers hold their session in this cookie (HttpOnly, SameSite=Strict); tools send
# `Authorization: Bearer TOKEN`.
SESSION_COOKIE = "branchline_session"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def sessions_checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route's declared policy (protocol.access), checked before its handler. A
    route of one store's business data is refused when a branch's operator asks for
    another store's (?branch=); asking for none, they get their own (`branch_scope`)."""
    match_info = request.match_info
    if match_info.http_exception is not None:  # no such route: 404 or 405 as aiohttp says
        return await handler(request)
    policy = access.policy_of(match_info.handler, f"{request.method} {match_info.route.resource}")
    if policy.public or policy.signed:
        return await handler(request)
    try:
        actor = await request.app[HQ_KEY].accounts.authenticate(session_token(request))
    except NotLoggedIn:
        if request.method == "GET" and not request.path.startswith("/api/"):
            raise web.HTTPSeeOther("/login") from None  # a page: a person, sent to log in
        raise
    branch_asked = request.query.get("branch") if policy.scope is access.Scope.STORE else None
    access.authorise(actor, policy, branch_asked)
    request[ACTOR] = actor
    return await handler(request)


def session_token(request: web.Request) -> str | None:
    return access.bearer_token(request.headers.get("Authorization")) or request.cookies.get(SESSION_COOKIE)


def doer(request: web.Request) -> Doer:
    """The operator acting and from where, for HQ's operation log."""
    actor = request[ACTOR]
    return Doer(actor.operator_id, actor.login, request.remote or "unknown")


def branch_scope(request: web.Request) -> str | None:
    """The store a STORE route answers for: the one asked (?branch=), else the operator's
    own for a branch's operator, else every store (None) for HQ's."""
    asked = request.query.get("branch")
    if asked is not None:
        return check_branch_code(asked)
    return request[ACTOR].branch


def day_query(request: web.Request, name: str, default: datetime.date) -> datetime.date:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        if len(raw) == 10:
            return datetime.date.fromisoformat(raw)
    except ValueError:
        pass
    raise InvalidQuery(f"{name} must be a date YYYY-MM-DD, not {raw[:20]!r}")


def period_query(request: web.Request, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """?from=&to= (dates, both inclusive); the last 31 days up to `today` by default."""
    last = day_query(request, "to", today)
    first = day_query(request, "from", last - datetime.timedelta(days=30))
    if first > last:
        raise InvalidQuery(f"from {first} is after to {last}")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise InvalidQuery(f"a period runs at most {MAX_PERIOD_DAYS} days; ask for it in parts")
    return first, last


def int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidQuery(f"{name} must be a non-negative integer")
    return int(raw)


def text_query(request: web.Request, name: str, max_chars: int = 100) -> str | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_chars or not raw.isprintable():
        raise InvalidQuery(f"{name} must be 1 to {max_chars} printable characters")
    return raw


async def json_body(request: web.Request, shape: str) -> Any:
    """The request's JSON body (415 unless declared JSON, 400 if nested too deep);
    InvalidQuery naming the `shape` expected if it is not JSON at all."""
    json_text.require_json(request.content_type)  # before the body is read
    try:
        return json_text.loads(await request.text())
    except ValueError:
        raise InvalidQuery(f"the body must be JSON: {shape}") from None
