"""HQ's master data as the tills read it: products with their stock (all, or those a
scanned code or typed words find), and warehouses."""

from __future__ import annotations

from aiohttp import web

from node.routes.context import CONTEXT
from node.services import catalogue
from protocol.access import requires

routes = web.RouteTableDef()


@routes.get("/api/products")
@requires("catalogue:view")
async def list_products(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    warehouse = request.query.get("warehouse", context.config.warehouse)
    search = catalogue.parse_search(request.query)
    products = await context.store.read(lambda conn: catalogue.products_at(conn, warehouse, search))
    return web.json_response({"warehouse": warehouse, "products": products})


@routes.get("/api/warehouses")
@requires("catalogue:view")
async def list_warehouses(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    found = await context.store.read(catalogue.active_warehouses)
    return web.json_response(
        {"branch": context.config.branch, "default": context.config.warehouse, "warehouses": found}
    )
