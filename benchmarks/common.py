"""What every benchmark shares: percentiles, peak memory, the results table, real servers.

The servers come from tests/harness.py (real HQ and node apps, real SQLite
files, 127.0.0.1 only); run each benchmark as a module from the repository root
(`python -m benchmarks.checkout`) so both are importable. Every route wants a
log-in: a benchmark acts as hq.setup's demo operators (`demo_logins`), logged in
before it starts timing, so what it measures is requests, not log-ins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from hq.api import create_app as create_hq_app
from hq.setup import DEMO_PASSWORD, init_hq, issue_enroll_token
from launch.heap import settle_heap
from launch.logins import Logins
from node.app import create_app as create_node_app
from node.sync.enroll import enroll
from tests.harness import Server, free_port, wait_until

__all__ = ["Server", "free_port", "wait_until"]

README = Path(__file__).resolve().parent.parent / "README.md"
PIPED_WIDTH_CHARS = 110
# Where each report's figures are appended as JSON lines, when run by run_all.
FIGURES_ENV = "BRANCHLINE_FIGURES"
# Piped output (run_all.py, a README) gets tables wide enough not to wrap.
console = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH_CHARS)
LOOPBACK = "127.0.0.1"
# Every wait in a benchmark is bounded: a stuck run fails with a message, it
# never hangs the suite. Each script finishes within about a minute.
WAIT_BOUND_S = 45.0


def setup_logging() -> None:
    """Warnings go to stderr, labelled: an outage a benchmark makes on purpose is logged too."""
    logging.basicConfig(level=logging.WARNING, format="log: %(levelname)s %(name)s: %(message)s")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (fraction 0.5 is the median)."""
    if not values:
        raise ValueError("a percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


MET, MISSED = "[green]met[/]", "[bold red]MISSED[/]"


@dataclass
class Report:
    """One table of figures, each beside its target and whether it met it."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else (MET if met else MISSED)
        self.rows.append((name, value, target, verdict))

    def print(self) -> None:
        table = Table(title=self.title, title_justify="left")
        table.add_column("figure")
        table.add_column("measured", justify="right")
        table.add_column("target")
        table.add_column("")
        for row in self.rows:
            table.add_row(*row)
        console.print(table)
        self.save()

    def save(self) -> None:
        """Append the table to the file FIGURES_ENV names, if any: how benchmarks.run_all
        collects every script's figures to write them into the README."""
        path = os.environ.get(FIGURES_ENV)
        if not path:
            return
        verdicts = {MET: True, MISSED: False}
        rows = [
            {"figure": name, "measured": value, "target": target, "met": verdicts.get(verdict)}
            for name, value, target, verdict in self.rows
        ]
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"title": self.title, "rows": rows}) + "\n")


async def start_chain(root: Path, branch: str) -> tuple[Server, Server]:
    """A running HQ (demo catalogue) and one enrolled, running node of `branch`."""
    await init_hq(root / "hq", demo_data=True)
    hq = Server(lambda: create_hq_app(root / "hq"))
    await hq.start()
    token = await issue_enroll_token(root / "hq", branch)
    await enroll(root / branch, branch, hq.url, token)
    node = Server(lambda: create_node_app(root / branch))
    await node.start()
    settle_heap()  # as each `serve` process does once it has started
    return hq, node


# Who a benchmark acts as, of the demo operators: at HQ the finance operator, who
# views every figure and changes nothing; at a node the branch's clerk, who sells
# and sees the till's sync status and totals.
HQ_LOGIN = "finance"


def clerk_login(branch: str) -> str:
    return f"{branch.lower()}-clerk"


async def demo_logins(hq_url: str, node_url: str, branch: str) -> Logins:
    """Logged in at HQ and at the node of `branch` (waiting, within a bound, for the
    node's first feed to bring its operators); sessions from `.session()` send the tokens."""
    logins = Logins()
    logins.act_as(hq_url, HQ_LOGIN, DEMO_PASSWORD)
    logins.act_as(node_url, clerk_login(branch), DEMO_PASSWORD)
    await asyncio.gather(logins.token(hq_url), logins.token(node_url))
    return logins


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {await response.text()}")
        return await response.json()


# -- figures written into the README ------------------------------------------------------


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=README.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def readme_block(begin: str, end: str, reports: list[dict[str, Any]], measured_at: str, command: str) -> str:
    """Reports (as Report.save writes them) as markdown tables between two markers,
    headed by when, at which commit and by which command they were measured."""
    lines = [
        begin,
        "",
        f"Measured on {measured_at} at commit `{commit()}` on this project's 2-core machine by"
        f" `{command}` (written by that command; not edited by hand).",
    ]
    for report in reports:
        lines += ["", f"**{report['title'].strip()}**", "", "| figure | measured | target |", "|---|---|---|"]
        for row in report["rows"]:
            verdict = {True: " (met)", False: " (missed)", None: ""}[row["met"]]
            lines.append(f"| {row['figure'].strip()} | {row['measured']} | {row['target']}{verdict} |")
    lines += ["", end]
    return "\n".join(lines)


def write_figures(begin: str, end: str, figures: Path, measured_at: str, module: str) -> None:
    """The reports a run saved into `figures` (FIGURES_ENV), written into README.md
    between the markers, headed by the command that measured them."""
    reports = [json.loads(line) for line in figures.read_text(encoding="utf-8").splitlines()]
    invoked = " ".join([f"python -m {module}", *sys.argv[1:]])
    write_readme(begin, end, readme_block(begin, end, reports, measured_at, invoked))
    print(f"figures written into {README}")


def write_readme(begin: str, end: str, block: str) -> None:
    """Replace what README.md holds between the markers with `block`."""
    text = README.read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"README.md has no {begin} ... {end} block to write into")
    README.write_text(text[:start] + block + text[stop + len(end) :], encoding="utf-8")
