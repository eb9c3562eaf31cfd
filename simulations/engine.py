"""The deterministic simulator: one seeded discrete-event run of HQ and N branches.

Events run one at a time, in (time, order of scheduling) order, and each runs to
completion before the next starts, so a seed fixes every decision: trading,
network faults, the replicator's jitter, ids and keys. Production code that waits
for a later event (a till's sale waiting for HQ's answer to a hold) runs as a task
(simulations/tasks.py), stepped between events, one at a time. The code under test is
production code (protocol, replicator, node jobs, HQ service and store, real
SQLite files); only the clock and the network are simulated. A run that moves
stock adds node HQ, which keeps HQ's main warehouse as a branch keeps its own.

Phases (TigerBeetle's VOPR shape): branches trade while faults happen; then
trading stops and the run goes on until every replica has converged or the
scenario's heal budget after the last fault is spent. The invariant checkers
(simulations/invariants.py) judge the result from outside.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from hq.service import FEED_LINGER_S
from node.sync.replicator import FEED_WAIT_S, PUSH_TIMEOUT_S
from protocol.replication import Fetch, Push, WaitUntil
from simulations.hold_link import SimHQLink
from simulations.inventory_figures import transfer_figures
from simulations.inventory_ops import author_master_data
from simulations.loyalty_ops import author_points_rules
from simulations.model import BranchFigures, Heal, RunResult, Scenario
from simulations.network import Network
from simulations.shop import Ledger
from simulations.tasks import SimTasks
from simulations.trading import Tills
from simulations.world import FeedRead, SimHQ, SimNode

PUSH_TIMEOUT_MS = PUSH_TIMEOUT_S * 1000
FETCH_TIMEOUT_MS = (FEED_WAIT_S + PUSH_TIMEOUT_S) * 1000
FEED_HOLD_MS = FEED_WAIT_S * 1000
FEED_LINGER_MS = int(FEED_LINGER_S * 1000)
# Convergence after a heal is looked for this often (simulated): the figure's resolution.
CONVERGENCE_CHECK_MS = 2_000
SAMPLES = 240  # backlog samples per run, for the report's plot
# A run that schedules more events than this is a bug (an event storm), not a long scenario.
MAX_EVENTS = 20_000_000
# Simulated time starts at a fixed, realistic instant (Monday 2026-01-05 00:00
# UTC), so clocks set minutes or hours slow stay well after 1970 and a run's
# timestamps and ids are the same on every machine.
SIM_EPOCH_MS = 1_767_571_200_000

Action = Callable[[], Awaitable[None]]


@dataclass
class _Held:
    """A feed read HQ holds open (long poll) until the feed grows or the wait ends."""

    node: SimNode
    request: int
    epoch: int
    read: FeedRead
    version: int
    lingering: bool = False  # its feed grew: the answer is on its way, a linger later


@dataclass(frozen=True)
class _Fault:
    what: str
    start_ms: int
    end_ms: int  # when it heals
    branches: tuple[str, ...]  # whose convergence it holds up
    # Whether it keeps those branches apart while under way: lossy links do not
    # (everything converges through them), so they never overtake another's heal.
    blocking: bool = True


def _superseding(fault: _Fault, faults: list[_Fault], budget_ms: int) -> _Fault | None:
    """A fault that kept `fault`'s branches apart within the budget after it healed (a
    swarm draws overlapping faults): convergence is then owed after that one instead."""
    for other in faults:
        overlaps = other.start_ms < fault.end_ms + budget_ms and other.end_ms > fault.end_ms
        if other.blocking and other is not fault and overlaps and set(other.branches) & set(fault.branches):
            return other
    return None


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        workdir: Path,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.workdir = workdir
        self.on_progress = on_progress
        self.rng = random.Random(seed)
        self.now_ms = 0
        self._queue: list[tuple[int, int, Action]] = []
        self._order = itertools.count()
        self._requests = itertools.count(1)
        self.tasks = SimTasks()
        self.network = Network(scenario, random.Random(self.rng.getrandbits(64)))
        self.hq = SimHQ(workdir / "hq", self.clock, random.Random(self.rng.getrandbits(64)))
        self.nodes: dict[str, SimNode] = {}
        self.links: dict[str, SimHQLink] = {}
        for spec in scenario.nodes:
            node_rng = random.Random(self.rng.getrandbits(64))
            self.nodes[spec.code] = SimNode(
                spec.code, workdir / spec.code, self.clock, self.elapsed, spec.clock_skew_ms, node_rng
            )
        self.trading_rng = random.Random(self.rng.getrandbits(64))
        # Drawn after the others, so adding it left every earlier stream as it was.
        self.directory_rng = random.Random(self.rng.getrandbits(64))
        self.inventory_rng = random.Random(self.rng.getrandbits(64))
        self.cards_rng = random.Random(self.rng.getrandbits(64))
        self.loyalty_rng = random.Random(self.rng.getrandbits(64))
        self.ledger = Ledger()
        self.figures = {code: BranchFigures(code) for code in self.nodes}
        self._push_in_flight: dict[str, int | None] = dict.fromkeys(self.nodes)
        self._fetch_in_flight: dict[str, int | None] = dict.fromkeys(self.nodes)
        self._wakes: dict[str, int | None] = dict.fromkeys(self.nodes)
        self._held: dict[str, _Held] = {}
        self._fetch_actions: dict[int, Fetch] = {}
        self._checks_due: set[int] = set()
        self._faults: list[_Fault] = []
        self._pending_heals: list[_Fault] = []  # healed, convergence not yet judged
        self.heals: list[Heal] = []
        self.samples: list[tuple[int, dict[str, int]]] = []
        self.lag_samples: list[tuple[int, dict[str, int]]] = []
        self.events_run = 0
        # Events run and the wall time they took (tasks they woke included), by the
        # function that ran them: what a slow scenario spends its time on.
        self._kind_counts: Counter[str] = Counter()
        self._kind_wall_s: dict[str, float] = defaultdict(float)
        self.converged_at_ms: int | None = None
        self.deadline_ms = max(scenario.duration_ms, scenario.last_fault_end_ms()) + scenario.heal_budget_ms
        self.startup_s = 0.0  # wall time HQ and the branches took to start (run)
        self.tills = Tills(self)

    def elapsed(self) -> int:
        return self.now_ms

    def clock(self) -> int:
        """The true wall clock the simulated HQ and branches read (before any skew)."""
        return SIM_EPOCH_MS + self.now_ms

    def schedule(self, at_ms: int, action: Action) -> None:
        heapq.heappush(self._queue, (max(at_ms, self.now_ms), next(self._order), action))

    # -- the run ------------------------------------------------------------------

    async def run(self) -> RunResult:
        quiet = _Quiet()
        try:
            started = time.perf_counter()
            await self.start()
            self.startup_s = time.perf_counter() - started
            await self.advance(self.deadline_ms)
            self.now_ms = min(max(self.now_ms, self.scenario.duration_ms), self.deadline_ms)
        finally:
            quiet.restore()
        conflicts: dict[str, Counter[str]] = {}
        for conflict in await self.hq.hq.store.conflicts(None):
            conflicts.setdefault(conflict.kind, Counter())[conflict.state] += 1
        return RunResult(
            scenario=self.scenario,
            seed=self.seed,
            ended_at_ms=self.now_ms,
            converged_at_ms=self.converged_at_ms,
            branches=self.figures,
            heals=self.heals,
            backlog_samples=self.samples,
            lag_samples=self.lag_samples,
            messages_dropped=self.network.dropped,
            messages_duplicated=self.network.duplicated,
            bytes_total=self.network.bytes_total,
            events_run=self.events_run,
            event_kinds={_kind_name(kind): n for kind, n in self._kind_counts.items()},
            event_wall_s={_kind_name(kind): wall for kind, wall in self._kind_wall_s.items()},
            conflicts={kind: dict(sorted(states.items())) for kind, states in sorted(conflicts.items())},
            inventory=transfer_figures(self) if self.scenario.uses_inventory else None,
        )

    async def close(self) -> None:
        await self.tasks.cancel_all()
        for node in self.nodes.values():
            await node.crash()
        await self.hq.close()

    async def start(self) -> None:
        """HQ and the branches up; trading, faults, samples and checks scheduled."""
        scenario = self.scenario
        await self.hq.open()
        if scenario.uses_inventory:
            await author_master_data(self)
        if scenario.uses_loyalty:
            await author_points_rules(self)
        for node in self.nodes.values():
            node.config = await self.hq.enroll(node.code, node.key)
            await self._start(node)
            self.schedule(0, self._driver(node))
            self.tills.start(node)
        self.tills.start_operator()
        if scenario.uses_loyalty:
            self.tills.loyalty.start_checkpoints()
        everyone = tuple(self.nodes)
        faults: list[_Fault] = []
        for crash in scenario.crashes:
            for n in range(crash.repeat):
                at = crash.at_ms + n * crash.every_ms
                self.schedule(at, self._crash(crash.branch))
                self.schedule(at + crash.down_ms, self._restart(crash.branch))
                faults.append(_Fault(f"restart of {crash.branch}", at, at + crash.down_ms, (crash.branch,)))
        for outage in scenario.hq_outages:
            self.schedule(outage.start_ms, self._hq_goes_down)
            faults.append(
                _Fault("HQ outage", outage.start_ms, outage.start_ms + outage.duration_ms, everyone)
            )
        for partition in scenario.partitions:
            self.schedule(partition.start_ms, self._cut(partition.branches))
            end = partition.start_ms + partition.duration_ms
            faults.append(
                _Fault(
                    f"partition of {', '.join(partition.branches)}",
                    partition.start_ms,
                    end,
                    partition.branches,
                )
            )
        for link in scenario.link_faults:
            end = link.start_ms + link.duration_ms
            faults.append(
                _Fault("link faults", link.start_ms, end, link.branches or everyone, blocking=False)
            )
        self._faults = faults
        for fault in faults:
            self._heal_at(fault)
        step = max(1_000, self.deadline_ms // SAMPLES)
        for at in range(0, self.deadline_ms + step, step):
            self.schedule(at, self._sample)
        self._schedule_check(scenario.duration_ms)

    async def advance(self, until_ms: int) -> None:
        """Run the events due by `until_ms` (the deadline at most), each with the tasks it
        wakes; stop early once every replica has converged after trading."""
        until_ms = min(until_ms, self.deadline_ms)
        while self._queue and self._queue[0][0] <= until_ms:
            at_ms, _, action = heapq.heappop(self._queue)
            self.now_ms = at_ms
            started = time.perf_counter()
            await action()
            await self.tasks.settle()
            kind = action.__qualname__
            self._kind_counts[kind] += 1
            self._kind_wall_s[kind] += time.perf_counter() - started
            self.events_run += 1
            if self.events_run > MAX_EVENTS:
                raise RuntimeError(f"more than {MAX_EVENTS} events: an event storm, not a scenario")
            if self.converged_at_ms is not None and self.now_ms >= self.scenario.duration_ms:
                break

    # -- replication: the replicator's decisions, carried by the simulated network --

    def _driver(self, node: SimNode) -> Action:
        async def drive() -> None:
            await self.drive(node)

        return drive

    async def drive(self, node: SimNode) -> None:
        if not node.up:
            return
        rep = node.rep
        action = rep.push.poll(self.now_ms)
        if isinstance(action, Push):
            body = await rep.prepare_push(action)
            self._send_push(node, body)
        elif isinstance(action, WaitUntil):
            self._wake(node, action.at_ms)
        fetch = rep.pull.poll(self.now_ms)
        if isinstance(fetch, Fetch):
            path_qs, headers = rep.prepare_fetch(fetch)
            self._send_fetch(node, fetch, path_qs, headers)
        elif isinstance(fetch, WaitUntil):
            self._wake(node, fetch.at_ms)

    def _wake(self, node: SimNode, at_ms: int) -> None:
        pending = self._wakes[node.code]
        if pending is not None and pending <= at_ms:
            return
        self._wakes[node.code] = at_ms

        async def wake() -> None:
            if self._wakes[node.code] == at_ms:
                self._wakes[node.code] = None
            await self.drive(node)

        self.schedule(at_ms, wake)

    def _send_push(self, node: SimNode, body: bytes) -> None:
        request, epoch = next(self._requests), node.epoch
        self._push_in_flight[node.code] = request
        figures = self.figures[node.code]
        figures.batches_sent += 1
        figures.bytes_sent += len(body)

        async def hq_receives() -> None:
            if self.network.hq_down(self.now_ms):
                return
            status, answer = await self.hq.push(body)
            for at in self.network.send(node.code, self.now_ms, len(answer)):
                self.schedule(at, node_receives(status, answer))
            await self.release_held()

        def node_receives(status: int, answer: bytes) -> Action:
            async def receive() -> None:
                if node.epoch != epoch or self._push_in_flight[node.code] != request:
                    return  # a duplicate, or an answer to a request already given up
                self._push_in_flight[node.code] = None
                await node.rep.push_answered(status, answer)
                self.links[node.code].acks_moved()
                await self.drive(node)

            return receive

        async def timeout() -> None:
            if node.epoch == epoch and self._push_in_flight[node.code] == request:
                self._push_in_flight[node.code] = None
                node.rep.push_unanswered("timed out")
                await self.drive(node)

        for at in self.network.send(node.code, self.now_ms, len(body)):
            self.schedule(at, hq_receives)
        self.schedule(self.now_ms + PUSH_TIMEOUT_MS, timeout)

    def _send_fetch(self, node: SimNode, fetch: Fetch, path_qs: str, headers: dict[str, str]) -> None:
        request, epoch = next(self._requests), node.epoch
        self._fetch_in_flight[node.code] = request

        async def hq_receives() -> None:
            if self.network.hq_down(self.now_ms):
                return
            version = self.hq.feed_version(node.code)
            status, answer, held = await self.hq.feed(path_qs, headers)
            if held is not None:
                self._held[node.code] = _Held(node, request, epoch, held, version)
                self.schedule(self.now_ms + FEED_HOLD_MS, self._answer_held(node.code, request))
                return
            self._answer_fetch(node, fetch, request, epoch, status, answer)

        async def timeout() -> None:
            if node.epoch == epoch and self._fetch_in_flight[node.code] == request:
                self._fetch_in_flight[node.code] = None
                node.rep.fetch_unanswered("timed out")
                await self.drive(node)

        self._fetch_actions[request] = fetch
        for at in self.network.send(node.code, self.now_ms, len(path_qs)):
            self.schedule(at, hq_receives)
        self.schedule(self.now_ms + FETCH_TIMEOUT_MS, timeout)

    def _answer_fetch(
        self, node: SimNode, fetch: Fetch, request: int, epoch: int, status: int, answer: bytes
    ) -> None:
        async def node_receives() -> None:
            if node.epoch != epoch or self._fetch_in_flight[node.code] != request:
                return
            self._fetch_in_flight[node.code] = None
            await node.rep.fetch_answered(fetch, status, answer)
            await self.drive(node)

        for at in self.network.send(node.code, self.now_ms, len(answer)):
            self.schedule(at, node_receives)

    def _answer_held(self, code: str, request: int) -> Action:
        async def answer() -> None:
            held = self._held.get(code)
            if held is None or held.request != request or self.network.hq_down(self.now_ms):
                return
            del self._held[code]
            status, body, _ = await self.hq.page(held.read)
            self._answer_fetch(held.node, self._fetch_actions[request], request, held.epoch, status, body)

        return answer

    async def release_held(self) -> None:
        """Held feed reads of branches whose feed grew are answered FEED_LINGER_S later,
        with whatever else their feeds gained meanwhile (long poll, hq.service)."""
        for code in sorted(self._held):
            held = self._held[code]
            if not held.lingering and self.hq.feed_version(code) != held.version:
                held.lingering = True
                self.schedule(self.now_ms + FEED_LINGER_MS, self._answer_held(code, held.request))

    # -- faults -------------------------------------------------------------------

    async def _hq_goes_down(self) -> None:
        # Open connections are reset: held feed reads fail at once at the branch.
        for code in sorted(self._held):
            held = self._held.pop(code)
            self._answer_fetch_failure(held)

    def _answer_fetch_failure(self, held: _Held) -> None:
        async def reset() -> None:
            node = held.node
            if node.epoch == held.epoch and self._fetch_in_flight[node.code] == held.request:
                self._fetch_in_flight[node.code] = None
                node.rep.fetch_unanswered("connection reset")
                await self.drive(node)

        self.schedule(self.now_ms, reset)

    def _cut(self, branches: tuple[str, ...]) -> Action:
        async def cut() -> None:
            for code in branches:
                held = self._held.pop(code, None)
                if held is not None:
                    self._answer_fetch_failure(held)

        return cut

    def _crash(self, code: str) -> Action:
        async def crash() -> None:
            node = self.nodes[code]
            if not node.up:
                return
            self.figures[code].crashes += 1
            # A sale waiting for HQ dies with the till: it books nothing and releases nothing.
            await self.tasks.cancel(code)
            self._held.pop(code, None)
            self._push_in_flight[code] = self._fetch_in_flight[code] = None
            self._wakes[code] = None
            await node.crash()

        return crash

    def _restart(self, code: str) -> Action:
        async def restart() -> None:
            node = self.nodes[code]
            if node.up:
                return
            await self._start(node)
            await self.drive(node)

        return restart

    async def _start(self, node: SimNode) -> None:
        """Start (or restart) a node, with a new link to HQ for its tills' holds."""
        await node.start()
        self.links[node.code] = SimHQLink(
            node, self.hq, self.network, self.tasks, self.schedule, self.elapsed, self._driver(node)
        )

    def _heal_at(self, fault: _Fault) -> None:
        async def healed() -> None:
            self._pending_heals.append(fault)
            self._schedule_check(self.now_ms)

        self.schedule(fault.end_ms, healed)

    # -- convergence and samples ------------------------------------------------------

    async def _replica_converged(self, code: str) -> bool:
        node = self.nodes[code]
        if not node.up:
            return False
        branch = await self.hq.hq.store.branch(code)
        _, available = await self.hq.hq.store.feed_after(code, 0, 0, 0)
        return (
            branch is not None
            and branch.acked_seq == node.rep.push.head_seq
            and node.rep.pull.cursor_seq == available
        )

    def _schedule_check(self, at_ms: int) -> None:
        """A convergence check at `at_ms`, unless one is already due then."""
        if at_ms in self._checks_due:
            return
        self._checks_due.add(at_ms)

        async def check() -> None:
            self._checks_due.discard(at_ms)
            await self._check_converged()

        self.schedule(at_ms, check)

    async def _all_converged(self) -> bool:
        return all([await self._replica_converged(code) for code in sorted(self.nodes)])

    async def _check_converged(self) -> None:
        still: list[_Fault] = []
        budget_ms = self.scenario.heal_budget_ms
        for fault in self._pending_heals:
            if all([await self._replica_converged(code) for code in fault.branches]):
                self.heals.append(Heal(fault.what, fault.end_ms, self.now_ms - fault.end_ms))
            elif self.now_ms - fault.end_ms > budget_ms:
                later = _superseding(fault, self._faults, budget_ms)
                self.heals.append(Heal(fault.what, fault.end_ms, None, None if later is None else later.what))
            else:
                still.append(fault)
        self._pending_heals = still
        after_faults = self.now_ms >= max(self.scenario.duration_ms, self.scenario.last_fault_end_ms())
        if after_faults and self.converged_at_ms is None and await self._all_converged():
            self.converged_at_ms = self.now_ms
        if still or (after_faults and self.converged_at_ms is None):
            self._schedule_check(self.now_ms + CONVERGENCE_CHECK_MS)

    async def _sample(self) -> None:
        backlog, lag = {}, {}
        for code, node in sorted(self.nodes.items()):
            if node.up:
                node.last_lag_ms = await node.lag_ms()
            backlog[code] = node.rep.push.backlog if node.up else node.last_backlog
            lag[code] = node.last_lag_ms
            figures = self.figures[code]
            figures.peak_backlog = max(figures.peak_backlog, backlog[code])
            figures.peak_lag_ms = max(figures.peak_lag_ms, lag[code])
        self.samples.append((self.now_ms, backlog))
        self.lag_samples.append((self.now_ms, lag))
        if self.on_progress is not None:
            self.on_progress(min(self.now_ms, self.deadline_ms), self.deadline_ms)


class _Quiet:
    """The production code logs every refused push and unreachable HQ; in a
    simulation those are the point, so only errors are let through."""

    def __init__(self) -> None:
        self.levels = {name: logging.getLogger(name).level for name in ("node", "hq")}
        for name in self.levels:
            logging.getLogger(name).setLevel(logging.ERROR)

    def restore(self) -> None:
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)


def _kind_name(qualname: str) -> str:
    """An event's function as the report names it: "Simulation._send_fetch.<locals>.timeout"
    is "send_fetch.timeout"."""
    parts = [part.lstrip("_") for part in qualname.split(".") if part != "<locals>"]
    return ".".join(parts[1:] if parts[0] == "Simulation" and len(parts) > 1 else parts)
