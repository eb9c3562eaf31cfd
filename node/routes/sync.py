"""Replication as a till or an operator sees it: the replicator's state, and the
directory's digest to compare with HQ's."""

from __future__ import annotations

from aiohttp import web

from node.errors import ReplicatorStarting
from node.routes.context import CONTEXT
from node.services import members
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/sync")
@requires("replication:view")
async def sync_status(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    replicator = context.replicator
    if replicator is None:
        raise ReplicatorStarting("the replicator has not started yet")
    set_aside = await context.store.read(members.set_aside_count)
    devices = context.devices.state()
    return web.json_response({**replicator.status(), "set_aside": set_aside, "devices": devices})


@routes.get("/api/directory/set-aside")
@requires("replication:view")
async def directory_set_aside(request: web.Request) -> web.Response:
    """The records of HQ's feed this branch set aside: each collides with one it holds
    under the same id (a card number sold here and at another branch while apart)."""
    return web.json_response({"set_aside": await request.app[CONTEXT].store.read(members.set_aside)})


@routes.get("/api/directory/digest")
@requires("replication:view")
async def directory_digest(request: web.Request) -> web.Response:
    return web.json_response(await request.app[CONTEXT].store.read(members.directory_digest))
