"""Purchasing: purchase orders, the replenishment proposal, and receipts against an
order or direct (node.services.purchasing and node.services.receipts)."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT, json_body, optional_body, request_key
from node.services import documents, purchasing, receipts
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/purchase-orders")
@requires("purchasing:add")
async def create_order(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    order = purchasing.parse_order(await json_body(request))
    result = await context.store.writer.run(
        purchasing.create_order_job(order, context.new_id(), request_key(request), context.config.warehouse)
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/purchase-orders")
@requires("purchasing:view")
async def orders(request: web.Request) -> web.Response:
    state, supplier = purchasing.parse_listing(request.query)
    found = await request.app[CONTEXT].store.read(lambda conn: purchasing.list_orders(conn, state, supplier))
    return web.json_response({"orders": found})


# Before /api/purchase-orders/{order_id}, which would take "proposal" for an id.
@routes.get("/api/purchase-orders/proposal")
@requires("purchasing:view")
async def show_proposal(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    asked = request.query.get("warehouse") or context.config.warehouse
    return web.json_response(
        await context.store.read(lambda conn: purchasing.proposal_at(conn, context.config, asked))
    )


@routes.post("/api/purchase-orders/replenish")
@requires("purchasing:add")
async def replenish(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    warehouse = purchasing.parse_replenishment(await optional_body(request))
    result = await context.store.writer.run(
        purchasing.replenish_job(warehouse, context.new_id, request_key(request), context.config.warehouse)
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/purchase-orders/{order_id}")
@requires("purchasing:view")
async def show_order(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: purchasing.load_order(conn, order_id))
    )


@routes.post("/api/purchase-orders/{order_id}/close")
@requires("purchasing:edit")
async def close_order(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    documents.only_fields(await optional_body(request), set(), "close")
    result = await context.store.writer.run(
        purchasing.close_job(request.match_info["order_id"], request_key(request))
    )
    return web.json_response(result, status=200)


@routes.post("/api/purchase-orders/{order_id}/receipts")
@requires("purchasing:add")
async def receive_order(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    lines = receipts.parse_order_receipt(await optional_body(request))
    result = await context.store.writer.run(
        receipts.receive_order_job(
            request.match_info["order_id"], lines, context.new_id(), context.new_id(), request_key(request)
        )
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/receipts")
@requires("purchasing:add")
async def receive_direct(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    supplier, warehouse, lines = receipts.parse_direct_receipt(await json_body(request))
    result = await context.store.writer.run(
        receipts.direct_receipt_job(
            supplier,
            warehouse,
            lines,
            context.new_id(),
            context.new_id(),
            request_key(request),
            context.config.warehouse,
        )
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.get("/api/receipts/{receipt_id}")
@requires("purchasing:view")
async def show_receipt(request: web.Request) -> web.Response:
    receipt_id = request.match_info["receipt_id"]
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: receipts.load_receipt(conn, receipt_id))
    )
