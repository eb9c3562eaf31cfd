"""Simulator speed: simulated hours per wall-clock second, 50 branches, a busy day's load.

The deterministic simulator runs production code (real SQLite per branch and at
HQ) on a simulated clock and network, so its speed decides how long an ops
question takes to answer. A busy day here: 6 sales and 0.5 registrations per
minute per branch, a fifth of sales by members of other branches, a promotion
window at double load, one store cut off for an hour, one crash.

    .venv/bin/python -m benchmarks.simulation [--branches 50] [--hours 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.common import Report, peak_rss_mib
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


async def main(branches: int, hours: float) -> None:
    scenario = busy_day(branches, hours)
    started = time.perf_counter()
    outcome = await run_scenario(scenario, scenario.seed)
    wall_s = time.perf_counter() - started
    result = outcome.result
    simulated_h = result.ended_at_ms / HOUR_MS
    sales = sum(f.sales for f in result.branches.values())
    report = Report(f"Simulator: {branches} branches, {hours:g} h of a busy day (seed {scenario.seed})")
    report.add("simulated time (trading and heal)", f"{simulated_h:.2f} h")
    report.add("wall-clock time (invariant checks included)", f"{wall_s:.1f} s")
    report.add("simulated hours per wall-clock second", f"{simulated_h / wall_s:.3f}")
    report.add("sales booked (each a real SQLite transaction)", f"{sales:,}")
    report.add("events run", f"{result.events_run:,} ({result.events_run / wall_s:,.0f}/s)")
    report.add(
        "invariants", "all held" if result.ok else f"{len(result.violations)} violated", "all held", result.ok
    )
    report.add("peak RSS", f"{peak_rss_mib():.0f} MiB")
    report.print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--hours", type=float, default=0.25)
    args = parser.parse_args()
    asyncio.run(main(args.branches, args.hours))
