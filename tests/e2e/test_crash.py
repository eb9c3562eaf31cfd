"""A node process killed with SIGKILL at random moments loses and doubles nothing.

The node runs as a real process (`branchline node serve`); tills post sales
concurrently, each with an Idempotency-Key, and the process is killed mid-flight
again and again. A till that got no answer retries with the same key after the
restart, as a real till would. In the end every sale is booked exactly once at
the node and at HQ, and HQ's copy of the log equals the node's byte for byte.
The tills work as the branch's clerk, logged in once: the session outlives the kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from pathlib import Path

import aiohttp

from hq.api import HQ_KEY
from launch.logins import Logins
from protocol.entry import GENESIS_HASH, check_chain, decode_entry
from tests.harness import TEST_PASSWORD, Chain, NodeProcess, clerk_login, sale, wait_until

KILLS = 6
TILLS = 4


async def till(
    session: aiohttp.ClientSession,
    url: str,
    name: str,
    booked: dict[str, str],
    unanswered: set[str],
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        key = f"{name}-{number}"
        body = sale(("CUP-CERAMIC", rng.randint(1, 3)), ("TEA-OOLONG-250", 1))
        try:
            async with session.post(url + "/api/sales", json=body, headers={"Idempotency-Key": key}) as r:
                if r.status == 201:
                    booked[key] = (await r.json())["id"]
                else:
                    raise AssertionError(f"sale refused: {r.status} {await r.text()}")
        except (TimeoutError, aiohttp.ClientError):
            unanswered.add(key)  # killed mid-request: outcome unknown, retry later
            return


async def test_sigkill_while_selling_loses_no_acknowledged_sale_and_doubles_none(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)
    node = NodeProcess(chain.root / "BR01", chain.root / "BR01.log")
    rng = random.Random(20261123)
    booked: dict[str, str] = {}
    unanswered: set[str] = set()
    timeout = aiohttp.ClientTimeout(total=10)
    logins = Logins()
    logins.act_as(node.url, clerk_login("BR01"), TEST_PASSWORD)
    async with logins.session(timeout=timeout) as session:
        for round_number in range(KILLS):
            await node.start(session)
            if round_number == 0:
                await wait_until(lambda: catalogue_arrived(session, node.url), "the catalogue to arrive")
            stop = asyncio.Event()
            tills = [
                asyncio.create_task(
                    till(session, node.url, f"r{round_number}t{t}", booked, unanswered, stop, rng)
                )
                for t in range(TILLS)
            ]
            await asyncio.sleep(rng.uniform(0.2, 0.6))  # let the tills trade, then pull the plug
            await node.kill()
            stop.set()
            await asyncio.gather(*tills)

        await node.start(session)
        try:
            # Tills that heard nothing retry with the same key: booked now, or found booked.
            replayed = 0
            for key in sorted(unanswered):
                body = sale(("CUP-CERAMIC", 1), ("TEA-OOLONG-250", 1))
                async with session.post(
                    node.url + "/api/sales", json=body, headers={"Idempotency-Key": key}
                ) as response:
                    assert response.status in (200, 201), await response.text()
                    result = await response.json()
                    replayed += result["replayed"]
                    booked[key] = result["id"]

            async def drained() -> bool:
                async with session.get(node.url + "/api/sync") as response:
                    status = await response.json()
                return bool(status["backlog"] == 0)

            await wait_until(drained, "the node's backlog to drain to HQ")
            async with session.get(node.url + "/api/sales/summary") as response:
                assert response.status == 200, await response.text()
                node_summary = await response.json()
        finally:
            await node.terminate()

    assert len(booked) > KILLS * TILLS, "the tills should have sold something between kills"
    assert unanswered, "some requests should have been cut off by the kills"
    node_sales = _node_sales(chain.root / "BR01" / "node.sqlite")
    assert sorted(node_sales.values()) == sorted(booked.values()), "node holds exactly the booked sales"
    assert len(set(node_sales.values())) == len(node_sales)

    hq = chain.hq.app[HQ_KEY]
    branch = await hq.store.branch("BR01")
    assert branch is not None
    hq_raws = await hq.store.log_entries("BR01", 1, branch.acked_seq)
    node_raws = _node_log(chain.root / "BR01" / "node.sqlite")
    assert hq_raws == node_raws, "HQ's copy of the log equals the node's, byte for byte"
    entries = [decode_entry(raw) for raw in hq_raws]
    check_chain(entries, origin="BR01", prev_hash=GENESIS_HASH)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    hq_sale_ids = [e.entity_id for e in entries if e.kind == "sale"]
    assert sorted(hq_sale_ids) == sorted(booked.values()), "every booked sale at HQ exactly once"

    hq_summary = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
    assert hq_summary["count"] == node_summary["count"] == len(booked)
    assert hq_summary["total_fen"] == node_summary["total_fen"]


async def catalogue_arrived(session: aiohttp.ClientSession, url: str) -> bool:
    async with session.get(url + "/api/products") as response:
        return len((await response.json())["products"]) == 10


def _node_sales(path: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT request_key, id FROM sales"))


def _node_log(path: Path) -> list[bytes]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [bytes(row[0]) for row in conn.execute("SELECT entry FROM change_log ORDER BY seq")]
