"""Stocktakes on a real node: gains and losses worked by hand under each costing
method, the preview, the change-log entry, and every bad count refused with nothing changed."""

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
    last_entry,
    ledger_state,
    level,
    product,
    seed,
    stock_in,
)


def counts(*pairs: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {"lines": [{"sku": sku, "counted_qty": qty} for sku, qty in pairs], **extra}


def figures(stocktake: dict[str, Any]) -> list[tuple[str, int, int, int, int]]:
    return [
        (line["sku"], line["book_qty"], line["counted_qty"], line["variance_qty"], line["cost_fen"])
        for line in stocktake["lines"]
    ]


async def test_fifo_a_loss_leaves_at_the_oldest_cost_and_a_gain_comes_in_at_the_last_unit_cost(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("JAR", "fifo"))
    await stock_in(node, "JAR", 10, 10_000)  # 10 at 10.00
    await stock_in(node, "JAR", 10, 12_000)  # 10 at 12.00
    loss = await chain.post(node.url + "/api/stocktakes", counts(("JAR", 15)))
    # 5 missing, taken from the oldest lot: 5 x 10.00.
    assert figures(loss) == [("JAR", 20, 15, -5, -5_000)]
    assert loss["variance_cost_fen"] == -5_000
    assert await level(node, "JAR") == (15, 17_000)  # 5 x 10.00 + 10 x 12.00
    gain = await chain.post(node.url + "/api/stocktakes", counts(("JAR", 17)))
    # 2 found, valued at the last unit cost known here, 12.00.
    assert figures(gain) == [("JAR", 15, 17, 2, 2_400)]
    assert await level(node, "JAR") == (17, 19_400)
    # The found units are a lot of their own: a sale of 5 still takes the 10.00 ones.
    receipt = await chain.post(node.url + "/api/sales", sale(("JAR", 5)))
    assert receipt["lines"][0]["cost_fen"] == 5_000
    assert await level(node, "JAR") == (12, 14_400)


async def test_moving_average_a_loss_takes_its_share_of_the_value_rounded_half_up(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("BOWL", "moving_average"))
    await stock_in(node, "BOWL", 10, 10_000)  # 10 at 10.00
    await stock_in(node, "BOWL", 6, 9_000)  # 6 at 15.00: 16 at 11.875, last unit cost 11.88
    loss = await chain.post(node.url + "/api/stocktakes", counts(("BOWL", 13)))
    # 3 of 16 units worth 190.00: 3 x 19_000 / 16 = 3_562.5 -> 3_563 fen.
    assert figures(loss) == [("BOWL", 16, 13, -3, -3_563)]
    assert await level(node, "BOWL") == (13, 15_437)
    gain = await chain.post(node.url + "/api/stocktakes", counts(("BOWL", 15)))
    # 2 found at the last unit cost, 19_000 / 16 = 1_187.5 -> 1_188 fen each.
    assert figures(gain) == [("BOWL", 13, 15, 2, 2_376)]
    assert await level(node, "BOWL") == (15, 17_813)


async def test_specified_cost_and_never_received_products_are_valued_at_their_preset_cost(
    chain: Chain, node: Server
) -> None:
    await seed(
        node,
        product("RUG", "specified", specified_cost_fen=800),
        product("MAT", "lifo", purchase_price_fen=850),
    )
    await stock_in(node, "RUG", 10, 9_000)  # bought at 9.00, carried at the specified 8.00
    assert await level(node, "RUG") == (10, 8_000)
    taken = await chain.post(node.url + "/api/stocktakes", counts(("RUG", 12), ("MAT", 4)))
    # RUG: 2 found x 8.00; MAT never arrived: 4 found x its purchase price 8.50.
    assert figures(taken) == [("MAT", 0, 4, 4, 3_400), ("RUG", 10, 12, 2, 1_600)]
    assert taken["variance_cost_fen"] == 5_000
    assert await level(node, "RUG") == (12, 9_600)
    assert await level(node, "MAT") == (4, 3_400)
    loss = await chain.post(node.url + "/api/stocktakes", counts(("RUG", 9)))
    assert figures(loss) == [("RUG", 12, 9, -3, -2_400)]


async def test_a_count_of_oversold_stock_books_the_gain_that_brings_it_back_to_what_is_there(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("CLOTH", "fifo", purchase_price_fen=1_000))
    await chain.post(node.url + "/api/sales", sale(("CLOTH", 3)))  # sold ahead of any receipt
    assert await level(node, "CLOTH") == (-3, -3_000)
    taken = await chain.post(node.url + "/api/stocktakes", counts(("CLOTH", 2)))
    # 2 are on the shelf, the book says -3: 5 found at 10.00 each.
    assert figures(taken) == [("CLOTH", -3, 2, 5, 5_000)]
    assert await level(node, "CLOTH") == (2, 2_000)


async def test_a_posted_stocktake_writes_its_lines_moves_and_one_entry(chain: Chain, node: Server) -> None:
    await seed(node, product("JAR", "fifo"), product("BOWL"), product("SPOON"))
    await stock_in(node, "JAR", 10, 10_000)
    await stock_in(node, "BOWL", 4, 2_000)
    await stock_in(node, "SPOON", 7, 700)
    head = (await chain.sync(BRANCH))["head_seq"]
    taken = await chain.post(node.url + "/api/stocktakes", counts(("JAR", 8), ("BOWL", 5), ("SPOON", 7)))
    assert figures(taken) == [
        ("BOWL", 4, 5, 1, 500),
        ("JAR", 10, 8, -2, -2_000),
        ("SPOON", 7, 7, 0, 0),  # counted as booked: recorded, nothing moves
    ]
    assert taken["variance_cost_fen"] == -1_500
    assert (taken["seq"], taken["warehouse"], taken["replayed"]) == (head + 1, MAIN, False)
    entry = await last_entry(node)
    assert (entry.kind, entry.op, entry.entity_id, entry.seq) == ("stocktake", "post", taken["id"], head + 1)
    payload = entry.payload
    assert (payload["id"], payload["warehouse"], payload["variance_cost_fen"]) == (taken["id"], MAIN, -1_500)
    assert {line["sku"]: line["variance_qty"] for line in payload["lines"]} == {
        "JAR": -2,
        "BOWL": 1,
        "SPOON": 0,
    }
    assert sorted(payload["moves"], key=lambda m: m["sku"]) == [
        {"warehouse": MAIN, "sku": "BOWL", "qty": 1, "cost_fen": 500, "cause": "stocktake"},
        {"warehouse": MAIN, "sku": "JAR", "qty": -2, "cost_fen": -2_000, "cause": "stocktake"},
    ]
    moves = (await chain.get(node.url + "/api/stock/moves", params={"cause": "stocktake"}))["moves"]
    assert {(m["sku"], m["qty"], m["ref"]) for m in moves} == {
        ("BOWL", 1, taken["id"]),
        ("JAR", -2, taken["id"]),
    }
    assert await chain.get(f"{node.url}/api/stocktakes/{taken['id']}") == {
        key: value for key, value in taken.items() if key != "replayed"
    }
    listed = (await chain.get(node.url + "/api/stocktakes"))["stocktakes"]
    assert [(s["id"], s["lines"], s["variance_cost_fen"]) for s in listed] == [(taken["id"], 3, -1_500)]


async def test_a_preview_shows_what_posting_would_book_and_writes_nothing(chain: Chain, node: Server) -> None:
    await seed(node, product("BOWL"))
    await stock_in(node, "BOWL", 16, 19_000)
    before = await ledger_state(chain, node.url)
    preview = await chain.post(node.url + "/api/stocktakes", counts(("BOWL", 13), post=False), status=200)
    assert preview["preview"] is True
    assert figures(preview) == [("BOWL", 16, 13, -3, -3_563)]
    assert await ledger_state(chain, node.url) == before
    posted = await chain.post(node.url + "/api/stocktakes", counts(("BOWL", 13)))
    assert (figures(posted), posted["variance_cost_fen"]) == (figures(preview), preview["variance_cost_fen"])


async def test_a_count_in_another_warehouse_of_the_branch_moves_that_warehouse_only(
    chain: Chain, node: Server
) -> None:
    await add_warehouse(node, BACK, BRANCH)
    await seed(node, product("JAR", "fifo"))
    await stock_in(node, "JAR", 4, 4_000, warehouse=BACK)
    await stock_in(node, "JAR", 10, 10_000)
    taken = await chain.post(node.url + "/api/stocktakes", counts(("JAR", 1), warehouse=BACK))
    assert (taken["warehouse"], figures(taken)) == (BACK, [("JAR", 4, 1, -3, -3_000)])
    assert await level(node, "JAR", BACK) == (1, 1_000)
    assert await level(node, "JAR") == (10, 10_000)


async def test_a_retried_stocktake_with_the_same_idempotency_key_posts_once(
    chain: Chain, node: Server
) -> None:
    await seed(node, product("JAR"))
    await stock_in(node, "JAR", 10, 10_000)
    headers = {"Idempotency-Key": "count-2024-06-aisle-3"}
    first = await chain.post(node.url + "/api/stocktakes", counts(("JAR", 7)), headers=headers)
    again = await chain.post(node.url + "/api/stocktakes", counts(("JAR", 7)), status=200, headers=headers)
    assert (again["id"], again["replayed"]) == (first["id"], True)
    assert figures(again) == figures(first) == [("JAR", 10, 7, -3, -3_000)]
    assert await level(node, "JAR") == (7, 7_000)
    assert len((await chain.get(node.url + "/api/stocktakes"))["stocktakes"]) == 1


BAD_COUNTS = [
    pytest.param(counts(("JAR", -1)), 422, "invalid", id="negative count"),
    pytest.param(counts(("JAR", 1.5)), 422, "invalid", id="fractional count"),
    pytest.param(counts(("JAR", True)), 422, "invalid", id="bool count"),
    pytest.param({"lines": [{"sku": "JAR"}]}, 422, "invalid", id="no count"),
    pytest.param({"lines": [{"sku": "JAR", "qty": 3}]}, 422, "invalid", id="qty instead of counted_qty"),
    pytest.param(counts(("JAR", 1), ("JAR", 2)), 422, "invalid", id="a product twice"),
    pytest.param({"lines": []}, 422, "invalid", id="no lines"),
    pytest.param(counts(("JAR", 1), note="aisle 3"), 422, "invalid", id="unknown field"),
    pytest.param(counts(("JAR", 1), warehouse=""), 422, "invalid", id="empty warehouse"),
    pytest.param(counts(("JAR", 1), post="yes"), 422, "invalid", id="post not a boolean"),
    pytest.param(counts(("NO-SUCH-SKU", 1)), 404, "unknown_product", id="unknown sku"),
    pytest.param(counts(("JAR", 1), ("NO-SUCH-SKU", 1)), 404, "unknown_product", id="one unknown sku of two"),
    pytest.param(counts(("JAR", 1), warehouse="NOWHERE"), 404, "unknown_warehouse", id="unknown warehouse"),
    pytest.param(counts(("JAR", 1), warehouse=ELSEWHERE), 409, "warehouse_elsewhere", id="other branch's"),
    pytest.param([{"sku": "JAR", "counted_qty": 1}], 400, "malformed", id="json array"),
]


@pytest.mark.parametrize("preview", [False, True], ids=["post", "preview"])
@pytest.mark.parametrize(("body", "status", "code"), BAD_COUNTS)
async def test_a_bad_count_is_refused_and_changes_nothing(
    chain: Chain, node: Server, body: Any, status: int, code: str, preview: bool
) -> None:
    await seed(node, product("JAR"))
    await stock_in(node, "JAR", 10, 10_000)
    if preview and isinstance(body, dict) and "post" not in body:
        body = {**body, "post": False}
    before = await ledger_state(chain, node.url)
    refused = await chain.post(node.url + "/api/stocktakes", body, status=status)
    assert refused["error"] == code
    assert refused["message"]
    assert await ledger_state(chain, node.url) == before


async def test_unknown_stocktakes_and_bad_listings_are_refused(chain: Chain, node: Server) -> None:
    before = await ledger_state(chain, node.url)
    for path, status, code in (
        ("/api/stocktakes/01900000-0000-7000-8000-000000000000", 404, "not_found"),
        ("/api/stocktakes?limit=0", 422, "invalid"),
        ("/api/stocktakes?limit=501", 422, "invalid"),
    ):
        async with chain.session.get(node.url + path) as response:
            assert response.status == status, path
            assert (await response.json())["error"] == code
    async with chain.session.post(
        node.url + "/api/stocktakes", json=counts(("CUP-CERAMIC", 1)), headers={"Idempotency-Key": "k" * 65}
    ) as response:
        assert response.status == 422
        assert (await response.json())["error"] == "invalid"
    assert await ledger_state(chain, node.url) == before
