"""The node's HTTP API for tills: the app, its lifecycle and the one error mapping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from node.config import KEY_FILE, STORE_FILE, load_config, read_private_key
from node.peripherals.attached import Attached, attach
from node.routes import ROUTE_TABLES
from node.routes.context import (
    ACTOR,
    CONTEXT,
    MAX_JSON_BODY_BYTES,
    SESSION_COOKIE,
    SESSION_TOKEN,
    NodeContext,
)
from node.services import birthdays, business_days, outbox, points_expiry
from node.services.operators import Sessions
from node.store.changelog import LogHead
from node.store.store import Store
from node.store.writer import ACTING_OPERATOR
from node.sync.replicator import Replicator, wall_ms
from protocol import access
from protocol.errors import NotLoggedIn, Refused

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The node's one scheduler of timed jobs (node.services.birthdays, outbox, points_expiry).
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal becomes JSON with its status, and is logged with its cause."""
    try:
        return await handler(request)
    except Refused as exc:
        log.info("%s %s refused: %s %s", request.method, request.path, exc.http_status, exc)
        return error_response(exc.http_status, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        log.info("%s %s refused: %s", request.method, request.path, exc.status)
        code = "too_large" if exc.status == 413 else exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.reason)


@web.middleware
async def sessions_checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route's declared policy (protocol.access), checked before its handler: a
    session, then the permission. The operator is remembered for the request, and every
    change entry the request writes carries their id (node.store.writer.ACTING_OPERATOR)."""
    match_info = request.match_info
    if match_info.http_exception is not None:  # no such route: 404 or 405 as aiohttp says
        return await handler(request)
    policy = access.policy_of(match_info.handler, f"{request.method} {match_info.route.resource}")
    if policy.public:
        return await handler(request)
    token = access.bearer_token(request.headers.get("Authorization")) or request.cookies.get(SESSION_COOKIE)
    try:
        actor = await request.app[CONTEXT].sessions.authenticate(token)
    except NotLoggedIn:
        if request.method == "GET" and not request.path.startswith("/api/"):
            raise web.HTTPSeeOther("/login") from None  # a page: a person, sent to log in
        raise
    access.authorise(actor, policy)  # a branch holds only its own store's data
    request[ACTOR] = actor
    request[SESSION_TOKEN] = token or ""
    acting = ACTING_OPERATOR.set(actor.operator_id)
    try:
        return await handler(request)
    finally:
        ACTING_OPERATOR.reset(acting)


DEVICE_STATE_EVERY_S = 0.5


async def _save_device_state(attached: Attached, store: Store) -> None:
    """The devices' state in the node's folder, for `branchline node devices`, and their
    health in the branch's log for HQ: looked at twice a second, written when changed."""
    while attached.state_path is not None:
        await asyncio.sleep(DEVICE_STATE_EVERY_S)
        attached.save_state()
        try:
            await attached.announce(store)
        except Refused as refusal:  # the writer full or closing: the next look tries again
            log.warning("the devices' health was not logged: %s", refusal)


def create_app(
    data_dir: Path, *, replicate: bool = True, jobs_wall_ms: Callable[[], int] | None = None
) -> web.Application:
    """`jobs_wall_ms`: the clock the scheduled jobs read the branch's date and hour
    from (the system's when None); tests give the day they need."""
    app = web.Application(middlewares=[errors_as_json, sessions_checked], client_max_size=MAX_JSON_BODY_BYTES)
    for table in ROUTE_TABLES:
        app.add_routes(table)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        config = load_config(data_dir)
        key = read_private_key(data_dir / KEY_FILE)
        replicator: Replicator | None = None

        def on_commit(head: LogHead) -> None:
            # Called on the writer thread; the replicator and the printer live on the loop.
            if replicator is not None:
                loop.call_soon_threadsafe(replicator.on_commit, head)
            loop.call_soon_threadsafe(attached.wake)

        loop = asyncio.get_running_loop()
        attached = Attached()  # none until the store is open
        store = await Store.open(data_dir / STORE_FILE, config.branch, on_commit=on_commit)
        await business_days.announce(store, config.business_day)
        context = NodeContext(config, store, Sessions(store, config.branch, wall_ms))
        app[CONTEXT] = context
        attached = context.devices = await attach(config, store, context.events, data_dir)
        keep_state = asyncio.create_task(_save_device_state(attached, store), name="device-state")
        if replicate:
            replicator = await Replicator.resume(config, store, key)
            replicator.feed_applied.append(context.sessions.operators_changed)
            replicator.feed_applied.append(lambda: context.events.publish("feed", {}))
            context.replicator = replicator
            context.hq = replicator.hq
            await replicator.start()
        log.info("branch %s open: log head %d", config.branch, store.writer.log.head.seq)
        yield
        keep_state.cancel()
        await attached.stop()
        if replicator is not None:
            await replicator.stop()
        await store.close()

    async def scheduled_jobs(app: web.Application) -> AsyncIterator[None]:
        # One scheduler per node, started once the store is open and stopped before
        # it closes (cleanup runs in reverse order).
        context = app[CONTEXT]
        config = context.config
        gateway = outbox.file_gateway(context.store, data_dir, config)
        greetings = birthdays.DailyGreetings(context.store, config.branch, config.zone, gateway, jobs_wall_ms)
        scheduler = AsyncIOScheduler(timezone=config.zone)
        birthdays.schedule(scheduler, greetings, config.birthday_greetings_time)
        outbox.schedule(scheduler, gateway, config.zone)
        expiry = points_expiry.PointsExpiry(context.store, jobs_wall_ms)
        points_expiry.schedule(scheduler, expiry, config.zone)
        scheduler.start()
        app[SCHEDULER] = scheduler
        yield
        # A run under way finishes before the store closes, and none starts after:
        # the scheduler's own shutdown would cancel it part way.
        await greetings.close()
        await expiry.close()
        await gateway.close()
        scheduler.shutdown(wait=False)

    async def end_event_streams(app: web.Application) -> None:
        # Shutdown waits for running handlers, and an open till page's event stream
        # runs until the page goes: it held a node's stop up to the shutdown timeout
        # (a minute) with a page open, and up to the next status (2 s) with one just
        # closed. The streams end now.
        app[CONTEXT].events.close()

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(scheduled_jobs)
    app.on_shutdown.append(end_event_streams)
    return app
