"""Run every benchmark in turn, each in its own process, and show its tables.

    .venv/bin/python -m benchmarks.run_all

Each benchmark is bounded (about a minute); a run that overstays its bound or
fails is reported and the others still run. The exit status is 1 if any failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("checkout", "ingest", "drain", "latency", "simulation")
# Each script aims for under a minute on a 2-core machine; twice that is a hang.
SCRIPT_BOUND_S = 120


def run(script: str) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{script}"],
            cwd=HERE.parent,
            timeout=SCRIPT_BOUND_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"killed after {SCRIPT_BOUND_S} s", time.perf_counter() - started
    outcome = "ok" if completed.returncode == 0 else f"failed (exit {completed.returncode})"
    return outcome, time.perf_counter() - started


def main() -> int:
    console = Console() if sys.stdout.isatty() else Console(width=110)
    summary = Table(title="Benchmarks run", title_justify="left")
    summary.add_column("script")
    summary.add_column("outcome")
    summary.add_column("wall time", justify="right")
    failed = False
    for script in BENCHMARKS:
        console.rule(f"benchmarks/{script}")
        sys.stdout.flush()
        outcome, elapsed_s = run(script)
        failed = failed or outcome != "ok"
        summary.add_row(script, outcome, f"{elapsed_s:.1f} s")
    console.rule()
    console.print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
