"""The simulator: invariants hold across seeds, runs replay exactly, the checker can fail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conflict.profile import StampedField
from simulations.model import (
    MINUTE_MS,
    BranchSpec,
    Crash,
    HQOutage,
    LinkFaults,
    Load,
    Partition,
    Scenario,
)
from simulations.report import render_html, summary_table
from simulations.run import run_scenario
from simulations.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"
CI_SMALL = SCENARIOS / "ci-small.toml"
# A few hundred seeds of the small scenario: each is a different interleaving
# of partitions, loss, duplication, reordering, crashes and an HQ outage.
SEEDS = range(1, 201)

TINY = Scenario(
    name="tiny",
    description="two branches, one partition, one crash",
    seed=11,
    duration_ms=15 * MINUTE_MS,
    heal_budget_ms=10 * MINUTE_MS,
    branches=(BranchSpec("BR01"), BranchSpec("BR02", clock_skew_ms=-10 * MINUTE_MS)),
    load=Load(sales_per_minute=2.0, registrations_per_minute=0.5, roaming_share=0.5),
    partitions=(Partition(("BR02",), 2 * MINUTE_MS, 6 * MINUTE_MS),),
    link_faults=(LinkFaults(0, 10 * MINUTE_MS, ("BR01",), loss=0.2, duplicate=0.2, reorder=0.2),),
    crashes=(Crash("BR01", 3 * MINUTE_MS, 15_000, repeat=2, every_ms=MINUTE_MS),),
    hq_outages=(HQOutage(9 * MINUTE_MS, 2 * MINUTE_MS),),
)


def text_of(renderable: Any) -> str:
    console = Console(record=True, width=140)
    console.print(renderable)
    return console.export_text()


async def test_a_small_run_trades_and_holds_every_invariant() -> None:
    outcome = await run_scenario(TINY, TINY.seed)
    result = outcome.result
    assert result.violations == []
    assert result.converged_at_ms is not None
    assert sum(f.sales for f in result.branches.values()) > 20
    assert sum(f.registrations for f in result.branches.values()) > 3
    assert result.branches["BR01"].crashes == 2
    assert result.messages_dropped > 0
    assert result.messages_duplicated > 0
    assert all(heal.converged_after_ms is not None for heal in result.heals)
    # Every event is counted under its kind, and the kinds say what the run did.
    assert sum(result.event_kinds.values()) == result.events_run
    assert result.event_kinds["Tills.next.trade"] > 20
    assert result.event_kinds["crash.crash"] == 2
    assert result.event_kinds.keys() == result.event_wall_s.keys()
    # Its wall time splits into start-up, the run and the checks (benchmarks.simulation
    # extrapolates a day from the run and the checks, starting up once).
    assert outcome.startup_s > 0
    assert outcome.checks_s > 0
    assert outcome.startup_s + outcome.checks_s + sum(result.event_wall_s.values()) < outcome.wall_s


async def test_the_same_seed_gives_byte_identical_reports() -> None:
    first = (await run_scenario(TINY, 5)).result
    second = (await run_scenario(TINY, 5)).result
    assert render_html(first, "tiny.toml") == render_html(second, "tiny.toml")
    assert text_of(summary_table(first, "tiny.toml")) == text_of(summary_table(second, "tiny.toml"))
    other = (await run_scenario(TINY, 6)).result
    assert render_html(other, "tiny.toml") != render_html(first, "tiny.toml")


async def test_a_broken_directory_merge_is_caught_and_the_seed_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def keeps_only_what_hq_held(
        current: Mapping[str, StampedField], incoming: Mapping[str, StampedField]
    ) -> dict[str, StampedField]:
        return dict(current)  # drops every incoming write: members never reach the directory

    monkeypatch.setattr("shared_tables.directory_store.merge_profiles", keeps_only_what_hq_held)
    result = (await run_scenario(TINY, 7)).result
    assert not result.ok
    assert "members everywhere" in {v.invariant for v in result.violations}
    summary = text_of(summary_table(result, "tiny.toml"))
    assert "branchline simulate tiny.toml --seed 7" in summary


async def test_sales_dropped_by_a_broken_ingest_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import hq.plan

    real_plan = hq.plan.plan_entries

    def loses_every_fifth_sale(entries: Any, *days: Any) -> hq.plan.Plan:
        plan = real_plan(entries, *days)
        plan.sales = [s for n, s in enumerate(plan.sales) if n % 5 != 4]
        return plan

    monkeypatch.setattr("hq.storage.sqlite.ingest.plan_entries", loses_every_fifth_sale)
    result = (await run_scenario(TINY, 7)).result
    assert "sales totals match" in {v.invariant for v in result.violations}


async def test_an_hq_setting_aside_effects_it_could_apply_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """HQ sets aside what it cannot apply rather than wedge a branch; the checker catches
    an HQ whose planner refuses good sales (every third one, as out of its bounds)."""
    import hq.plan
    from hq.errors import OutOfBounds

    real_plan_entry = hq.plan._plan_entry
    seen = {"sales": 0}

    def refuses_every_third_sale(plan: hq.plan.Plan, entry: Any) -> None:
        if entry.kind == "sale":
            seen["sales"] += 1
            if seen["sales"] % 3 == 0:
                raise OutOfBounds(f"entry {entry.origin}#{entry.seq}: refused by a broken planner")
        real_plan_entry(plan, entry)

    monkeypatch.setattr(hq.plan, "_plan_entry", refuses_every_third_sale)
    result = (await run_scenario(TINY, 7)).result
    assert "every effect applied" in {v.invariant for v in result.violations}


def test_every_ready_scenario_parses() -> None:
    names = sorted(path.name for path in SCENARIOS.glob("*.toml"))
    assert len(names) >= 6
    for path in SCENARIOS.glob("*.toml"):
        assert load_scenario(path).branches


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_ci_scenario_holds_every_invariant_for_seed(seed: int) -> None:
    result = (await run_scenario(load_scenario(CI_SMALL), seed)).result
    replay = f"replay: {result.replay_command(str(CI_SMALL))}"
    assert result.violations == [], replay
    # ... and the faults happened to a chain that traded: a run in which trading
    # stopped, or no fault landed, holds every invariant and proves nothing.
    figures = result.branches
    assert all(f.sales >= 10 for f in figures.values()), (
        f"{replay}: sales {[f.sales for f in figures.values()]}"
    )
    assert figures["BR03"].crashes == 1, replay
    assert result.messages_dropped > 0, replay
    assert result.messages_duplicated > 0, replay
    assert figures["BR02"].peak_backlog > 0, f"{replay}: the partition held back nothing"
    healed = {heal.what: heal.converged_after_ms for heal in result.heals}
    assert set(healed) == {"partition of BR02", "link faults", "restart of BR03", "HQ outage"}, replay
    assert None not in healed.values(), replay


def test_the_command_runs_a_scenario_and_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "branchline",
            "simulate",
            str(CI_SMALL),
            "--seed",
            "3",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seed" in done.stdout.lower()
    assert "simulated hours" in done.stdout
    assert "Wall time by kind of event" in done.stdout  # the terminal says where the time went
    html = report.read_text()
    assert html.startswith("<!doctype html>") or "<html" in html
    assert "Events by kind" in html
    assert "send_push.hq_receives" in html
    assert "Wall time by kind" not in html  # it differs run to run; the report is per seed


def test_a_bad_scenario_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\nduration = "1h"\nheal_budget = "10m"\nbranches = 2\n\n'
        '[[partitions]]\nbranches = ["BR09"]\nstart = "1m"\nduration = "5m"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "branchline", "simulate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "bad.toml:7" in done.stderr
    assert "BR09" in done.stderr
    assert "Traceback" not in done.stderr
