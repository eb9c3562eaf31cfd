"""HQ's console: how fast a sale reaches an open page, and how fast reports answer.

(a) Ingest to page: a real HQ on 127.0.0.1 (demo data, SQLite) with 20 enrolled
    branches, each pushing signed batches of its new sales every 250 ms at a busy
    rate (5 sales a second each, 100 in all), while a console client holds the live
    stream (GET /api/live) open. Latency: from a sale's push leaving its branch to
    the sale's event reaching the client. Target: p99 under 1 s.
(b) Reports: a year of 1,000,000 sale lines (500,000 two-line sales across 20
    branches, 10 products, 5 salespeople a branch, ingested through HQ.push so the
    aggregates are the ones ingest keeps), then the sales report by day, branch,
    category, product and salesperson for a year, a month and a day, 20 times each.
    Target: p95 under 200 ms for each period.
(c) With --against REV: HQ ingest (benchmarks.ingest) with the report aggregates kept
    against REV's, the commit before them, alternately in the same sitting.

    .venv/bin/python -m benchmarks.console [--seconds 20] [--lines 1000000] [--against REV] [--readme]

--readme writes the tables into README.md between its console markers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks import against
from benchmarks.common import (
    FIGURES_ENV,
    Report,
    Server,
    peak_rss_mib,
    percentile,
    setup_logging,
    write_figures,
)
from benchmarks.ingest import MSGPACK, TOKEN_TTL_MS, now_ms
from hq.api import create_app
from hq.sales_report import GROUPINGS, period_of, sales_report
from hq.service import HQ
from hq.setup import DEMO_PASSWORD, init_hq, open_store, token_hash
from hq.storage.base import HQStore
from protocol import messages
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.hlc import HybridLogicalClock
from protocol.ids import uuid7
from protocol.limits import MAX_BATCH_ENTRIES
from protocol.signing import generate_private_key, public_key_bytes

BRANCHES = 20
SALES_PER_BRANCH_S = 5.0
PUSH_EVERY_S = 0.25
TARGET_P99_MS = 1000.0
TARGET_REPORT_P95_MS = 200.0
SKUS = (
    "TEA-OOLONG-250",
    "TEA-GREEN-100",
    "CUP-CERAMIC",
    "SNACK-NUTS",
    "SNACK-DATES",
    "SHAMPOO-500",
    "SOAP-BAR",
    "SVC-HAIRCUT",
    "SVC-MASSAGE",
    "GIFT-BOX",
)
DAY_MS = 86_400_000
REPORT_ROUNDS = 20


def sale(at_ms: int, branch: str, rng: random.Random) -> dict[str, Any]:
    """A two-line sale as a till writes it, credited to one of the branch's salespeople."""
    first, second = rng.sample(SKUS, 2)
    lines = [
        {"sku": sku, "qty": qty, "unit_price_fen": 1_000, "amount_fen": 1_000 * qty, "cost_fen": 600 * qty}
        for sku, qty in ((first, 1), (second, 2))
    ]
    return {
        "member_id": None,
        "warehouse": f"{branch}-MAIN",
        "lines": lines,
        "tenders": [{"kind": "cash", "amount_fen": 3_000}],
        "total_fen": 3_000,
        "change_fen": 0,
        "at_ms": at_ms,
        "salesperson": f"{branch}-S{rng.randrange(5)}",
    }


@dataclass
class Branch:
    code: str
    key: Ed25519PrivateKey = field(default_factory=generate_private_key)
    clock: HybridLogicalClock = field(default_factory=HybridLogicalClock)
    seq: int = 0
    prev_hash: bytes = GENESIS_HASH

    def entries(self, payloads: list[dict[str, Any]], wall_ms: int) -> list[Entry]:
        out = []
        for payload in payloads:
            self.seq += 1
            entry = encode_entry(
                origin=self.code,
                seq=self.seq,
                hlc=self.clock.tick(wall_ms),
                prev_hash=self.prev_hash,
                kind="sale",
                entity_id=uuid7(wall_ms, os.urandom(10)),
                op="checkout",
                payload=payload,
            )
            self.prev_hash = entry.hash
            out.append(entry)
        return out

    def push(self, entries: list[Entry]) -> bytes:
        return messages.encode(messages.PushRequest(sign_batch(self.key, self.code, entries), 0))


async def enroll(store: HQStore, branches: list[Branch]) -> None:
    for branch in branches:
        token = secrets.token_urlsafe(24)
        await store.add_enroll_token(branch.code, token_hash(token), now_ms() + TOKEN_TTL_MS)
        await store.redeem_enroll_token(
            token_hash(token), branch.code, public_key_bytes(branch.key), now_ms(), now_ms()
        )


# -- (a) ingest to page ------------------------------------------------------------------


async def live_latency(root: Path, seconds: float) -> tuple[list[float], int]:
    """Milliseconds from each sale's push to its event at the console; and sales pushed."""
    await init_hq(root, demo_data=True)
    branches = [Branch(f"BR{i:02d}") for i in range(1, BRANCHES + 1)]
    store = await open_store(root)
    try:
        await enroll(store, branches)
    finally:
        await store.close()
    server = Server(lambda: create_app(root))
    await server.start()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    pushed = 0
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                server.url + "/api/login", json={"login": "finance", "password": DEMO_PASSWORD}
            ) as response:
                token = (await response.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            stop = asyncio.Event()

            async def listen() -> None:
                async with session.get(server.url + "/api/live", headers=headers) as response:
                    event = ""
                    async for raw in response.content:
                        line = raw.decode().rstrip("\n")
                        if line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("data: ") and event == "sale":
                            shown = json.loads(line[6:])
                            started = sent_at.pop(shown["id"], None)
                            if started is not None:
                                latencies.append((time.perf_counter() - started) * 1000)
                        if stop.is_set() and not sent_at:
                            return

            async def trade(branch: Branch, rng: random.Random) -> None:
                nonlocal pushed
                due = 0.0
                await asyncio.sleep(rng.random() * PUSH_EVERY_S)
                while not stop.is_set():
                    due += SALES_PER_BRANCH_S * PUSH_EVERY_S
                    count, due = int(due), due - int(due)
                    if count:
                        wall = now_ms()
                        entries = branch.entries([sale(wall, branch.code, rng) for _ in range(count)], wall)
                        started = time.perf_counter()
                        for entry in entries:
                            sent_at[entry.entity_id] = started
                        async with session.post(
                            server.url + "/api/push",
                            data=branch.push(entries),
                            headers={"Content-Type": MSGPACK},
                        ) as response:
                            if response.status != 200:
                                raise RuntimeError(f"push refused: {response.status} {await response.text()}")
                        pushed += count
                    await asyncio.sleep(PUSH_EVERY_S)

            listener = asyncio.create_task(listen())
            await asyncio.sleep(1.0)  # the stream is open and has sent its first figures
            traders = [asyncio.create_task(trade(b, random.Random(i))) for i, b in enumerate(branches)]
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*traders)
            await asyncio.wait_for(listener, 30)
    finally:
        await server.stop()
    return latencies, pushed


# -- (b) reports on a year of sales ---------------------------------------------------------


async def load_year(store: HQStore, lines: int) -> float:
    """Ingest `lines` sale lines (two per sale) spread over the year to now; seconds taken."""
    branches = [Branch(f"BR{i:02d}") for i in range(1, BRANCHES + 1)]
    await enroll(store, branches)
    hq = HQ(store, generate_private_key())
    rng = random.Random(7)
    end_ms = now_ms()  # the year up to now: HQ refuses stamps from the future
    sales_per_branch = lines // 2 // BRANCHES
    started = time.perf_counter()
    for branch in branches:
        times = sorted(end_ms - 1 - rng.randrange(365 * DAY_MS) for _ in range(sales_per_branch))
        for i in range(0, len(times), MAX_BATCH_ENTRIES):
            chunk = times[i : i + MAX_BATCH_ENTRIES]
            # Stamped now (HQ refuses stamps from before a branch enrolled), booked over the year.
            entries = branch.entries([sale(at, branch.code, rng) for at in chunk], now_ms())
            request = messages.decode(branch.push(entries))
            assert isinstance(request, messages.PushRequest)
            await hq.push(request)
    return time.perf_counter() - started


async def report_times(store: HQStore, today: datetime.date) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"year": [], "month": [], "day": []}
    for _ in range(REPORT_ROUNDS):
        for kind in times:
            for grouping in GROUPINGS:
                started = time.perf_counter()
                await sales_report(store, period_of(kind, today, None, None), grouping, None, {})
                times[kind].append((time.perf_counter() - started) * 1000)
    return times


async def run(seconds: float, lines: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        latencies, pushed = await live_latency(Path(tmp) / "live", seconds)
        today = datetime.datetime.now(datetime.UTC).date()
        await init_hq(Path(tmp) / "year", demo_data=True)
        store = await open_store(Path(tmp) / "year")
        try:
            load_s = await load_year(store, lines)
            times = await report_times(store, today)
            totals = await store.sales_totals(None)
        finally:
            await store.close()
    if totals.count != lines // 2 // BRANCHES * BRANCHES:
        raise RuntimeError(f"HQ counted {totals.count} sales of {lines // 2}")
    report = Report(
        f"HQ console: {BRANCHES} branches trading {BRANCHES * SALES_PER_BRANCH_S:.0f} sales/s"
        f" for {seconds:.0f} s; reports on {lines:,} sale lines over a year"
    )
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    report.add(
        "(a) sales pushed / seen live", f"{pushed:,} / {len(latencies):,}", "all", len(latencies) == pushed
    )
    report.add("(a) ingest to page p50", f"{p50:.0f} ms")
    report.add("(a) ingest to page p99", f"{p99:.0f} ms", f"< {TARGET_P99_MS:.0f} ms", p99 < TARGET_P99_MS)
    report.add("(b) loading the year through HQ.push", f"{load_s:.0f} s ({lines / 2 / load_s:,.0f} sales/s)")
    for kind, measured in times.items():
        p95 = percentile(measured, 0.95)
        report.add(
            f"(b) report for a {kind} p50 / p95",
            f"{percentile(measured, 0.5):.1f} / {p95:.1f} ms",
            f"p95 < {TARGET_REPORT_P95_MS:.0f} ms",
            p95 < TARGET_REPORT_P95_MS,
        )
    report.add("peak RSS", f"{peak_rss_mib():.0f} MiB")
    report.print()


README_BEGIN = "<!-- console: begin -->"
README_END = "<!-- console: end -->"
INGEST_ENTRIES = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="(a): how long the branches trade")
    parser.add_argument("--lines", type=int, default=1_000_000, help="(b): sale lines in the year")
    parser.add_argument("--against", metavar="REV", help="(c): ingest here and at REV, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="(c): rounds")
    parser.add_argument("--readme", action="store_true", help="write the figures into README.md")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 300:
        parser.error("seconds must be 1 to 300")
    if not BRANCHES * 2 * MAX_BATCH_ENTRIES <= args.lines <= 5_000_000:
        parser.error(f"lines must be {BRANCHES * 2 * MAX_BATCH_ENTRIES:,} to 5,000,000")
    if not 0 < args.rounds <= 20:
        parser.error("need 0 < rounds <= 20")
    setup_logging()
    measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="bench-console-figures-") as tmp:
        figures = Path(tmp) / "figures.jsonl"
        if args.readme:
            os.environ[FIGURES_ENV] = str(figures)  # where each Report saves its rows
        asyncio.run(run(args.seconds, args.lines))
        if args.against:
            compared = against.compare(
                "benchmarks.ingest",
                ["--entries", str(INGEST_ENTRIES)],
                args.against,
                args.rounds,
                {"(a) in-process entries/s": True, "(b) over HTTP entries/s": True},
            )
            against.report("HQ ingest with the report aggregates", args.against, compared).print()
        if args.readme:
            write_figures(README_BEGIN, README_END, figures, measured_at, "benchmarks.console")


if __name__ == "__main__":
    main()
