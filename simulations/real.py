"""`branchline simulate --real`: a scenario played by real HQ and node processes on 127.0.0.1.

Each branch reaches HQ through its own `FaultyLink`; partitions cut it, link faults
make it lossy and slow, crashes SIGKILL the node, HQ outages SIGKILL HQ. Scenario time
runs `speed` times faster than real time. Invariants are judged through the public
HTTP APIs only, as an ops person would check them.

Everyone logs in, as in production: HQ is made with the demo operators, plus a store
manager and a clerk for every branch of the scenario beyond the demo ones; the tills
work as their branch's clerk, the checks read each node as its store manager and HQ
as its finance operator (who sees every figure and changes none). Everyone logs in
before the scenario's clock starts, once each branch's first feed has brought its
operators: a branch cut off from the start could not be logged in to at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from hq.setup import DEMO_PASSWORD, add_branch_staff, clerk_login, init_hq, issue_enroll_token, manager_login
from launch.logins import Logins
from launch.processes import ServerProcess, free_port, stop_all
from node.sync.enroll import enroll
from simulations.model import BranchFigures, Heal, RunResult, Scenario, Violation
from simulations.proxy import FaultyLink
from simulations.real_checks import check_invariants, converged_branches
from simulations.real_trading import Branch, trade

# A scenario, trading plus heal budget, runs in about this much real time by default.
TARGET_REAL_S = 60.0
# Below this speed a run takes longer than it teaches anything the seeded mode does not.
MIN_DEFAULT_SPEED = 60.0
# The processes' own timers are real: a replicator backs off up to 10 s
# (protocol.replication.BACKOFF_CAP_MS) and connects within 5 s, whatever the speed,
# so convergence is never judged against less real time than this.
MIN_REAL_HEAL_BUDGET_S = 15.0
POLL_S = 0.25  # backlog samples and convergence checks, real seconds
REQUEST_TIMEOUT_S = 10.0
# Past this a 30 s crash lasts under a millisecond of real time: nothing is rehearsed.
MAX_SPEED = 100_000.0
# The checks' operator at HQ: every figure to view (branches, totals, members), nothing to change.
HQ_READER = "finance"


def default_speed(scenario: Scenario) -> float:
    """Scenario ms per real ms: at least MIN_DEFAULT_SPEED, fast enough for TARGET_REAL_S."""
    return max(MIN_DEFAULT_SPEED, (scenario.duration_ms + scenario.heal_budget_ms) / (TARGET_REAL_S * 1000))


def not_applied(scenario: Scenario) -> list[str]:
    """What the scenario asks for that real processes on one machine cannot be given."""
    notes = []
    skewed = [b.code for b in scenario.branches if b.clock_skew_ms]
    if skewed:
        notes.append(
            f"clock skew of {', '.join(skewed)} NOT applied: real processes share this machine's clock"
        )
    if any(f.duplicate or f.reorder for f in scenario.link_faults):
        notes.append("duplicate/reorder NOT applied: a TCP proxy cannot duplicate or reorder HTTP messages")
    loads = [scenario.load, *(b.load for b in scenario.branches if b.load is not None)]
    if any(load.uses_directory for load in loads) or scenario.resolutions_per_minute:
        notes.append(
            "member directory operations (duplicates, edits, top-ups, card spends, card status,"
            " vouchers, conflict resolutions) NOT applied: real mode rings up cash sales and"
            " registrations only"
        )
    if scenario.uses_cards:
        notes.append(
            "cards of a type (card sales, uses spent, time-card visits) NOT applied: real mode rings up"
            " cash sales and registrations only"
        )
    if scenario.uses_loyalty:
        notes.append(
            "points rules, sales paid with points, conversions, points returns and referrals NOT applied:"
            " real mode rings up cash sales and registrations only"
        )
    if scenario.uses_inventory:
        notes.append(
            "receipts, transfers, stocktakes, returns (and HQ's warehouse node) NOT applied: real mode rings"
            " up cash sales and registrations only"
        )
    return notes


@dataclass
class _Clock:
    speed: float
    started: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()

    def now_ms(self) -> int:
        """Scenario time: real time elapsed, times the speed."""
        return int((time.monotonic() - self.started) * 1000 * self.speed)

    async def sleep_until(self, at_ms: int) -> None:
        delay_s = (at_ms - self.now_ms()) / self.speed / 1000
        if delay_s > 0:
            await asyncio.sleep(delay_s)


async def run_real(scenario: Scenario, seed: int, *, speed: float, workdir: Path) -> RunResult:
    """Play `scenario` with real processes in `workdir`; every process and proxy is stopped at the end."""
    if speed <= 0:
        raise ValueError(f"speed must be above zero, not {speed}")
    rng = random.Random(seed)
    clock = _Clock(speed)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    hq_dir = workdir / "hq"
    await init_hq(hq_dir, demo_data=True)
    await add_branch_staff(hq_dir, [spec.code for spec in scenario.branches], "branchline simulate --real")
    hq_log = workdir / "logs" / "hq.log"
    hq = ServerProcess(["hq", "serve", "--data", str(hq_dir)], free_port(0), "/api/branches", hq_log)
    branches: dict[str, Branch] = {}
    links: list[FaultyLink] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        await hq.start()
        for spec in scenario.branches:
            link = FaultyLink(spec.code, hq.port)
            await link.start()
            links.append(link)
            node_dir = workdir / spec.code
            await enroll(node_dir, spec.code, link.url, await issue_enroll_token(hq_dir, spec.code))
            args = ["node", "serve", "--data", str(node_dir)]
            node = ServerProcess(args, free_port(0), "/api/sync", workdir / "logs" / f"{spec.code}.log")
            branches[spec.code] = Branch(spec, node, link, BranchFigures(spec.code))
            await branches[spec.code].start()
        tills, checks = Logins(), Logins()
        checks.act_as(hq.url, HQ_READER, DEMO_PASSWORD)
        for code, branch in branches.items():
            tills.act_as(branch.url, clerk_login(code), DEMO_PASSWORD)
            checks.act_as(branch.url, manager_login(code), DEMO_PASSWORD)
        await asyncio.gather(
            checks.token(hq.url), *(s.token(b.url) for b in branches.values() for s in (tills, checks))
        )
        async with tills.session(timeout=timeout) as till_session, checks.session(timeout=timeout) as session:
            return await _play(scenario, seed, rng, clock, till_session, session, hq.url, hq, branches)
    finally:
        for link in links:
            await link.close()
        nodes = [b.node.process for b in branches.values() if b.node.process is not None]
        await stop_all([p for p in (hq.process, *nodes) if p is not None])


async def _play(
    scenario: Scenario,
    seed: int,
    rng: random.Random,
    clock: _Clock,
    till_session: aiohttp.ClientSession,
    session: aiohttp.ClientSession,
    hq_url: str,
    hq: ServerProcess,
    branches: dict[str, Branch],
) -> RunResult:
    """`till_session` acts as each branch's clerk; `session` as the checks' operators."""
    pending: list[tuple[str, int, tuple[str, ...]]] = []  # heals awaiting convergence
    heals: list[Heal] = []
    samples: list[tuple[int, dict[str, int]]] = []
    budget_ms = max(scenario.heal_budget_ms, int(MIN_REAL_HEAL_BUDGET_S * 1000 * clock.speed))
    for line in (*not_applied(scenario), f"seed {seed}, speed {clock.speed:g}x, heal budget {budget_ms} ms"):
        print(f"simulate --real: {line}", flush=True)
    faults = _fault_tasks(scenario, clock, rng, hq, branches, pending)
    clock.start()
    stop_trading = asyncio.Event()
    tasks = [asyncio.create_task(f()) for f in faults]
    traders = [
        asyncio.create_task(
            trade(b, scenario, clock.speed, rng.randrange(2**32), till_session, branches, stop_trading)
        )
        for b in branches.values()
    ]
    monitor = asyncio.create_task(
        _monitor(clock, session, hq_url, branches, pending, heals, samples, budget_ms)
    )
    try:
        await clock.sleep_until(scenario.duration_ms)
        stop_trading.set()
        await asyncio.gather(*traders)
        await asyncio.gather(*tasks)
        last_ms = max(scenario.duration_ms, scenario.last_fault_end_ms(), clock.now_ms())
        converged_at_ms: int | None = None
        while clock.now_ms() <= last_ms + budget_ms:
            done = await converged_branches(session, hq_url, branches)
            if len(done) == len(branches):
                converged_at_ms = clock.now_ms()
                break
            await asyncio.sleep(POLL_S)
        await asyncio.sleep(POLL_S * 2)  # let the monitor settle the heals it still holds
    finally:
        stop_trading.set()
        for task in (*tasks, *traders, monitor):
            task.cancel()
        await asyncio.gather(*tasks, *traders, monitor, return_exceptions=True)
    for what, healed_at_ms, _ in pending:
        heals.append(Heal(what, healed_at_ms, None))
    violations = await check_invariants(session, hq_url, branches)
    if converged_at_ms is None:
        violations.append(
            Violation("convergence", f"replicas not converged within {budget_ms} ms of the last heal")
        )
    for heal in heals:
        if heal.converged_after_ms is None:
            violations.append(
                Violation("convergence", f"{heal.what} at {heal.healed_at_ms} ms never converged")
            )
    for code, figures in ((c, b.figures) for c, b in branches.items()):
        figures.peak_backlog = max((s[1].get(code, 0) for s in samples), default=0)
        figures.bytes_sent = branches[code].link.bytes_to_hq
    links = [b.link for b in branches.values()]
    return RunResult(
        scenario=scenario,
        seed=seed,
        ended_at_ms=clock.now_ms(),
        converged_at_ms=converged_at_ms,
        branches={code: b.figures for code, b in branches.items()},
        heals=sorted(heals, key=lambda h: (h.healed_at_ms, h.what)),
        violations=violations,
        backlog_samples=samples,
        messages_dropped=sum(link.dropped for link in links),
        bytes_total=sum(link.bytes_to_hq + link.bytes_from_hq for link in links),
        events_run=sum(b.requests for b in branches.values()),
    )


def _fault_tasks(
    scenario: Scenario,
    clock: _Clock,
    rng: random.Random,
    hq: ServerProcess,
    branches: dict[str, Branch],
    pending: list[tuple[str, int, tuple[str, ...]]],
) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """One coroutine per fault window: wait for its start, apply it, wait for its end, heal it."""
    cuts = dict.fromkeys(branches, 0)  # overlapping partitions: a link heals when the last one ends
    everyone = tuple(branches)

    def healed(what: str, codes: tuple[str, ...]) -> None:
        pending.append((what, clock.now_ms(), codes))

    def partition(
        codes: tuple[str, ...], start_ms: int, end_ms: int
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            await clock.sleep_until(start_ms)
            for code in codes:
                cuts[code] += 1
                branches[code].link.cut()
            await clock.sleep_until(end_ms)
            for code in codes:
                cuts[code] -= 1
                if cuts[code] == 0:
                    branches[code].link.heal()
            healed(f"partition of {', '.join(codes)}", codes)

        return run

    def lossy(
        codes: tuple[str, ...], loss: float, delay_ms: tuple[int, int], start_ms: int, end_ms: int
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            await clock.sleep_until(start_ms)
            for code in codes:
                branches[code].link.set_faults(loss, delay_ms, random.Random(rng.randrange(2**32)))
            await clock.sleep_until(end_ms)
            for code in codes:
                branches[code].link.set_faults(0.0, (0, 0), rng)
            healed("link faults", codes)

        return run

    def crash(code: str, at_ms: int, down_ms: int) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            await clock.sleep_until(at_ms)
            await branches[code].crash()
            await clock.sleep_until(at_ms + down_ms)
            await branches[code].start()
            healed(f"restart of {code}", (code,))

        return run

    def outage(start_ms: int, end_ms: int) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            await clock.sleep_until(start_ms)
            await hq.kill()
            await clock.sleep_until(end_ms)
            await hq.start()  # same port, same SQLite files: HQ resumes where it died
            healed("HQ outage", everyone)

        return run

    # Faults on HQ's warehouse node are left out with the node itself (see not_applied).
    def here(codes: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(code for code in codes if code in branches)

    faults = [
        partition(here(p.branches), p.start_ms, p.start_ms + p.duration_ms)
        for p in scenario.partitions
        if here(p.branches)
    ]
    faults += [
        lossy(
            here(f.branches) or everyone, f.loss, f.extra_latency_ms, f.start_ms, f.start_ms + f.duration_ms
        )
        for f in scenario.link_faults
        if here(f.branches) or not f.branches
    ]
    faults += [
        crash(c.branch, c.at_ms + n * c.every_ms, c.down_ms)
        for c in scenario.crashes
        if c.branch in branches
        for n in range(c.repeat)
    ]
    faults += [outage(o.start_ms, o.start_ms + o.duration_ms) for o in scenario.hq_outages]
    return faults


async def _monitor(
    clock: _Clock,
    session: aiohttp.ClientSession,
    hq_url: str,
    branches: dict[str, Branch],
    pending: list[tuple[str, int, tuple[str, ...]]],
    heals: list[Heal],
    samples: list[tuple[int, dict[str, int]]],
    budget_ms: int,
) -> None:
    """Every POLL_S: a backlog sample per branch, and the heals whose branches have converged."""
    while True:
        now_ms = clock.now_ms()
        samples.append((now_ms, {code: await _backlog(session, b) for code, b in branches.items()}))
        if pending:
            done = await converged_branches(session, hq_url, branches)
            for item in list(pending):
                what, healed_at_ms, codes = item
                if set(codes) <= done:
                    heals.append(Heal(what, healed_at_ms, max(0, now_ms - healed_at_ms)))
                elif now_ms - healed_at_ms > budget_ms:
                    heals.append(Heal(what, healed_at_ms, None))
                else:
                    continue
                pending.remove(item)
        await asyncio.sleep(POLL_S)


async def _backlog(session: aiohttp.ClientSession, branch: Branch) -> int:
    status: dict[str, Any] | None = None
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with session.get(branch.url + "/api/sync") as response:
            if response.status == 200:
                status = await response.json()
    if status is None:  # down: its backlog is what it was
        return branch.last_backlog
    branch.last_backlog = int(status["backlog"])
    return branch.last_backlog


def simulate_real(
    scenario_path: Path, *, seed: int | None, speed: float | None, report: Path | None, console: Console
) -> int:
    """The command: one real run; 0 when it held every invariant, 1 otherwise."""
    from simulations.report import summary_table, write_html_report
    from simulations.scenario import load_scenario

    scenario = load_scenario(scenario_path)
    run_seed = scenario.seed if seed is None else seed
    run_speed = default_speed(scenario) if speed is None else speed
    if not 0 < run_speed <= MAX_SPEED:
        console.print(f"[red]--speed must be above 0 and at most {MAX_SPEED:g}[/]")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="branchline-real-") as scratch:
        result = asyncio.run(run_real(scenario, run_seed, speed=run_speed, workdir=Path(scratch)))
    console.print(summary_table(result, str(scenario_path)))
    for note in not_applied(scenario):
        console.print(f"[yellow]{note}[/]")
    console.print(f"real run: {time.monotonic() - started:.1f} s at {run_speed:g}x")
    if not result.ok:
        console.print(f"[red]seed {run_seed} FAILED[/] (real processes: a rerun may differ in timing)")
    if report is not None:
        write_html_report(result, str(scenario_path), report)
        console.print(f"report written to {report}")
    return 0 if result.ok else 1
