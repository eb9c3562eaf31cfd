"""What every benchmark shares: percentiles, peak memory, the results table, real servers.

The servers are the same as tests/harness.py builds (real HQ and node apps,
real SQLite files, 127.0.0.1 only), repeated here so that a benchmark runs as a
plain script without the test suite on its path.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.console import Console
from rich.table import Table

from hq.api import create_app as create_hq_app
from hq.setup import init_hq, issue_enroll_token
from node.api import create_app as create_node_app
from node.enroll import enroll

PIPED_WIDTH_CHARS = 110
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


@dataclass
class Report:
    """One table of figures, each beside its target and whether it met it."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("[green]met[/]" if met else "[bold red]MISSED[/]")
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One aiohttp app on a fixed loopback port, so it can stop and start again."""

    make_app: Callable[[], web.Application]
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def app(self) -> web.Application:
        if self.runner is None:
            raise RuntimeError("the server is not running")
        return self.runner.app

    async def start(self) -> None:
        if self.runner is not None:
            raise RuntimeError("the server is already running")
        self.runner = web.AppRunner(self.make_app(), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, LOOPBACK, self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def start_chain(root: Path, branch: str) -> tuple[Server, Server]:
    """A running HQ (demo catalogue) and one enrolled, running node of `branch`."""
    await init_hq(root / "hq", demo_data=True)
    hq = Server(lambda: create_hq_app(root / "hq"))
    await hq.start()
    token = await issue_enroll_token(root / "hq", branch)
    await enroll(root / branch, branch, hq.url, token)
    node = Server(lambda: create_node_app(root / branch))
    await node.start()
    return hq, node


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {await response.text()}")
        return await response.json()


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    *,
    poll_s: float = 0.05,
    timeout_s: float = WAIT_BOUND_S,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(poll_s)
