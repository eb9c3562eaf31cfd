"""Swarm testing: each seed draws its own faults and trading from a scenario, runs
them to the heal, and a failing seed prints the command that replays it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from simulations.model import MINUTE_MS, Partition
from simulations.report import summary_table
from simulations.run import run_scenario, simulate
from simulations.scenario import load_scenario
from simulations.swarm import LOAD_FACTORS, derive, describe
from tests.simulations.test_checkers_fail import a_branch_loses_every_fourth_sale_it_acknowledged
from tests.simulations.test_simulation import text_of

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"
CI_SMALL = SCENARIOS / "ci-small.toml"
PROMOTION = SCENARIOS / "promotion-partition.toml"
TRANSFERS = SCENARIOS / "transfers-partition.toml"
CARDS = SCENARIOS / "cards-partition.toml"
# What CI affords (about 0.5 s a seed of the small scenario here, more for the
# others: 3 to 7 s for the cards' three hours); a longer swarm is a command away:
# branchline simulate FILE --swarm --seeds N.
SWARM = [(CI_SMALL, seed) for seed in range(1, 121)]
SWARM += [(PROMOTION, seed) for seed in range(1, 11)]
SWARM += [(TRANSFERS, seed) for seed in range(1, 11)]
SWARM += [(CARDS, seed) for seed in range(1, 6)]


def test_a_seed_derives_the_same_world_every_time_and_another_seed_another() -> None:
    base = load_scenario(CI_SMALL)
    worlds = [derive(base, seed) for seed in range(1, 41)]
    assert worlds[0] == derive(base, 1)
    assert describe(worlds[0]) == describe(derive(base, 1))
    assert len({(w.partitions, w.link_faults, w.crashes, w.hq_outages) for w in worlds}) == len(worlds)
    codes = {b.code for b in base.branches}
    for world in worlds:
        assert (world.duration_ms, world.heal_budget_ms) == (base.duration_ms, base.heal_budget_ms)
        assert [b.code for b in world.branches] == [b.code for b in base.branches]
        named = {c.branch for c in world.crashes}
        named |= {code for p in world.partitions for code in p.branches}
        named |= {code for f in world.link_faults for code in f.branches}
        assert named <= codes
        starts = [p.start_ms for p in world.partitions] + [c.at_ms for c in world.crashes]
        starts += [f.start_ms for f in world.link_faults] + [o.start_ms for o in world.hq_outages]
        assert all(0 <= start < world.duration_ms for start in starts)
        assert len({c.branch for c in world.crashes}) == len(world.crashes)  # one crash schedule a branch
        low, high = LOAD_FACTORS
        assert (
            low * base.load.sales_per_minute
            <= world.load.sales_per_minute
            <= high * base.load.sales_per_minute
        )
        assert world.load.transfers_per_minute == base.load.transfers_per_minute == 0  # off stays off
    # Across seeds, every kind of fault is drawn.
    assert all(any(getattr(w, kind) for w in worlds) for kind in ("partitions", "link_faults", "crashes"))
    assert any(w.hq_outages for w in worlds)
    assert any(b.clock_skew_ms for w in worlds for b in w.branches)


@pytest.mark.parametrize(("path", "seed"), SWARM, ids=[f"{path.stem}-{seed}" for path, seed in SWARM])
async def test_a_swarm_seed_holds_every_invariant_and_everything_it_drew_happened(
    path: Path, seed: int
) -> None:
    world = derive(load_scenario(path), seed)
    result = (await run_scenario(world, seed)).result
    replay = f"replay: {result.replay_command(f'{path} --swarm')}"
    assert result.violations == [], replay
    assert result.converged_at_ms is not None, replay
    for code, figures in result.branches.items():
        crashes = sum(c.repeat for c in world.crashes if c.branch == code)
        assert figures.crashes == crashes, f"{replay}: {code} crashed {figures.crashes} times, not {crashes}"
    assert sum(f.sales for f in result.branches.values()) > 0, replay
    assert len(result.heals) >= len(world.partitions) + len(world.crashes) + len(world.hq_outages), replay


def test_the_command_prints_what_each_seed_drew_and_how_to_replay_a_failing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console = Console(record=True, width=200)
    assert simulate(CI_SMALL, seed=4, seeds=1, report=None, console=console, swarm=True) == 0
    shown = console.export_text()
    assert "\n".join(describe(derive(load_scenario(CI_SMALL), 4))) in shown
    assert "swarm seed 4" in shown

    a_branch_loses_every_fourth_sale_it_acknowledged(monkeypatch)  # a broken node: the run must fail
    console = Console(record=True, width=200)
    assert simulate(CI_SMALL, seed=4, seeds=1, report=None, console=console, swarm=True, branches=4) == 1
    assert f"branchline simulate {CI_SMALL} --branches 4 --swarm --seed 4" in console.export_text()


async def test_a_heal_another_fault_overtakes_is_judged_after_that_one() -> None:
    """A swarm draws overlapping faults: a branch cut off again the moment its first
    cut heals cannot converge in between. That heal is reported as owed after the
    second, which must converge within the budget itself; neither is a violation."""
    base = load_scenario(CI_SMALL)
    world = replace(
        base,
        partitions=(
            Partition(("BR02",), MINUTE_MS, 2 * MINUTE_MS),
            Partition(("BR02",), 3 * MINUTE_MS, 17 * MINUTE_MS),
        ),
        link_faults=(),
        crashes=(),
        hq_outages=(),
    )
    result = (await run_scenario(world, 1)).result
    assert result.violations == []
    first, second = result.heals
    assert (first.healed_at_ms, first.converged_after_ms, first.superseded_by) == (
        3 * MINUTE_MS,
        None,
        "partition of BR02",
    )
    assert second.converged_after_ms is not None
    assert "not before the partition of BR02 healed" in text_of(summary_table(result, "overlap.toml"))


async def test_a_till_trading_past_its_shift_session_logs_in_again() -> None:
    """Found by the swarm (store-cut-off-for-a-day, swarm seed 1): a till's session lasts
    twelve hours, and a simulated till trading for longer stopped the run with "the
    session expired"; a cashier logs in again, and so does the simulated till."""
    base = load_scenario(CI_SMALL)
    long_day = replace(
        base,
        duration_ms=13 * 60 * MINUTE_MS,
        branches=base.branches[:1],
        load=replace(base.load, sales_per_minute=0.05, registrations_per_minute=0.0),
        partitions=(),
        link_faults=(),
        crashes=(),
        hq_outages=(),
    )
    result = (await run_scenario(long_day, 1)).result
    assert result.violations == []
    assert result.branches["BR01"].sales > 20
