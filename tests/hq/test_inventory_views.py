"""HQ's chain-wide views from the branches' entries: stock per warehouse (from every
entry's stock moves), alerts against the products' limits, what is owed to
suppliers, and the sales' cost and gross profit.

The figures: cups sell at 25.00 and cost 10.00 (purchase_price_fen 1,000). BR01
sells 3 before any arrive: -3 on hand, costed provisionally at 3,000 fen. It then
receives 20 at 10.00 (20,000 fen owed to SUP-LI) and returns 2 to the supplier
(2,000 fen less owed): 15 on hand at 15,000 fen; 18,000 fen owed.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.config import read_private_key
from node.routes.context import CONTEXT
from protocol import hlc, messages
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from tests.harness import Chain, sale, wait_until
from tests.hq.operator import author, caught_up, settle

CUP = "CUP-CERAMIC"
# Ten minutes before the tests run: within the drift HQ allows before a branch enrolled.
SOLD_AT_MS = time.time_ns() // 1_000_000 - 10 * 60_000
MSGPACK = "application/x-msgpack"


async def cup_costs_ten_yuan(chain: Chain) -> None:
    await author(chain, "suppliers", {"code": "SUP-LI", "name": "Li Tea Co."})
    await author(
        chain, "products", {"sku": CUP, "purchase_price_fen": 1_000, "lower_limit": 5, "upper_limit": 30}
    )


async def node_stock(chain: Chain, branch: str) -> list[tuple[str, str, int, int]]:
    def read(conn: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
        rows = conn.execute(
            "SELECT warehouse, sku, qty, cost_fen FROM stock WHERE qty != 0 OR cost_fen != 0 ORDER BY 1, 2"
        )
        return [tuple(row) for row in rows]

    return await chain.nodes[branch].app[CONTEXT].store.read(read)


def levels(stock: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return [
        (w["warehouse"], item["sku"], item["qty"], item["cost_fen"])
        for w in stock["warehouses"]
        for item in w["items"]
    ]


async def test_a_sale_before_any_stock_shows_negative_at_hq_and_receipts_and_returns_follow(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01")
    await cup_costs_ten_yuan(chain)
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to learn the cup's cost")

    sold = await chain.post(br01.url + "/api/sales", sale((CUP, 3)))
    assert sold["total_fen"] == 7_500
    await settle(chain, "BR01")
    stock = await chain.get(chain.hq.url + "/api/stock")
    assert levels(stock) == [("BR01-MAIN", CUP, -3, -3_000)]
    assert stock["warehouses"][0]["branch"] == "BR01"
    assert (await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})) == {
        "branch": "BR01",
        "count": 1,
        "total_fen": 7_500,
        "returns": 0,
        "returned_fen": 0,
        "net_fen": 7_500,
        "cost_fen": 3_000,
        "gross_profit_fen": 4_500,
    }
    (alert,) = (await chain.get(chain.hq.url + "/api/stock/alerts"))["alerts"]
    assert (alert["warehouse"], alert["sku"], alert["qty"], alert["lower_limit"], alert["state"]) == (
        "BR01-MAIN",
        CUP,
        -3,
        5,
        "under",
    )

    receipt = await chain.post(
        br01.url + "/api/receipts",
        {"supplier": "SUP-LI", "lines": [{"sku": CUP, "qty": 20, "unit_cost_fen": 1_000}]},
    )
    returned = await chain.post(
        br01.url + "/api/purchase-returns",
        {"supplier": "SUP-LI", "receipt_id": receipt["id"], "lines": [{"sku": CUP, "qty": 2}]},
    )
    await settle(chain, "BR01")
    stock = await chain.get(chain.hq.url + "/api/stock")
    assert levels(stock) == [("BR01-MAIN", CUP, 15, 15_000)]
    # HQ's view of the warehouse is the branch's own ledger, move for move.
    assert await node_stock(chain, "BR01") == [("BR01-MAIN", CUP, 15, 15_000)]
    (cups,) = [row for row in stock["skus"] if row["sku"] == CUP]
    assert (cups["qty"], cups["cost_fen"], cups["warehouses"], cups["in_transit_qty"]) == (15, 15_000, 1, 0)
    assert (await chain.get(chain.hq.url + "/api/stock/alerts"))["alerts"] == []

    owed = await chain.get(chain.hq.url + "/api/payables")
    assert owed["total_fen"] == 18_000
    (supplier,) = owed["suppliers"]
    assert (supplier["supplier"], supplier["name"], supplier["balance_fen"]) == (
        "SUP-LI",
        "Li Tea Co.",
        18_000,
    )
    assert [(d["doc_kind"], d["doc_id"], d["branch"], d["amount_fen"]) for d in supplier["documents"]] == [
        ("receipt", receipt["id"], "BR01", 20_000),
        ("purchase_return", returned["id"], "BR01", -2_000),
    ]
    assert (await chain.get(chain.hq.url + "/api/payables", params={"supplier": "SUP-X"})) == {
        "suppliers": [],
        "total_fen": 0,
    }


async def test_alerts_name_each_warehouse_under_or_over_its_limits(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    await cup_costs_ten_yuan(chain)
    await author(chain, "warehouses", {"code": "BR01-BACK", "name": "BR01 back room", "branch": "BR01"})
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to learn the limits")
    await chain.post(
        br01.url + "/api/receipts",
        {"supplier": "SUP-LI", "lines": [{"sku": CUP, "qty": 31, "unit_cost_fen": 1_000}]},
    )
    await settle(chain, "BR01")

    alerts = (await chain.get(chain.hq.url + "/api/stock/alerts"))["alerts"]
    # The back room never held cups: 0 is under the lower limit of 5.
    assert [(a["warehouse"], a["sku"], a["qty"], a["state"]) for a in alerts] == [
        ("BR01-BACK", CUP, 0, "under"),
        ("BR01-MAIN", CUP, 31, "over"),
    ]
    only_main = await chain.get(chain.hq.url + "/api/stock/alerts", params={"warehouse": "BR01-MAIN"})
    assert [a["warehouse"] for a in only_main["alerts"]] == ["BR01-MAIN"]


# -- ill-formed stock entries ------------------------------------------------------------------------


def signed_sale(seq: int, prev_hash: bytes, moves: Any, lines: Any = None) -> Entry:
    return encode_entry(
        origin="BR01",
        seq=seq,
        hlc=hlc.pack(SOLD_AT_MS, seq),
        prev_hash=prev_hash,
        kind="sale",
        entity_id=f"sale-{seq}",
        op="checkout",
        payload={
            "member_id": None,
            "warehouse": "BR01-MAIN",
            "lines": lines
            if lines is not None
            else [{"sku": CUP, "qty": 1, "unit_price_fen": 2_500, "amount_fen": 2_500, "cost_fen": 1_000}],
            "tenders": [{"kind": "cash", "amount_fen": 2_500}],
            "total_fen": 2_500,
            "change_fen": 0,
            "at_ms": SOLD_AT_MS,
            "moves": moves,
        },
    )


GOOD_MOVE = {"warehouse": "BR01-MAIN", "sku": CUP, "qty": -1, "cost_fen": -1_000, "cause": "sale"}


async def hq_inventory_state(chain: Chain) -> dict[str, Any]:
    hq = chain.hq.url
    return {
        "stock": await chain.get(hq + "/api/stock"),
        "sales": await chain.get(hq + "/api/sales/summary"),
        "branches": [
            (b["code"], b["acked_seq"]) for b in (await chain.get(hq + "/api/branches"))["branches"]
        ],
    }


async def push(chain: Chain, key: Ed25519PrivateKey, entries: list[Entry]) -> tuple[int, dict[str, Any]]:
    body = messages.encode(messages.PushRequest(sign_batch(key, "BR01", entries), reported_backlog=0))
    async with chain.session.post(
        chain.hq.url + "/api/push", data=body, headers={"Content-Type": MSGPACK}
    ) as response:
        if response.status == 200:
            return 200, {}
        return response.status, await response.json()


async def test_signed_sales_with_ill_formed_moves_are_stored_and_move_nothing(
    chain: Chain,
) -> None:
    await chain.add_node("BR01", start=False)
    key = read_private_key(chain.root / "BR01" / "node.key")
    ill_formed = [
        # The wire contract refuses these; the one within it is beyond HQ's own bound.
        ({**GOOD_MOVE, "qty": "-1"}, None, "payload_invalid"),
        ({**GOOD_MOVE, "qty": True}, None, "payload_invalid"),
        ({**GOOD_MOVE, "cost_fen": 10**14}, None, "out_of_bounds"),
        ({key: value for key, value in GOOD_MOVE.items() if key != "warehouse"}, None, "payload_invalid"),
        ("BR01-MAIN:-1", None, "payload_invalid"),
        (GOOD_MOVE, [{"sku": CUP, "qty": 1, "cost_fen": "1000"}], "payload_invalid"),
    ]
    # Sale 1 well formed, sales 2 to 7 each with one ill-formed move or line, sale 8 well formed.
    log = [signed_sale(1, GENESIS_HASH, [GOOD_MOVE])]
    for move, lines, _ in ill_formed:
        log.append(signed_sale(len(log) + 1, log[-1].hash, [move], lines))
    log.append(signed_sale(len(log) + 1, log[-1].hash, [GOOD_MOVE]))

    assert (await push(chain, key, log))[0] == 200

    # Sales 1 and 8 each move one cup out at 10.00; the six between move nothing.
    stock = await chain.get(chain.hq.url + "/api/stock")
    assert levels(stock) == [("BR01-MAIN", CUP, -2, -2_000)]
    summary = await chain.get(chain.hq.url + "/api/sales/summary")
    assert (summary["count"], summary["total_fen"], summary["cost_fen"], summary["gross_profit_fen"]) == (
        2,
        5_000,
        2_000,
        3_000,
    )
    assert (await hq_inventory_state(chain))["branches"] == [("BR01", 8)]
    listing = await chain.get(chain.hq.url + "/api/quarantine")
    set_aside = sorted((q["seq"], q["code"]) for q in listing["quarantined"])
    assert set_aside == [(seq, code) for seq, (_, _, code) in enumerate(ill_formed, start=2)]
