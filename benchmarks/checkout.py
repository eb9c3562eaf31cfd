"""Checkouts per second at one node, each acknowledged only once durably committed.

Branchline: concurrent callers each run a checkout (sale, lines, tender, stock
moves, stock, change-log entry) through the group-commit writer, as the HTTP
handler does. Baseline, in the same run: the same rows inserted with sqlite3
directly, one transaction per sale in one thread, synchronous=FULL.

    .venv/bin/python -m benchmarks.checkout [--checkouts 20000] [--callers 64]
    .venv/bin/python -m benchmarks.checkout --against cbc72d7 [--rounds 3]
    .venv/bin/python -m benchmarks.checkout --http [--connections 8] [--seconds 5] [--rounds 2]

`--against REV` runs REV's own script and this one alternately (benchmarks.against).
`--http` POSTs checkouts through the real till app, a node process of its own, from
another process (wrk if installed, else Python), against a trivial GET on the same
server in the same run (benchmarks.http_load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import against, http_load
from benchmarks.common import Report, peak_rss_mib, percentile
from node.services.catalogue import apply_product
from node.services.checkout import SaleRequest, Tender, checkout_job
from node.store import schema
from node.store.store import Store
from node.store.writer import Tx
from protocol.ids import uuid7

BRANCH = "BR01"
WAREHOUSE = f"{BRANCH}-MAIN"
PRODUCTS = (("TEA-OOLONG-250", "Oolong tea 250 g", 6800), ("CUP-CERAMIC", "Ceramic cup", 2500))
SALE_LINES = (("TEA-OOLONG-250", 2), ("CUP-CERAMIC", 1))
SALE_TOTAL_FEN = 2 * 6800 + 2500
CASH_FEN = 20_000

TARGET_CHECKOUTS_PER_S = 1_000
AIM_CHECKOUTS_PER_S = 2_000
TARGET_OVERHEAD = 3.0
# Over HTTP a checkout (JSON in and out, a durable write) is weighed against the
# cheapest request the same server answers; aim for checkouts at 0.3 of it.
TARGET_HTTP_RATIO = 0.3


def new_sale_id() -> str:
    return uuid7(time.time_ns() // 1_000_000, os.urandom(10))


def product_job(product: dict[str, Any]) -> Callable[[Tx], None]:
    """HQ's catalogue, put straight into the node's store (as its feed would)."""
    return lambda tx: apply_product(tx.conn, product)


@dataclass
class BranchlineRun:
    checkouts: int
    elapsed_s: float
    latencies_ms: list[float]
    groups: int

    @property
    def checkouts_per_s(self) -> float:
        return self.checkouts / self.elapsed_s


async def run_branchline(path: Path, checkouts: int, callers: int) -> BranchlineRun:
    store = await Store.open(path, origin=BRANCH)
    try:
        for sku, name, price_fen in PRODUCTS:
            await store.writer.run(product_job({"sku": sku, "name": name, "price_fen": price_fen}))
        sale = SaleRequest(
            member_id=None, lines=SALE_LINES, tenders=(Tender("cash", CASH_FEN),), request_key=None
        )
        latencies_ms: list[float] = []
        remaining = checkouts
        groups_before = store.writer.groups_committed

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                result = await store.writer.run(checkout_job(sale, new_sale_id(), WAREHOUSE))
                latencies_ms.append((time.perf_counter() - started) * 1000)
                if result["total_fen"] != SALE_TOTAL_FEN:
                    raise RuntimeError(f"checkout booked {result['total_fen']} fen, not {SALE_TOTAL_FEN}")

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed_s = time.perf_counter() - started
        groups = store.writer.groups_committed - groups_before

        def count(tx: Tx) -> tuple[int, int]:
            sales = tx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
            entries = tx.conn.execute("SELECT COUNT(*) FROM change_log").fetchone()[0]
            return int(sales), int(entries)

        sales, entries = await store.writer.run(count)
        if sales != checkouts or entries != checkouts:
            raise RuntimeError(f"{checkouts} checkouts left {sales} sales and {entries} log entries")
    finally:
        await store.close()
    return BranchlineRun(checkouts, elapsed_s, latencies_ms, groups)


def run_baseline(path: Path, sales: int) -> float:
    """Plain sqlite3: the same rows, one transaction and one fsync per sale; returns sales/s."""
    conn = schema.connect(str(path), synchronous="FULL")
    schema.migrate(conn)
    try:
        started = time.perf_counter()
        for _ in range(sales):
            sale_id = new_sale_id()
            at_ms = time.time_ns() // 1_000_000
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO sales (id, seq, member_id, total_fen, change_fen, at_ms, request_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sale_id, 0, None, SALE_TOTAL_FEN, CASH_FEN - SALE_TOTAL_FEN, at_ms, None),
            )
            conn.executemany(
                "INSERT INTO sale_lines (sale_id, line_no, sku, qty, unit_price_fen, amount_fen)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(sale_id, 0, "TEA-OOLONG-250", 2, 6800, 13600), (sale_id, 1, "CUP-CERAMIC", 1, 2500, 2500)],
            )
            conn.executemany(
                "INSERT INTO sale_tenders (sale_id, tender_no, kind, amount_fen) VALUES (?, ?, ?, ?)",
                [(sale_id, 0, "cash", CASH_FEN)],
            )
            conn.executemany(
                "INSERT INTO stock_moves (warehouse, sku, qty_delta, cause, ref_id, at_ms)"
                " VALUES (?, ?, ?, 'sale', ?, ?)",
                [(WAREHOUSE, sku, -qty, sale_id, at_ms) for sku, qty in SALE_LINES],
            )
            conn.executemany(
                "INSERT INTO stock (warehouse, sku, qty) VALUES (?, ?, ?)"
                " ON CONFLICT (warehouse, sku) DO UPDATE SET qty = qty + excluded.qty",
                [(WAREHOUSE, sku, -qty) for sku, qty in SALE_LINES],
            )
            conn.execute("COMMIT")
        return sales / (time.perf_counter() - started)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=64, help="concurrent tills")
    parser.add_argument("--against", metavar="REV", help="also run commit REV's own script, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="with --against or --http: rounds to run")
    parser.add_argument("--http", action="store_true", help="checkouts over HTTP through the till app")
    parser.add_argument("--connections", type=int, default=8, help="with --http: concurrent connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="with --http: length of each phase")
    args = parser.parse_args()
    if not 0 < args.callers <= args.checkouts <= 1_000_000:
        parser.error("need 0 < callers <= checkouts <= 1,000,000")
    if not 0 < args.rounds <= 20:
        parser.error("need 0 < rounds <= 20")
    if args.http:
        http_main(args.connections, args.seconds, args.rounds)
        return
    if args.against:
        compared = against.compare(
            "benchmarks.checkout",
            ["--checkouts", str(args.checkouts), "--callers", str(args.callers)],
            args.against,
            args.rounds,
            {"Branchline checkouts/s": True, "overhead (Branchline / baseline time)": False},
        )
        against.report("Checkout at one node", args.against, compared).print()
        return

    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
        run = asyncio.run(run_branchline(Path(tmp) / "node.sqlite", args.checkouts, args.callers))
        baseline_per_s = run_baseline(Path(tmp) / "baseline.sqlite", args.checkouts)

    overhead = baseline_per_s / run.checkouts_per_s  # time per Branchline checkout / per plain insert
    report = Report(
        f"Checkout at one node: {args.checkouts:,} checkouts, {args.callers} concurrent callers,"
        " synchronous=FULL"
    )
    report.add(
        "Branchline checkouts/s",
        f"{run.checkouts_per_s:,.0f}",
        f">= {TARGET_CHECKOUTS_PER_S:,} (aim {AIM_CHECKOUTS_PER_S:,})",
        run.checkouts_per_s >= TARGET_CHECKOUTS_PER_S,
    )
    report.add("latency p50 per checkout", f"{percentile(run.latencies_ms, 0.50):.1f} ms")
    report.add("latency p99 per checkout", f"{percentile(run.latencies_ms, 0.99):.1f} ms")
    report.add(
        "group commits (mean checkouts per group)", f"{run.groups:,} ({args.checkouts / run.groups:.1f})"
    )
    report.add("baseline: plain sqlite3, one transaction per sale", f"{baseline_per_s:,.0f}/s")
    report.add(
        "overhead (Branchline / baseline time)",
        f"{overhead:.2f}x",
        f"< {TARGET_OVERHEAD:.0f}x",
        overhead < TARGET_OVERHEAD,
    )
    report.add("peak RSS", f"{peak_rss_mib():.0f} MiB")
    report.print()


def http_main(connections: int, seconds: float, rounds: int) -> None:
    if not 0 < connections <= 256 or not 0 < seconds <= 60:
        raise SystemExit("need 0 < connections <= 256 and 0 < seconds <= 60")
    run = asyncio.run(http_load.measure(connections, seconds, rounds, hq_online=True))
    report = Report(
        f"Checkout over HTTP: the till app as its own process, {connections} connections from"
        f" {run.load_generator}, {rounds} rounds of {seconds:g} s each"
    )
    report.add("trivial GET /api/sync per second", f"{run.get_per_s:,.0f}")
    report.add(
        "checkouts POST /api/sales per second",
        f"{run.checkouts_per_s:,.0f}",
        f">= {TARGET_CHECKOUTS_PER_S:,}",
        run.checkouts_per_s >= TARGET_CHECKOUTS_PER_S,
    )
    report.add(
        "checkouts / trivial GETs",
        f"{run.ratio:.2f}",
        f">= {TARGET_HTTP_RATIO:.1f}",
        run.ratio >= TARGET_HTTP_RATIO,
    )
    last = run.checkouts[-1]
    report.add(
        "checkout latency p50 / p99 (last round)", f"{last.latency_ms_p50:.1f} / {last.latency_ms_p99:.1f} ms"
    )
    failures = sum(phase.failures for phase in (*run.gets, *run.checkouts))
    report.add("failed requests", f"{failures:,}", "0", failures == 0)
    report.add("sales booked at the node", f"{run.sales_booked:,}")
    report.print()


if __name__ == "__main__":
    main()
