"""A stored-value sale in the simulator is the node's real checkout waiting for HQ in
simulated time: online with a hold when HQ answers, offline when it stays silent for
HOLD_TIMEOUT_S, and nothing at all when the node dies while the sale waits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from node.services.cards import top_up_job
from node.services.checkout import SaleRequest, Tender
from node.services.holds import HOLD_TIMEOUT_S
from node.services.members import register_job
from simulations.engine import Simulation
from simulations.model import MINUTE_MS, BranchSpec, Crash, LinkFaults, Load, Scenario

BRANCH = "BR01"
CARD = "K-0001"
TOP_UP_FEN = 10_000
# One oolong tea (6,800 fen in HQ's demo catalogue), paid by card.
SALE = SaleRequest(None, (("TEA-OOLONG-250", 1),), (Tender("stored_value", 6_800, card=CARD),), None)
SALE_ID = "S-0001"
# The till rings the sale up here; by then HQ has long acknowledged the card's top-up.
SALE_AT_MS = 30_000
LATENCY_MS = (5, 40)  # one way; the hold's answer is back 10 to 80 ms after the request

QUIET = Scenario(
    name="one card sale",
    description="one branch, no trading of its own; the test rings up one sale",
    seed=1,
    duration_ms=2 * MINUTE_MS,
    heal_budget_ms=MINUTE_MS,
    branches=(BranchSpec(BRANCH),),
    load=Load(sales_per_minute=0.0, registrations_per_minute=0.0),
    latency_ms=LATENCY_MS,
)


Till = Callable[[Scenario], Awaitable[Simulation]]


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    """Make a simulation of `scenario` with a topped-up card whose writes HQ has acknowledged."""
    made: list[Simulation] = []

    async def make(scenario: Scenario) -> Simulation:
        sim = Simulation(scenario, scenario.seed, tmp_path)
        made.append(sim)
        await sim.start()
        node = sim.nodes[BRANCH]
        await node.db.writer.run(
            register_job("M-0001", BRANCH, {"name": "Wu Fang", "phone": "13900000001"}, [CARD])
        )
        await node.db.writer.run(top_up_job(CARD, TOP_UP_FEN, "T-0001", None))
        await sim.drive(node)
        await sim.advance(SALE_AT_MS - 1)
        assert node.rep.push.acked_seq == node.rep.push.head_seq == 2, "HQ holds the card and its top-up"
        return sim

    yield make
    for sim in made:
        await sim.close()


def ring_up(sim: Simulation, outcome: list[Any]) -> None:
    """At SALE_AT_MS a till rings up SALE as DirectoryOps does: a task of its node."""

    async def sale() -> None:
        try:
            outcome.append(await sim.tills.book_sale(sim.nodes[BRANCH], SALE, SALE_ID))
        except asyncio.CancelledError:
            outcome.append("died")
            raise

    async def till_rings_up() -> None:
        sim.tasks.spawn(BRANCH, sale())

    sim.schedule(SALE_AT_MS, till_rings_up)


def hq_holds(sim: Simulation) -> list[tuple[str, str, int]]:
    with sqlite3.connect(sim.workdir / "hq" / "hq.sqlite") as conn:
        rows = conn.execute("SELECT hold_id, state, amount_fen FROM holds ORDER BY hold_id").fetchall()
    return [(str(hold), str(state), int(amount)) for hold, state, amount in rows]


async def branch_sales(sim: Simulation) -> int:
    rows = await sim.nodes[BRANCH].db.read(lambda conn: conn.execute("SELECT COUNT(*) FROM sales").fetchone())
    return int(rows[0])


async def test_a_card_sale_waits_for_hqs_hold_and_books_online(till: Till) -> None:
    sim = await till(QUIET)
    outcome: list[Any] = []
    ring_up(sim, outcome)

    await sim.advance(SALE_AT_MS)
    assert (outcome, sim.tasks.live) == ([], 1), "the sale waits for HQ's answer"
    await sim.advance(SALE_AT_MS + 2 * LATENCY_MS[1])

    (receipt,) = outcome
    tender = receipt["tenders"][0]
    assert (tender["mode"], tender["hold"]) == ("online", f"{SALE_ID}-{CARD}")
    assert sim.tasks.live == 0
    assert await branch_sales(sim) == 1
    assert sim.ledger.sales == {SALE_ID: (BRANCH, 6_800)}


async def test_a_card_sale_hq_does_not_answer_goes_offline_after_the_hold_timeout(till: Till) -> None:
    lossy = LinkFaults(SALE_AT_MS, 10_000, (BRANCH,), loss=1.0)
    sim = await till(replace(QUIET, link_faults=(lossy,)))
    outcome: list[Any] = []
    ring_up(sim, outcome)

    await sim.advance(SALE_AT_MS + HOLD_TIMEOUT_S * 1000 - 1)
    assert outcome == [], "a cashier waits the whole HOLD_TIMEOUT_S for HQ"
    await sim.advance(SALE_AT_MS + HOLD_TIMEOUT_S * 1000)

    (receipt,) = outcome
    assert (receipt["tenders"][0]["mode"], receipt["tenders"][0]["hold"]) == ("offline", None)
    assert hq_holds(sim) == [], "the request never reached HQ"


async def test_a_node_that_crashes_while_a_card_sale_waits_books_nothing_and_leaves_the_hold(
    till: Till,
) -> None:
    """A till that dies mid-sale: no sale here or at HQ, nothing told, no refusal counted,
    and the hold HQ placed is left open for HQ to expire (a dead till releases nothing)."""
    crash = Crash(BRANCH, SALE_AT_MS + 1, down_ms=10_000)
    sim = await till(replace(QUIET, crashes=(crash,)))
    outcome: list[Any] = []
    ring_up(sim, outcome)

    await sim.advance(SALE_AT_MS + 1)
    assert outcome == ["died"]
    assert sim.tasks.live == 0
    await sim.advance(SALE_AT_MS + 30_000)  # the hold's answer, the timeout and the restart

    assert sim.nodes[BRANCH].up, "the node restarted"
    assert await branch_sales(sim) == 0
    totals = await sim.hq.hq.store.sales_totals(BRANCH)
    assert (totals.count, totals.total_fen) == (0, 0)
    assert sim.ledger.sales == {}
    assert sim.figures[BRANCH].refused == 0
    assert hq_holds(sim) == [(f"{SALE_ID}-{CARD}", "open", 6_800)]
