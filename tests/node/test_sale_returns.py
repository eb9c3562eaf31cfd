"""Customer returns on a real node: goods back at the sale line's cost so its gross
profit reverses exactly, partial returns then the rest, and every bad return refused
with nothing changed."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.harness import Chain, Server, sale
from tests.node.stock_fixtures import (
    BRANCH,
    MAIN,
    last_entry,
    ledger_state,
    level,
    product,
    seed,
    stock_in,
    write,
)


def returning(*pairs: tuple[int, Any]) -> dict[str, Any]:
    return {"lines": [{"line_no": line_no, "qty": qty} for line_no, qty in pairs]}


def figures(returned: dict[str, Any]) -> list[tuple[int, str, int, int, int]]:
    return [
        (line["line_no"], line["sku"], line["qty"], line["amount_fen"], line["cost_fen"])
        for line in returned["lines"]
    ]


async def test_a_full_return_comes_back_at_the_sale_cost_and_reverses_its_gross_profit(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("KETTLE", "fifo", price_fen=2_500))
    await stock_in(node, "KETTLE", 10, 10_000)  # 10 at 10.00
    await stock_in(node, "KETTLE", 10, 12_000)  # 10 at 12.00
    sold = await chain.post(node.url + "/api/sales", sale(("KETTLE", 12)))
    # 12 x 25.00 = 300.00; cost 10 x 10.00 + 2 x 12.00 = 124.00; gross profit 176.00.
    (line,) = sold["lines"]
    assert (line["amount_fen"], line["cost_fen"], line["gross_profit_fen"]) == (30_000, 12_400, 17_600)
    await stock_in(node, "KETTLE", 5, 20_000)  # a dearer lot since: the return ignores it
    assert await level(node, "KETTLE") == (13, 29_600)
    head = (await chain.sync(BRANCH))["head_seq"]
    returned = await chain.post(f"{node.url}/api/sales/{sold['id']}/returns", returning((0, 12)))
    assert figures(returned) == [(0, "KETTLE", 12, 30_000, 12_400)]
    assert (returned["refund_fen"], returned["cost_fen"], returned["gross_profit_fen"]) == (
        30_000,
        12_400,
        17_600,
    )
    assert (returned["refund_kind"], returned["warehouse"], returned["seq"]) == ("cash", MAIN, head + 1)
    # The sale's gross profit less the return's is nothing: the sale is undone.
    assert line["gross_profit_fen"] - returned["gross_profit_fen"] == 0
    assert await level(node, "KETTLE") == (25, 29_600 + 12_400)
    entry = await last_entry(node)
    assert (entry.kind, entry.op, entry.entity_id) == ("sale_return", "post", returned["id"])
    payload = entry.payload
    assert {k: payload[k] for k in ("id", "sale_id", "warehouse", "refund_fen", "cost_fen")} == {
        "id": returned["id"],
        "sale_id": sold["id"],
        "warehouse": MAIN,
        "refund_fen": 30_000,
        "cost_fen": 12_400,
    }
    assert payload["lines"] == [
        {"line_no": 0, "sku": "KETTLE", "qty": 12, "amount_fen": 30_000, "cost_fen": 12_400}
    ]
    assert payload["moves"] == [
        {"warehouse": MAIN, "sku": "KETTLE", "qty": 12, "cost_fen": 12_400, "cause": "sale_return"}
    ]
    moves = (await chain.get(node.url + "/api/stock/moves", params={"warehouse": MAIN, "sku": "KETTLE"}))[
        "moves"
    ]
    assert (moves[0]["cause"], moves[0]["ref"], moves[0]["qty"], moves[0]["balance_cost_fen"]) == (
        "sale_return",
        returned["id"],
        12,
        42_000,
    )


async def test_partial_returns_take_their_share_and_the_last_takes_exactly_what_is_left(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("CUP", "moving_average", price_fen=500), product("PLATE", "fifo", price_fen=800))
    await stock_in(node, "CUP", 3, 1_000)  # 3 units worth 10.00: a third is 3.333...
    await stock_in(node, "PLATE", 2, 1_001)  # 2 units worth 10.01: a half is 5.005
    sold = await chain.post(node.url + "/api/sales", sale(("CUP", 3), ("PLATE", 2)))
    assert [line["cost_fen"] for line in sold["lines"]] == [1_000, 1_001]
    url = f"{node.url}/api/sales/{sold['id']}/returns"
    first = await chain.post(url, returning((0, 1), (1, 1)))
    # 1_000 / 3 = 333.33 -> 333; 1_001 / 2 = 500.5 -> 501 (half up).
    assert figures(first) == [(0, "CUP", 1, 500, 333), (1, "PLATE", 1, 800, 501)]
    assert (first["refund_fen"], first["cost_fen"]) == (1_300, 834)
    second = await chain.post(url, returning((0, 1)))
    assert figures(second) == [(0, "CUP", 1, 500, 333)]
    last = await chain.post(url, returning((1, 1), (0, 1)))
    # The rest of each line: 1_000 - 333 - 333 = 334 and 1_001 - 501 = 500.
    assert figures(last) == [(0, "CUP", 1, 500, 334), (1, "PLATE", 1, 800, 500)]
    assert await level(node, "CUP") == (3, 1_000)
    assert await level(node, "PLATE") == (2, 1_001)
    listed = await chain.get(url)
    assert [r["id"] for r in listed["returns"]] == [first["id"], second["id"], last["id"]]
    assert sum(r["refund_fen"] for r in listed["returns"]) == sold["total_fen"] == 3_100
    # Everything sold has come back: one more unit is refused.
    before = await ledger_state(chain, node.url)
    refused = await chain.post(url, returning((0, 1)), status=409)
    assert refused["error"] == "document_state"
    assert "0 left to return of 3 sold" in refused["message"]
    assert await ledger_state(chain, node.url) == before


async def test_goods_sold_ahead_of_stock_come_back_at_their_provisional_cost(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("VASE", "fifo", price_fen=3_000, purchase_price_fen=1_000))
    sold = await chain.post(node.url + "/api/sales", sale(("VASE", 3)))
    assert await level(node, "VASE") == (-3, -3_000)  # 3 at the preset 10.00
    returned = await chain.post(f"{node.url}/api/sales/{sold['id']}/returns", returning((0, 3)))
    assert figures(returned) == [(0, "VASE", 3, 9_000, 3_000)]
    assert await level(node, "VASE") == (0, 0)


async def test_a_line_sold_before_sales_were_costed_returns_at_the_last_unit_cost(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("TEAPOT", "moving_average", price_fen=4_000))
    await stock_in(node, "TEAPOT", 10, 10_000)
    await stock_in(node, "TEAPOT", 10, 14_000)  # 20 at 12.00
    sold = await chain.post(node.url + "/api/sales", sale(("TEAPOT", 2)))

    def forget_cost(conn: sqlite3.Connection) -> None:  # as a sale booked before migration 3 has it
        conn.execute("UPDATE sale_lines SET cost_fen = NULL WHERE sale_id = ?", (sold["id"],))

    await write(node, forget_cost)
    returned = await chain.post(f"{node.url}/api/sales/{sold['id']}/returns", returning((0, 2)))
    assert figures(returned) == [(0, "TEAPOT", 2, 8_000, 2_400)]  # 2 x 12.00
    assert await level(node, "TEAPOT") == (20, 24_000)


async def test_a_retried_return_with_the_same_idempotency_key_is_booked_once(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("KETTLE", "fifo"))
    await stock_in(node, "KETTLE", 4, 4_000)
    sold = await chain.post(node.url + "/api/sales", sale(("KETTLE", 4)))
    url = f"{node.url}/api/sales/{sold['id']}/returns"
    headers = {"Idempotency-Key": "till-2-return-0007"}
    first = await chain.post(url, returning((0, 1)), headers=headers)
    again = await chain.post(url, returning((0, 1)), status=200, headers=headers)
    assert (again["id"], again["replayed"], figures(again)) == (first["id"], True, figures(first))
    assert await level(node, "KETTLE") == (1, 1_000)
    assert len((await chain.get(url))["returns"]) == 1


BAD_RETURNS = [
    pytest.param(returning((0, 3)), 409, "document_state", id="more than sold"),
    pytest.param(returning((0, 1), (1, 3)), 409, "document_state", id="one line over, the other fine"),
    pytest.param(returning((0, 1), (7, 1)), 422, "invalid", id="unknown line"),
    pytest.param(returning((0, 0)), 422, "invalid", id="zero qty"),
    pytest.param(returning((0, -1)), 422, "invalid", id="negative qty"),
    pytest.param(returning((0, 1.5)), 422, "invalid", id="fractional qty"),
    pytest.param(returning((-1, 1)), 422, "invalid", id="negative line number"),
    pytest.param({"lines": [{"qty": 1}]}, 422, "invalid", id="no line number"),
    pytest.param(
        {"lines": [{"line_no": 0, "qty": 1, "sku": "JAR"}]}, 422, "invalid", id="unknown line field"
    ),
    pytest.param(returning((0, 1), (0, 1)), 422, "invalid", id="a line twice"),
    pytest.param({"lines": []}, 422, "invalid", id="no lines"),
    pytest.param({**returning((0, 1)), "refund": "stored_value"}, 422, "invalid", id="unknown field"),
    pytest.param([{"line_no": 0, "qty": 1}], 400, "malformed", id="json array"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_RETURNS)
async def test_a_bad_return_is_refused_and_changes_nothing(
    chain: Chain, node: Server, body: Any, status: int, code: str
) -> None:
    await seed(node, product("JAR", "fifo"), product("LID", "fifo"))
    await stock_in(node, "JAR", 5, 5_000)
    await stock_in(node, "LID", 5, 500)
    sold = await chain.post(node.url + "/api/sales", sale(("JAR", 2), ("LID", 2)))
    url = f"{node.url}/api/sales/{sold['id']}/returns"
    await chain.post(url, returning((1, 1)))  # one LID already back: 1 left to return
    before = (await ledger_state(chain, node.url), await chain.get(url))
    refused = await chain.post(url, body, status=status)
    assert refused["error"] == code
    assert refused["message"]
    assert (await ledger_state(chain, node.url), await chain.get(url)) == before


async def test_a_return_of_an_unknown_sale_is_refused_404_and_changes_nothing(
    chain: Chain, node: Server
) -> None:
    before = await ledger_state(chain, node.url)
    missing = f"{node.url}/api/sales/01900000-0000-7000-8000-000000000000/returns"
    refused = await chain.post(missing, returning((0, 1)), status=404)
    assert refused["error"] == "not_found"
    async with chain.session.get(missing) as response:
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"
    assert await ledger_state(chain, node.url) == before
