"""Checkouts over HTTP through the real till app, against a trivial GET on the same server.

A node runs as its own process (`python -m branchline node serve`, enrolled with
an HQ process, both on 127.0.0.1), exactly as a branch runs it. The load comes
from another process: wrk (Debian's `wrk`) when it is on the PATH, else a small
aiohttp load generator, so the server's event loop never shares an interpreter
with its clients. Phases alternate (GET, POST, GET, POST, ...) so drift on a
busy machine touches both figures alike; the ratio is checkouts/s over GETs/s.
Every request carries the bearer token of the branch's clerk (HQ's demo operators),
logged in once before the first phase: what is measured is requests, not log-ins.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from hq.setup import DEMO_PASSWORD
from launch.logins import Operator, log_in
from launch.processes import free_port, spawn, stop_all, wait_ready

# A sale as a till posts it: two lines, paid in cash with change.
SALE_BODY = {
    "lines": [{"sku": "TEA-OOLONG-250", "qty": 2}, {"sku": "CUP-CERAMIC", "qty": 1}],
    "tenders": [{"kind": "cash", "amount_fen": 20_000}],
}
# The trivial GET: the branch's devices, answered from memory after the same session
# check a sale passes. (GET /api/sync was the trivial one until it began counting the
# directory records set aside, a database read: it fell to a third and flattered the ratio.)
TRIVIAL_PATH = "/api/devices"
SALE_PATH = "/api/sales"
# The till's operator (hq init --demo-data makes them): sells and reads the devices.
CLERK = Operator("br01-clerk", DEMO_PASSWORD)
WRK_THREADS = 2
# The Python load generator stands in for wrk where it is missing; it is slower
# than wrk, so its GET figure (and so the ratio) is a floor, and the report says which ran.
PYTHON_CLIENT_TIMEOUT_S = 30


@dataclass(frozen=True)
class Phase:
    what: str  # "get" or "checkout"
    requests_per_s: float
    latency_ms_p50: float
    latency_ms_p99: float
    failures: int  # answers that were not 2xx, or errors


@dataclass
class TillProcesses:
    root: Path
    hq_url: str
    node_url: str
    processes: list[asyncio.subprocess.Process]
    token: str  # the clerk's session at the node

    async def stop(self) -> None:
        await stop_all(self.processes)


async def start_till(root: Path, *, hq_online: bool) -> TillProcesses:
    """HQ and one enrolled node BR01, each its own `python -m branchline` process, and
    the clerk logged in at the node. HQ stays up until the node's first feed has
    brought its operators (the log-in waits for them); `hq_online` False stops it then."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    hq_dir, node_dir = root / "hq", root / "BR01"
    _branchline("hq", "init", "--data", str(hq_dir), "--demo-data")
    hq_port, node_port = free_port(), free_port()
    hq_url, node_url = f"http://127.0.0.1:{hq_port}", f"http://127.0.0.1:{node_port}"
    processes = [await spawn(["hq", "serve", "--data", str(hq_dir), "--port", str(hq_port)], logs / "hq.log")]
    # Whatever fails from here stops what was started: a benchmark leaves no server behind.
    try:
        await wait_ready(hq_url + "/api/branches", processes[0], logs / "hq.log")
        token = _branchline("hq", "enroll-token", "--data", str(hq_dir), "--branch", "BR01").split()[-1]
        _branchline(
            "node", "init", "--data", str(node_dir), "--branch", "BR01", "--hq", hq_url, f"--token={token}"
        )
        node = await spawn(
            ["node", "serve", "--data", str(node_dir), "--port", str(node_port)], logs / "BR01.log"
        )
        processes.append(node)
        await wait_ready(node_url + TRIVIAL_PATH, node, logs / "BR01.log")
        session_token = await log_in(node_url, CLERK)
    except BaseException:
        await stop_all(processes)
        raise
    if not hq_online:
        await stop_all(processes[:1])
        processes = processes[1:]
    return TillProcesses(root, hq_url, node_url, processes, session_token)


def _branchline(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "branchline", *args], capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"branchline {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout.strip()


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, token: str, connections: int, duration_s: float, post_body: str | None, workdir: Path
) -> Phase:
    args = [
        "wrk",
        f"-t{min(WRK_THREADS, connections)}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    if post_body is not None:
        script = workdir / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(post_body)}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        args += ["-s", str(script)]
    done = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=duration_s + 60)
    return read_wrk(done.stdout, "checkout" if post_body is not None else "get")


def read_wrk(out: str, what: str) -> Phase:
    """The phase wrk --latency reported in `out`."""
    rate = float(_field(out, r"Requests/sec:\s+([\d.]+)"))
    failures = int(_field(out, r"Non-2xx or 3xx responses:\s+(\d+)", "0"))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors is not None:
        failures += sum(int(n) for n in errors.groups())
    return Phase(
        what,
        rate,
        # Anchored at a line's start: a stdev column such as "72.50%" ends a line too.
        _wrk_ms(_field(out, r"(?m)^\s*50%\s+(\S+)")),
        _wrk_ms(_field(out, r"(?m)^\s*99%\s+(\S+)")),
        failures,
    )


def _field(text: str, pattern: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found is None:
        if default is None:
            raise RuntimeError(f"wrk's output has no {pattern!r}:\n{text}")
        return default
    return found.group(1)


_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(value: str) -> float:
    """wrk's latency ("812.00us", "1.20ms", "2.01s") in milliseconds."""
    found = re.fullmatch(r"([\d.]+)([a-z]+)", value)
    if found is None or found.group(2) not in _WRK_UNITS_MS:
        raise RuntimeError(f"wrk printed a latency this script cannot read: {value!r}")
    return float(found.group(1)) * _WRK_UNITS_MS[found.group(2)]


def run_python(url: str, token: str, connections: int, duration_s: float, post_body: str | None) -> Phase:
    """The same load from a Python process (aiohttp), for machines without wrk."""
    code = _PYTHON_CLIENT.format(
        url=url,
        headers=repr({"Authorization": f"Bearer {token}"}),
        connections=connections,
        duration_s=duration_s,
        body=repr(post_body),
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + PYTHON_CLIENT_TIMEOUT_S,
    )
    figures = json.loads(done.stdout)
    return Phase("checkout" if post_body is not None else "get", **figures)


_PYTHON_CLIENT = """
import asyncio, json, math, time
import aiohttp

async def main():
    latencies, failures, done = [], 0, 0
    body = {body}
    deadline = time.perf_counter() + {duration_s}
    async def worker(session):
        nonlocal failures, done
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if body is None:
                    async with session.get({url!r}) as r:
                        await r.read(); ok = r.status < 300
                else:
                    async with session.post({url!r}, data=body,
                                            headers={{"Content-Type": "application/json"}}) as r:
                        await r.read(); ok = r.status < 300
            except aiohttp.ClientError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            done += 1
            failures += not ok
    connector = aiohttp.TCPConnector(limit={connections})
    async with aiohttp.ClientSession(connector=connector, headers={headers}) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range({connections})))
        elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda f: latencies[max(1, math.ceil(f * len(latencies))) - 1]
    print(json.dumps({{"requests_per_s": done / elapsed, "latency_ms_p50": pick(0.5),
                      "latency_ms_p99": pick(0.99), "failures": failures}}))

asyncio.run(main())
"""


@dataclass(frozen=True)
class HttpRun:
    load_generator: str
    connections: int
    gets: list[Phase]
    checkouts: list[Phase]
    sales_booked: int

    @property
    def get_per_s(self) -> float:
        return sum(p.requests_per_s for p in self.gets) / len(self.gets)

    @property
    def checkouts_per_s(self) -> float:
        return sum(p.requests_per_s for p in self.checkouts) / len(self.checkouts)

    @property
    def ratio(self) -> float:
        return self.checkouts_per_s / self.get_per_s


async def measure(connections: int, duration_s: float, rounds: int, *, hq_online: bool) -> HttpRun:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        till = await start_till(Path(tmp), hq_online=hq_online)
        try:
            body = json.dumps(SALE_BODY)
            use_wrk = wrk_available()
            gets: list[Phase] = []
            checkouts: list[Phase] = []
            for _ in range(rounds):
                for post in (None, body):
                    url = till.node_url + (SALE_PATH if post is not None else TRIVIAL_PATH)
                    phase = await asyncio.to_thread(
                        run_wrk if use_wrk else run_python_phase,
                        url,
                        till.token,
                        connections,
                        duration_s,
                        post,
                        Path(tmp),
                    )
                    (checkouts if post is not None else gets).append(phase)
            async with (
                aiohttp.ClientSession(headers={"Authorization": f"Bearer {till.token}"}) as session,
                session.get(till.node_url + "/api/sales/summary") as response,
            ):
                booked = int((await response.json())["count"])
        finally:
            await till.stop()
    return HttpRun("wrk" if use_wrk else "python", connections, gets, checkouts, booked)


def run_python_phase(
    url: str, token: str, connections: int, duration_s: float, post: str | None, _: Path
) -> Phase:
    return run_python(url, token, connections, duration_s, post)
