"""Simulator speed: how many times faster than real time it runs a busy day, at 50 and 200 branches.

The deterministic simulator runs production code (real SQLite per branch and at
HQ, real signatures, the real replicator and services) on a simulated clock and
network, so its speed decides how long an ops question takes to answer. A busy
day here: 6 sales and 0.5 registrations per minute per branch, a fifth of sales
by members of other branches, a promotion window at double load, one store cut
off, one crash. Each size runs a slice of that day; the figures are simulated
time per wall-clock second, the ratio to real time, what a whole day would take
at that pace, and the kinds of event the wall time went to.

    .venv/bin/python -m benchmarks.simulation [--sizes 50:0.05,200:0.01] [--readme]

Targets (issue: simulations in minutes): a day of 50 branches in 5 minutes (at
least 288x real time), of 200 branches in 30 minutes (at least 48x).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import FIGURES_ENV, Report, peak_rss_mib, write_figures
from simulations.model import (
    HOUR_MS,
    MINUTE_MS,
    BranchSpec,
    Busy,
    Crash,
    Load,
    Partition,
    Scenario,
)
from simulations.run import run_scenario


def busy_day(branches: int, hours: float) -> Scenario:
    duration_ms = int(hours * HOUR_MS)
    return Scenario(
        name=f"busy day, {branches} branches",
        description="benchmark",
        seed=1,
        duration_ms=duration_ms,
        heal_budget_ms=10 * MINUTE_MS,
        branches=tuple(BranchSpec(f"BR{n:02d}") for n in range(1, branches + 1)),
        load=Load(sales_per_minute=6.0, registrations_per_minute=0.5, roaming_share=0.2),
        busy=(Busy(duration_ms // 4, duration_ms // 4, 2.0),),
        partitions=(Partition(("BR03",), duration_ms // 5, duration_ms // 3),),
        crashes=(Crash("BR05", duration_ms // 2, 30_000),),
    )


# Where --readme writes the tables in README.md.
README_BEGIN = "<!-- simulation: begin -->"
README_END = "<!-- simulation: end -->"
# A day of 50 branches in 5 minutes, of 200 in 30: times faster than real time.
TARGET_RATIO = {50: 24 * 60 / 5, 200: 24 * 60 / 30}
DAY_H = 24


async def measure(branches: int, hours: float) -> bool:
    """One size's run and its table; whether every invariant held."""
    scenario = busy_day(branches, hours)
    started = time.perf_counter()
    outcome = await run_scenario(scenario, scenario.seed)
    wall_s = time.perf_counter() - started
    result = outcome.result
    simulated_h = result.ended_at_ms / HOUR_MS
    ratio = simulated_h * 3600 / wall_s
    sales = sum(f.sales for f in result.branches.values())
    report = Report(
        f"Simulator: {branches} branches, {hours:g} h of a busy day and its heal (seed {scenario.seed})"
    )
    running_s = wall_s - outcome.startup_s - outcome.checks_s
    report.add("simulated time (trading and heal)", f"{simulated_h:.3f} h")
    report.add("wall-clock time (invariant checks included)", f"{wall_s:.1f} s")
    report.add(
        "  of which start-up, trading and heal, invariant checks",
        f"{outcome.startup_s:.1f} s, {running_s:.1f} s, {outcome.checks_s:.1f} s",
    )
    target = TARGET_RATIO.get(branches)
    report.add(
        "times faster than real time",
        f"{ratio:,.1f}x",
        "" if target is None else f">= {target:g}x",
        None if target is None else ratio >= target,
    )
    report.add(
        "times faster than real time once started",
        f"{simulated_h * 3600 / max(running_s, 1e-9):,.1f}x",
    )
    # A day starts up once; its trading and its checks grow with the hours simulated.
    day_s = outcome.startup_s + (running_s + outcome.checks_s) * DAY_H / simulated_h
    report.add("a whole busy day at this pace (extrapolated)", f"{day_s / 60:,.0f} min")
    report.add("sales booked (each a real SQLite transaction)", f"{sales:,}")
    report.add(
        "events run (per sale)",
        f"{result.events_run:,} ({result.events_run / max(1, sales):,.0f};"
        f" {result.events_run / wall_s:,.0f}/s)",
    )
    total_wall = sum(result.event_wall_s.values()) or 1.0
    ranked = sorted(result.event_wall_s.items(), key=lambda kind: -kind[1])
    for kind, wall in ranked[:4]:
        runs = result.event_kinds.get(kind, 0)
        report.add(
            f"  wall time in {kind}",
            f"{wall / total_wall:.0%} ({runs:,} runs, {wall * 1e6 / max(1, runs):,.0f} µs each)",
        )
    report.add(
        "invariants", "all held" if result.ok else f"{len(result.violations)} violated", "all held", result.ok
    )
    report.add("peak RSS", f"{peak_rss_mib():.0f} MiB")
    report.print()
    return result.ok


def sizes(text: str) -> list[tuple[int, float]]:
    """ "50:0.05,200:0.01": (branches, simulated hours of trading) for each run."""
    runs = []
    for part in text.split(","):
        branches, _, hours = part.partition(":")
        runs.append((int(branches), float(hours or "0.05")))
    return runs


async def main(runs: list[tuple[int, float]]) -> list[bool]:
    return [await measure(branches, hours) for branches, hours in runs]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=sizes("50:0.05,200:0.01"),
        help="branches:hours of trading for each run, comma-separated (default 50:0.05,200:0.01)",
    )
    parser.add_argument("--readme", action="store_true", help="write the figures into README.md")
    args = parser.parse_args()
    measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        figures = Path(tmp) / "figures.jsonl"
        if args.readme:
            os.environ[FIGURES_ENV] = str(figures)  # where each Report saves its rows
        held = asyncio.run(main(args.sizes))
        if args.readme:
            if not all(held):
                raise SystemExit("an invariant was violated: README.md left as it was")
            write_figures(README_BEGIN, README_END, figures, measured_at, "benchmarks.simulation")
