"""Transfers end to end: HQ's main warehouse (a node like any branch's) sends goods to
a store that is offline; the store books them by itself, once, at the transferred
cost, whatever happens to the feed on the way.

The figures: HQ-MAIN receives 20 cups at 10.00 (20,000 fen) and 12 soaps at 4.50
(5,400 fen) from a supplier, moving average. A transfer of 5 cups and 3 soaps takes 5 x 1,000 =
5,000 and 3 x 450 = 1,350 fen out of HQ-MAIN into transit; BR01 books the same
6,350 fen in. Across HQ-MAIN, BR01-MAIN and in transit there are always 20 cups
and 12 soaps worth 25,400 fen.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from hq.api import HQ_KEY
from hq.storage.base import FeedChange
from node.routes.context import CONTEXT
from protocol.entry import decode_entry
from tests.harness import Chain, NodeProcess, Server, wait_until
from tests.hq.operator import author, caught_up

CUP, SOAP = "CUP-CERAMIC", "SOAP-BAR"


async def stock(chain: Chain, node: Server) -> dict[tuple[str, str], tuple[int, int]]:
    """(warehouse, sku) -> (qty, cost_fen), read straight from the node's store."""

    def read(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
        rows = conn.execute("SELECT warehouse, sku, qty, cost_fen FROM stock WHERE qty != 0 OR cost_fen != 0")
        return {(w, s): (q, c) for w, s, q, c in rows}

    return await node.app[CONTEXT].store.read(read)


async def knows_warehouse(chain: Chain, node: Server, code: str) -> bool:
    found = await chain.get(node.url + "/api/warehouses")
    return code in {row["code"] for row in found["warehouses"]}


async def hq_transfers(chain: Chain, state: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await chain.get(chain.hq.url + "/api/transfers", params={"state": state}))[
        "transfers"
    ]
    return found


async def main_warehouse(chain: Chain) -> Server:
    """HQ's main warehouse as a node, stocked by a direct receipt from a supplier HQ
    entered in its master data."""
    await author(chain, "suppliers", {"code": "SUP-1", "name": "Jingdezhen Wholesale"})
    hq_node = await chain.add_node("HQ")

    async def supplier_known() -> bool:
        async with chain.session.get(hq_node.url + "/api/payables") as response:
            return response.status == 200 and await caught_up(chain, "HQ")

    await wait_until(supplier_known, "HQ's node to receive the master data")
    lines = [{"sku": CUP, "qty": 20, "unit_cost_fen": 1_000}, {"sku": SOAP, "qty": 12, "unit_cost_fen": 450}]
    await chain.post(hq_node.url + "/api/receipts", {"supplier": "SUP-1", "lines": lines})
    return hq_node


def transfer(to: str, *lines: tuple[str, int]) -> dict[str, Any]:
    return {"to_warehouse": to, "lines": [{"sku": sku, "qty": qty} for sku, qty in lines]}


async def test_a_transfer_to_an_offline_store_is_booked_once_when_it_comes_back(chain: Chain) -> None:
    hq_node = await main_warehouse(chain)
    store = await chain.add_node("BR01", start=False)
    await wait_until(lambda: knows_warehouse(chain, hq_node, "BR01-MAIN"), "HQ's node to learn BR01-MAIN")

    sent = await chain.post(hq_node.url + "/api/transfers", transfer("BR01-MAIN", (CUP, 5), (SOAP, 3)))
    assert sent["state"] == "in_transit"
    assert [(line["sku"], line["qty"], line["cost_fen"]) for line in sent["lines"]] == [
        (CUP, 5, 5_000),
        (SOAP, 3, 1_350),
    ]
    assert sent["cost_fen"] == 6_350
    assert await stock(chain, hq_node) == {("HQ-MAIN", CUP): (15, 15_000), ("HQ-MAIN", SOAP): (9, 4_050)}

    async def in_transit_at_hq() -> bool:
        return [t["id"] for t in await hq_transfers(chain, "in_transit")] == [sent["id"]]

    await wait_until(in_transit_at_hq, "HQ to list the transfer in transit")
    asked_ms = time.time_ns() // 1_000_000
    (listed,) = await hq_transfers(chain, "in_transit")
    answered_ms = time.time_ns() // 1_000_000
    assert (listed["to_warehouse"], listed["cost_fen"]) == ("BR01-MAIN", 6_350)
    # Its age is HQ's clock when it answered less the sending: between what ours read around the call.
    sent_at_ms = listed["sent_at_ms"]
    assert asked_ms - sent_at_ms <= listed["age_ms"] <= answered_ms - sent_at_ms

    await store.start()

    async def booked() -> bool:
        return bool(await stock(chain, store))

    await wait_until(booked, "BR01 to book the transfer")
    assert await stock(chain, store) == {("BR01-MAIN", CUP): (5, 5_000), ("BR01-MAIN", SOAP): (3, 1_350)}
    received = await chain.get(f"{store.url}/api/transfers/{sent['id']}")
    assert (received["direction"], received["state"]) == ("in", "received")

    async def settled() -> bool:
        source = await chain.get(f"{hq_node.url}/api/transfers/{sent['id']}")
        return source["state"] == "received" and not await hq_transfers(chain, "in_transit")

    await wait_until(settled, "the receipt to flow back to HQ and the source")
    assert [t["id"] for t in await hq_transfers(chain, "received")] == [sent["id"]]
    # Conserved: 20 cups and 12 soaps, 25,400 fen, now all on hand somewhere.
    everywhere = {**await stock(chain, hq_node), **await stock(chain, store)}
    assert sum(qty for (_, sku), (qty, _) in everywhere.items() if sku == CUP) == 20
    assert sum(qty for (_, sku), (qty, _) in everywhere.items() if sku == SOAP) == 12
    assert sum(cost for qty, cost in everywhere.values()) == 25_400


async def test_replayed_pages_and_a_second_copy_never_book_a_transfer_twice(chain: Chain) -> None:
    hq_node = await main_warehouse(chain)
    store = await chain.add_node("BR01")
    await wait_until(lambda: knows_warehouse(chain, hq_node, "BR01-MAIN"), "HQ's node to learn BR01-MAIN")
    sent = await chain.post(hq_node.url + "/api/transfers", transfer("BR01-MAIN", (CUP, 5)))

    async def booked() -> bool:
        return await stock(chain, store) == {("BR01-MAIN", CUP): (5, 5_000)}

    await wait_until(booked, "BR01 to book the transfer")

    # A second copy of the delivery, as a misbehaving router might send it.
    hq = chain.hq.app[HQ_KEY]
    (delivery,) = [
        entry
        for entry in await _feed_entries(chain, "BR01")
        if (entry.kind, entry.op) == ("transfer", "deliver")
    ]
    await hq.publish([FeedChange("transfer", sent["id"], "deliver", delivery.payload)])
    last_seq = (await _feed_entries(chain, "BR01"))[-1].seq
    await wait_until(lambda: _feed_applied(chain, "BR01", last_seq), "BR01 to apply the second copy")
    assert await stock(chain, store) == {("BR01-MAIN", CUP): (5, 5_000)}

    # Every page replayed from the start: the node forgets its feed cursor.
    await store.stop()
    with sqlite3.connect(chain.root / "BR01" / "node.sqlite") as conn:
        conn.execute("DELETE FROM sync_state WHERE key IN ('feed_seq', 'feed_hash')")
    await store.start()
    await wait_until(lambda: _feed_applied(chain, "BR01", last_seq), "BR01 to re-read its whole feed")
    assert await stock(chain, store) == {("BR01-MAIN", CUP): (5, 5_000)}
    assert _receive_entries(chain.root / "BR01") == [sent["id"]]
    # HQ too saw one receipt: the transfer is received, not in transit, and once.
    await wait_until(lambda: _nothing_in_transit(chain), "HQ to see the transfer received")
    assert [t["id"] for t in await hq_transfers(chain, "received")] == [sent["id"]]


async def test_a_store_killed_while_applying_transfers_books_each_exactly_once(chain: Chain) -> None:
    """The store runs as a real process and is SIGKILLed again and again while it
    applies a backlog of deliveries; a page and its bookings commit together or not
    at all, so after the last restart each transfer is booked once."""
    hq_node = await main_warehouse(chain)
    await chain.add_node("BR01", start=False)
    await wait_until(lambda: knows_warehouse(chain, hq_node, "BR01-MAIN"), "HQ's node to learn BR01-MAIN")
    ids = []
    for number in range(12):
        body = transfer("BR01-MAIN", (CUP, 1)) if number % 2 else transfer("BR01-MAIN", (CUP, 1), (SOAP, 1))
        ids.append((await chain.post(hq_node.url + "/api/transfers", body))["id"])
    await wait_until(lambda: _in_transit_count(chain, 12), "HQ to route all twelve transfers")

    store = NodeProcess(chain.root / "BR01", chain.root / "BR01.log")
    rng = random.Random(6)
    try:
        for _ in range(4):
            await store.start(chain.session)
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            await store.kill()
        await store.start(chain.session)
        await wait_until(lambda: _nothing_in_transit(chain), "every transfer to be received")
    finally:
        await store.terminate()

    with sqlite3.connect(chain.root / "BR01" / "node.sqlite") as conn:
        booked = dict(
            conn.execute(
                "SELECT sku, SUM(qty_delta) FROM stock_moves WHERE cause = 'transfer_in' GROUP BY sku"
            )
        )
        rows = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM transfers WHERE direction = 'in'"
        ).fetchone()
        level = dict(conn.execute("SELECT sku, qty FROM stock WHERE warehouse = 'BR01-MAIN'"))
    assert booked == {CUP: 12, SOAP: 6}
    assert level == {CUP: 12, SOAP: 6}
    assert rows == (12, 12)
    assert sorted(_receive_entries(chain.root / "BR01")) == sorted(ids)
    # Conserved: what HQ-MAIN has left plus what BR01 booked is what HQ-MAIN had.
    assert await stock(chain, hq_node) == {("HQ-MAIN", CUP): (8, 8_000), ("HQ-MAIN", SOAP): (6, 2_700)}


async def _feed_entries(chain: Chain, branch: str) -> list[Any]:
    hq = chain.hq.app[HQ_KEY]
    raws, _ = await hq.store.feed_after(branch, 0, 10_000, 1 << 30)
    return [decode_entry(raw) for raw in raws]


async def _feed_applied(chain: Chain, branch: str, seq: int) -> bool:
    def read(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM sync_state WHERE key = 'feed_seq'").fetchone()
        return 0 if row is None else int(row[0])

    return await chain.nodes[branch].app[CONTEXT].store.read(read) >= seq


async def _nothing_in_transit(chain: Chain) -> bool:
    return not await hq_transfers(chain, "in_transit")


async def _in_transit_count(chain: Chain, count: int) -> bool:
    return len(await hq_transfers(chain, "in_transit")) == count


def _receive_entries(data_dir: Path) -> list[str]:
    """Ids of the transfer/receive entries in the node's own change log."""
    with sqlite3.connect(data_dir / "node.sqlite") as conn:
        entries = [
            decode_entry(bytes(row[0])) for row in conn.execute("SELECT entry FROM change_log ORDER BY seq")
        ]
    return [e.payload["id"] for e in entries if (e.kind, e.op) == ("transfer", "receive")]
