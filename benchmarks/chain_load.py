"""A chain's load on HQ: many enrolled branches at once over the real protocol, on SQLite
with one HQ process and on PostgreSQL with one and with three, in the same run.

HQ runs as `python -m branchline hq serve` processes on 127.0.0.1: one on a fresh
SQLite folder; then, on one fresh PostgreSQL database, one process and afterwards
three (the three share the database; the branches are spread over their ports
client-side, round robin, no HAProxy). Every simulated branch has its own key
and enrolls with a one-time token (POST /api/enroll), once per store: the three
PostgreSQL processes serve the branches the one enrolled, on a database that also
holds its trading. One branch registers a member with a few stored-value cards
and tops them up; every branch is given one of them. Then, for --seconds, each
branch trades as a node does: sales arrive at random (Poisson, --rate per minute
per branch), each one signed checkout entry in the branch's hash chain, pushed
at once as a signed batch with its signed backlog (POST /api/push, one push in
flight per branch); one sale in ten (--hold-share) is paid from the card, held
online at HQ first (POST /api/holds; a fifth of those are cancelled and the hold
released, DELETE /api/holds/ID, the rest captured by the sale's ledger entry);
and each branch reads its feed with a signed GET /api/feed every 20 s. The
figures are taken over that window. Then every branch pushes a backlog of
--burst sales at once, as after an outage: HQ's ingest capacity with every
branch pushing. Afterwards HQ's own store is checked: every acknowledged sale
counted once, nothing set aside, every captured spend off its card.

    .venv/bin/python -m benchmarks.chain_load [--branches 1000] [--rate 2] [--seconds 30]
        [--burst 20] [--hold-share 0.1] [--configs sqlite,pg1,pg3] [--pg-fsync on] [--readme]

Reading the figures:
- Load generator, HQ processes and PostgreSQL share the machine's cores; the
  load generator's own CPU is shown so its share can be judged.
- PostgreSQL runs with its default durability (fsync on, synchronous_commit on),
  as HQ's SQLite store commits with synchronous=FULL; `--pg-fsync off` shows
  what durability costs.
- A real node long-polls its feed (wait_s=20) and is woken by every change for
  it; every online spend's ledger record is a change for every other branch.
  Here feed reads do not wait and come every 20 s per branch, the rate of an
  idle node's long-polls; the wake-ups of 1,000 held long-polls are not
  reproduced. Each branch's feed is read from where it stood when trading starts
  (the master data and warehouses enrollment put there are skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import pwd
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.common import (
    FIGURES_ENV,
    README,
    Report,
    percentile,
    readme_block,
    setup_logging,
    write_readme,
)
from benchmarks.ingest import MSGPACK, now_ms, sale_payload
from hq.operation_log import Operation
from hq.setup import init_hq, on_this_machine, open_store, token_hash
from launch.processes import free_port, spawn, stop_all, wait_ready
from node.services.holds import HOLD_SYNC_WAIT_S, HOLD_TIMEOUT_S
from node.sync.hq_client import HOLD_PLACED_STATUS, auth_header
from node.sync.replicator import FEED_WAIT_S, PUSH_TIMEOUT_S
from protocol import messages
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.hlc import HybridLogicalClock
from protocol.ids import uuid7
from protocol.limits import MAX_BATCH_ENTRIES
from protocol.signing import generate_private_key, public_key_bytes, sign_backlog
from tests.postgres import Cluster

CONFIGS = ("sqlite", "pg1", "pg3")
CONFIG_TITLES = {
    "sqlite": "SQLite, 1 HQ process",
    "pg1": "PostgreSQL, 1 HQ process",
    "pg3": "PostgreSQL, 3 HQ processes (client-side round robin)",
}
CONFIG_PROCESSES = {"sqlite": 1, "pg1": 1, "pg3": 3}

# One session for every branch, at most this many connections to HQ at once.
CONNECTIONS = 200
ENROLL_CONCURRENCY = 50
TOKEN_TTL_S = 3600
# Stored-value cards one branch registers (on one member) and tops up; branch i uses card i % CARDS.
CARDS = 20
CARD_TOP_UP_FEN = 1_000_000_000
HOLD_SHARE = 0.1  # of sales, by default: paid from the card and held online first
RELEASE_SHARE = 0.2  # of holds placed, the sale is cancelled and the hold released
# An idle node's feed long-poll touches HQ once per FEED_WAIT_S; here a read that does not wait.
FEED_EVERY_S = float(FEED_WAIT_S)
FAR_AHEAD_SEQ = 10**15  # a feed cursor beyond any feed: the read answers the feed's head only
RETRY_S = 1.0  # after a failed push
# Every wait is bounded: a stuck run fails with a message, it never hangs.
SETUP_BOUND_S = 120.0
ENROLL_BOUND_S = 900.0  # each enrollment tells every branch enrolled before of its warehouse
DRAIN_BOUND_S = 60.0
BURST_BOUND_S = 300.0

# Where --readme writes the run's tables in README.md.
README_BEGIN = "<!-- chain load: begin -->"
README_END = "<!-- chain load: end -->"
TARGET_PUSH_P99_MS = 500.0
TARGET_INGEST_RATIO = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU time from /proc ---------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on: the command name may hold spaces."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
        data = handle.read()
    return data[data.rindex(")") + 2 :].split()


def process_cpu_s(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of a live process (fields 14 and 15), and with
    `reaped_children` those of its children it has waited for (16 and 17)."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def children_of(parent: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if int(_stat_fields(int(name))[1]) == parent:
                found.append(int(name))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return found


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds of the HQ processes, of the PostgreSQL server (postmaster, its live
    children and the children it reaped) and of this load generator."""

    hq_pids: list[int]
    postmaster: int | None

    def read(self) -> tuple[float, float, float]:
        hq = sum(process_cpu_s(pid) for pid in self.hq_pids)
        pg = 0.0
        if self.postmaster is not None:
            pg = process_cpu_s(self.postmaster, reaped_children=True)
            pg += sum(process_cpu_s(pid) for pid in children_of(self.postmaster))
        return hq, pg, own_cpu_s()


@dataclass
class CpuUse:
    hq_s: float
    pg_s: float
    client_s: float

    @staticmethod
    def between(before: tuple[float, float, float], after: tuple[float, float, float]) -> CpuUse:
        return CpuUse(after[0] - before[0], after[1] - before[1], after[2] - before[2])


# -- a throwaway PostgreSQL cluster ------------------------------------------------------------


def _as_postgres(command: list[str]) -> list[str]:
    return command if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *command]


@contextlib.contextmanager
def postgres_cluster(fsync: bool) -> Iterator[Cluster]:
    """tests.postgres's throwaway cluster (initdb, pg_ctl, a free loopback port, C
    collation), but with PostgreSQL's default durability unless `fsync` is off."""
    missing = [tool for tool in ("initdb", "pg_ctl") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"PostgreSQL's {' and '.join(missing)} are not on the PATH; install PostgreSQL 15")
    root = Path(tempfile.mkdtemp(prefix="bench-chain-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster = Cluster(root, free_port())
        initdb = [
            "initdb",
            "-D",
            str(root / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--locale=C",
            "-E",
            "UTF8",
        ]
        subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
        options = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {root} -c max_connections=100"
        if not fsync:
            options += " -c fsync=off"
        cluster.pg_ctl("-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            yield cluster
        finally:
            cluster.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def postmaster_pid(cluster: Cluster) -> int:
    return int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])


# -- HQ processes ------------------------------------------------------------------------------


@dataclass
class HQProcesses:
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    async def start(self, data_dir: Path, count: int, logs: Path, label: str) -> None:
        for number in range(count):
            port = free_port()
            log_path = logs / f"{label}-hq-{number}.log"
            process = await spawn(["hq", "serve", "--data", str(data_dir), "--port", str(port)], log_path)
            self.processes.append(process)
            url = f"http://127.0.0.1:{port}"
            # One at a time: the first to start migrates the database, the others wait for it.
            await wait_ready(url + "/api/health", process, log_path)
            self.urls.append(url)

    async def stop(self) -> None:
        await stop_all(self.processes)


# -- a simulated branch ------------------------------------------------------------------------


def branch_code(number: int) -> str:
    return f"L{number:04d}"


def card_id(number: int) -> str:
    return f"LOAD-CARD-{number:02d}"


@dataclass(eq=False)
class SimBranch:
    """A branch's side of the protocol: its key, its hash chain, what HQ acknowledged."""

    code: str
    card: str
    key: Ed25519PrivateKey = field(default_factory=generate_private_key)
    url: str = ""
    clock: HybridLogicalClock = field(default_factory=HybridLogicalClock)
    seq: int = 0
    prev_hash: bytes = GENESIS_HASH
    unsent: list[Entry] = field(default_factory=list)  # written, not yet acknowledged
    acked_seq: int = 0
    feed_cursor: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    acked: asyncio.Event = field(default_factory=asyncio.Event)  # replaced at every ack
    card_written_seq: int = 0  # this branch's newest write to its card
    sales_seq: list[int] = field(default_factory=list)  # seq of every sale entry
    spends: dict[int, int] = field(default_factory=dict)  # seq of a captured spend: its fen

    def write(self, kind: str, entity_id: str, op: str, payload: Any) -> Entry:
        wall = now_ms()
        self.seq += 1
        entry = encode_entry(
            origin=self.code,
            seq=self.seq,
            hlc=self.clock.tick(wall),
            prev_hash=self.prev_hash,
            kind=kind,
            entity_id=entity_id,
            op=op,
            payload=payload,
        )
        self.prev_hash = entry.hash
        self.unsent.append(entry)
        return entry

    def sell(self, hold: str | None = None) -> None:
        """One checkout entry as node.services.checkout writes it (benchmarks.ingest's
        sale, at this branch's warehouse); with `hold`, paid from the card, online,
        with the ledger entry that captures the hold at HQ."""
        wall = now_ms()
        sale_id = uuid7(wall, os.urandom(10))
        payload = sale_payload(wall)
        warehouse = f"{self.code}-MAIN"
        payload["warehouse"] = warehouse
        for move in payload["moves"]:
            move["warehouse"] = warehouse
        total = int(payload["total_fen"])
        if hold is not None:
            payload["tenders"] = [
                {
                    "kind": "stored_value",
                    "amount_fen": total,
                    "card": self.card,
                    "mode": "online",
                    "hold": hold,
                }
            ]
            payload["change_fen"] = 0
        self.sales_seq.append(self.write("sale", sale_id, "checkout", payload).seq)
        if hold is not None:
            spend = {
                "card_id": self.card,
                "ledger": "stored_value",
                "kind": "spend",
                "amount": -total,
                "sale_id": sale_id,
                "mode": "online",
                "hold": hold,
            }
            entry = self.write("ledger", f"{sale_id}-t0", "entry", spend)
            self.card_written_seq = entry.seq
            self.spends[entry.seq] = total
        self.wake.set()

    def signed(self, method: str, path_qs: str) -> dict[str, str]:
        return {"Authorization": auth_header(self.key, self.code, method, path_qs, now_ms())}

    def push_body(self) -> tuple[bytes, int]:
        """The signed push of the oldest unacknowledged entries, with the signed backlog."""
        entries = self.unsent[:MAX_BATCH_ENTRIES]
        batch = sign_batch(self.key, self.code, entries)
        last = entries[-1].seq
        backlog = self.seq - last
        signature = sign_backlog(self.key, self.code, last, backlog)
        return messages.encode(messages.PushRequest(batch, backlog, signature)), last

    def took(self, acked_seq: int) -> None:
        self.acked_seq = max(self.acked_seq, acked_seq)
        self.unsent = [entry for entry in self.unsent if entry.seq > self.acked_seq]
        acked, self.acked = self.acked, asyncio.Event()
        acked.set()

    async def caught_up(self, seq: int, timeout_s: float) -> bool:
        deadline = time.perf_counter() + timeout_s
        while self.acked_seq < seq:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.acked.wait(), left)
        return True


# -- what one configuration measured ---------------------------------------------------------


@dataclass
class Window:
    """The steady-trading window: requests started in it and entries acknowledged in it."""

    start: float = 0.0
    end: float = float("inf")

    def holds(self, at: float) -> bool:
        return self.start <= at < self.end


@dataclass
class Stats:
    push_ms: list[float] = field(default_factory=list)
    feed_ms: list[float] = field(default_factory=list)
    hold_ms: list[float] = field(default_factory=list)
    release_ms: list[float] = field(default_factory=list)
    entries_acked: int = 0
    sales: int = 0
    holds_placed: int = 0
    holds_released: int = 0
    holds_refused: int = 0  # HQ answered, not 201
    holds_unanswered: int = 0  # no answer within the node's HOLD_TIMEOUT_S: the till sells offline
    spends: int = 0  # sales on a placed hold: a ledger entry HQ writes into every other branch's feed
    holds_offline: int = 0  # not asked: HQ had not caught up with the branch's card writes in time
    feed_entries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{kind}: {detail[:200]}")


@dataclass
class Burst:
    entries: int
    elapsed_s: float
    push_ms: list[float]
    cpu: CpuUse
    errors: int


@dataclass
class Outcome:
    config: str
    branches: int
    rate: float
    hold_share: float
    enroll_s: float | None  # None: enrolled by an earlier configuration on the same store
    enrolled_by: str | None
    setup_s: float  # from the tokens (or the previous configuration's end) to trading
    window_s: float
    stats: Stats
    cpu: CpuUse
    burst: Burst | None
    checked: list[str]
    problems: list[str]

    @property
    def ingest_per_s(self) -> float:
        return self.stats.entries_acked / self.window_s

    @property
    def branch_minutes_k(self) -> float:
        return self.branches * self.window_s / 60 / 1000


# -- the load ----------------------------------------------------------------------------------


class Load:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        branches: list[SimBranch],
        rate: float,
        hold_share: float,
        seed: int,
    ) -> None:
        self.session = session
        self.branches = branches
        self.rate_per_s = rate / 60
        self.hold_share = hold_share
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.window = Window()
        self.selling = False
        self.burst_push_ms: list[float] | None = None  # collecting a burst's push latencies

    # -- enrollment and set-up ----------------------------------------------------------------

    async def enroll(self, tokens: dict[str, str]) -> None:
        gate = asyncio.Semaphore(ENROLL_CONCURRENCY)

        async def one(branch: SimBranch) -> None:
            request = messages.EnrollRequest(tokens[branch.code], branch.code, public_key_bytes(branch.key))
            async with (
                gate,
                self.session.post(
                    branch.url + "/api/enroll",
                    data=messages.encode(request),
                    headers={"Content-Type": MSGPACK},
                ) as response,
            ):
                body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"enrollment of {branch.code} refused: {response.status} {body[:300]!r}")
            reply = messages.decode(body)
            if not isinstance(reply, messages.EnrollResponse) or reply.branch != branch.code:
                raise RuntimeError(f"HQ's answer to {branch.code}'s enrollment is not for it: {reply!r}")

        await asyncio.gather(*(one(branch) for branch in self.branches))

    async def open_cards(self, cards: int) -> None:
        """The first branch registers a member holding the cards and tops each one up."""
        first = self.branches[0]
        wall = now_ms()
        numbers = [card_id(number) for number in range(cards)]
        registration = {
            "home_branch": first.code,
            "name": "Load Test",
            "phone": "13900000000",
            "cards": numbers,
        }
        first.write("member", uuid7(wall, os.urandom(10)), "register", registration)
        for card in numbers:
            top_up = {
                "card_id": card,
                "ledger": "stored_value",
                "kind": "top_up",
                "amount": CARD_TOP_UP_FEN,
                "paid_by": "cash",
            }
            first.write("ledger", uuid7(wall, os.urandom(10)), "entry", top_up)
        first.card_written_seq = first.seq
        status, data = await self.post_push(first)
        if status != 200:
            raise RuntimeError(f"the cards' push was refused: {status} {data[:300]!r}")

    async def skip_feeds(self) -> None:
        """Each branch's feed cursor to its feed's head as it stands (one signed read each)."""
        gate = asyncio.Semaphore(ENROLL_CONCURRENCY)

        async def one(branch: SimBranch) -> None:
            async with gate:
                page = await self.read_feed(branch, FAR_AHEAD_SEQ)
            branch.feed_cursor = page.available_seq

        await asyncio.gather(*(one(branch) for branch in self.branches))

    # -- requests -------------------------------------------------------------------------------

    async def post_push(self, branch: SimBranch) -> tuple[int, bytes]:
        body, last = branch.push_body()
        async with self.session.post(
            branch.url + "/api/push",
            data=body,
            headers={"Content-Type": MSGPACK},
            timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S),
        ) as response:
            data = await response.read()
        if response.status == 200:
            ack = messages.decode(data)
            if not isinstance(ack, messages.PushAck) or ack.origin != branch.code or ack.acked_seq != last:
                raise RuntimeError(f"HQ answered {branch.code}'s push up to {last} with {ack!r}")
            branch.took(ack.acked_seq)
        return response.status, data

    async def read_feed(self, branch: SimBranch, after: int) -> messages.FeedPage:
        path_qs = f"/api/feed?after={after}&wait_s=0"
        async with self.session.get(
            branch.url + path_qs,
            headers=branch.signed("GET", path_qs),
            timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S),
        ) as response:
            data = await response.read()
        if response.status != 200:
            raise RuntimeError(f"feed read refused: {response.status} {data[:300]!r}")
        page = messages.decode(data)
        if not isinstance(page, messages.FeedPage):
            raise RuntimeError(f"HQ answered a feed read with {page!r}")
        return page

    # -- each branch's tasks --------------------------------------------------------------------

    async def pusher(self, branch: SimBranch) -> None:
        """One push in flight per branch: whatever is unacknowledged, as soon as there is any."""
        while True:
            await branch.wake.wait()
            branch.wake.clear()
            while branch.unsent:
                sent = time.perf_counter()
                before = branch.acked_seq
                try:
                    status, data = await self.post_push(branch)
                except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                    status, data = 0, f"{type(exc).__name__}: {exc}".encode()
                answered = time.perf_counter()
                if status != 200:
                    self.stats.error("push", f"{branch.code}: {status} {data[:200]!r}")
                    await asyncio.sleep(RETRY_S)
                    continue
                latency_ms = (answered - sent) * 1000
                if self.burst_push_ms is not None:
                    self.burst_push_ms.append(latency_ms)
                elif self.window.holds(sent):
                    self.stats.push_ms.append(latency_ms)
                if self.window.holds(answered):
                    self.stats.entries_acked += branch.acked_seq - before

    async def seller(self, branch: SimBranch) -> None:
        """Sales at random (Poisson), one at a time, as at one till."""
        rng = random.Random(self.rng.random())
        while True:
            await asyncio.sleep(rng.expovariate(self.rate_per_s))
            if not self.selling:
                return
            self.stats.sales += 1
            if rng.random() < self.hold_share:
                await self.sell_held(branch, rng)
            else:
                branch.sell()

    async def sell_held(self, branch: SimBranch, rng: random.Random) -> None:
        """As node.services.holds.authorise: wait (bounded) for HQ to hold this branch's
        writes to the card, ask for the hold, then sell on it (or release it)."""
        if not await branch.caught_up(branch.card_written_seq, HOLD_SYNC_WAIT_S):
            self.stats.holds_offline += 1
            branch.sell()
            return
        hold = f"{branch.code}-{uuid7(now_ms(), os.urandom(10))}"
        amount = int(sale_payload(0)["total_fen"])
        query = urlencode({"hold": hold, "card": branch.card, "amount_fen": amount, "unsynced_fen": 0})
        path_qs = f"/api/holds?{query}"
        sent = time.perf_counter()
        status, data = await self.signed_request("POST", branch, path_qs)
        if self.window.holds(sent):
            self.stats.hold_ms.append((time.perf_counter() - sent) * 1000)
        if status != HOLD_PLACED_STATUS:
            if status == 0:
                self.stats.holds_unanswered += 1
            else:
                self.stats.holds_refused += 1
            self.stats.error("hold", f"{branch.code}: {status} {data[:200]!r}")
            branch.sell()
            return
        self.stats.holds_placed += 1
        if rng.random() < RELEASE_SHARE:
            await self.release(branch, hold)
            return
        branch.sell(hold)
        if self.window.holds(sent):
            self.stats.spends += 1

    async def signed_request(self, method: str, branch: SimBranch, path_qs: str) -> tuple[int, bytes]:
        """A hold request signed as the branch; (0, why) if HQ did not answer in time."""
        try:
            async with self.session.request(
                method,
                branch.url + path_qs,
                headers=branch.signed(method, path_qs),
                timeout=aiohttp.ClientTimeout(total=HOLD_TIMEOUT_S),
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, f"{type(exc).__name__}: {exc}".encode()

    async def release(self, branch: SimBranch, hold: str) -> None:
        path_qs = f"/api/holds/{hold}"
        sent = time.perf_counter()
        status, data = await self.signed_request("DELETE", branch, path_qs)
        self.stats.release_ms.append((time.perf_counter() - sent) * 1000)
        if status != 200:
            self.stats.error("release", f"{branch.code}: {status} {data[:200]!r}")
        else:
            self.stats.holds_released += 1
        branch.sell()  # the customer paid cash instead

    async def feed_reader(self, branch: SimBranch) -> None:
        rng = random.Random(self.rng.random())
        await asyncio.sleep(rng.uniform(0, FEED_EVERY_S))
        while self.selling:
            more = True
            while more:
                sent = time.perf_counter()
                try:
                    page = await self.read_feed(branch, branch.feed_cursor)
                except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                    self.stats.error("feed", f"{branch.code}: {type(exc).__name__}: {exc}")
                    break
                if self.window.holds(sent):
                    self.stats.feed_ms.append((time.perf_counter() - sent) * 1000)
                if page.batch is not None:
                    self.stats.feed_entries += len(page.batch.entries)
                    branch.feed_cursor = page.batch.entries[-1].seq
                more = page.batch is not None and branch.feed_cursor < page.available_seq
            await asyncio.sleep(FEED_EVERY_S)

    # -- the phases -----------------------------------------------------------------------------

    async def drained(self, bound_s: float, what: str) -> None:
        deadline = time.perf_counter() + bound_s
        while any(branch.unsent for branch in self.branches):
            if time.perf_counter() > deadline:
                waiting = sum(len(branch.unsent) for branch in self.branches)
                raise RuntimeError(f"{what}: {waiting} entries still unacknowledged after {bound_s:.0f} s")
            await asyncio.sleep(0.05)

    async def steady(self, seconds: float, meter: CpuMeter) -> CpuUse:
        self.selling = True
        before = meter.read()
        self.window = Window(time.perf_counter(), float("inf"))
        tasks = [asyncio.create_task(self.seller(branch)) for branch in self.branches]
        tasks += [asyncio.create_task(self.feed_reader(branch)) for branch in self.branches]
        try:
            await asyncio.sleep(seconds)
            self.window.end = time.perf_counter()
            cpu = CpuUse.between(before, meter.read())
            self.selling = False
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.drained(DRAIN_BOUND_S, "after the steady window")
        return cpu

    async def burst(self, per_branch: int, meter: CpuMeter) -> Burst:
        """Every branch pushes a backlog of `per_branch` sales at once."""
        for branch in self.branches:
            for _ in range(per_branch):
                branch.sell()
            branch.wake.clear()  # no pusher runs until every backlog is written
        errors_before = self.stats.errors["push"]
        self.burst_push_ms = []
        before = meter.read()
        started = time.perf_counter()
        for branch in self.branches:
            branch.wake.set()
        await self.drained(BURST_BOUND_S, "the burst")
        elapsed = time.perf_counter() - started
        cpu = CpuUse.between(before, meter.read())
        push_ms, self.burst_push_ms = self.burst_push_ms, None
        errors = self.stats.errors["push"] - errors_before
        return Burst(per_branch * len(self.branches), elapsed, push_ms, cpu, errors)


# -- one configuration -------------------------------------------------------------------------


async def issue_tokens(data_dir: Path, branches: Sequence[SimBranch]) -> dict[str, str]:
    """One-time tokens through HQ's store opened once (hq.setup.issue_enroll_token opens it per token)."""
    store = await open_store(data_dir)
    tokens = {}
    try:
        doer = on_this_machine("benchmarks.chain_load")
        for branch in branches:
            token = secrets.token_urlsafe(24)
            now = now_ms()
            operation = Operation(doer, now, "enroll_token.issue", branch.code, {"ttl_s": TOKEN_TTL_S})
            await store.add_enroll_token(branch.code, token_hash(token), now + TOKEN_TTL_S * 1000, operation)
            tokens[branch.code] = token
    finally:
        await store.close()
    return tokens


async def check_store(
    data_dir: Path, branches: Sequence[SimBranch], cards: int
) -> tuple[list[str], list[str]]:
    """What HQ's store holds afterwards, against what the branches had acknowledged."""
    checked: list[str] = []
    problems: list[str] = []
    store = await open_store(data_dir)
    try:
        sales = sum(len(branch.sales_seq) for branch in branches)
        totals = await store.sales_totals(None)
        (checked if totals.count == sales else problems).append(
            f"HQ counts {totals.count:,} of {sales:,} sales"
        )
        set_aside = await store.quarantined_effects(None)
        (problems if set_aside else checked).append(f"{len(set_aside)} effects set aside")
        spent: Counter[str] = Counter()
        for branch in branches:
            spent[branch.card] += sum(branch.spends.values())
        wrong = []
        for number in range(cards):
            card = card_id(number)
            found = await store.card(card)
            balance = None if found is None else found["balances"].get("stored_value")
            if balance != CARD_TOP_UP_FEN - spent[card]:
                wrong.append(f"{card} holds {balance}, not {CARD_TOP_UP_FEN - spent[card]}")
        captured = sum(len(branch.spends) for branch in branches)
        if wrong:
            problems.append("card balances: " + "; ".join(wrong[:3]))
        else:
            checked.append(f"{captured} captured spends off {cards} cards")
    finally:
        await store.close()
    return checked, problems


async def run_on_one_store(
    configs: list[str], root: Path, args: argparse.Namespace, cluster: Cluster | None
) -> dict[str, Outcome]:
    """The configurations in turn on one HQ store, enrolled and given cards once, by
    the first: its HQ processes are stopped and the next one's started on the same folder."""
    name = "sqlite" if cluster is None else "postgres"
    data_dir, logs = root / name / "hq", root / name
    logs.mkdir(parents=True)
    db = None if cluster is None else await cluster.new_database()
    await init_hq(data_dir, demo_data=True, db=db)
    cards = min(CARDS, args.branches)
    branches = [SimBranch(branch_code(number), card_id(number % cards)) for number in range(args.branches)]
    started = time.perf_counter()
    tokens = await issue_tokens(data_dir, branches)
    postmaster = None if cluster is None else postmaster_pid(cluster)
    outcomes: dict[str, Outcome] = {}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        for config in configs:
            hq = HQProcesses()
            load = Load(session, branches, args.rate, args.hold_share, args.seed)
            enroll_s: float | None = None
            try:
                await hq.start(data_dir, CONFIG_PROCESSES[config], logs, config)
                for number, branch in enumerate(branches):
                    branch.url = hq.urls[number % len(hq.urls)]
                meter = CpuMeter([process.pid for process in hq.processes], postmaster)
                if not outcomes:
                    enrolling = time.perf_counter()
                    await asyncio.wait_for(load.enroll(tokens), ENROLL_BOUND_S)
                    enroll_s = time.perf_counter() - enrolling
                    await asyncio.wait_for(load.open_cards(cards), SETUP_BOUND_S)
                await asyncio.wait_for(load.skip_feeds(), SETUP_BOUND_S)
                setup_s = time.perf_counter() - started
                pushers = [asyncio.create_task(load.pusher(branch)) for branch in branches]
                try:
                    cpu = await load.steady(args.seconds, meter)
                    burst = await load.burst(args.burst, meter) if args.burst else None
                finally:
                    for task in pushers:
                        task.cancel()
                    await asyncio.gather(*pushers, return_exceptions=True)
            finally:
                await hq.stop()
            checked, problems = await check_store(data_dir, branches, cards)
            outcome = Outcome(
                config,
                args.branches,
                args.rate,
                args.hold_share,
                enroll_s,
                next(iter(outcomes), None),
                setup_s,
                load.window.end - load.window.start,
                load.stats,
                cpu,
                burst,
                checked,
                problems,
            )
            report(outcome)
            outcomes[config] = outcome
            started = time.perf_counter()
    return outcomes


# -- the report --------------------------------------------------------------------------------


def ms_pair(values: Sequence[float]) -> str:
    if not values:
        return "(none)"
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f} ms"


def report(outcome: Outcome) -> None:
    stats = outcome.stats
    postgres = outcome.config != "sqlite"
    per_k = outcome.branch_minutes_k
    title = (
        f"Chain load on HQ, {CONFIG_TITLES[outcome.config]}: {outcome.branches:,} branches,"
        f" {outcome.rate:g} sales/min each, {outcome.window_s:.0f} s measured"
    )
    table = Report(title)
    if outcome.enroll_s is not None:
        table.add(
            "branches enrolled (POST /api/enroll, 50 at a time)",
            f"{outcome.branches:,} in {outcome.enroll_s:.1f} s",
        )
        table.add("set-up before trading (tokens, enrollment, cards, feed heads)", f"{outcome.setup_s:.1f} s")
    else:
        table.add(
            "branches enrolled",
            f"the same {outcome.branches:,}, on {outcome.enrolled_by}'s database (and its trading)",
        )
        table.add("set-up before trading (HQ processes started, feed heads)", f"{outcome.setup_s:.1f} s")
    table.add(
        "sales/min offered / sales made",
        f"{outcome.branches * outcome.rate:,.0f} / {stats.sales:,}",
    )
    table.add("entries ingested (acknowledged in the window)", f"{stats.entries_acked:,}")
    table.add("ingest entries/s (steady)", f"{outcome.ingest_per_s:,.1f}")
    met = percentile(stats.push_ms, 0.99) < TARGET_PUSH_P99_MS if stats.push_ms and postgres else None
    table.add(
        f"push latency p50 / p99 ({len(stats.push_ms):,} pushes)",
        ms_pair(stats.push_ms),
        f"p99 < {TARGET_PUSH_P99_MS:.0f} ms on PostgreSQL" if postgres else "",
        met,
    )
    table.add(
        f"feed read latency p50 / p99 ({len(stats.feed_ms):,} reads, {stats.feed_entries:,} entries)",
        ms_pair(stats.feed_ms),
    )
    table.add(
        f"holds asked for ({outcome.hold_share:.0%} of sales): placed (of which released) /"
        f" refused / unanswered in {HOLD_TIMEOUT_S} s / not asked (HQ behind the branch)",
        f"{stats.holds_placed} ({stats.holds_released}) / {stats.holds_refused} / {stats.holds_unanswered}"
        f" / {stats.holds_offline}",
    )
    table.add("hold latency p50 / p99 (POST /api/holds)", ms_pair(stats.hold_ms))
    table.add(
        "spends on a hold: x other branches' feeds HQ writes each into",
        f"{stats.spends} x {outcome.branches - 1:,} = {stats.spends * (outcome.branches - 1):,} feed entries",
    )
    table.add("HQ CPU s per 1,000 branch-minutes", f"{outcome.cpu.hq_s / per_k:.1f}")
    if postgres:
        table.add("PostgreSQL CPU s per 1,000 branch-minutes", f"{outcome.cpu.pg_s / per_k:.1f}")
    table.add("load generator CPU s per 1,000 branch-minutes", f"{outcome.cpu.client_s / per_k:.1f}")
    burst = outcome.burst
    if burst is not None:
        table.add(
            f"catch-up: {burst.entries // outcome.branches} sales from every branch at once",
            f"{burst.entries:,} in {burst.elapsed_s:.1f} s",
        )
        table.add("catch-up ingest entries/s", f"{burst.entries / burst.elapsed_s:,.0f}")
        table.add("catch-up push latency p50 / p99", ms_pair(burst.push_ms))
        cpu = f"HQ {burst.cpu.hq_s * 1000 / burst.entries:.2f}"
        if postgres:
            cpu += f", PostgreSQL {burst.cpu.pg_s * 1000 / burst.entries:.2f}"
        table.add("catch-up CPU s per 1,000 entries", cpu)
    errors = ", ".join(f"{kind} {count}" for kind, count in sorted(stats.errors.items())) or "0"
    table.add("errors (requests refused or unanswered)", errors, "0", not stats.errors)
    for line in stats.first_errors:
        table.add("  first errors", line)
    table.add("checked in HQ's store afterwards", "; ".join(outcome.checked) or "-", "", not outcome.problems)
    for problem in outcome.problems:
        table.add("  WRONG", problem, "", False)
    table.print()


def summary(outcomes: dict[str, Outcome]) -> None:
    table = Report("Chain load: PostgreSQL beside SQLite, same run")
    sqlite, pg1 = outcomes.get("sqlite"), outcomes.get("pg1")
    if sqlite is not None and pg1 is not None:
        table.add(
            "steady ingest ratio PostgreSQL (1 process) / SQLite",
            f"{pg1.ingest_per_s / sqlite.ingest_per_s:.2f}",
            "(both carry the offered load)",
        )
        if sqlite.burst is not None and pg1.burst is not None:
            ratio = (pg1.burst.entries / pg1.burst.elapsed_s) / (
                sqlite.burst.entries / sqlite.burst.elapsed_s
            )
            table.add(
                "catch-up ingest ratio PostgreSQL (1 process) / SQLite",
                f"{ratio:.2f}",
                f">= {TARGET_INGEST_RATIO}",
                ratio >= TARGET_INGEST_RATIO,
            )
    for name in ("pg1", "pg3"):
        outcome = outcomes.get(name)
        if outcome is not None and outcome.stats.push_ms:
            p99 = percentile(outcome.stats.push_ms, 0.99)
            table.add(
                f"push p99, {CONFIG_TITLES[name]}",
                f"{p99:.1f} ms",
                f"< {TARGET_PUSH_P99_MS:.0f} ms at {outcome.branches:,} branches x {outcome.rate:g}/min",
                p99 < TARGET_PUSH_P99_MS,
            )
    if table.rows:
        table.print()


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2.0, help="sales per branch per minute")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured trading per configuration")
    parser.add_argument(
        "--burst", type=int, default=20, help="catch-up sales per branch afterwards (0: none)"
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma list of sqlite, pg1, pg3")
    parser.add_argument("--hold-share", type=float, default=HOLD_SHARE, help="of sales, held online first")
    parser.add_argument("--pg-fsync", choices=("on", "off"), default="on")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--readme", action="store_true", help="write the figures into README.md")
    args = parser.parse_args()
    configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or not configs:
        parser.error(f"--configs takes a comma list of {', '.join(CONFIGS)}")
    if not 0 <= args.hold_share <= 1:
        parser.error("hold-share must be 0 to 1")
    if not 1 <= args.branches <= 10_000:
        parser.error("branches must be 1 to 10,000")
    if not 0 < args.rate <= 600 or not 1 <= args.seconds <= 3600 or not 0 <= args.burst <= MAX_BATCH_ENTRIES:
        parser.error(f"rate must be in (0, 600], seconds 1 to 3600, burst 0 to {MAX_BATCH_ENTRIES}")
    setup_logging()
    outcomes: dict[str, Outcome] = {}
    measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        root = Path(tmp)
        figures = root / "figures.jsonl"
        if args.readme:
            os.environ[FIGURES_ENV] = str(figures)  # where each Report saves its rows
        if "sqlite" in configs:
            outcomes |= asyncio.run(run_on_one_store(["sqlite"], root, args, None))
        pg = [config for config in CONFIGS if config != "sqlite" and config in configs]
        if pg:
            with postgres_cluster(args.pg_fsync == "on") as cluster:
                outcomes |= asyncio.run(run_on_one_store(pg, root, args, cluster))
        summary(outcomes)
        if args.readme:
            write_figures(outcomes, figures, measured_at, sys.argv[1:])


def write_figures(outcomes: dict[str, Outcome], figures: Path, measured_at: str, argv: list[str]) -> None:
    """The run's tables into README.md between README_BEGIN and README_END, unless a
    configuration went wrong (then README.md is left as it was)."""
    wrong = [f"{name}: {problem}" for name, o in outcomes.items() for problem in o.problems]
    wrong += [f"{name}: errors {dict(o.stats.errors)}" for name, o in outcomes.items() if o.stats.errors]
    if wrong:
        raise SystemExit("the run went wrong, README.md left as it was: " + "; ".join(wrong))
    reports = [json.loads(line) for line in figures.read_text(encoding="utf-8").splitlines()]
    invoked = " ".join(["python -m benchmarks.chain_load", *argv])
    write_readme(
        README_BEGIN, README_END, readme_block(README_BEGIN, README_END, reports, measured_at, invoked)
    )
    print(f"figures written into {README}")


if __name__ == "__main__":
    main()
