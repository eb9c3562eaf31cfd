"""Stock under simulation: transfers to stores that are cut off hold every invariant across
seeds, goods and their cost add up across warehouses and transit, and a destination that
books a delivery twice, or an HQ that drops one, is caught."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import node.sync.feed
from node.services import stock_ledger, transfers
from node.store.writer import Tx
from simulations.model import HQ_WAREHOUSE_NODE, MINUTE_MS, RunResult, Violation
from simulations.real import not_applied
from simulations.report import render_html
from simulations.run import run_scenario
from simulations.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"
TRANSFERS = SCENARIOS / "transfers-partition.toml"
# Each seed is a different interleaving of receipts, transfers to and between stores cut
# off from HQ, sales, counts and crashes of a destination; the sweep takes under a minute.
SEEDS = range(1, 26)
# A seed whose run sends transfers both from HQ and between stores, for the broken nodes below.
BROKEN_SEED = 1

_results: dict[int, RunResult] = {}


def transfers_run(seed: int) -> RunResult:
    """The scenario's run for `seed`, run once per test session however many tests ask."""
    if seed not in _results:
        _results[seed] = asyncio.run(run_scenario(load_scenario(TRANSFERS), seed)).result
    return _results[seed]


def invariants_of(violations: Iterable[Violation]) -> set[str]:
    return {v.invariant for v in violations}


def test_every_seed_holds_every_invariant_moves_goods_every_way_and_some_wait_out_the_cut() -> None:
    """Every seed in one test, so the seeds run once, on one worker (a test per seed ran
    some of them on both)."""
    results = [transfers_run(seed) for seed in SEEDS]
    for result in results:
        assert result.violations == [], f"replay: {result.replay_command(str(TRANSFERS))}"
        assert result.converged_at_ms is not None
        assert result.inventory is not None
        assert result.inventory.in_transit == 0
        assert result.inventory.received == result.inventory.sent
    figures = [f for r in results for f in r.branches.values()]
    hq_figures = [r.branches[HQ_WAREHOUSE_NODE] for r in results]
    assert sum(f.receipts for f in hq_figures) > 0
    assert sum(f.transfers_sent for f in hq_figures) > 0
    # Stores send too (to each other and back to HQ), and some asked for more than they had.
    assert sum(f.transfers_sent for f in figures) > sum(f.transfers_sent for f in hq_figures)
    assert sum(f.transfers_refused for f in figures) > 0
    assert sum(f.stocktakes for f in figures) > 0
    assert sum(f.returns for f in figures) > 0
    assert sum(f.crashes for f in figures) == 2 * len(results)
    # The cut lasts twelve minutes: transfers sent into it wait for the heal.
    waited = [r for r in results if r.inventory is not None and r.inventory.max_in_transit_ms > 5 * MINUTE_MS]
    assert len(waited) >= len(results) // 2


def test_the_same_seed_gives_a_byte_identical_report_with_the_transfer_figures() -> None:
    first = transfers_run(3)
    second = asyncio.run(run_scenario(load_scenario(TRANSFERS), 3)).result
    page = render_html(first, "transfers.toml")
    assert page == render_html(second, "transfers.toml")
    assert "<caption>Transfers</caption>" in page
    assert "in transit at the end" in page
    assert "longest in transit" in page


def books_twice(tx: Tx, payload: dict[str, Any]) -> None:
    """A destination whose exactly-once guard is gone: it books the delivery, then books
    its stock-in again as if it were a second copy."""
    transfers.apply_delivery(tx, payload)
    for line in payload["lines"]:
        stock_ledger.receive(
            tx.conn,
            payload["to_warehouse"],
            line["sku"],
            line["qty"],
            line["cost_fen"],
            "transfer_in",
            payload["id"],
            tx.wall_ms,
        )


async def test_a_destination_booking_a_delivery_twice_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(node.sync.feed.APPLIERS, ("transfer", "deliver"), books_twice)
    result = (await run_scenario(load_scenario(TRANSFERS), BROKEN_SEED)).result
    broken = invariants_of(result.violations)
    assert {"transfers booked exactly once", "stock conserved"} <= broken
    details = " ".join(v.detail for v in result.violations)
    assert "moves in at" in details
    assert "in transit, but receipts - sales + returns + stocktake variances come to" in details


async def test_a_destination_booking_at_the_wrong_cost_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """One fen off per line: the units add up, the cost does not."""

    def books_cheaper(tx: Tx, payload: dict[str, Any]) -> None:
        lines = [{**line, "cost_fen": max(0, line["cost_fen"] - 1)} for line in payload["lines"]]
        transfers.apply_delivery(tx, {**payload, "lines": lines})

    monkeypatch.setitem(node.sync.feed.APPLIERS, ("transfer", "deliver"), books_cheaper)
    result = (await run_scenario(load_scenario(TRANSFERS), BROKEN_SEED)).result
    broken = invariants_of(result.violations)
    assert "cost conserved" in broken
    assert "stock conserved" not in broken
    assert any("fen booked into" in v.detail for v in result.violations)


async def test_an_hq_dropping_transfer_deliveries_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import hq.storage.sqlite.inventory as hq_inventory

    real_deliver = hq_inventory._deliver
    routed: list[str] = []

    def drops_every_third(conn: Any, transfer_id: str, to_branch: str, payload: Any, append: Any) -> set[str]:
        routed.append(transfer_id)
        if len(routed) % 3 == 0:
            return set()  # never put into the destination's feed
        return real_deliver(conn, transfer_id, to_branch, payload, append)

    monkeypatch.setattr(hq_inventory, "_deliver", drops_every_third)
    result = (await run_scenario(load_scenario(TRANSFERS), BROKEN_SEED)).result
    assert result.converged_at_ms is not None  # the feeds drained: nothing else looks wrong
    assert "transfers booked exactly once" in invariants_of(result.violations)
    assert any("never booked at" in v.detail for v in result.violations)
    assert result.inventory is not None
    assert result.inventory.in_transit >= len(routed) // 3


async def test_an_hq_missing_the_stock_transfers_book_in_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """HQ keeps each warehouse's level from the moves the entries carry; one that skips the
    destinations' receive entries shows stores short of what their nodes hold."""
    import hq.inventory_plan

    real_plan_moves = hq.inventory_plan.plan_moves

    def skips_receives(plan: Any, entry: Any) -> None:
        if (entry.kind, entry.op) != ("transfer", "receive"):
            real_plan_moves(plan, entry)

    monkeypatch.setattr(hq.inventory_plan, "plan_moves", skips_receives)
    result = (await run_scenario(load_scenario(TRANSFERS), BROKEN_SEED)).result
    broken = invariants_of(result.violations)
    assert broken == {"HQ's stock and transfers equal the nodes'"}
    assert any("HQ shows (qty, cost_fen)" in v.detail for v in result.violations)


def test_inventory_rates_add_hqs_warehouse_node_and_default_to_nothing() -> None:
    base = 'name = "x"\nduration = "1h"\nheal_budget = "10m"\nbranches = 2\n'
    plain = parse_scenario(base, "plain.toml")
    assert not plain.uses_inventory
    assert plain.nodes == plain.branches
    stocked = parse_scenario(
        base
        + "[load]\ntransfers_per_minute = 0.5\n\n[hq_warehouse]\nreceipts_per_minute = 2.0\n\n"
        + '[[crashes]]\nbranch = "HQ"\nat = "5m"\ndown = "10s"\n',
        "stocked.toml",
    )
    assert stocked.uses_inventory
    assert [spec.code for spec in stocked.nodes] == ["BR01", "BR02", "HQ"]
    hq_load = stocked.nodes[-1].load
    assert hq_load is not None
    assert (hq_load.receipts_per_minute, hq_load.sales_per_minute, hq_load.transfers_per_minute) == (
        2.0,
        0,
        0,
    )
    assert stocked.load.transfers_per_minute == 0.5
    assert stocked.crashes[0].branch == "HQ"
    # Only a scenario that moves stock has the HQ node: elsewhere a fault naming it is refused.
    with pytest.raises(ScenarioError, match="names HQ, but the scenario has BR01, BR02"):
        parse_scenario(base + '[[crashes]]\nbranch = "HQ"\nat = "5m"\ndown = "10s"\n', "plain.toml")


def test_a_branch_named_hq_is_refused_when_the_scenario_moves_stock() -> None:
    text = (
        'name = "x"\nduration = "1h"\nheal_budget = "10m"\n\n[[branches]]\ncode = "HQ"\n\n'
        "[hq_warehouse]\nstocktakes_per_minute = 1.0\n"
    )
    with pytest.raises(ScenarioError, match="a branch is named HQ") as refused:
        parse_scenario(text, "clash.toml")
    assert refused.value.line == 5


def test_scenarios_without_stock_operations_run_without_the_warehouse_node() -> None:
    scenario = load_scenario(SCENARIOS / "ci-small.toml")
    result = asyncio.run(run_scenario(scenario, 1)).result
    assert HQ_WAREHOUSE_NODE not in result.branches
    assert result.inventory is None
    assert "Transfers" not in render_html(result, "ci-small.toml")


def test_real_mode_says_it_does_not_move_stock() -> None:
    assert any("transfers" in note for note in not_applied(load_scenario(TRANSFERS)))
    assert not any("transfers" in note for note in not_applied(load_scenario(SCENARIOS / "ci-small.toml")))
