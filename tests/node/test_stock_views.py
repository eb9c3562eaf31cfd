"""Stock at a glance, alerts and the stock ledger on a real node: worked examples in fen,
and every bad query refused with nothing changed.

The node and the helpers that seed it are in tests/node/stock_fixtures.py and conftest.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Chain, Server, sale
from tests.node.stock_fixtures import (
    BACK,
    BRANCH,
    ELSEWHERE,
    MAIN,
    add_warehouse,
    ledger_state,
    level,
    product,
    seed,
    stock_in,
)


def row(listing: list[dict[str, Any]], sku: str, warehouse: str = MAIN) -> dict[str, Any]:
    (found,) = [r for r in listing if r["sku"] == sku and r["warehouse"] == warehouse]
    return found


async def test_stock_shows_every_warehouse_of_the_branch_with_level_value_and_unit_cost(
    chain: Chain, node: Server
) -> None:
    await add_warehouse(node, BACK, BRANCH)
    await seed(node, product("KETTLE", "fifo", lower_limit=5, upper_limit=50))
    await stock_in(node, "KETTLE", 10, 10_000)  # 10 at 10.00
    await stock_in(node, "KETTLE", 3, 3_700, warehouse=BACK)  # 3 at 12.333...
    listing = await chain.get(node.url + "/api/stock")
    assert listing["warehouses"] == [BACK, MAIN]  # BR02-MAIN is kept by BR02: not shown
    main = row(listing["stock"], "KETTLE")
    assert {k: main[k] for k in ("qty", "cost_fen", "unit_cost_fen", "lower_limit", "upper_limit")} == {
        "qty": 10,
        "cost_fen": 10_000,
        "unit_cost_fen": 1_000,
        "lower_limit": 5,
        "upper_limit": 50,
    }
    assert main["alert"] is None
    back = row(listing["stock"], "KETTLE", BACK)
    # 3_700 / 3 = 1_233.33 -> 1_233 fen a unit; 3 is under the lower limit of 5.
    assert (back["qty"], back["cost_fen"], back["unit_cost_fen"], back["alert"]) == (3, 3_700, 1_233, "low")
    # A demo product never received is listed at 0 with no unit cost.
    cup = row(listing["stock"], "CUP-CERAMIC", BACK)
    assert (cup["qty"], cup["cost_fen"], cup["unit_cost_fen"], cup["alert"]) == (0, 0, None, None)
    only_back = await chain.get(node.url + "/api/stock", params={"warehouse": BACK})
    assert only_back["warehouses"] == [BACK]
    assert {r["warehouse"] for r in only_back["stock"]} == {BACK}


async def test_oversold_stock_shows_a_negative_level_at_its_provisional_cost(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("LAMP", "fifo", purchase_price_fen=850))
    await chain.post(node.url + "/api/sales", sale(("LAMP", 2)))
    lamp = row((await chain.get(node.url + "/api/stock"))["stock"], "LAMP")
    # Never received: the 2 sold are costed at the preset purchase price, 8.50 each.
    assert (lamp["qty"], lamp["cost_fen"], lamp["unit_cost_fen"]) == (-2, -1_700, 850)


async def test_alerts_list_products_under_their_lower_or_over_their_upper_limit(
    chain: Chain, node: Server
) -> None:
    await seed(
        node,
        product("NEVER-CAME", lower_limit=5),  # never received: 0 on hand, under 5
        product("TOO-MANY", upper_limit=20),
        product("JUST-RIGHT", lower_limit=5, upper_limit=50),
        product("AT-THE-LIMIT", lower_limit=5, upper_limit=5),  # exactly at both: no alert
        product("NO-LIMITS"),
    )
    await stock_in(node, "TOO-MANY", 25, 25_000)
    await stock_in(node, "JUST-RIGHT", 10, 10_000)
    await stock_in(node, "AT-THE-LIMIT", 5, 5_000)
    await stock_in(node, "NO-LIMITS", 999, 1_000)
    alerts = (await chain.get(node.url + "/api/stock/alerts"))["alerts"]
    assert [(a["sku"], a["qty"], a["alert"]) for a in alerts] == [
        ("NEVER-CAME", 0, "low"),
        ("TOO-MANY", 25, "high"),
    ]
    # Selling 6 of JUST-RIGHT leaves 4, under its lower limit of 5.
    await chain.post(node.url + "/api/sales", sale(("JUST-RIGHT", 6)))
    alerts = (await chain.get(node.url + "/api/stock/alerts"))["alerts"]
    assert [(a["sku"], a["qty"], a["alert"]) for a in alerts] == [
        ("JUST-RIGHT", 4, "low"),
        ("NEVER-CAME", 0, "low"),
        ("TOO-MANY", 25, "high"),
    ]
    listing = await chain.get(node.url + "/api/stock")
    assert row(listing["stock"], "TOO-MANY")["alert"] == "high"
    assert row(listing["stock"], "AT-THE-LIMIT")["alert"] is None


async def test_the_ledger_lists_moves_newest_first_with_a_running_balance(chain: Chain, node: Server) -> None:
    await seed(node, product("TEAPOT", "moving_average"))
    await stock_in(node, "TEAPOT", 10, 10_000, ref="receipt-1")  # 10 at 10.00
    sold = await chain.post(node.url + "/api/sales", sale(("TEAPOT", 4)))  # costs 4 x 10.00
    await stock_in(node, "TEAPOT", 6, 9_000, ref="receipt-2")  # 6 left + 6 at 15.00 = 12 at 12.50
    await seed(node, product("OTHER"))
    await stock_in(node, "OTHER", 1, 100)
    found = await chain.get(
        node.url + "/api/stock/moves", params={"warehouse": MAIN, "sku": "TEAPOT", "limit": "10"}
    )
    summary = [
        (m["cause"], m["ref"], m["qty"], m["cost_fen"], m["balance_qty"], m["balance_cost_fen"])
        for m in found["moves"]
    ]
    assert summary == [
        ("purchase", "receipt-2", 6, 9_000, 12, 15_000),
        ("sale", sold["id"], -4, -4_000, 6, 6_000),
        ("purchase", "receipt-1", 10, 10_000, 10, 10_000),
    ]
    assert all(m["correction_fen"] == 0 and m["variance_fen"] == 0 for m in found["moves"])
    # The balance is the level: the ledger and the stock table agree.
    assert await level(node, "TEAPOT") == (12, 15_000)
    # A page of one is the newest, still with its balance over the whole history.
    newest = await chain.get(
        node.url + "/api/stock/moves", params={"warehouse": MAIN, "sku": "TEAPOT", "limit": "1"}
    )
    assert [(m["qty"], m["balance_qty"]) for m in newest["moves"]] == [(6, 12)]
    sales_only = await chain.get(
        node.url + "/api/stock/moves", params={"warehouse": MAIN, "sku": "TEAPOT", "cause": "sale"}
    )
    assert [(m["qty"], m["balance_qty"], m["balance_cost_fen"]) for m in sales_only["moves"]] == [
        (-4, 6, 6_000)
    ]
    # Without both filters there is no balance; every item's moves come newest first.
    everything = await chain.get(node.url + "/api/stock/moves")
    assert [m["sku"] for m in everything["moves"]] == ["OTHER", "TEAPOT", "TEAPOT", "TEAPOT"]
    assert "balance_qty" not in everything["moves"][0]


async def test_a_correction_shows_on_the_receipt_that_covers_oversold_units(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("VASE", "fifo", purchase_price_fen=1_000))
    await chain.post(node.url + "/api/sales", sale(("VASE", 3)))  # 3 at the preset 10.00
    await stock_in(node, "VASE", 5, 6_000)  # 5 at 12.00: the 3 oversold cost 6.00 more
    moves = (await chain.get(node.url + "/api/stock/moves", params={"warehouse": MAIN, "sku": "VASE"}))[
        "moves"
    ]
    assert [
        (m["qty"], m["cost_fen"], m["correction_fen"], m["balance_qty"], m["balance_cost_fen"]) for m in moves
    ] == [
        (5, 5_400, 600, 2, 2_400),  # 6_000 paid = 5_400 onto stock + 600 to cost of goods
        (-3, -3_000, 0, -3, -3_000),
    ]


BAD_QUERIES = [
    pytest.param(
        "/api/stock", {"warehouse": "NOWHERE"}, 404, "unknown_warehouse", id="stock: unknown warehouse"
    ),
    pytest.param(
        "/api/stock", {"warehouse": ELSEWHERE}, 409, "warehouse_elsewhere", id="stock: other branch's"
    ),
    pytest.param(
        "/api/stock/alerts", {"warehouse": ELSEWHERE}, 409, "warehouse_elsewhere", id="alerts: other branch's"
    ),
    pytest.param("/api/stock/moves", {"sku": "NO-SUCH-SKU"}, 404, "unknown_product", id="moves: unknown sku"),
    pytest.param(
        "/api/stock/moves", {"warehouse": "NOWHERE"}, 404, "unknown_warehouse", id="moves: unknown wh"
    ),
    pytest.param("/api/stock/moves", {"limit": "0"}, 422, "invalid", id="moves: limit 0"),
    pytest.param("/api/stock/moves", {"limit": "1001"}, 422, "invalid", id="moves: limit over 1000"),
    pytest.param("/api/stock/moves", {"limit": "-5"}, 422, "invalid", id="moves: negative limit"),
    pytest.param("/api/stock/moves", {"limit": "²"}, 422, "invalid", id="moves: superscript digit"),
    pytest.param("/api/stock/moves", {"limit": "ten"}, 422, "invalid", id="moves: limit not a number"),
    pytest.param("/api/stock/moves", {"cause": "theft"}, 422, "invalid", id="moves: unknown cause"),
]


@pytest.mark.parametrize(("path", "params", "status", "code"), BAD_QUERIES)
async def test_a_bad_stock_query_is_refused_and_changes_nothing(
    chain: Chain, node: Server, path: str, params: dict[str, str], status: int, code: str
) -> None:
    await seed(node, product("KETTLE"))
    await stock_in(node, "KETTLE", 2, 2_000)
    before = await ledger_state(chain, node.url)
    async with chain.session.get(node.url + path, params=params) as response:
        assert response.status == status
        refused = await response.json()
    assert refused["error"] == code
    assert refused["message"]
    assert await ledger_state(chain, node.url) == before
