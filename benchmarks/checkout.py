"""Checkouts per second at one node, each acknowledged only once durably committed.

Branchline: concurrent callers each run a checkout (sale, lines, tender, stock
moves, stock, change-log entry) through the group-commit writer, as the HTTP
handler does. Baseline, in the same run: the same rows inserted with sqlite3
directly, one transaction per sale in one thread, synchronous=FULL.

    .venv/bin/python -m benchmarks.checkout [--checkouts 20000] [--callers 64]
    .venv/bin/python -m benchmarks.checkout --against cbc72d7 [--rounds 3]
    .venv/bin/python -m benchmarks.checkout --http [--connections 8] [--seconds 5] [--rounds 2]
    .venv/bin/python -m benchmarks.checkout --points [--rounds 3] [--members 1000] [--against REV] [--readme]

`--against REV` runs REV's own script and this one alternately (benchmarks.against).
`--http` POSTs checkouts through the real till app, a node process of its own, from
another process (wrk if installed, else Python), against a trivial GET on the same
server in the same run (benchmarks.http_load).
`--points` rings up sales to registered members (each graded into a level, as HQ's
feed brings it), alternating rounds of (a) no points rules (1 point per yuan) and (b)
a realistic rule set of 20 rules in force (`points_rules`), each round on a fresh
store; the figure is (b)'s throughput over (a)'s. With `--against REV` it then runs
the default (no member) checkouts beside REV's script, in the same sitting; with
`--readme` it writes its tables into README.md between the `checkout points` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import against, http_load
from benchmarks.common import (
    FIGURES_ENV,
    Report,
    peak_rss_mib,
    percentile,
    write_figures,
)
from loyalty.points import LineFacts, SaleFacts, TenderFacts, earn
from loyalty.reasons import REASON_KINDS
from loyalty.rules import PointsRule, PointsSettings
from node.services import levels, loyalty
from node.services.catalogue import apply_product
from node.services.checkout import SaleRequest, Tender, checkout_job
from node.services.members import register_job
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

CHECKOUTS = 20_000
TARGET_CHECKOUTS_PER_S = 1_000
AIM_CHECKOUTS_PER_S = 2_000
TARGET_OVERHEAD = 3.0
# Over HTTP a checkout (JSON in and out, a durable write) is weighed against the
# cheapest request the same server answers; aim for checkouts at 0.3 of it.
TARGET_HTTP_RATIO = 0.3

# --points: sales to registered members, by HQ's rules (issue 16). The products have
# categories (what category rules go by); the sale is a line of each.
MEMBER_PRODUCTS = (
    ("TEA-OOLONG-250", "Oolong tea 250 g", 6800, "tea"),
    ("CUP-CERAMIC", "Ceramic cup", 2500, "teaware"),
    ("SNACK-PLUM", "Dried plums 100 g", 1200, "snacks"),
)
MEMBER_SALE_LINES = (("TEA-OOLONG-250", 2), ("CUP-CERAMIC", 1), ("SNACK-PLUM", 3))
MEMBER_SALE_TOTAL_FEN = 2 * 6800 + 2500 + 3 * 1200
MEMBERS = 1_000
# A member's checkout is several times a plain one's work: rounds of this many keep
# --points (three rounds of each) near a minute on a busy 2-core machine.
POINTS_CHECKOUTS = 5_000
# HQ's levels (code, rank); member n is graded into LEVELS[n % 5], every fifth into
# none yet (a member HQ has not graded).
LEVELS = (("silver", 1), ("gold", 2), ("platinum", 3), ("diamond", 4))
DAY_MS = 86_400_000
# Checkouts by the rules run at 0.8 or better of the same checkouts with none.
TARGET_POINTS_RATIO = 0.8
# Where --points --readme writes its tables in README.md.
POINTS_README_BEGIN = "<!-- checkout points: begin -->"
POINTS_README_END = "<!-- checkout points: end -->"


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
    parser.add_argument(
        "--checkouts", type=int, help=f"{CHECKOUTS:,}; with --points {POINTS_CHECKOUTS:,} a round"
    )
    parser.add_argument("--callers", type=int, default=64, help="concurrent tills")
    parser.add_argument("--against", metavar="REV", help="also run commit REV's own script, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="with --against, --http or --points: rounds")
    parser.add_argument("--http", action="store_true", help="checkouts over HTTP through the till app")
    parser.add_argument("--connections", type=int, default=8, help="with --http: concurrent connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="with --http: length of each phase")
    parser.add_argument("--points", action="store_true", help="member checkouts, no points rules vs 20 rules")
    parser.add_argument("--members", type=int, default=MEMBERS, help="with --points: members who buy")
    parser.add_argument(
        "--readme", action="store_true", help="with --points: write the figures into README.md"
    )
    args = parser.parse_args()
    if args.checkouts is None:
        args.checkouts = POINTS_CHECKOUTS if args.points else CHECKOUTS
    if not 0 < args.callers <= args.checkouts <= 1_000_000:
        parser.error("need 0 < callers <= checkouts <= 1,000,000")
    if not 0 < args.rounds <= 20:
        parser.error("need 0 < rounds <= 20")
    if not 5 <= args.members <= 100_000:
        parser.error("need 5 <= members <= 100,000")
    if args.readme and not args.points:
        parser.error("--readme goes with --points (run_all --readme writes the other figures)")
    if args.http:
        if args.against:
            http_against_main(args.against, args.connections, args.seconds, args.rounds)
        else:
            http_main(args.connections, args.seconds, args.rounds)
        return
    if args.points:
        measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
        with tempfile.TemporaryDirectory(prefix="bench-points-figures-") as tmp:
            figures = Path(tmp) / "figures.jsonl"
            if args.readme:
                os.environ[FIGURES_ENV] = str(figures)  # where each Report saves its rows
            points_main(args.checkouts, args.callers, args.rounds, args.members)
            if args.against:
                # The default checkouts, as REV's script runs them.
                against_main(args.against, CHECKOUTS, args.callers, args.rounds)
            if args.readme:
                write_figures(
                    POINTS_README_BEGIN, POINTS_README_END, figures, measured_at, "benchmarks.checkout"
                )
        return
    if args.against:
        against_main(args.against, args.checkouts, args.callers, args.rounds)
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


def points_rules(now_ms: int) -> list[dict[str, Any]]:
    """HQ's rule set as a tea chain might run it in a festival week: 20 rules, a
    promotion (extra points on oolong) and a holiday in force now, a spring holiday
    long over, and rules for products and a category this sale does not have."""
    this_week = {"valid_from_ms": now_ms - 3 * DAY_MS, "valid_until_ms": now_ms + 4 * DAY_MS}
    spring = {"valid_from_ms": now_ms - 300 * DAY_MS, "valid_until_ms": now_ms - 293 * DAY_MS}
    rules: list[tuple[str, str, str, int, dict[str, int]]] = [
        ("BASE", "base", "", 1000, {}),
        ("CAT-TEA", "category", "tea", 1500, {}),
        ("CAT-TEAWARE", "category", "teaware", 1200, {}),
        ("CAT-SNACKS", "category", "snacks", 800, {}),
        ("CAT-GIFTS", "category", "gifts", 2000, {}),
        ("PRD-OOLONG", "product", "TEA-OOLONG-250", 2000, {}),
        ("PRD-PUER", "product", "TEA-PUER-357", 1800, {}),
        ("PRD-TEAPOT", "product", "POT-YIXING", 1500, {}),
        ("LVL-SILVER", "level", "silver", 1100, {}),
        ("LVL-GOLD", "level", "gold", 1250, {}),
        ("LVL-PLATINUM", "level", "platinum", 1500, {}),
        ("LVL-DIAMOND", "level", "diamond", 2000, {}),
        ("TIER-100", "tier", "", 1100, {"min_fen": 10_000, "max_fen": 49_999}),
        ("TIER-500", "tier", "", 1200, {"min_fen": 50_000, "max_fen": 199_999}),
        ("TIER-2000", "tier", "", 1500, {"min_fen": 200_000}),
        ("TENDER-CASH", "tender", "cash", 1100, {}),
        ("TENDER-POINTS", "tender", "points", 0, {}),
        ("PROMO-OOLONG", "extra", "TEA-OOLONG-250", 500, this_week),
        ("HOLIDAY-FESTIVAL", "holiday", "", 2000, this_week),
        ("HOLIDAY-SPRING", "holiday", "", 3000, spring),
    ]
    return [
        {"code": code, "name": code.title(), "kind": kind, "target": target, "factor_milli": factor} | extra
        for code, kind, target, factor, extra in rules
    ]


def member_id(number: int) -> str:
    return f"M-{number:05d}"


def level_of(number: int) -> str:
    return LEVELS[number % 5][0] if number % 5 < len(LEVELS) else ""


def expected_points(rules: list[dict[str, Any]], level: str, at_ms: int) -> int:
    """What the pure engine gives the sale (paid in cash, no change counted) under `rules`."""
    categories = {sku: category for sku, _, _, category in MEMBER_PRODUCTS}
    prices = {sku: price_fen for sku, _, price_fen, _ in MEMBER_PRODUCTS}
    facts = SaleFacts(
        at_ms,
        level,
        tuple(LineFacts(sku, categories[sku], qty, prices[sku] * qty) for sku, qty in MEMBER_SALE_LINES),
        (TenderFacts("cash", MEMBER_SALE_TOTAL_FEN),),
    )
    as_hq_wrote = [{key: value for key, value in rule.items() if key != "name"} for rule in rules]
    return earn([PointsRule(**rule) for rule in as_hq_wrote], PointsSettings(), facts).points


def member_setup(members: int, rules: list[dict[str, Any]], at_ms: int) -> Callable[[Tx], None]:
    """The store as HQ's feed would leave it: products with categories, the levels,
    `members` registered here (each with its virtual card, where points are booked) and
    graded, the settings (combine=multiply) and `rules`."""

    def job(tx: Tx) -> None:
        for sku, name, price_fen, category in MEMBER_PRODUCTS:
            apply_product(tx.conn, {"sku": sku, "name": name, "price_fen": price_fen, "category": category})
        for code, rank in LEVELS:
            levels.apply_level(tx.conn, {"code": code, "name": code.title(), "rank": rank})
        for number in range(members):
            profile = {"name": f"Member {number}", "phone": f"139{number:08d}"}
            register_job(member_id(number), BRANCH, profile)(tx)
            if level_of(number):
                levels.apply_member_level(
                    tx.conn,
                    {
                        "member_id": member_id(number),
                        "level": level_of(number),
                        "spend_fen": 100_000 * (number % 5),
                        "visits": number % 5,
                        "graded_at_ms": at_ms - DAY_MS,
                    },
                )
        loyalty.apply_points_settings(tx.conn, {"combine": "multiply"})
        for rule in rules:
            loyalty.apply_points_rule(tx.conn, rule)

    return job


@dataclass
class MemberRun(BranchlineRun):
    points: int  # earned by all the round's sales


async def run_members(path: Path, checkouts: int, callers: int, members: int, with_rules: bool) -> MemberRun:
    """`checkouts` sales to `members` members in turn, with HQ's rule set or none."""
    store = await Store.open(path, origin=BRANCH)
    try:
        now_ms = store.writer.now_ms()
        rules = points_rules(now_ms) if with_rules else []
        await store.writer.run(member_setup(members, rules, now_ms))
        expected = {level: expected_points(rules, level, now_ms) for level in {level_of(n) for n in range(5)}}
        sales = [
            SaleRequest(
                member_id=member_id(number),
                lines=MEMBER_SALE_LINES,
                tenders=(Tender("cash", CASH_FEN),),
                request_key=None,
            )
            for number in range(members)
        ]
        latencies_ms: list[float] = []
        remaining = checkouts
        turn = 0
        reason_kinds: set[str] = set()
        groups_before = store.writer.groups_committed

        async def caller() -> None:
            nonlocal remaining, turn
            while remaining > 0:
                remaining -= 1
                number = turn % members
                turn += 1
                started = time.perf_counter()
                result = await store.writer.run(checkout_job(sales[number], new_sale_id(), WAREHOUSE))
                latencies_ms.append((time.perf_counter() - started) * 1000)
                want = expected[level_of(number)]
                if result["total_fen"] != MEMBER_SALE_TOTAL_FEN or result["points_earned"] != want:
                    raise RuntimeError(
                        f"checkout booked {result['total_fen']} fen and {result['points_earned']} points,"
                        f" not {MEMBER_SALE_TOTAL_FEN} fen and {want} points"
                    )
                if number < 5 and level_of(number):
                    reason_kinds.update(reason["kind"] for reason in result["points_reasons"])

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed_s = time.perf_counter() - started
        groups = store.writer.groups_committed - groups_before

        def count(tx: Tx) -> tuple[int, int, int]:
            booked = tx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
            earned, points = tx.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM dir_ledger WHERE ledger = 'points'"
            ).fetchone()
            return int(booked), int(earned), int(points)

        booked, earned, points = await store.writer.run(count)
        if booked != checkouts or earned != checkouts:
            raise RuntimeError(f"{checkouts} checkouts left {booked} sales and {earned} points entries")
        owed = sum(expected[level_of(n % members)] for n in range(checkouts))
        if points != owed:
            raise RuntimeError(f"{checkouts} checkouts booked {points:,} points, not {owed:,}")
        # Every kind of rule applied to a graded member's sale; with no rules, the base only.
        wanted = set(REASON_KINDS) if with_rules else {"base"}
        if reason_kinds != wanted:
            raise RuntimeError(f"the sales' reasons were of {sorted(reason_kinds)}, not {sorted(wanted)}")
    finally:
        await store.close()
    return MemberRun(checkouts, elapsed_s, latencies_ms, groups, points)


def points_main(checkouts: int, callers: int, rounds: int, members: int) -> None:
    """Rounds of (a) no rules and (b) the rule set, alternately (every other pair in
    the other order, so drift touches both alike), each on a fresh store."""
    runs: dict[bool, list[MemberRun]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-points-") as tmp:
        for number in range(rounds):
            for with_rules in (False, True) if number % 2 == 0 else (True, False):
                path = Path(tmp) / f"node-{number}-{'rules' if with_rules else 'none'}.sqlite"
                runs[with_rules].append(
                    asyncio.run(run_members(path, checkouts, callers, members, with_rules))
                )
    plain, ruled = runs[False], runs[True]
    plain_per_s = statistics.median(run.checkouts_per_s for run in plain)
    ruled_per_s = statistics.median(run.checkouts_per_s for run in ruled)
    ratio = ruled_per_s / plain_per_s
    pairs = [b.checkouts_per_s / a.checkouts_per_s for a, b in zip(plain, ruled, strict=True)]
    report = Report(
        f"Checkout with points: {checkouts:,} sales to {members:,} registered members a round,"
        f" {callers} concurrent callers, {rounds} rounds each of (a) no points rules and (b) 20 rules,"
        " alternately, synchronous=FULL"
    )
    for name, group, per_s in (("(a) no rules", plain, plain_per_s), ("(b) 20 rules", ruled, ruled_per_s)):
        latencies = [latency for run in group for latency in run.latencies_ms]
        report.add(f"{name}: checkouts/s (median)", f"{per_s:,.0f}")
        report.add(f"{name}: each round", " / ".join(f"{run.checkouts_per_s:,.0f}" for run in group))
        report.add(
            f"{name}: latency p50 / p95 / p99",
            " / ".join(f"{percentile(latencies, q):.1f}" for q in (0.50, 0.95, 0.99)) + " ms",
        )
        sales = sum(run.checkouts for run in group)
        report.add(f"{name}: points per sale", f"{sum(run.points for run in group) / sales:,.1f}")
    report.add(
        "(b) / (a) checkouts/s", f"{ratio:.2f}", f">= {TARGET_POINTS_RATIO:.2f}", ratio >= TARGET_POINTS_RATIO
    )
    report.add("(b) / (a) each round", " / ".join(f"{pair:.2f}" for pair in pairs))
    report.add("peak RSS", f"{peak_rss_mib():.0f} MiB")
    report.print()


def against_main(rev: str, checkouts: int, callers: int, rounds: int) -> None:
    """The default checkouts (no member) here and at REV, alternately."""
    compared = against.compare(
        "benchmarks.checkout",
        ["--checkouts", str(checkouts), "--callers", str(callers)],
        rev,
        rounds,
        {"Branchline checkouts/s": True, "overhead (Branchline / baseline time)": False},
    )
    against.report("Checkout at one node", rev, compared).print()


def http_against_main(rev: str, connections: int, seconds: float, rounds: int) -> None:
    """Checkouts over HTTP here and at REV, alternately, each run one round of GET and POST."""
    compared = against.compare(
        "benchmarks.checkout",
        ["--http", "--rounds", "1", "--connections", str(connections), "--seconds", f"{seconds:g}"],
        rev,
        rounds,
        {
            "checkouts POST /api/sales per second": True,
            "trivial GET /api/devices per second": True,
            "checkouts / trivial GETs": True,
        },
    )
    against.report("Checkout over HTTP", rev, compared).print()


def http_main(connections: int, seconds: float, rounds: int) -> None:
    if not 0 < connections <= 256 or not 0 < seconds <= 60:
        raise SystemExit("need 0 < connections <= 256 and 0 < seconds <= 60")
    run = asyncio.run(http_load.measure(connections, seconds, rounds, hq_online=True))
    report = Report(
        f"Checkout over HTTP: the till app as its own process, {connections} connections from"
        f" {run.load_generator}, {rounds} rounds of {seconds:g} s each"
    )
    report.add("trivial GET /api/devices per second", f"{run.get_per_s:,.0f}")
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
    # Where the time goes: the same sale from as many callers in this process, with no
    # HTTP and no HQ, is what the group commit alone allows at that concurrency (a
    # group is about half the callers, and each group waits for its flush).
    with tempfile.TemporaryDirectory() as tmp:
        bound = asyncio.run(
            run_branchline(
                Path(tmp) / "node.sqlite", max(2_000, int(run.checkouts_per_s * seconds)), connections
            )
        )
    report.add(
        f"the same sale from {connections} callers in-process (no HTTP, no HQ)",
        f"{bound.checkouts_per_s:,.0f}/s, {bound.checkouts / bound.groups:.1f} a group",
    )
    report.add("HTTP checkouts / in-process checkouts", f"{run.checkouts_per_s / bound.checkouts_per_s:.2f}")
    report.print()


if __name__ == "__main__":
    main()
