"""HQ's HTTP API: msgpack for nodes (enroll, push, feed), JSON for people and tools."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hq import (
    account_api,
    console_api,
    export_api,
    inventory_api,
    levels_api,
    live,
    member_api,
    member_stats,
    pages,
    points_expiry,
    report_api,
    sales_api,
    voucher_api,
)
from hq.errors import InvalidQuery, NotFound
from hq.http_common import HQ_KEY as HQ_KEY  # re-exported: tests and tools reach HQ through it
from hq.http_common import (
    MAX_PERIOD_DAYS,
    branch_scope,
    day_query,
    doer,
    int_query,
    json_body,
    period_query,
    sessions_checked,
)
from hq.sales_report import figures_json
from hq.service import HQ, wall_ms
from hq.setup import open_store, read_key
from protocol import messages
from protocol.access import Scope, public, requires, signed_by_node
from protocol.business_day import DEFAULT as DEFAULT_DAYS
from protocol.codec import check_branch_code
from protocol.errors import Refused, SequenceGap
from protocol.limits import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
CONFLICT_STATES = ("open", "resolved", "cleared")

MSGPACK = "application/x-msgpack"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal(exc: Refused) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of a refusal (the simulator answers with these too)."""
    body: dict[str, Any] = {"error": exc.code, "message": str(exc)}
    if isinstance(exc, SequenceGap):
        body["acked_seq"] = exc.expected_seq - 1
    return exc.http_status, body


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal is JSON with a message and a fitting status, and is logged."""
    try:
        return await handler(request)
    except Refused as exc:
        status, body = refusal(exc)
        log.warning(
            "%s %s from %s refused: %d %s: %s",
            request.method,
            request.path,
            request.remote,
            status,
            exc.code,
            exc,
        )
        return web.json_response(body, status=status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        log.warning("%s %s from %s refused: %d", request.method, request.path, request.remote, exc.status)
        code = "too_large" if exc.status == 413 else exc.reason.lower().replace(" ", "_")
        message = (
            exc.text
            if exc.status != 413
            else (f"the body exceeds {MAX_MESSAGE_BYTES} bytes; send smaller batches")
        )
        return web.json_response({"error": code, "message": message}, status=exc.status)


def msgpack_response(message: messages.Message) -> web.Response:
    return web.Response(body=messages.encode(message), content_type=MSGPACK)


@routes.get("/api/health")
@public
async def health(request: web.Request) -> web.Response:
    """For a load balancer: 200 while this process can reach its store, else 503.
    Says nothing about the chain's data."""
    await request.app[HQ_KEY].store.check_reachable()
    return web.json_response({"ok": True})


@routes.post("/api/enroll")
@public
async def enroll(request: web.Request) -> web.Response:
    message = messages.decode(await request.read())
    if not isinstance(message, messages.EnrollRequest):
        raise InvalidQuery("POST /api/enroll takes an enroll message")
    return msgpack_response(await request.app[HQ_KEY].enroll(message, request.remote or "unknown"))


@routes.post("/api/push")
@signed_by_node
async def push(request: web.Request) -> web.Response:
    message = messages.decode(await request.read())
    if not isinstance(message, messages.PushRequest):
        raise InvalidQuery("POST /api/push takes a push message")
    return msgpack_response(await request.app[HQ_KEY].push(message))


@routes.get("/api/feed")
@signed_by_node
async def feed(request: web.Request) -> web.Response:
    hq = request.app[HQ_KEY]
    branch = await hq.authenticate(request.headers.get("Authorization"), "GET", request.path_qs)
    after_seq = int_query(request, "after", 0)
    wait_s = int_query(request, "wait_s", 0)
    return msgpack_response(await hq.feed_page(branch, after_seq, wait_s))


@routes.get("/api/branches")
@requires("replication:view", Scope.HQ)
async def branches(request: web.Request) -> web.Response:
    now = wall_ms()
    records = await request.app[HQ_KEY].store.branches()
    return web.json_response({"branches": [live.branch_health(b, now) for b in records]})


@routes.get("/api/sales/summary")
@requires("reports:view", Scope.STORE)
async def sales_summary(request: web.Request) -> web.Response:
    """Every sale and return so far, or of ?from=&to= (the branches' business days, both
    inclusive; either alone is open at the other end)."""
    branch = branch_scope(request)
    first = day_query(request, "from", datetime.date.min)
    last = day_query(request, "to", datetime.date.max)
    if first > last:
        raise InvalidQuery(f"from {first} is after to {last}")
    period = {key: request.query[key] for key in ("from", "to") if key in request.query}
    totals = await request.app[HQ_KEY].store.sales_totals(branch, first.isoformat(), last.isoformat())
    return web.json_response(
        {
            "branch": branch,
            **period,
            **figures_json(totals),
        }
    )


@routes.get("/api/sales/by-branch")
@requires("reports:view", Scope.STORE)
async def sales_by_branch(request: web.Request) -> web.Response:
    """Each branch's sales with returns netted, for ?from=&to= (business days, inclusive;
    today's by default, `to` today when only `from` is given): a branch's operator gets
    their own branch's row only."""
    today = DEFAULT_DAYS.day_of(wall_ms())
    first = day_query(request, "from", day_query(request, "to", today))
    last = day_query(request, "to", max(first, today))
    if first > last:
        raise InvalidQuery(f"from {first} is after to {last}")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise InvalidQuery(f"a period runs at most {MAX_PERIOD_DAYS} days; ask for it in parts")
    branch = branch_scope(request)
    rows = await request.app[HQ_KEY].store.sales_by_branch(first.isoformat(), last.isoformat())
    return web.json_response(
        {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "branches": [
                {"branch": code, **figures_json(totals)} for code, totals in rows if branch in (None, code)
            ],
        }
    )


@routes.get("/api/reports/top-ups")
@requires("reports:view", Scope.STORE)
async def top_up_report(request: web.Request) -> web.Response:
    """Top-ups by branch, business day and kind: what was paid onto cards and the bonus
    given beside it, for ?from=&to= (the last 31 days by default)."""
    branch = branch_scope(request)
    today = DEFAULT_DAYS.day_of(wall_ms())
    first, last = period_query(request, today)
    rows = await request.app[HQ_KEY].store.top_up_totals(branch, first.isoformat(), last.isoformat())
    return web.json_response(
        {
            "branch": branch,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "rows": [dataclasses.asdict(row) for row in rows],
            "paid_fen": sum(row.paid_fen for row in rows),
            "bonus_fen": sum(row.bonus_fen for row in rows),
        }
    )


@routes.get("/api/liability")
@requires("reports:view", Scope.STORE)
async def stored_value_liability(request: web.Request) -> web.Response:
    """Stored value outstanding on the chain's cards (FEATURES F1), per branch where each
    movement happened: a branch's operator sees their own, HQ every branch (?branch=)."""
    branch = branch_scope(request)
    rows = await request.app[HQ_KEY].store.stored_value_liability(branch)
    return web.json_response(
        {
            "branch": branch,
            "total_fen": sum(row.outstanding_fen for row in rows),
            "branches": [row.as_json() for row in rows],
        }
    )


@routes.get("/api/members")
@requires("members:view")
async def members(request: web.Request) -> web.Response:
    phone = request.query.get("phone")
    if not phone:
        raise InvalidQuery("give ?phone=")
    return web.json_response({"members": await request.app[HQ_KEY].store.member_by_phone(phone)})


@routes.get("/api/members/{member_id}")
@requires("members:view")
async def member(request: web.Request) -> web.Response:
    member_id = request.match_info["member_id"]
    found = await request.app[HQ_KEY].store.member(member_id)
    if found is None:
        raise NotFound(f"no member {member_id} at HQ")
    return web.json_response(found)


@routes.get("/api/members/{member_id}/stats")
@requires("members:view", Scope.STORE)
async def member_stats_report(request: web.Request) -> web.Response:
    """A member's consumption (FEATURES M6) per branch and in all, over ?from=&to= (UTC
    days, both inclusive; to: today) with ?top= favourites: a branch's operator sees
    their own store's figures only (C4), HQ every store's or one (?branch=)."""
    branch = branch_scope(request)
    today = datetime.datetime.fromtimestamp(wall_ms() / 1000, datetime.UTC).date()
    period = member_stats.parse_period(request.query, today)
    top = member_stats.parse_top(request.query)
    member_id = request.match_info["member_id"]
    found = await request.app[HQ_KEY].store.member_purchases(member_id, *period.bounds_ms(), branch)
    if found is None:
        raise NotFound(f"no member {member_id} at HQ; one registered at a branch arrives with its sync")
    return web.json_response(member_stats.answer(found, member_id, branch, period, top))


@routes.get("/api/cards/{card}")
@requires("cards:view")
async def card(request: web.Request) -> web.Response:
    card_id = request.match_info["card"]
    found = await request.app[HQ_KEY].store.card(card_id)
    if found is None:
        raise NotFound(f"no member holds card {card_id} at HQ")
    return web.json_response(found)


@routes.get("/api/directory/digest")
@requires("replication:view", Scope.HQ)
async def directory_digest(request: web.Request) -> web.Response:
    """SHA-256 of the directory's canonical bytes: equal at two replicas iff they agree."""
    digest = await request.app[HQ_KEY].store.directory_digest()
    return web.json_response({"sha256": digest.sha256, "bytes": digest.bytes})


@routes.post("/api/holds")
@signed_by_node
async def place_hold(request: web.Request) -> web.Response:
    hq = request.app[HQ_KEY]
    # The terms ride in the query string, which the branch's signature covers.
    branch = await hq.authenticate(request.headers.get("Authorization"), "POST", request.path_qs)
    hold_id = request.query.get("hold", "")
    card_id = request.query.get("card", "")
    amount = int_query(request, "amount_fen", 0)
    raw = request.query.get("unsynced_fen", "0")
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(raw) > 19:
        raise InvalidQuery("unsynced_fen must be an integer")
    unsynced = int(raw)
    available = await hq.place_hold(branch, hold_id, card_id, amount, unsynced)
    return web.json_response({"hold": hold_id, "available_fen": available}, status=201)


@routes.delete("/api/holds/{hold}")
@signed_by_node
async def release_hold(request: web.Request) -> web.Response:
    hq = request.app[HQ_KEY]
    branch = await hq.authenticate(request.headers.get("Authorization"), "DELETE", request.path_qs)
    released = await hq.store.release_hold(branch, request.match_info["hold"])
    return web.json_response({"hold": request.match_info["hold"], "released": released})


@routes.get("/api/conflicts")
@requires("conflicts:view", Scope.HQ)
async def conflicts(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in CONFLICT_STATES:
        raise InvalidQuery(f"state must be one of {', '.join(CONFLICT_STATES)}")
    found = await request.app[HQ_KEY].store.conflicts(state)
    return web.json_response({"conflicts": [conflict.as_json() for conflict in found]})


@routes.get("/api/conflicts/{conflict_id}")
@requires("conflicts:view", Scope.HQ)
async def conflict(request: web.Request) -> web.Response:
    found = await request.app[HQ_KEY].store.conflict(request.match_info["conflict_id"])
    if found is None:
        raise NotFound(f"no conflict {request.match_info['conflict_id']}")
    return web.json_response(found.as_json())


@routes.post("/api/conflicts/{conflict_id}/resolve")
@requires("conflicts:edit", Scope.HQ)
async def resolve(request: web.Request) -> web.Response:
    body = await json_body(request, '{"action": ..., "note": ...}')
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("action"), str)
        or set(body) - {"action", "note"}
    ):
        raise InvalidQuery('the body must be {"action": <one of the conflict\'s actions>, "note": <text>}')
    note = body.get("note", "")
    if not isinstance(note, str):
        raise InvalidQuery("note must be text")
    resolved = await request.app[HQ_KEY].resolve_conflict(
        request.match_info["conflict_id"], body["action"], note, doer(request)
    )
    return web.json_response(resolved.as_json())


@routes.get("/api/quarantine")
@requires("replication:view", Scope.HQ)
async def effect_quarantine(request: web.Request) -> web.Response:
    """Entries HQ stored and acknowledged but could not apply, newest first, with why."""
    branch = request.query.get("branch")
    if branch is not None:
        check_branch_code(branch)
    found = await request.app[HQ_KEY].store.quarantined_effects(branch)
    return web.json_response({"quarantined": [effect.as_json() for effect in found]})


@routes.get("/api/log/{origin}/proof")
@requires("replication:view", Scope.HQ)
async def log_proof(request: web.Request) -> web.Response:
    """Entry `seq` of a branch's log as HQ holds it, with what proves it was the branch's:
    the entries up to the first signed head HQ kept at or after it, and the branch's key."""
    origin = check_branch_code(request.match_info["origin"], "origin")
    if "seq" not in request.query:
        raise InvalidQuery("give ?seq=, the entry to prove")
    proof = await request.app[HQ_KEY].store.log_proof(origin, int_query(request, "seq", 0))
    return web.json_response(proof.as_json())


@routes.get("/status")
@requires("replication:view", Scope.HQ)
async def status_page(request: web.Request) -> web.Response:
    """The plain status page, for a browser with no scripts (the console is at /)."""
    hq = request.app[HQ_KEY]
    now = wall_ms()
    rows = [live.branch_health(b, now) for b in await hq.store.branches()]
    today = DEFAULT_DAYS.day_text(now)
    summaries = {
        code: (totals.count, totals.net_fen, totals.gross_profit_fen)
        for code, totals in await hq.store.sales_by_branch(today, today)
    }
    waiting: dict[str, int] = {}
    for conflict in await hq.store.conflicts("open"):
        waiting[conflict.kind] = waiting.get(conflict.kind, 0) + 1
    in_transit, oldest_sent_at_ms = await hq.store.in_transit_summary()
    oldest_age_ms = None if oldest_sent_at_ms is None else max(0, now - oldest_sent_at_ms)
    page = pages.branches_page(rows, summaries, now, waiting, (in_transit, oldest_age_ms))
    return web.Response(text=page, content_type="text/html")


ROUTE_TABLES: tuple[web.RouteTableDef, ...] = (
    routes,
    account_api.routes,
    console_api.routes,
    report_api.routes,
    export_api.routes,
    inventory_api.routes,
    member_api.routes,
    levels_api.routes,
    voucher_api.routes,
    # Last: /api/sales/{id} must not catch /api/sales/summary above.
    sales_api.routes,
)


def create_app(data_dir: Path, db: str | None = None) -> web.Application:
    """HQ's app over the folder's store; `db`, if given, must be the folder's database."""
    app = web.Application(middlewares=[errors_as_json, sessions_checked], client_max_size=MAX_MESSAGE_BYTES)
    for table in ROUTE_TABLES:
        app.add_routes(table)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        key = read_key(data_dir)
        store = await open_store(data_dir, db)
        app[HQ_KEY] = HQ(store, key)
        yield
        await store.close()

    async def release_long_polls(app: web.Application) -> None:
        # Shutdown waits for running handlers; a feed read held for 20 s
        # would hold it up, so the readers are answered now.
        app[HQ_KEY].notifier.close()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(levels_api.daily_grading)
    app.cleanup_ctx.append(points_expiry.hourly_expiry)
    app.on_shutdown.append(release_long_polls)
    return app
