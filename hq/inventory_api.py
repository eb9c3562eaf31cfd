"""HQ's HTTP API for purchase, sales and inventory: master data authoring (operator
edit) and the chain-wide views of stock, transfers and payables (HQ's roles only:
one store's business is not another's to see, FEATURES C4).

Master data: POST /api/products, /api/categories, /api/suppliers, /api/warehouses
take one record or a list; fields left out keep HQ's value (a new record takes the
defaults), each record is checked (hq.master_data) and the whole request is stored
and published to every branch's feed, or refused with nothing changed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hq.errors import InvalidQuery, NotFound
from hq.http_common import HQ_KEY, doer, json_body, text_query
from hq.master_data import PLURALS, path_of
from hq.service import wall_ms
from hq.storage.inventory_records import InTransitLine, StockLevel, TransferView
from protocol.access import Scope, requires

routes = web.RouteTableDef()
TRANSFER_STATES = ("in_transit", "received")


async def _json(request: web.Request) -> Any:
    return await json_body(request, "one record (an object) or a list of them")


def _author(kind: str) -> Any:
    @requires("catalogue:edit", Scope.HQ)
    async def handler(request: web.Request) -> web.Response:
        records = await request.app[HQ_KEY].author(kind, await _json(request), doer(request))
        return web.json_response({PLURALS[kind]: [record.as_change().payload for record in records]})

    return handler


def _listing(kind: str) -> Any:
    @requires("catalogue:view")
    async def handler(request: web.Request) -> web.Response:
        records = await request.app[HQ_KEY].store.master_records(kind)
        return web.json_response({PLURALS[kind]: [record.as_change().payload for record in records]})

    return handler


for _kind, _plural in PLURALS.items():
    routes.post(path_of(_kind))(_author(_kind))
    routes.get(path_of(_kind))(_listing(_kind))


@routes.get("/api/stock")
@requires("stock:view", Scope.HQ)
async def stock(request: web.Request) -> web.Response:
    """Each warehouse's stock at a glance, each product's total across warehouses, and
    what is in transit. ?warehouse= narrows to one warehouse (and what is on its way
    there); ?sku= to one product."""
    warehouse = text_query(request, "warehouse")
    sku = text_query(request, "sku")
    store = request.app[HQ_KEY].store
    levels = await store.stock_levels(warehouse, sku)
    in_transit = await store.in_transit_by_sku(warehouse, sku)
    return web.json_response(
        {
            "warehouses": _by_warehouse(levels),
            "skus": _by_sku(levels, in_transit),
            "in_transit": {
                "qty": sum(line.qty for line in in_transit),
                "cost_fen": sum(line.cost_fen for line in in_transit),
            },
        }
    )


def _by_warehouse(levels: list[StockLevel]) -> list[dict[str, Any]]:
    warehouses: dict[str, dict[str, Any]] = {}
    for level in levels:
        shown = warehouses.setdefault(
            level.warehouse,
            {
                "warehouse": level.warehouse,
                "name": level.warehouse_name,
                "branch": level.branch,
                "qty": 0,
                "cost_fen": 0,
                "items": [],
            },
        )
        shown["qty"] += level.qty
        shown["cost_fen"] += level.cost_fen
        shown["items"].append(
            {"sku": level.sku, "name": level.name, "qty": level.qty, "cost_fen": level.cost_fen}
        )
    return list(warehouses.values())


def _by_sku(levels: list[StockLevel], in_transit: list[InTransitLine]) -> list[dict[str, Any]]:
    skus: dict[str, dict[str, Any]] = {}

    def entry(sku: str, name: str | None) -> dict[str, Any]:
        return skus.setdefault(
            sku,
            {
                "sku": sku,
                "name": name,
                "qty": 0,
                "cost_fen": 0,
                "warehouses": 0,
                "in_transit_qty": 0,
                "in_transit_cost_fen": 0,
            },
        )

    for level in levels:
        shown = entry(level.sku, level.name)
        shown["qty"] += level.qty
        shown["cost_fen"] += level.cost_fen
        shown["warehouses"] += 1
    for line in in_transit:
        shown = entry(line.sku, None)
        shown["in_transit_qty"] += line.qty
        shown["in_transit_cost_fen"] += line.cost_fen
    return [skus[sku] for sku in sorted(skus)]


@routes.get("/api/stock/alerts")
@requires("stock:view", Scope.HQ)
async def stock_alerts(request: web.Request) -> web.Response:
    """Products under their lower limit or over their upper limit, per warehouse."""
    alerts = await request.app[HQ_KEY].store.stock_alerts(text_query(request, "warehouse"))
    return web.json_response({"alerts": [alert.as_json() for alert in alerts]})


@routes.get("/api/transfers")
@requires("transfers:view", Scope.HQ)
async def transfers(request: web.Request) -> web.Response:
    """Transfers oldest first; an in-transit one says how long it has been on the way."""
    state = request.query.get("state")
    if state is not None and state not in TRANSFER_STATES:
        raise InvalidQuery(f"state must be one of {', '.join(TRANSFER_STATES)}")
    now = wall_ms()
    found = await request.app[HQ_KEY].store.transfers(state)
    return web.json_response({"transfers": [_aged(transfer, now) for transfer in found]})


def _aged(transfer: TransferView, now_ms: int) -> dict[str, Any]:
    shown = transfer.as_json()
    sent = transfer.sent_at_ms
    shown["age_ms"] = max(0, now_ms - sent) if transfer.state == "in_transit" and sent is not None else None
    return shown


# Before /api/transfers/{transfer_id}, which would take "discrepancies" for an id.
@routes.get("/api/transfers/discrepancies")
@requires("transfers:view", Scope.HQ)
async def discrepancies(request: web.Request) -> web.Response:
    found = await request.app[HQ_KEY].store.discrepancies(text_query(request, "transfer"))
    return web.json_response({"discrepancies": [d.as_json() for d in found]})


@routes.get("/api/transfers/{transfer_id}")
@requires("transfers:view", Scope.HQ)
async def transfer(request: web.Request) -> web.Response:
    transfer_id = request.match_info["transfer_id"]
    found = await request.app[HQ_KEY].store.transfer(transfer_id)
    if found is None:
        raise NotFound(f"HQ has no transfer {transfer_id} (its send may not have been pushed yet)")
    return web.json_response(_aged(found, wall_ms()))


@routes.get("/api/payables")
@requires("payables:view", Scope.HQ)
async def payables(request: web.Request) -> web.Response:
    """What is owed to each supplier: its balance and the documents behind it."""
    documents = await request.app[HQ_KEY].store.payables(text_query(request, "supplier"))
    suppliers: dict[str, dict[str, Any]] = {}
    for document in documents:
        shown = suppliers.setdefault(
            document.supplier,
            {
                "supplier": document.supplier,
                "name": document.supplier_name,
                "balance_fen": 0,
                "documents": [],
            },
        )
        shown["balance_fen"] += document.amount_fen
        shown["documents"].append(
            {
                "id": document.id,
                "doc_kind": document.doc_kind,
                "doc_id": document.doc_id,
                "branch": document.branch,
                "warehouse": document.warehouse,
                "amount_fen": document.amount_fen,
                "at_ms": document.at_ms,
                "operator": document.operator,
            }
        )
    return web.json_response(
        {
            "suppliers": list(suppliers.values()),
            "total_fen": sum(shown["balance_fen"] for shown in suppliers.values()),
        }
    )
