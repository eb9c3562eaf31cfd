"""The node's HTTP API for tills: the app, its lifecycle and the one error mapping."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from node import (
    cards,
    catalogue,
    checkout,
    members,
    payables,
    purchasing,
    sale_returns,
    stock_views,
    stocktake,
    transfers,
)
from node.config import KEY_FILE, STORE_FILE, load_config, read_private_key
from node.context import CONTEXT, MAX_JSON_BODY_BYTES, NodeContext
from node.replicator import Replicator
from node.store.changelog import LogHead
from node.store.store import Store
from protocol.errors import Refused
from shared_tables.directory_store import load_directory

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


@routes.get("/api/sync")
async def sync_status(request: web.Request) -> web.Response:
    replicator = request.app[CONTEXT].replicator
    if replicator is None:
        return error_response(503, "starting", "the replicator has not started yet")
    return web.json_response(replicator.status())


@routes.get("/api/directory/digest")
async def directory_digest(request: web.Request) -> web.Response:
    """SHA-256 of this branch's directory in canonical bytes; equal to HQ's once synced."""
    data = await request.app[CONTEXT].store.read(lambda conn: load_directory(conn).encode())
    return web.json_response({"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})


def create_app(data_dir: Path, *, replicate: bool = True) -> web.Application:
    app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_JSON_BODY_BYTES)
    for module_routes in (
        routes,
        catalogue.routes,
        members.routes,
        cards.routes,
        checkout.routes,
        transfers.routes,
        stock_views.routes,
        stocktake.routes,
        sale_returns.routes,
        purchasing.routes,
        payables.routes,
    ):
        app.add_routes(module_routes)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        config = load_config(data_dir)
        key = read_private_key(data_dir / KEY_FILE)
        replicator: Replicator | None = None

        def on_commit(head: LogHead) -> None:
            # Called on the writer thread; the replicator lives on the loop.
            if replicator is not None:
                loop.call_soon_threadsafe(replicator.on_commit, head)

        loop = asyncio.get_running_loop()
        store = await Store.open(data_dir / STORE_FILE, config.branch, on_commit=on_commit)
        context = NodeContext(config, store)
        app[CONTEXT] = context
        if replicate:
            replicator = await Replicator.resume(config, store, key)
            context.replicator = replicator
            await replicator.start()
        log.info("branch %s open: log head %d", config.branch, store.writer.log.head.seq)
        yield
        if replicator is not None:
            await replicator.stop()
        await store.close()

    app.cleanup_ctx.append(lifecycle)
    return app
