"""Helpers for the stock tests on a real node.

`start_branch` brings up BR01 with HQ's demo catalogue arrived (tests/node/conftest.py
serves it as the `node` fixture). The rest seed master data and stock straight through
the node's writer (catalogue.apply_product, stock_ledger.receive), as HQ's feed and a
purchase receipt would, and read levels, the last change-log entry and everything a
stock document could change. The stock view, stocktake, sale-return and stock CLI
tests use them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from node.routes.context import CONTEXT
from node.services import catalogue, stock_ledger
from protocol.entry import Entry, decode_entry
from tests.harness import Chain, Server, wait_until

T = TypeVar("T")
BRANCH = "BR01"
MAIN, BACK = "BR01-MAIN", "BR01-BACK"
ELSEWHERE = "BR02-MAIN"
DEMO_PRODUCTS = 10  # HQ's demo catalogue
DEMO_CARD_TYPES = 3  # and its card types and top-up rules, which follow the products
DEMO_TOP_UP_RULES = 2


def product(
    sku: str,
    method: str = "moving_average",
    *,
    price_fen: int = 2_500,
    purchase_price_fen: int = 0,
    lower_limit: int | None = None,
    upper_limit: int | None = None,
    specified_cost_fen: int | None = None,
) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": f"Test product {sku}",
        "price_fen": price_fen,
        "costing_method": method,
        "purchase_price_fen": purchase_price_fen,
        "lower_limit": lower_limit,
        "upper_limit": upper_limit,
        "specified_cost_fen": specified_cost_fen,
    }


async def write(server: Server, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` in a job of the node's writer (no change-log entry, as the feed applies master data)."""
    return await server.app[CONTEXT].store.writer.run(lambda tx: fn(tx.conn))


async def read(server: Server, fn: Callable[[sqlite3.Connection], T]) -> T:
    return await server.app[CONTEXT].store.read(fn)


async def seed(server: Server, *products: dict[str, Any]) -> None:
    def apply(conn: sqlite3.Connection) -> None:
        for payload in products:
            catalogue.apply_product(conn, payload)

    await write(server, apply)


async def add_warehouse(server: Server, code: str, branch: str) -> None:
    await write(
        server, lambda conn: catalogue.apply_warehouse(conn, {"code": code, "name": code, "branch": branch})
    )


async def stock_in(
    server: Server, sku: str, qty: int, cost_fen: int, warehouse: str = MAIN, ref: str = "seed"
) -> stock_ledger.Move:
    """Goods arrive as a purchase receipt would bring them."""
    return await write(
        server, lambda conn: stock_ledger.receive(conn, warehouse, sku, qty, cost_fen, "purchase", ref, 1)
    )


async def level(server: Server, sku: str, warehouse: str = MAIN) -> tuple[int, int]:
    return await read(server, lambda conn: stock_ledger.level(conn, warehouse, sku))


async def last_entry(server: Server) -> Entry:
    raw = await read(
        server,
        lambda conn: conn.execute("SELECT entry FROM change_log ORDER BY seq DESC LIMIT 1").fetchone()[0],
    )
    return decode_entry(bytes(raw))


async def ledger_state(chain: Chain, url: str) -> tuple[Any, ...]:
    """Everything a stock document could change: the log head, levels, moves, stocktakes, sales."""
    sync = await chain.get(url + "/api/sync")
    stock = await chain.get(url + "/api/stock")
    moves = await chain.get(url + "/api/stock/moves", params={"limit": "1000"})
    stocktakes = await chain.get(url + "/api/stocktakes")
    summary = await chain.get(url + "/api/sales/summary")
    return sync["head_seq"], stock, moves, stocktakes, summary


async def start_branch(chain: Chain) -> Server:
    """BR01 with HQ's demo catalogue and card types arrived (so the feed changes nothing later)."""
    node = await chain.add_node(BRANCH)

    async def catalogue_arrived() -> bool:
        products = (await chain.get(node.url + "/api/products"))["products"]
        card_types = (await chain.get(node.url + "/api/card-types"))["card_types"]
        rules = (await chain.get(node.url + "/api/top-up-rules"))["top_up_rules"]
        return (
            len(products) >= DEMO_PRODUCTS
            and len(card_types) >= DEMO_CARD_TYPES
            and len(rules) >= DEMO_TOP_UP_RULES
        )

    await wait_until(catalogue_arrived, "the demo catalogue to reach BR01")
    await add_warehouse(node, ELSEWHERE, "BR02")
    return node
