"""Sale-to-HQ latency while online: real HQ and node apps on 127.0.0.1.

Sales go to the node's POST /api/sales at a steady pace (as the branch's clerk);
a watcher reads HQ's GET /api/branches every 2 ms (as HQ's finance operator), both
logged in before the first sale. A sale's latency runs from its 201 at the till
to the first reading at which HQ's acked_seq for the branch covers the sale's
seq, so it includes up to one polling interval (and one GET) of lag.

    .venv/bin/python -m benchmarks.latency [--sales 500] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import (
    Report,
    demo_logins,
    get_json,
    peak_rss_mib,
    percentile,
    setup_logging,
    start_chain,
    wait_until,
)

BRANCH = "BR01"
SALE_BODY: dict[str, Any] = {
    "lines": [{"sku": "TEA-OOLONG-250", "qty": 2}, {"sku": "CUP-CERAMIC", "qty": 1}],
    "tenders": [{"kind": "cash", "amount_fen": 20_000}],
}
WATCH_INTERVAL_S = 0.002
SETTLE_BOUND_S = 10.0  # after the last sale, HQ must hold everything within this
TARGET_P99_MS = 1000.0


@dataclass
class Watch:
    """HQ's acked_seq for the branch as seen over time: parallel, both ascending."""

    at_s: list[float] = field(default_factory=list)
    acked_seq: list[int] = field(default_factory=list)
    readings: int = 0
    first_reading_s: float = 0.0
    last_reading_s: float = 0.0

    def seen(self, at_s: float, acked_seq: int) -> None:
        if not self.readings:
            self.first_reading_s = at_s
        self.readings += 1
        self.last_reading_s = at_s
        if not self.acked_seq or acked_seq > self.acked_seq[-1]:
            self.at_s.append(at_s)
            self.acked_seq.append(acked_seq)

    def first_covering(self, seq: int) -> float | None:
        index = bisect.bisect_left(self.acked_seq, seq)
        return self.at_s[index] if index < len(self.acked_seq) else None


async def watch_hq(session: aiohttp.ClientSession, hq_url: str, watch: Watch) -> None:
    while True:
        branches = await get_json(session, hq_url + "/api/branches")
        received_s = time.perf_counter()
        for branch in branches["branches"]:
            if branch["code"] == BRANCH:
                watch.seen(received_s, branch["acked_seq"])
        await asyncio.sleep(WATCH_INTERVAL_S)


@dataclass
class Sold:
    seq: int
    created_s: float  # when the till had its 201
    post_ms: float  # the till's wait for that 201


async def sell(session: aiohttp.ClientSession, node_url: str, due_s: float, sold: list[Sold]) -> None:
    await asyncio.sleep(max(0.0, due_s - time.perf_counter()))
    sent_s = time.perf_counter()
    async with session.post(node_url + "/api/sales", json=SALE_BODY) as response:
        body = await response.json()
        created_s = time.perf_counter()
        if response.status != 201:
            raise RuntimeError(f"POST /api/sales: {response.status} {body}")
    sold.append(Sold(body["seq"], created_s, (created_s - sent_s) * 1000))


@dataclass
class Result:
    latencies_ms: list[float]
    ahead: int  # sales HQ held before the till even had its 201
    readings: int
    reading_interval_ms: float
    post_ms: list[float]


async def run(root: Path, sales: int, rate_per_s: float) -> Result:
    hq, node = await start_chain(root, BRANCH)
    try:
        logins = await demo_logins(hq.url, node.url, BRANCH)  # before any timing
        async with logins.session() as tills, logins.session() as watcher:

            async def catalogue_arrived() -> bool:
                products = await get_json(tills, node.url + "/api/products")
                return len(products["products"]) > 0

            await wait_until(catalogue_arrived, "the catalogue to reach the node")
            watch = Watch()
            watching = asyncio.create_task(watch_hq(watcher, hq.url, watch))
            sold: list[Sold] = []
            started = time.perf_counter()
            await asyncio.gather(
                *(sell(tills, node.url, started + number / rate_per_s, sold) for number in range(sales))
            )
            last_seq = max(sale.seq for sale in sold)

            async def hq_holds_all() -> bool:
                return watch.first_covering(last_seq) is not None

            await wait_until(hq_holds_all, "HQ to hold every sale", timeout_s=SETTLE_BOUND_S)
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
    finally:
        await node.stop()
        await hq.stop()

    latencies_ms: list[float] = []
    ahead = 0
    for sale in sold:
        covered_s = watch.first_covering(sale.seq)
        if covered_s is None:
            raise RuntimeError(f"HQ never showed sale seq {sale.seq}")
        if covered_s < sale.created_s:
            ahead += 1
        latencies_ms.append(max(0.0, covered_s - sale.created_s) * 1000)
    interval_ms = (watch.last_reading_s - watch.first_reading_s) / max(watch.readings - 1, 1) * 1000
    return Result(latencies_ms, ahead, watch.readings, interval_ms, [sale.post_ms for sale in sold])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="sales per second")
    args = parser.parse_args()
    setup_logging()
    if not 0 < args.sales <= 10_000 or not 0 < args.rate <= 1_000 or args.sales / args.rate > 40:
        parser.error("need 0 < sales <= 10,000, 0 < rate <= 1,000 and at most 40 s of selling")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        result = asyncio.run(run(Path(tmp), args.sales, args.rate))

    latencies = result.latencies_ms
    report = Report(
        f"Sale to HQ while online: {args.sales} sales at {args.rate:.0f}/s,"
        f" HQ polled every {WATCH_INTERVAL_S * 1000:.0f} ms"
    )
    report.add("latency p50", f"{percentile(latencies, 0.50):.1f} ms")
    report.add("latency p90", f"{percentile(latencies, 0.90):.1f} ms")
    p99_ms = percentile(latencies, 0.99)
    report.add("latency p99", f"{p99_ms:.1f} ms", f"< {TARGET_P99_MS:.0f} ms", p99_ms < TARGET_P99_MS)
    report.add("latency max", f"{max(latencies):.1f} ms")
    report.add("sales HQ held before the till's 201", f"{result.ahead}")
    report.add(
        "POST /api/sales p50 / p99 (till's wait)",
        f"{percentile(result.post_ms, 0.50):.1f} / {percentile(result.post_ms, 0.99):.1f} ms",
    )
    report.add(
        "HQ readings (mean interval)",
        f"{result.readings:,} ({result.reading_interval_ms:.1f} ms)",
    )
    report.add("peak RSS (HQ and node in one process)", f"{peak_rss_mib():.0f} MiB")
    report.print()


if __name__ == "__main__":
    main()
