"""Purchasing at a node (I2, I3, F1), through a real node and HQ: orders, receipts in
parts and direct, returns, replenishment, payables, and what each bad request gets.

The node here is HQ's main warehouse node ("HQ", warehouse HQ-MAIN). Its master
data (suppliers, products with purchase prices, limits and costing methods) is
seeded straight into the node's store, as HQ's feed would apply it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from node.routes.context import CONTEXT
from node.services import catalogue
from node.store.writer import Tx
from protocol.entry import decode_entry
from tests.harness import Chain, Server, sale, wait_until

BRANCH, MAIN = "HQ", "HQ-MAIN"
RICE, OIL, SALT, NOODLE, TOFU = "RICE-5KG", "OIL-1L", "SALT-500", "NOODLE-1KG", "TOFU-400"
GRAIN, SPICE, RETIRED = "SUP-GRAIN", "SUP-SPICE", "SUP-RETIRED"

SUPPLIERS = (
    {"code": GRAIN, "name": "Grain and Oil Co.", "contact": "Li", "phone": "02100000001"},
    {"code": SPICE, "name": "Spice Co.", "contact": "Wu", "phone": "02100000002"},
    {"code": RETIRED, "name": "Closed down", "active": False},
)
PRODUCTS = (
    # moving average; ordered up to 50 when under 10
    {
        "sku": RICE,
        "name": "Rice 5 kg",
        "price_fen": 5500,
        "costing_method": "moving_average",
        "purchase_price_fen": 4000,
        "supplier": GRAIN,
        "lower_limit": 10,
        "upper_limit": 50,
    },
    # FIFO; no upper limit, so ordered up to its lower limit
    {
        "sku": OIL,
        "name": "Peanut oil 1 L",
        "price_fen": 2200,
        "costing_method": "fifo",
        "purchase_price_fen": 1500,
        "supplier": GRAIN,
        "lower_limit": 5,
    },
    {
        "sku": SALT,
        "name": "Sea salt 500 g",
        "price_fen": 1200,
        "costing_method": "fifo",
        "purchase_price_fen": 800,
        "supplier": SPICE,
        "lower_limit": 20,
        "upper_limit": 40,
    },
    {"sku": NOODLE, "name": "Noodles 1 kg", "price_fen": 900, "purchase_price_fen": 600, "lower_limit": 8},
    {
        "sku": TOFU,
        "name": "Dried tofu",
        "price_fen": 700,
        "purchase_price_fen": 400,
        "supplier": RETIRED,
        "lower_limit": 4,
    },
)
WAREHOUSES = (
    {"code": "HQ-BACK", "name": "HQ back store", "branch": BRANCH},
    {"code": "BR01-MAIN", "name": "Branch 1", "branch": "BR01"},
)


def seed_master_data(node: Server) -> Any:
    """Suppliers, products and warehouses as HQ's feed would apply them to the node."""

    def job(tx: Tx) -> None:
        for supplier in SUPPLIERS:
            catalogue.apply_supplier(tx.conn, supplier)
        for product in PRODUCTS:
            catalogue.apply_product(tx.conn, product)
        for warehouse in WAREHOUSES:
            catalogue.apply_warehouse(tx.conn, warehouse)

    return node.app[CONTEXT].store.writer.run(job)


async def start_purchasing_node(chain: Chain, branch: str = BRANCH) -> Server:
    node = await chain.add_node(branch)

    async def catalogue_arrived() -> bool:
        return len((await chain.get(node.url + "/api/products"))["products"]) >= 10

    # HQ's demo catalogue first, so its feed page never lands after the seeding.
    await wait_until(catalogue_arrived, f"HQ's catalogue to reach {branch}")
    await seed_master_data(node)
    return node


async def read(node: Server, query: str, *args: Any) -> list[tuple[Any, ...]]:
    def run(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(query, args)]

    return await node.app[CONTEXT].store.read(run)


async def check_ledger(node: Server) -> None:
    """stock == the sum of its moves, per warehouse and product; payables == receipts - returns."""
    unbalanced = await read(
        node,
        "SELECT s.warehouse, s.sku, s.qty, s.cost_fen, m.qty, m.cost_fen FROM stock s"
        " LEFT JOIN (SELECT warehouse, sku, SUM(qty_delta) AS qty, SUM(cost_fen) AS cost_fen"
        " FROM stock_moves GROUP BY warehouse, sku) m ON m.warehouse = s.warehouse AND m.sku = s.sku"
        " WHERE m.qty IS NULL OR s.qty != m.qty OR s.cost_fen != m.cost_fen",
    )
    assert unbalanced == []
    ((owed, received, returned),) = await read(
        node,
        "SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM payables),"
        " (SELECT COALESCE(SUM(amount_fen), 0) FROM receipts),"
        " (SELECT COALESCE(SUM(amount_fen), 0) FROM purchase_returns)",
    )
    assert owed == received - returned


@pytest.fixture
async def node(chain: Chain) -> AsyncIterator[Server]:
    server = await start_purchasing_node(chain)
    yield server
    await check_ledger(server)


async def level(node: Server, sku: str, warehouse: str = MAIN) -> tuple[int, int]:
    rows = await read(node, "SELECT qty, cost_fen FROM stock WHERE warehouse = ? AND sku = ?", warehouse, sku)
    return (0, 0) if not rows else (rows[0][0], rows[0][1])


async def entries(node: Server, kind: str, op: str) -> list[dict[str, Any]]:
    rows = await read(node, "SELECT entry FROM change_log ORDER BY seq")
    found = [decode_entry(bytes(row[0])) for row in rows]
    return [entry.payload for entry in found if (entry.kind, entry.op) == (kind, op)]


async def state(chain: Chain, node: Server) -> tuple[Any, ...]:
    """Everything a purchasing request could change."""
    sync = await chain.get(node.url + "/api/sync")
    stock = await read(node, "SELECT warehouse, sku, qty, cost_fen FROM stock ORDER BY warehouse, sku")
    moves = await read(node, "SELECT COUNT(*) FROM stock_moves")
    payables = await chain.get(node.url + "/api/payables")
    orders = await chain.get(node.url + "/api/purchase-orders")
    return sync["head_seq"], stock, moves, payables, orders


async def refused(chain: Chain, url: str, body: Any, status: int, code: str, **kwargs: Any) -> str:
    async with chain.session.post(url, json=body, **kwargs) as response:
        answer = await response.json()
        assert (response.status, answer.get("error")) == (status, code), answer
        assert answer["message"]
        return str(answer["message"])


async def refused_unchanged(chain: Chain, node: Server, url: str, body: Any, status: int, code: str) -> str:
    """`refused`, and nothing a purchasing request could change has changed."""
    before = await state(chain, node)
    message = await refused(chain, url, body, status, code)
    assert await state(chain, node) == before
    return message


def lines(*items: tuple[Any, ...]) -> list[dict[str, Any]]:
    """(sku, qty) or (sku, qty, unit_cost_fen) as request lines."""
    return [
        {"sku": item[0], "qty": item[1], **({"unit_cost_fen": item[2]} if len(item) > 2 else {})}
        for item in items
    ]


async def direct(chain: Chain, node: Server, supplier: str, *items: tuple[Any, ...]) -> dict[str, Any]:
    receipt: dict[str, Any] = await chain.post(
        node.url + "/api/receipts", {"supplier": supplier, "lines": lines(*items)}
    )
    return receipt


async def test_an_order_received_in_two_parts_stocks_the_goods_at_its_prices_and_owes_the_supplier(
    chain: Chain, node: Server
) -> None:
    order = await chain.post(
        node.url + "/api/purchase-orders",
        {"supplier": GRAIN, "lines": lines((RICE, 20), (OIL, 30, 1450)), "note": "weekly"},
    )
    # Rice at its purchase price of 40.00, oil at the 14.50 agreed: 20 x 4000 + 30 x 1450.
    assert (order["kind"], order["state"], order["warehouse"]) == ("normal", "open", MAIN)
    assert [(li["sku"], li["qty"], li["unit_cost_fen"]) for li in order["lines"]] == [
        (RICE, 20, 4000),
        (OIL, 30, 1450),
    ]
    assert order["total_fen"] == 80_000 + 43_500 == 123_500
    (created,) = await entries(node, "purchase_order", "create")
    assert created == {
        "id": order["id"],
        "kind": "normal",
        "supplier": GRAIN,
        "warehouse": MAIN,
        "lines": [
            {"sku": RICE, "qty": 20, "unit_cost_fen": 4000},
            {"sku": OIL, "qty": 30, "unit_cost_fen": 1450},
        ],
        "total_fen": 123_500,
        "note": "weekly",
        "at_ms": order["at_ms"],
    }

    # The first delivery brings 8 sacks of rice only.
    first = await chain.post(
        f"{node.url}/api/purchase-orders/{order['id']}/receipts", {"lines": lines((RICE, 8))}
    )
    assert (first["amount_fen"], first["order_state"]) == (8 * 4000, "partial")
    assert await level(node, RICE) == (8, 32_000)
    assert await level(node, OIL) == (0, 0)
    shown = await chain.get(f"{node.url}/api/purchase-orders/{order['id']}")
    assert [(li["received_qty"], li["outstanding_qty"]) for li in shown["lines"]] == [(8, 12), (0, 30)]
    assert (shown["state"], shown["received_fen"], shown["receipts"]) == ("partial", 32_000, [first["id"]])

    # The second brings everything still outstanding: 12 x 4000 + 30 x 1450 = 91500.
    rest = await chain.post(f"{node.url}/api/purchase-orders/{order['id']}/receipts", None)
    assert [(li["sku"], li["qty"], li["amount_fen"]) for li in rest["lines"]] == [
        (RICE, 12, 48_000),
        (OIL, 30, 43_500),
    ]
    assert (rest["amount_fen"], rest["order_state"]) == (91_500, "received")
    assert await level(node, RICE) == (20, 80_000)
    assert await level(node, OIL) == (30, 43_500)

    payables = await chain.get(node.url + "/api/payables")
    (grain,) = payables["suppliers"]
    assert (grain["supplier"], grain["balance_fen"], grain["receipts_fen"]) == (GRAIN, 123_500, 123_500)
    assert [(d["doc_kind"], d["doc_id"], d["amount_fen"]) for d in grain["documents"]] == [
        ("receipt", first["id"], 32_000),
        ("receipt", rest["id"], 91_500),
    ]
    assert (payables["balance_fen"], payables["returns_fen"]) == (123_500, 0)

    posted = await entries(node, "receipt", "post")
    assert [p["id"] for p in posted] == [first["id"], rest["id"]]
    assert posted[1]["order_id"] == order["id"]
    assert posted[1]["payable"] == {"id": rest["payable"]["id"], "supplier": GRAIN, "amount_fen": 91_500}
    assert posted[1]["moves"] == [
        {"warehouse": MAIN, "sku": RICE, "qty": 12, "cost_fen": 48_000, "cause": "purchase"},
        {"warehouse": MAIN, "sku": OIL, "qty": 30, "cost_fen": 43_500, "cause": "purchase"},
    ]
    received = await chain.get(node.url + "/api/purchase-orders", params={"state": "received"})
    assert [o["id"] for o in received["orders"]] == [order["id"]]
    assert (await chain.get(node.url + "/api/purchase-orders", params={"state": "open"}))["orders"] == []


async def test_receipts_value_stock_by_each_products_method_and_sales_take_that_cost(
    chain: Chain, node: Server
) -> None:
    await direct(chain, node, GRAIN, (RICE, 10, 4000), (OIL, 10, 1600))
    await direct(chain, node, GRAIN, (RICE, 10, 4600), (OIL, 30, 1450))
    # Rice, moving average: (40000 + 46000) / 20 = 43.00 a sack.
    assert await level(node, RICE) == (20, 86_000)
    # Oil, FIFO: a lot of 10 at 16.00 and then 30 at 14.50.
    assert await level(node, OIL) == (40, 16_000 + 43_500)
    sold = await chain.post(node.url + "/api/sales", sale((RICE, 5), (OIL, 15)))
    # 5 x 4300; then 10 x 1600 from the older oil lot and 5 x 1450 from the newer.
    assert [li["cost_fen"] for li in sold["lines"]] == [21_500, 16_000 + 7_250]
    assert await level(node, RICE) == (15, 64_500)
    assert await level(node, OIL) == (25, 36_250)
    payables = await chain.get(node.url + "/api/payables")
    assert payables["balance_fen"] == 40_000 + 16_000 + 46_000 + 43_500 == 145_500


async def test_a_return_against_a_receipt_is_credited_at_its_price_and_leaves_at_fifo_cost(
    chain: Chain, node: Server
) -> None:
    await direct(chain, node, GRAIN, (OIL, 10, 1600))
    second = await direct(chain, node, GRAIN, (OIL, 30, 1450))
    returned = await chain.post(
        node.url + "/api/purchase-returns",
        {"supplier": GRAIN, "receipt_id": second["id"], "lines": lines((OIL, 5))},
    )
    # The supplier credits 5 x 14.50 (the receipt's price); FIFO takes the older lot, 5 x 16.00.
    assert [
        (li["qty"], li["unit_cost_fen"], li["amount_fen"], li["cost_fen"]) for li in returned["lines"]
    ] == [(5, 1450, 7_250, 8_000)]
    assert (returned["amount_fen"], returned["cost_fen"]) == (7_250, 8_000)
    assert returned["payable"]["amount_fen"] == -7_250
    assert await level(node, OIL) == (35, 59_500 - 8_000)
    payables = await chain.get(node.url + "/api/payables")
    (grain,) = payables["suppliers"]
    assert (grain["balance_fen"], grain["receipts_fen"], grain["returns_fen"]) == (52_250, 59_500, -7_250)
    assert grain["documents"][-1] == {
        "doc_kind": "purchase_return",
        "doc_id": returned["id"],
        "amount_fen": -7_250,
        "at_ms": returned["at_ms"],
    }
    (posted,) = await entries(node, "purchase_return", "post")
    assert posted == {
        "id": returned["id"],
        "supplier": GRAIN,
        "warehouse": MAIN,
        "receipt_id": second["id"],
        "lines": [{"sku": OIL, "qty": 5, "unit_cost_fen": 1450, "amount_fen": 7_250, "cost_fen": 8_000}],
        "amount_fen": 7_250,
        "cost_fen": 8_000,
        "at_ms": returned["at_ms"],
        "moves": [{"warehouse": MAIN, "sku": OIL, "qty": -5, "cost_fen": -8_000, "cause": "purchase_return"}],
        "payable": {"id": returned["payable"]["id"], "supplier": GRAIN, "amount_fen": -7_250},
    }

    # The receipt brought 30 and 5 went back: 25 are left to return against it.
    message = await refused_unchanged(
        chain,
        node,
        node.url + "/api/purchase-returns",
        {"supplier": GRAIN, "receipt_id": second["id"], "lines": lines((OIL, 26))},
        409,
        "document_state",
    )
    assert "has 25 of OIL-1L left to return" in message


async def test_a_return_with_no_receipt_is_credited_at_the_unit_cost_on_hand(
    chain: Chain, node: Server
) -> None:
    await direct(chain, node, GRAIN, (RICE, 10, 4000))
    await direct(chain, node, GRAIN, (RICE, 10, 4600))
    returned = await chain.post(
        node.url + "/api/purchase-returns", {"supplier": GRAIN, "lines": lines((RICE, 2))}
    )
    # Moving average 43.00: credited and costed at 2 x 4300.
    assert (returned["amount_fen"], returned["cost_fen"], returned["receipt_id"]) == (8_600, 8_600, None)
    assert await level(node, RICE) == (18, 86_000 - 8_600)
    # A price agreed with the supplier overrides it; the cost out is still the method's.
    agreed = await chain.post(
        node.url + "/api/purchase-returns", {"supplier": GRAIN, "lines": lines((RICE, 1, 3900))}
    )
    assert (agreed["amount_fen"], agreed["cost_fen"]) == (3_900, 4_300)
    payables = await chain.get(node.url + "/api/payables")
    assert payables["balance_fen"] == 86_000 - 8_600 - 3_900


async def test_a_receipt_covering_stock_sold_ahead_books_the_correction_on_its_move(
    chain: Chain, node: Server
) -> None:
    sold = await chain.post(node.url + "/api/sales", sale((RICE, 3)))
    # No rice on hand: the 3 sacks are costed provisionally at the purchase price, 3 x 4000.
    assert sold["lines"][0]["cost_fen"] == 12_000
    assert await level(node, RICE) == (-3, -12_000)
    receipt = await direct(chain, node, GRAIN, (RICE, 10, 4300))
    # The 3 oversold sacks really cost 3 x 4300 = 12900: 900 more, booked as a correction;
    # the other 7 go on hand at 30100. The move's value change is 30100 - (-12000) = 42100.
    assert receipt["moves"] == [
        {
            "warehouse": MAIN,
            "sku": RICE,
            "qty": 10,
            "cost_fen": 42_100,
            "correction_fen": 900,
            "variance_fen": 0,
        }
    ]
    assert await level(node, RICE) == (7, 30_100)
    (posted,) = await entries(node, "receipt", "post")
    assert posted["moves"][0]["correction_fen"] == 900
    assert posted["amount_fen"] == 43_000 == 42_100 + 900


async def test_the_proposal_fills_up_to_the_limits_less_what_is_on_order_per_supplier(
    chain: Chain, node: Server
) -> None:
    await direct(chain, node, SPICE, (SALT, 5, 800))
    await chain.post(node.url + "/api/purchase-orders", {"supplier": GRAIN, "lines": lines((RICE, 20))})
    proposal = await chain.get(node.url + "/api/purchase-orders/proposal")
    summary = {
        group["supplier"]: ([(li["sku"], li["qty"]) for li in group["lines"]], group["total_fen"])
        for group in proposal["suppliers"]
    }
    assert summary == {
        # oil: 0 on hand, lower limit 5 and no upper: 5. Rice: up to 50, 20 already on order: 30.
        GRAIN: ([(OIL, 5), (RICE, 30)], 5 * 1500 + 30 * 4000),
        # salt: 5 on hand, up to 40: 35.
        SPICE: ([(SALT, 35)], 35 * 800),
    }
    rice = proposal["suppliers"][0]["lines"][1]
    assert (rice["on_hand"], rice["on_order"], rice["lower_limit"], rice["upper_limit"]) == (0, 20, 10, 50)
    # No supplier, or one no longer active: listed, not ordered.
    assert [(li["sku"], li["qty"], li["supplier"]) for li in proposal["without_supplier"]] == [
        (NOODLE, 8, None),
        (TOFU, 4, RETIRED),
    ]
    # Orders for HQ-MAIN do not count for another warehouse.
    back = await chain.get(node.url + "/api/purchase-orders/proposal", params={"warehouse": "HQ-BACK"})
    assert [(li["sku"], li["qty"]) for li in back["suppliers"][0]["lines"]] == [(OIL, 5), (RICE, 50)]

    headers = {"Idempotency-Key": "replenish-0001"}
    made = await chain.post(node.url + "/api/purchase-orders/replenish", {}, headers=headers)
    assert [(o["supplier"], o["kind"], o["state"], o["total_fen"]) for o in made["orders"]] == [
        (GRAIN, "replenishment", "open", 127_500),
        (SPICE, "replenishment", "open", 28_000),
    ]
    again = await chain.post(node.url + "/api/purchase-orders/replenish", {}, status=200, headers=headers)
    assert again["replayed"] is True
    assert [o["id"] for o in again["orders"]] == [o["id"] for o in made["orders"]]
    assert len(await entries(node, "purchase_order", "create")) == 3

    after = await chain.get(node.url + "/api/purchase-orders/proposal")
    assert after["suppliers"] == []
    assert [(li["sku"], li["on_order"]) for li in after["covered"]] == [(OIL, 5), (RICE, 50), (SALT, 35)]
    message = await refused_unchanged(
        chain, node, node.url + "/api/purchase-orders/replenish", {}, 409, "nothing_to_replenish"
    )
    assert "NOODLE-1KG, TOFU-400" in message


async def test_closing_a_partly_received_order_cancels_the_rest(chain: Chain, node: Server) -> None:
    order = await chain.post(
        node.url + "/api/purchase-orders",
        {"supplier": GRAIN, "kind": "urgent", "lines": lines((RICE, 10), (OIL, 10))},
    )
    await chain.post(f"{node.url}/api/purchase-orders/{order['id']}/receipts", {"lines": lines((RICE, 4))})
    closed = await chain.post(f"{node.url}/api/purchase-orders/{order['id']}/close", None, status=200)
    assert closed["state"] == "closed"
    assert [(li["received_qty"], li["outstanding_qty"]) for li in closed["lines"]] == [(4, 0), (0, 0)]
    (close,) = await entries(node, "purchase_order", "close")
    assert close["cancelled"] == [{"sku": RICE, "qty": 6}, {"sku": OIL, "qty": 10}]
    # A closed order no longer counts as on order.
    proposal = await chain.get(node.url + "/api/purchase-orders/proposal")
    assert [(li["sku"], li["on_order"], li["qty"]) for li in proposal["suppliers"][0]["lines"]] == [
        (OIL, 0, 5),
        (RICE, 0, 46),
    ]

    before = await state(chain, node)
    await refused(
        chain, f"{node.url}/api/purchase-orders/{order['id']}/receipts", None, 409, "document_state"
    )
    await refused(
        chain,
        f"{node.url}/api/purchase-orders/{order['id']}/receipts",
        {"lines": lines((OIL, 1))},
        409,
        "document_state",
    )
    await refused(chain, f"{node.url}/api/purchase-orders/{order['id']}/close", None, 409, "document_state")
    again = await chain.post(
        f"{node.url}/api/purchase-orders/{order['id']}/close",
        None,
        status=200,
        headers={"Idempotency-Key": "close-1"},
    )
    assert again["replayed"] is True
    assert await state(chain, node) == before


async def test_a_fully_received_order_takes_no_more_receipts_and_does_not_close(
    chain: Chain, node: Server
) -> None:
    order = await chain.post(
        node.url + "/api/purchase-orders", {"supplier": SPICE, "lines": lines((SALT, 3))}
    )
    await chain.post(f"{node.url}/api/purchase-orders/{order['id']}/receipts", {})
    before = await state(chain, node)
    message = await refused(
        chain, f"{node.url}/api/purchase-orders/{order['id']}/receipts", {}, 409, "document_state"
    )
    assert "is received" in message
    await refused(chain, f"{node.url}/api/purchase-orders/{order['id']}/close", None, 409, "document_state")
    assert await state(chain, node) == before


async def test_retried_purchasing_posts_book_once(chain: Chain, node: Server) -> None:
    async def twice(path: str, body: Any, key: str) -> dict[str, Any]:
        headers = {"Idempotency-Key": key}
        first: dict[str, Any] = await chain.post(node.url + path, body, headers=headers)
        before = await state(chain, node)
        again = await chain.post(node.url + path, body, status=200, headers=headers)
        assert await state(chain, node) == before
        assert (first["replayed"], again["replayed"], again["id"]) == (False, True, first["id"])
        return first

    order = await twice("/api/purchase-orders", {"supplier": GRAIN, "lines": lines((RICE, 4))}, "po-1")
    receipt = await twice(f"/api/purchase-orders/{order['id']}/receipts", {"lines": lines((RICE, 3))}, "rc-1")
    assert receipt["amount_fen"] == 12_000
    await twice("/api/receipts", {"supplier": GRAIN, "lines": lines((OIL, 2, 1500))}, "rc-2")
    await twice(
        "/api/purchase-returns",
        {"supplier": GRAIN, "receipt_id": receipt["id"], "lines": lines((RICE, 1))},
        "pr-1",
    )
    assert await level(node, RICE) == (2, 8_000)
    assert await level(node, OIL) == (2, 3_000)
    assert (await chain.get(node.url + "/api/payables"))["balance_fen"] == 12_000 + 3_000 - 4_000
    assert len(await entries(node, "receipt", "post")) == 2


BAD_ORDERS = [
    pytest.param(
        {"supplier": GRAIN, "lines": lines(("NO-SUCH-SKU", 1))}, 404, "unknown_product", id="unknown sku"
    ),
    pytest.param(
        {"supplier": "SUP-NOBODY", "lines": lines((RICE, 1))}, 404, "not_found", id="unknown supplier"
    ),
    pytest.param({"supplier": RETIRED, "lines": lines((RICE, 1))}, 404, "not_found", id="inactive supplier"),
    pytest.param(
        {"supplier": GRAIN, "warehouse": "BR01-MAIN", "lines": lines((RICE, 1))},
        409,
        "warehouse_elsewhere",
        id="another branch's warehouse",
    ),
    pytest.param(
        {"supplier": GRAIN, "warehouse": "NOWHERE", "lines": lines((RICE, 1))},
        404,
        "unknown_warehouse",
        id="unknown warehouse",
    ),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, -1))}, 422, "invalid", id="negative qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 0))}, 422, "invalid", id="zero qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 1.5))}, 422, "invalid", id="float qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, True))}, 422, "invalid", id="bool qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 1, -5))}, 422, "invalid", id="negative price"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 1, 40.5))}, 422, "invalid", id="float price"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 1), (RICE, 2))}, 422, "invalid", id="sku twice"),
    pytest.param({"supplier": GRAIN, "lines": []}, 422, "invalid", id="no lines"),
    pytest.param({"lines": lines((RICE, 1))}, 422, "invalid", id="no supplier"),
    pytest.param(
        {"supplier": GRAIN, "kind": "replenishment", "lines": lines((RICE, 1))},
        422,
        "invalid",
        id="replenishment by hand",
    ),
    pytest.param(
        {"supplier": GRAIN, "kind": "rush", "lines": lines((RICE, 1))}, 422, "invalid", id="bad kind"
    ),
    pytest.param(
        {"supplier": GRAIN, "lines": lines((RICE, 1)), "paid": True}, 422, "invalid", id="extra field"
    ),
    pytest.param([1, 2], 400, "malformed", id="json array"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_ORDERS)
async def test_a_bad_purchase_order_is_refused_and_changes_nothing(
    chain: Chain, node: Server, body: Any, status: int, code: str
) -> None:
    await direct(chain, node, GRAIN, (RICE, 2, 4000))
    await refused_unchanged(chain, node, node.url + "/api/purchase-orders", body, status, code)


BAD_DIRECT_RECEIPTS = [
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 1))}, 422, "invalid", id="no price"),
    pytest.param(
        {"supplier": GRAIN, "lines": lines(("NO-SUCH", 1, 100))}, 404, "unknown_product", id="unknown sku"
    ),
    pytest.param(
        {"supplier": "SUP-NOBODY", "lines": lines((RICE, 1, 100))}, 404, "not_found", id="unknown supplier"
    ),
    pytest.param(
        {"supplier": GRAIN, "warehouse": "BR01-MAIN", "lines": lines((RICE, 1, 100))},
        409,
        "warehouse_elsewhere",
        id="another branch's warehouse",
    ),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 0, 100))}, 422, "invalid", id="zero qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, -2, 100))}, 422, "invalid", id="negative qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, 2.0, 100))}, 422, "invalid", id="float qty"),
    pytest.param({"supplier": GRAIN, "lines": lines((RICE, False, 100))}, 422, "invalid", id="bool qty"),
    pytest.param(
        {"supplier": GRAIN, "order_id": "x", "lines": lines((RICE, 1, 1))}, 422, "invalid", id="extra"
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_DIRECT_RECEIPTS)
async def test_a_bad_direct_receipt_is_refused_and_changes_nothing(
    chain: Chain, node: Server, body: Any, status: int, code: str
) -> None:
    await direct(chain, node, GRAIN, (RICE, 2, 4000))
    await refused_unchanged(chain, node, node.url + "/api/receipts", body, status, code)


BAD_ORDER_RECEIPTS = [
    pytest.param(
        "{order}",
        {"lines": lines((RICE, 6))},
        409,
        "over_receipt",
        "line 0 (RICE-5KG) of purchase order {order} expects 5 more (ordered 10, received 5);"
        " this receipt brings 6",
        id="more than the line expects",
    ),
    pytest.param(
        "{order}",
        {"lines": lines((RICE, 1), (OIL, 4))},
        409,
        "over_receipt",
        "line 1 (OIL-1L) of purchase order {order} expects 3 more (ordered 5, received 2)",
        id="one line over",
    ),
    pytest.param(
        "{order}",
        {"lines": lines((SALT, 1))},
        422,
        "invalid",
        "SALT-500 is not on purchase order {order}",
        id="sku not on the order",
    ),
    pytest.param("{order}", {"lines": lines(("NO-SUCH", 1))}, 422, "invalid", "", id="sku in no catalogue"),
    pytest.param("{order}", {"lines": lines((RICE, 0))}, 422, "invalid", "", id="zero qty"),
    pytest.param("{order}", {"lines": lines((RICE, -1))}, 422, "invalid", "", id="negative qty"),
    pytest.param("{order}", {"lines": lines((RICE, 1.5))}, 422, "invalid", "", id="float qty"),
    pytest.param("{order}", {"lines": lines((RICE, True))}, 422, "invalid", "", id="bool qty"),
    pytest.param(
        "{order}", {"lines": lines((RICE, 1, 10))}, 422, "invalid", "", id="price on an order receipt"
    ),
    pytest.param("{order}", {"lines": []}, 422, "invalid", "", id="empty lines"),
    pytest.param("NO-SUCH-ORDER", {}, 404, "not_found", "", id="unknown order"),
]


@pytest.mark.parametrize(("order", "body", "status", "code", "says"), BAD_ORDER_RECEIPTS)
async def test_a_bad_receipt_against_an_order_is_refused_and_changes_nothing(
    chain: Chain, node: Server, order: str, body: Any, status: int, code: str, says: str
) -> None:
    # Ordered 10 rice and 5 oil; 5 rice and 2 oil have come: 5 rice and 3 oil are expected.
    placed = await chain.post(
        node.url + "/api/purchase-orders", {"supplier": GRAIN, "lines": lines((RICE, 10), (OIL, 5))}
    )
    await chain.post(
        f"{node.url}/api/purchase-orders/{placed['id']}/receipts", {"lines": lines((RICE, 5), (OIL, 2))}
    )
    path = f"/api/purchase-orders/{order.format(order=placed['id'])}/receipts"
    message = await refused_unchanged(chain, node, node.url + path, body, status, code)
    assert says.format(order=placed["id"]) in message


BAD_RETURNS = [
    pytest.param({"lines": lines((OIL, 11))}, 409, "insufficient_stock", id="more than on hand"),
    pytest.param({"lines": lines((SALT, 1))}, 409, "insufficient_stock", id="none on hand"),
    pytest.param(
        {"receipt_id": "{receipt}", "lines": lines((OIL, 7))}, 409, "document_state", id="beyond receipt"
    ),
    pytest.param(
        {"receipt_id": "{receipt}", "lines": lines((SALT, 1))}, 422, "invalid", id="sku not on receipt"
    ),
    pytest.param(
        {"receipt_id": "NO-SUCH-RECEIPT", "lines": lines((OIL, 1))}, 404, "not_found", id="no receipt"
    ),
    pytest.param(
        {"supplier": SPICE, "receipt_id": "{receipt}", "lines": lines((OIL, 1))},
        422,
        "invalid",
        id="other supplier",
    ),
    pytest.param(
        {"receipt_id": "{receipt}", "warehouse": "HQ-BACK", "lines": lines((OIL, 1))},
        422,
        "invalid",
        id="other warehouse than the receipt's",
    ),
    pytest.param(
        {"warehouse": "BR01-MAIN", "lines": lines((OIL, 1))},
        409,
        "warehouse_elsewhere",
        id="another branch's",
    ),
    pytest.param({"lines": lines(("NO-SUCH", 1))}, 404, "unknown_product", id="unknown sku"),
    pytest.param(
        {"supplier": "SUP-NOBODY", "lines": lines((OIL, 1))}, 404, "not_found", id="unknown supplier"
    ),
    pytest.param({"lines": lines((OIL, 0))}, 422, "invalid", id="zero qty"),
    pytest.param({"lines": lines((OIL, 1.5))}, 422, "invalid", id="float qty"),
    pytest.param({"lines": lines((OIL, True))}, 422, "invalid", id="bool qty"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_RETURNS)
async def test_a_bad_purchase_return_is_refused_and_changes_nothing(
    chain: Chain, node: Server, body: dict[str, Any], status: int, code: str
) -> None:
    # 10 oil on hand; the receipt brought 6 of them.
    await direct(chain, node, GRAIN, (OIL, 4, 1500))
    receipt = await direct(chain, node, GRAIN, (OIL, 6, 1500))
    request = {"supplier": GRAIN, **body}
    if request.get("receipt_id") == "{receipt}":
        request["receipt_id"] = receipt["id"]
    await refused_unchanged(chain, node, node.url + "/api/purchase-returns", request, status, code)


async def test_lookups_of_unknown_documents_and_bad_filters_are_refused(chain: Chain, node: Server) -> None:
    for path, status in (
        ("/api/purchase-orders/NO-SUCH", 404),
        ("/api/receipts/NO-SUCH", 404),
        ("/api/purchase-returns/NO-SUCH", 404),
        ("/api/purchase-orders?state=lost", 422),
        ("/api/purchase-orders/proposal?warehouse=BR01-MAIN", 409),
        ("/api/purchase-orders/proposal?warehouse=NOWHERE", 404),
    ):
        async with chain.session.get(node.url + path) as response:
            assert response.status == status, path
            assert (await response.json())["message"]
    await refused(chain, node.url + "/api/purchase-orders/NO-SUCH/close", None, 404, "not_found")
