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
    replicator = request.app[CONTEXT].replicator
    if replicator is None:
        raise ReplicatorStarting("the replicator has not started yet")
    return web.json_response(replicator.status())


@routes.get("/api/directory/digest")
@requires("replication:view")
async def directory_digest(request: web.Request) -> web.Response:
    return web.json_response(await request.app[CONTEXT].store.read(members.directory_digest))
