"""Run every benchmark in turn, each in its own process, and show its tables.

    .venv/bin/python -m benchmarks.run_all
    .venv/bin/python -m benchmarks.run_all --readme [--against cbc72d7] [--http-against REV] [--rounds 3]

Each benchmark is bounded; a run that overstays its bound or fails is reported
and the others still run. The exit status is 1 if any failed. With `--readme`
the figures every script printed are written into README.md between the
FIGURES_BEGIN and FIGURES_END markers, with the date and commit they were
measured at, so the README's figures are never typed by hand; `--against REV`
adds checkout and drain measured beside commit REV in the same sitting (before
and after), and `--http-against REV` checkout over HTTP (REV must have `--http`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import FIGURES_ENV, README, readme_block, write_readme

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("checkout", "ingest", "drain", "latency", "simulation", "till")
# The simulation's figure belongs to its own issue and outlasts the others' bound.
README_BENCHMARKS = ("checkout", "ingest", "drain", "latency")
# Each script aims for under a minute on a 2-core machine; twice that is a hang.
SCRIPT_BOUND_S = 120
# The simulator runs 50 and then 200 branches; a kill is reported as a failure.
SIMULATION_BOUND_S = 900
# The till drives a browser through 200 sales, in under 2 minutes.
TILL_BOUND_S = 240
LONGER_BOUNDS_S = {"simulation": SIMULATION_BOUND_S, "till": TILL_BOUND_S}
# A side-by-side run alternates two trees for several rounds.
AGAINST_BOUND_S = 1_200
# With --readme, each script run beside the commit its option names (checkout over
# HTTP beside a commit of its own: cbc72d7 predates --http).
SIDE_BY_SIDE = (
    (["checkout"], "against"),
    (["drain"], "against"),
    (["checkout", "--http"], "http-against"),
)
FIGURES_BEGIN = "<!-- figures: begin -->"
FIGURES_END = "<!-- figures: end -->"


def run(args: list[str], bound_s: int, figures: Path | None = None) -> tuple[str, float]:
    started = time.perf_counter()
    env = dict(os.environ)
    if figures is not None:
        env[FIGURES_ENV] = str(figures)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", *args], cwd=HERE.parent, timeout=bound_s, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return f"killed after {bound_s} s", time.perf_counter() - started
    outcome = "ok" if completed.returncode == 0 else f"failed (exit {completed.returncode})"
    return outcome, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="write the figures into README.md")
    parser.add_argument("--against", metavar="REV", help="with --readme: checkout and drain beside REV")
    parser.add_argument(
        "--http-against", metavar="REV", help="with --readme: checkout over HTTP beside REV (it has --http)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each side-by-side run")
    args = parser.parse_args()
    console = Console() if sys.stdout.isatty() else Console(width=110)
    summary = Table(title="Benchmarks run", title_justify="left")
    summary.add_column("script")
    summary.add_column("outcome")
    summary.add_column("wall time", justify="right")
    failed = False
    revs = {"against": args.against, "http-against": args.http_against}
    measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        figures = Path(tmp) / "figures.jsonl"
        runs: list[tuple[str, list[str], int]] = [
            (script, [f"benchmarks.{script}"], LONGER_BOUNDS_S.get(script, SCRIPT_BOUND_S))
            for script in (README_BENCHMARKS if args.readme else BENCHMARKS)
        ]
        if args.readme:
            # Checkouts through the till app as its own process, against a trivial GET.
            http = ["benchmarks.checkout", "--http", "--rounds", "2"]
            runs.append(("checkout over HTTP", http, SCRIPT_BOUND_S))
        for (script, *options), option in SIDE_BY_SIDE:
            rev = revs[option]
            if args.readme and rev is not None:
                command = [f"benchmarks.{script}", *options, "--against", rev, "--rounds", str(args.rounds)]
                runs.append((f"{' '.join([script, *options])} against {rev}", command, AGAINST_BOUND_S))
        for name, command, bound_s in runs:
            console.rule(f"benchmarks/{name}")
            sys.stdout.flush()
            outcome, elapsed_s = run(command, bound_s, figures)
            failed = failed or outcome != "ok"
            summary.add_row(name, outcome, f"{elapsed_s:.1f} s")
        reports = [json.loads(line) for line in figures.read_text().splitlines()] if figures.exists() else []
    console.rule()
    console.print(summary)
    if args.readme:
        if failed:
            console.print("[red]a benchmark failed: README.md left as it was")
        else:
            against_args = "".join(f" --{option} {rev}" for option, rev in revs.items() if rev is not None)
            if against_args:
                against_args += f" --rounds {args.rounds}"
            invoked = f"python -m benchmarks.run_all --readme{against_args}"
            block = readme_block(FIGURES_BEGIN, FIGURES_END, reports, measured_at, invoked)
            write_readme(FIGURES_BEGIN, FIGURES_END, block)
            console.print(f"figures written into {README}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
