"""The node's HTTP routes for tills and operators: thin handlers that read a request,
call a service (node.services) and answer JSON. Every route table is listed here,
in the order the app adds them."""

from __future__ import annotations

from aiohttp import web

from node.routes import (
    auth,
    cards,
    catalogue,
    checkout,
    contacts,
    devices,
    employees,
    members,
    outbox,
    payables,
    photos,
    purchasing,
    returns,
    settlement,
    stock,
    stocktake,
    sync,
    till,
    transfers,
    vouchers,
)

ROUTE_TABLES: tuple[web.RouteTableDef, ...] = (
    auth.routes,
    sync.routes,
    catalogue.routes,
    employees.routes,
    members.routes,
    vouchers.routes,
    contacts.routes,
    photos.routes,
    outbox.routes,
    cards.routes,
    checkout.routes,
    transfers.routes,
    stock.routes,
    stocktake.routes,
    returns.routes,
    purchasing.routes,
    payables.routes,
    settlement.routes,
    till.routes,
    devices.routes,
)
