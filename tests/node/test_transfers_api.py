"""A node's transfers on their own: between two of its own warehouses, a delivery
applied once however often it comes, discrepancies, and every bad request refused
with nothing changed.

Figures: BR01-MAIN holds 10 cups costing 12,000 fen (moving average, 1,200 each)
and 4 bowls of tea at 6,000 fen (FIFO: one lot of 4 at 1,500).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from node.routes.context import CONTEXT
from node.services import catalogue, stock_ledger
from node.services.transfers import apply_delivery
from node.store.writer import Tx
from tests.harness import Chain, Server, wait_until

CUP, TEA = "CUP-CERAMIC", "TEA-OOLONG-250"


@pytest.fixture
async def node(chain: Chain) -> Server:
    server = await chain.add_node("BR01")

    async def catalogue_arrived() -> bool:
        return len((await chain.get(server.url + "/api/products"))["products"]) == 10

    await wait_until(catalogue_arrived, "the catalogue to reach BR01")

    def seed(tx: Tx) -> None:
        # A back room kept by BR01 and a shop elsewhere, as HQ's master data would say.
        catalogue.apply_warehouse(tx.conn, {"code": "BR01-BACK", "name": "BR01 back room", "branch": "BR01"})
        catalogue.apply_warehouse(tx.conn, {"code": "BR09-MAIN", "name": "BR09", "branch": "BR09"})
        tea = catalogue.product(tx.conn, TEA)._asdict()
        catalogue.apply_product(tx.conn, {**tea, "costing_method": "fifo", "unit": "pcs", "active": True})
        stock_ledger.receive(tx.conn, "BR01-MAIN", CUP, 10, 12_000, "purchase", "seed", tx.wall_ms)
        stock_ledger.receive(tx.conn, "BR01-MAIN", TEA, 4, 6_000, "purchase", "seed", tx.wall_ms)

    await server.app[CONTEXT].store.writer.run(seed)
    return server


async def levels(node: Server) -> dict[tuple[str, str], tuple[int, int]]:
    def read(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
        rows = conn.execute("SELECT warehouse, sku, qty, cost_fen FROM stock")
        return {(w, s): (q, c) for w, s, q, c in rows if q or c}

    return await node.app[CONTEXT].store.read(read)


async def head(chain: Chain, node: Server) -> int:
    return int((await chain.get(node.url + "/api/sync"))["head_seq"])


async def test_between_two_warehouses_of_one_branch_it_is_received_at_once(
    chain: Chain, node: Server
) -> None:
    body = {"from_warehouse": "BR01-MAIN", "to_warehouse": "BR01-BACK", "lines": [{"sku": CUP, "qty": 4}]}
    sent = await chain.post(node.url + "/api/transfers", body, headers={"Idempotency-Key": "move-1"})
    assert (sent["state"], sent["cost_fen"]) == ("received", 4_800)
    assert await levels(node) == {
        ("BR01-MAIN", CUP): (6, 7_200),
        ("BR01-BACK", CUP): (4, 4_800),
        ("BR01-MAIN", TEA): (4, 6_000),
    }
    # The till retried: the same key answers the same transfer, and moves nothing more.
    again = await chain.post(
        node.url + "/api/transfers", body, status=200, headers={"Idempotency-Key": "move-1"}
    )
    assert (again["id"], again["replayed"]) == (sent["id"], True)
    assert (await levels(node))[("BR01-BACK", CUP)] == (4, 4_800)


async def test_a_transfer_out_waits_in_transit_at_its_cost(chain: Chain, node: Server) -> None:
    body = {"to_warehouse": "BR09-MAIN", "lines": [{"sku": TEA, "qty": 3}, {"sku": CUP, "qty": 1}]}
    sent = await chain.post(node.url + "/api/transfers", body)
    assert sent["state"] == "in_transit"
    assert [(line["sku"], line["cost_fen"]) for line in sent["lines"]] == [(TEA, 4_500), (CUP, 1_200)]
    listed = await chain.get(node.url + "/api/transfers", params={"state": "in_transit"})
    assert [t["id"] for t in listed["transfers"]] == [sent["id"]]
    assert await levels(node) == {("BR01-MAIN", CUP): (9, 10_800), ("BR01-MAIN", TEA): (1, 1_500)}


def delivery(transfer_id: str, to_branch: str = "BR01") -> dict[str, Any]:
    return {
        "id": transfer_id,
        "source_branch": "HQ",
        "from_warehouse": "HQ-MAIN",
        "to_branch": to_branch,
        "to_warehouse": f"{to_branch}-MAIN",
        "lines": [{"sku": CUP, "qty": 5, "cost_fen": 5_500}, {"sku": TEA, "qty": 2, "cost_fen": 2_800}],
        "cost_fen": 8_300,
        "note": None,
        "sent_at_ms": 1_700_000_000_000,
    }


async def deliver(node: Server, payload: dict[str, Any]) -> None:
    await node.app[CONTEXT].store.writer.run(lambda tx: apply_delivery(tx, payload))


async def test_a_delivery_books_once_however_many_copies_arrive(chain: Chain, node: Server) -> None:
    await deliver(node, delivery("T-1"))
    booked = await levels(node)
    # Moving average: (12,000 + 5,500) / 15; FIFO keeps the two lots apart, 6,000 + 2,800.
    assert booked == {("BR01-MAIN", CUP): (15, 17_500), ("BR01-MAIN", TEA): (6, 8_800)}
    before = await head(chain, node)
    await deliver(node, delivery("T-1"))
    await deliver(node, delivery("T-2", to_branch="BR02"))  # not ours: ignored
    assert await levels(node) == booked
    assert await head(chain, node) == before  # no second receive entry either
    shown = await chain.get(node.url + "/api/transfers/T-1")
    assert (shown["direction"], shown["state"]) == ("in", "received")


async def test_a_different_count_on_arrival_is_a_discrepancy_record(chain: Chain, node: Server) -> None:
    await deliver(node, delivery("T-1"))
    # 5 cups were sent at 1,100 each; 4 arrived. 2 teas at 1,400 each; 3 arrived.
    body = {
        "lines": [{"sku": CUP, "received_qty": 4}, {"sku": TEA, "received_qty": 3}],
        "note": "box damaged",
    }
    recorded = await chain.post(node.url + "/api/transfers/T-1/discrepancies", body)
    by_sku = {line["sku"]: line for line in recorded["lines"]}
    # The missing cup leaves at the moving average (17,500 / 15 = 1,166.67 -> 1,167);
    # the extra tea comes in at the transfer's unit cost, 1,400.
    assert (by_sku[CUP]["sent_qty"], by_sku[CUP]["received_qty"], by_sku[CUP]["cost_fen"]) == (5, 4, -1_167)
    assert (by_sku[TEA]["sent_qty"], by_sku[TEA]["received_qty"], by_sku[TEA]["cost_fen"]) == (2, 3, 1_400)
    assert await levels(node) == {("BR01-MAIN", CUP): (14, 16_333), ("BR01-MAIN", TEA): (7, 10_200)}
    shown = await chain.get(node.url + "/api/transfers/T-1")
    assert [(d["sku"], d["received_qty"]) for d in shown["discrepancies"]] == [(CUP, 4), (TEA, 3)]
    # The transfer itself is not edited: it still says what was sent.
    assert [(line["sku"], line["qty"]) for line in shown["lines"]] == [(CUP, 5), (TEA, 2)]
    # Recording the same line again is refused.
    await _refused(chain, node, "/api/transfers/T-1/discrepancies", body, 409, "document_state")


async def _refused(chain: Chain, node: Server, path: str, body: Any, status: int, code: str) -> None:
    async with chain.session.post(node.url + path, json=body) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"to_warehouse": "NOWHERE", "lines": [{"sku": CUP, "qty": 1}]}, 404, "unknown_warehouse"),
        ({"to_warehouse": "BR01-MAIN", "lines": [{"sku": CUP, "qty": 1}]}, 422, "transfer_to_itself"),
        (
            {"from_warehouse": "BR09-MAIN", "to_warehouse": "BR01-MAIN", "lines": [{"sku": CUP, "qty": 1}]},
            409,
            "warehouse_elsewhere",
        ),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": "NO-SUCH", "qty": 1}]}, 404, "unknown_product"),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": -2}]}, 422, "invalid"),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": 0}]}, 422, "invalid"),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": 1.5}]}, 422, "invalid"),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": True}]}, 422, "invalid"),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": 11}]}, 409, "insufficient_stock"),
        (
            {"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": 1}, {"sku": CUP, "qty": 1}]},
            422,
            "invalid",
        ),
        ({"to_warehouse": "BR09-MAIN", "lines": []}, 422, "invalid"),
        ({"to_warehouse": "BR09-MAIN", "lines": [{"sku": CUP, "qty": 1}], "urgent": True}, 422, "invalid"),
        ({"lines": [{"sku": CUP, "qty": 1}]}, 422, "invalid"),
        ([{"sku": CUP, "qty": 1}], 400, "malformed"),
    ],
)
async def test_bad_transfers_are_refused_and_change_nothing(
    chain: Chain, node: Server, body: Any, status: int, code: str
) -> None:
    before = (await levels(node), await head(chain, node))
    await _refused(chain, node, "/api/transfers", body, status, code)
    assert (await levels(node), await head(chain, node)) == before


async def test_bad_discrepancies_are_refused_and_change_nothing(chain: Chain, node: Server) -> None:
    await deliver(node, delivery("T-1"))
    before = (await levels(node), await head(chain, node))
    cases = [
        (
            "/api/transfers/T-404/discrepancies",
            {"lines": [{"sku": CUP, "received_qty": 1}]},
            404,
            "not_found",
        ),
        (
            "/api/transfers/T-1/discrepancies",
            {"lines": [{"sku": "SOAP-BAR", "received_qty": 1}]},
            422,
            "invalid",
        ),
        ("/api/transfers/T-1/discrepancies", {"lines": [{"sku": CUP, "received_qty": -1}]}, 422, "invalid"),
        ("/api/transfers/T-1/discrepancies", {"lines": [{"sku": CUP, "received_qty": 5}]}, 422, "invalid"),
    ]
    for path, body, status, code in cases:
        await _refused(chain, node, path, body, status, code)
    assert (await levels(node), await head(chain, node)) == before
