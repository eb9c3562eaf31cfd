"""Transfers between warehouses: send, list, show, and record a discrepancy
(node.services.transfers; the stock-in at the destination comes through HQ's feed)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body, request_key
from node.services import transfers
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/transfers")
@requires("transfers:add")
async def send(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    default = context.config.warehouse
    asked = transfers.parse_send(await json_body(request), default)
    job = transfers.send_job(
        context.new_id(),
        asked.from_warehouse,
        asked.to_warehouse,
        asked.lines,
        asked.note,
        request_key(request),
        default,
    )
    result = await context.store.writer.run(job)
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/transfers")
@requires("transfers:view")
async def list_transfers(request: web.Request) -> web.Response:
    state, direction = transfers.parse_listing(request.query)
    found = await request.app[CONTEXT].store.read(
        lambda conn: transfers.list_transfers(conn, state, direction)
    )
    return web.json_response({"transfers": found})


@routes.get("/api/transfers/{transfer_id}")
@requires("transfers:view")
async def show(request: web.Request) -> web.Response:
    transfer_id = request.match_info["transfer_id"]
    found = await request.app[CONTEXT].store.read(lambda conn: transfers.transfer_view(conn, transfer_id))
    return web.json_response(found)


@routes.post("/api/transfers/{transfer_id}/discrepancies")
@requires("transfers:edit")
async def discrepancy(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    counted, note = transfers.parse_discrepancy(await json_body(request))
    result = await context.store.writer.run(
        transfers.discrepancy_job(request.match_info["transfer_id"], counted, note, context.new_id())
    )
    return web.json_response(result, status=201)
