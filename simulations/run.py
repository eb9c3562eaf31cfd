"""`branchline simulate`: load a scenario, run it seeded, judge it, report it.

A failing run prints its seed and the command that replays it exactly.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from simulations.engine import Simulation
from simulations.invariants import check_all
from simulations.model import RunResult, Scenario


@dataclass(frozen=True)
class Outcome:
    result: RunResult
    wall_s: float  # the whole run: start-up, trading and heal, the invariant checks
    startup_s: float = 0.0  # HQ and the branches' stores created, the branches enrolled
    checks_s: float = 0.0  # the invariants checked at the end


async def run_scenario(
    scenario: Scenario, seed: int, *, workdir: Path | None = None, progress: Progress | None = None
) -> Outcome:
    """One seeded run, invariants checked; the replicas' files live in `workdir` (or a temporary one)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="branchline-sim-") as scratch:
        root = workdir if workdir is not None else Path(scratch)
        task = progress.add_task(f"{scenario.name} (seed {seed})", total=1) if progress else None

        def on_progress(now_ms: int, end_ms: int) -> None:
            if progress is not None and task is not None:
                progress.update(task, completed=now_ms, total=end_ms)

        simulation = Simulation(scenario, seed, root, on_progress=on_progress)
        try:
            result = await simulation.run()
            checked = time.perf_counter()
            result.violations = await check_all(simulation)
            checks_s = time.perf_counter() - checked
        finally:
            await simulation.close()
        if progress is not None and task is not None:
            progress.remove_task(task)
    return Outcome(result, time.perf_counter() - started, simulation.startup_s, checks_s)


def simulate(
    scenario_path: Path,
    *,
    seed: int | None,
    seeds: int,
    report: Path | None,
    console: Console,
    branches: int | None = None,
    swarm: bool = False,
) -> int:
    """The command: returns 0 when every run holds every invariant, 1 otherwise.
    `branches` asks the scenario's question of that many branches (scenario.with_branches);
    `swarm` gives each seed a world of its own drawn from the scenario (simulations.swarm)."""
    from simulations.report import summary_table, time_summary, write_html_report
    from simulations.scenario import load_scenario, with_branches
    from simulations.swarm import derive, describe

    scenario = load_scenario(scenario_path)
    # What the replay command names: the file, and the branch count if it was changed.
    replayed = str(scenario_path)
    if branches is not None:
        scenario = with_branches(scenario, branches)
        replayed += f" --branches {branches}"
    if swarm:
        replayed += " --swarm"
    first = scenario.seed if seed is None else seed
    failed = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        outcomes = []
        for run_seed in range(first, first + seeds):
            run = scenario
            if swarm:
                run = derive(scenario, run_seed)
                for line in describe(run):
                    progress.console.print(line, highlight=False)
            outcome = asyncio.run(run_scenario(run, run_seed, progress=progress))
            outcomes.append(outcome)
            if not outcome.result.ok:
                failed += 1
                progress.console.print(
                    f"[red]seed {run_seed} FAILED[/]: replay with `{outcome.result.replay_command(replayed)}`"
                )
    shown = next((o for o in outcomes if not o.result.ok), outcomes[-1])
    console.print(summary_table(shown.result, replayed))
    if shown.result.event_wall_s:
        console.print(time_summary(shown.result))
    if seeds > 1:
        console.print(
            f"{seeds - failed} of {seeds} seeds held every invariant (seeds {first}..{first + seeds - 1})"
        )
    simulated_h = sum(o.result.ended_at_ms for o in outcomes) / 3_600_000
    wall_s = sum(o.wall_s for o in outcomes)
    console.print(
        f"{simulated_h:.1f} simulated hours in {wall_s:.1f} s ({simulated_h / wall_s:.1f} h per second)"
    )
    if report is not None:
        write_html_report(shown.result, replayed, report)
        console.print(f"report written to {report}")
    return 1 if failed else 0
