"""Draining a branch's backlog to HQ end to end: real HQ and node apps on 127.0.0.1.

HQ stops; the node books 50,000 checkouts (each with its change-log entry)
through its group-commit writer; HQ starts again and the clock runs until the
node's GET /api/sync shows a backlog of 0. The node finds HQ back by its own
retry schedule (exponential backoff, capped), so the time to its first ack is
shown apart from the transfer itself.

    .venv/bin/python -m benchmarks.drain [--entries 50000] [--callers 64]
    .venv/bin/python -m benchmarks.drain --against cbc72d7 [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import against
from benchmarks.common import (
    Report,
    demo_logins,
    get_json,
    peak_rss_mib,
    setup_logging,
    start_chain,
    wait_until,
)
from launch.heap import settle_heap
from node.routes.context import CONTEXT
from node.services.checkout import SaleRequest, Tender, checkout_job

BRANCH = "BR01"
SALE = SaleRequest(
    member_id=None,
    lines=(("TEA-OOLONG-250", 2), ("CUP-CERAMIC", 1)),
    tenders=(Tender("cash", 20_000),),
    request_key=None,
)
SYNC_POLL_S = 0.05
DRAIN_BOUND_S = 45.0  # the script as a whole stays near a minute
TARGET_DRAIN_S = 15.0


@dataclass
class Drain:
    entries: int
    booking_s: float
    outage_s: float  # HQ's stop to its start
    push_failures: int  # failed pushes while HQ was away: they set the retry delay
    reachable_s: float  # from HQ's start to the node's first answer from it, push or feed
    first_ack_s: float  # from HQ's start to the node's first ack: the push retry schedule
    drained_s: float  # from HQ's start to a backlog of 0


async def book_checkouts(app_context: Any, entries: int, callers: int) -> None:
    writer = app_context.store.writer
    remaining = entries

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await writer.run(checkout_job(SALE, app_context.new_id(), app_context.config.warehouse))

    await asyncio.gather(*(caller() for _ in range(callers)))


async def run(root: Path, entries: int, callers: int) -> Drain:
    hq, node = await start_chain(root, BRANCH)
    try:
        # Logged in at both before HQ stops: the sessions outlive HQ's restart.
        logins = await demo_logins(hq.url, node.url, BRANCH)
        async with logins.session() as session:

            async def catalogue_arrived() -> bool:
                products = await get_json(session, node.url + "/api/products")
                skus = {product["sku"] for product in products["products"]}
                return {sku for sku, _ in SALE.lines} <= skus

            await wait_until(catalogue_arrived, "the catalogue to reach the node")
            await hq.stop()
            stopped = time.perf_counter()

            started = time.perf_counter()
            await book_checkouts(node.app[CONTEXT], entries, callers)
            booking_s = time.perf_counter() - started
            status = await get_json(session, node.url + "/api/sync")
            if status["backlog"] != entries:
                raise RuntimeError(f"expected a backlog of {entries}, the node shows {status}")
            acked_before = status["acked_seq"]
            replicator = node.app[CONTEXT].replicator
            if replicator is None:
                raise RuntimeError("the node runs without its replicator")
            push_failures = replicator.push.failures

            started = time.perf_counter()
            outage_s = started - stopped
            await hq.start()
            settle_heap()  # HQ's new process settles its heap once it has started
            reachable_s: float | None = None
            first_ack_s: float | None = None
            while True:
                status = await get_json(session, node.url + "/api/sync")
                elapsed_s = time.perf_counter() - started
                if reachable_s is None and status["hq_reachable"]:
                    reachable_s = elapsed_s
                if first_ack_s is None and status["acked_seq"] > acked_before:
                    first_ack_s = elapsed_s
                if status["backlog"] == 0 and status["hq_reachable"]:
                    break
                if elapsed_s > DRAIN_BOUND_S:
                    raise TimeoutError(f"backlog not drained after {DRAIN_BOUND_S} s: {status}")
                await asyncio.sleep(SYNC_POLL_S)
            drained_s = elapsed_s
            reachable_s = drained_s if reachable_s is None else reachable_s
            first_ack_s = drained_s if first_ack_s is None else first_ack_s

            branches = await get_json(session, hq.url + "/api/branches")
            held = {b["code"]: b["acked_seq"] for b in branches["branches"]}
            summary = await get_json(session, hq.url + f"/api/sales/summary?branch={BRANCH}")
            if held.get(BRANCH) != status["head_seq"] or summary["count"] != entries:
                raise RuntimeError(f"HQ holds {held} and counts {summary}; the node's head is {status}")
    finally:
        await node.stop()
        await hq.stop()
    return Drain(entries, booking_s, outage_s, push_failures, reachable_s, first_ack_s, drained_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--callers", type=int, default=64, help="concurrent checkouts while HQ is away")
    parser.add_argument("--against", metavar="REV", help="also run commit REV's own script, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: rounds to run")
    args = parser.parse_args()
    setup_logging()
    if not 0 < args.callers <= args.entries <= 200_000:
        parser.error("need 0 < callers <= entries <= 200,000")
    if args.against:
        compared = against.compare(
            "benchmarks.drain",
            ["--entries", str(args.entries), "--callers", str(args.callers)],
            args.against,
            args.rounds,
            {"drain: HQ start to backlog 0": False, "of which first ack to backlog 0 (transfer)": False},
        )
        against.report("Drain", args.against, compared).print()
        return
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        drain = asyncio.run(run(Path(tmp), args.entries, args.callers))

    transfer_s = drain.drained_s - drain.first_ack_s
    report = Report(f"Drain: a backlog of {drain.entries:,} sale entries, one node, HQ back after an outage")
    report.add(
        "booking the backlog (HQ away)",
        f"{drain.booking_s:.1f} s ({drain.entries / drain.booking_s:,.0f} checkouts/s)",
    )
    report.add(
        "drain: HQ start to backlog 0",
        f"{drain.drained_s:.1f} s",
        f"< {TARGET_DRAIN_S:.0f} s",
        drain.drained_s < TARGET_DRAIN_S,
    )
    report.add("drain entries/s", f"{drain.entries / drain.drained_s:,.0f}")
    report.add(
        "outage before HQ start (failed pushes)", f"{drain.outage_s:.1f} s ({drain.push_failures} failed)"
    )
    report.add("  HQ start to node seeing HQ (push or feed)", f"{drain.reachable_s:.1f} s")
    report.add("  of which HQ start to first ack (push backoff)", f"{drain.first_ack_s:.1f} s")
    report.add(
        "  of which first ack to backlog 0 (transfer)",
        f"{transfer_s:.1f} s ({drain.entries / max(transfer_s, 1e-3):,.0f} entries/s)",
    )
    report.add("peak RSS (HQ and node in one process)", f"{peak_rss_mib():.0f} MiB")
    report.print()


if __name__ == "__main__":
    main()
