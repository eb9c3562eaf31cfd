"""The till in a browser with the branch busy: how fast a scanned line shows, how fast a sale books.

A real HQ and one branch node (BR01) on 127.0.0.1 (demo data, SQLite); the branch's
clerk logged in to the node's till page in headless Chromium (Debian's, through
Playwright). While it is measured the branch is busy: its other counters post sales
to the same node's POST /api/sales at `--busy` a second (aiohttp, as the clerk), and
the node replicates every sale to HQ as it always does.

Each of `--sales` sales at the page is two products scanned (the barcode put in #scan,
then a real Enter keypress), cash for the rest (F6, then Enter on the empty amount), a
mouse click on #pay once it is enabled, and Enter on #next-sale. Timed in the page
itself, on its performance.now() clock (from the event's own timeStamp, to a
MutationObserver seeing the outcome and then to the frame after it: requestAnimationFrame
and the task after, the usual stand-in for "painted"), so Playwright's round-trips are
not counted:

(a) scan to line on screen: from the Enter keydown in #scan to the new line's row in
    #lines, painted. Target: p99 under 100 ms. Also to the row in the DOM, and to the
    line priced, its amount cell filled from POST /api/sales/preview, which the page
    asks for only after 120 ms without a further change (PREVIEW_DELAY_MS in till.js),
    so that figure includes the pause; the next code is scanned once the line is priced.
(b) pay to receipt: from the click on #pay to #receipt shown with the sale's id,
    painted (POST /api/sales with its Idempotency-Key on the way). Target: p99 under
    500 ms. Also to the receipt in the DOM.

Checked: the node booked exactly the page's sales plus the busy ones in the measured
time, every receipt a sale of its own, and all of them reached HQ. HQ, the node and the
busy counters run in this process (its peak RSS is printed); Chromium and Playwright's
driver are processes of their own, not counted.

    .venv/bin/python -m benchmarks.till [--sales 200] [--busy 20] [--readme]

--readme writes the table into README.md between its till markers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from playwright.async_api import Browser, Page, async_playwright

from benchmarks.common import (
    FIGURES_ENV,
    WAIT_BOUND_S,
    Report,
    clerk_login,
    demo_logins,
    get_json,
    peak_rss_mib,
    percentile,
    setup_logging,
    start_chain,
    wait_until,
    write_figures,
)
from hq.setup import DEMO_CATALOGUE, DEMO_PASSWORD

BRANCH = "BR01"
TARGET_LINE_P99_MS = 100.0
TARGET_RECEIPT_P99_MS = 500.0
# The busy counters' rate is judged achieved at this share of what was asked.
BUSY_ACHIEVED_SHARE = 0.95
# Unmeasured sales first: the page's and the node's first requests, off the figures.
WARM_UP_SALES = 3
WAIT_MS = WAIT_BOUND_S * 1000
# Debian's Chromium, never one Playwright downloads; the flags (as tests/browser.py's)
# keep it from reaching for Google's hosts on a machine whose network is closed.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--no-sandbox",  # run as root here
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Goods with barcodes, as a scanner reads them (services are sold from a code sheet).
GOODS = tuple(
    (product.barcode, product.sku) for product in DEMO_CATALOGUE if product.barcode and not product.service
)
BUSY_SKUS = tuple(sku for _, sku in GOODS)

# In the page: the Enter in #scan and the click on #pay stamped by capturing listeners
# (event.timeStamp, on performance.now()'s clock), their outcome stamped by
# MutationObservers on #lines and #receipt. A scan is armed by its own Enter (the code
# still in #scan then), a payment from Python once #pay is enabled; each one's promise
# resolves when its outcome is on the page.
PROBE_JS = """
(skus) => {
  const lines = document.querySelector("#lines tbody");
  const receipt = document.getElementById("receipt");
  const pay = document.getElementById("pay");
  const probe = { scan: null, pay: null };
  const armed = () => {
    let resolve;
    const done = new Promise((r) => (resolve = r));
    return { done, resolve, taken: false };
  };
  window.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target.id !== "scan") return;
    const sku = skus[event.target.value.trim()];
    if (sku) probe.scan = { sku, enter: event.timeStamp, row: null, priced: null, ...armed() };
  }, true);
  window.addEventListener("click", (event) => {
    const paying = probe.pay;
    if (paying && paying.click === null && event.target.closest("#pay")) paying.click = event.timeStamp;
  }, true);
  // After the next frame: requestAnimationFrame, then the task after it, the usual
  // stand-in for "painted" (the page has no paint event of its own).
  const afterPaint = (stamp) => requestAnimationFrame(() => setTimeout(() => stamp(performance.now()), 0));
  const scanOver = (scan) => {
    if (scan.priced === null || scan.painted === null) return;
    const since = (at) => at - scan.enter;
    scan.resolve({ row_ms: since(scan.row), painted_ms: since(scan.painted), priced_ms: since(scan.priced) });
  };
  new MutationObserver(() => {
    const scan = probe.scan;
    if (!scan || scan.priced !== null) return;
    const now = performance.now();
    const row = lines.querySelector(`tr[data-sku="${scan.sku}"]`);
    if (!row) return;
    if (scan.row === null) {
      scan.row = now;
      afterPaint((at) => {
        scan.painted = at;
        scanOver(scan);
      });
    }
    if (row.querySelector("td.amount").textContent !== "") {
      scan.priced = now;
      scanOver(scan);
    }
  }).observe(lines, { childList: true, subtree: true, characterData: true });
  new MutationObserver(() => {
    const paying = probe.pay;
    if (!paying || paying.click === null || paying.shown !== null) return;
    const sale = receipt.dataset.sale;
    if (receipt.hidden || !sale || sale === paying.before) return;
    paying.shown = performance.now();
    const shownId = document.getElementById("receipt-id").textContent;
    const since = (at) => at - paying.click;
    afterPaint((at) =>
      paying.resolve({ dom_ms: since(paying.shown), painted_ms: since(at), sale, shown_id: shownId }),
    );
  }).observe(receipt, { attributes: true, attributeFilter: ["hidden", "data-sale"] });
  const take = (armedOne, what) => {
    if (!armedOne || armedOne.taken) throw new Error(`no ${what} to wait for`);
    armedOne.taken = true;
    return armedOne.done;
  };
  const enabled = () =>
    new Promise((resolve) => {
      if (!pay.disabled) return resolve();
      const watch = new MutationObserver(() => {
        if (pay.disabled) return;
        watch.disconnect();
        resolve();
      });
      watch.observe(pay, { attributes: true, attributeFilter: ["disabled"] });
    });
  window.tillProbe = {
    scanned: () => take(probe.scan, "scan"),
    // Once #pay can be pressed: armed, and where to click it.
    async payable() {
      await enabled();
      pay.scrollIntoView({ block: "nearest" });
      const box = pay.getBoundingClientRect();
      probe.pay = { before: receipt.dataset.sale ?? null, click: null, shown: null, ...armed() };
      return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
    },
    paid: () => take(probe.pay, "payment"),
  };
}
"""

T = TypeVar("T")


async def bounded(step: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(step, WAIT_BOUND_S)
    except TimeoutError:
        raise RuntimeError(f"the till did not show {what} within {WAIT_BOUND_S:.0f} s") from None


# -- the page -----------------------------------------------------------------------------


@dataclass
class PageFigures:
    """Milliseconds from the Enter or the click: to the DOM, to the frame after (painted)."""

    line_dom_ms: list[float] = field(default_factory=list)
    line_ms: list[float] = field(default_factory=list)
    priced_ms: list[float] = field(default_factory=list)
    receipt_dom_ms: list[float] = field(default_factory=list)
    receipt_ms: list[float] = field(default_factory=list)
    sale_ids: list[str] = field(default_factory=list)


def chromium_path() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise SystemExit("this benchmark needs Debian's chromium (apt-get install chromium)")
    return found


async def open_till(browser: Browser, url: str) -> Page:
    """The till page, logged in as the branch's clerk through the log-in form, its
    catalogue loaded and the probe in place."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(url + "/")
    await page.fill("input[name=login]", clerk_login(BRANCH))
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button")
    await page.wait_for_url(url + "/")
    # Sale is till.js's checkout; its catalogue is what a scanned code is looked up in.
    await page.wait_for_function("() => typeof Sale !== 'undefined' && Sale.sale.products.length > 0")
    await page.evaluate(PROBE_JS, dict(GOODS))
    return page


def baskets() -> Iterator[tuple[tuple[str, str], tuple[str, str]]]:
    """Two different goods a sale, (barcode, sku) each, going round the catalogue."""
    for first, step in itertools.cycle(itertools.product(range(len(GOODS)), range(1, len(GOODS)))):
        yield GOODS[first], GOODS[(first + step) % len(GOODS)]


async def sell_at_page(
    page: Page, basket: tuple[tuple[str, str], tuple[str, str]], figures: PageFigures
) -> None:
    """One sale at the till from the keyboard and a click, its times kept in `figures`."""
    keyboard = page.keyboard
    for code, sku in basket:
        # The code arrives in #scan in one input event rather than one a digit: the same
        # page state at the Enter, without a Playwright round-trip for every digit.
        await keyboard.insert_text(code)
        await keyboard.press("Enter")
        scanned = await bounded(page.evaluate("() => tillProbe.scanned()"), f"the line of {sku}")
        figures.line_dom_ms.append(scanned["row_ms"])
        figures.line_ms.append(scanned["painted_ms"])
        figures.priced_ms.append(scanned["priced_ms"])
    await keyboard.press("F6")  # cash ...
    await keyboard.press("Enter")  # ... for what is due
    at = await bounded(page.evaluate("() => tillProbe.payable()"), "#pay enabled")
    await page.mouse.click(at["x"], at["y"])
    paid = await bounded(page.evaluate("() => tillProbe.paid()"), "the receipt")
    if paid["shown_id"] != paid["sale"]:
        raise RuntimeError(f"the receipt shows sale {paid['shown_id']!r} for {paid['sale']!r}")
    figures.receipt_dom_ms.append(paid["dom_ms"])
    figures.receipt_ms.append(paid["painted_ms"])
    figures.sale_ids.append(paid["sale"])
    await keyboard.press("Enter")  # on #next-sale, which the receipt focuses


# -- the branch's other counters ------------------------------------------------------------


@dataclass
class Busy:
    sent: int = 0
    booked: int = 0
    refused: list[str] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def busy_counters(
    session: aiohttp.ClientSession, node_url: str, rate_per_s: float, stop: asyncio.Event, busy: Busy
) -> None:
    """Sales at `rate_per_s`, each on its own schedule (a slow answer does not hold the
    next back), until `stop`; then every one sent is waited for."""
    skus = itertools.cycle(BUSY_SKUS)

    async def sell(body: dict[str, Any]) -> None:
        sent_s = time.perf_counter()
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        async with session.post(node_url + "/api/sales", json=body, headers=headers) as response:
            answer = await response.text()
            if response.status == 201:
                busy.booked += 1
                busy.post_ms.append((time.perf_counter() - sent_s) * 1000)
            else:
                busy.refused.append(f"{response.status} {answer[:200]}")

    started = time.perf_counter()
    selling: set[asyncio.Task[None]] = set()
    if rate_per_s == 0:
        await stop.wait()  # a quiet branch
    while rate_per_s > 0:
        due_s = started + busy.sent / rate_per_s
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, due_s - time.perf_counter()))
            break
        except TimeoutError:
            pass
        lines = [{"sku": next(skus), "qty": 1}, {"sku": next(skus), "qty": 2}]
        task = asyncio.create_task(
            sell({"lines": lines, "tenders": [{"kind": "cash", "amount_fen": 100_000}]})
        )
        selling.add(task)
        task.add_done_callback(selling.discard)
        busy.sent += 1
    busy.seconds = time.perf_counter() - started
    await asyncio.gather(*selling)


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Result:
    page: PageFigures
    busy: Busy
    page_seconds: float
    node_booked: int  # sales the node booked while measured
    node_total: int
    hq_seconds: float  # from the last sale until HQ held every one


async def run(root: Path, sales: int, busy_rate: float) -> Result:
    hq, node = await start_chain(root, BRANCH)
    try:
        logins = await demo_logins(hq.url, node.url, BRANCH)
        async with logins.session() as counters, logins.session() as reader, async_playwright() as playwright:

            async def catalogue_arrived() -> bool:
                return len((await get_json(reader, node.url + "/api/products"))["products"]) > 0

            await wait_until(catalogue_arrived, "the catalogue to reach the node")
            browser = await playwright.chromium.launch(
                executable_path=chromium_path(), args=list(CHROMIUM_FLAGS)
            )
            try:
                page = await open_till(browser, node.url)
                coming = baskets()
                for _ in range(WARM_UP_SALES):
                    await sell_at_page(page, next(coming), PageFigures())
                before = (await get_json(reader, node.url + "/api/sales/summary"))["count"]
                figures, busy, stop = PageFigures(), Busy(), asyncio.Event()
                busy_task = asyncio.create_task(busy_counters(counters, node.url, busy_rate, stop, busy))
                started = time.perf_counter()
                try:
                    for _ in range(sales):
                        await sell_at_page(page, next(coming), figures)
                    page_seconds = time.perf_counter() - started
                finally:
                    stop.set()
                    await busy_task
            finally:
                await browser.close()
            last_s = time.perf_counter()
            node_total = (await get_json(reader, node.url + "/api/sales/summary"))["count"]
            for sale_id in figures.sale_ids:
                await get_json(reader, f"{node.url}/api/sales/{sale_id}")  # booked, as its receipt says

            async def hq_holds_all() -> bool:
                return bool((await get_json(reader, hq.url + "/api/sales/summary"))["count"] == node_total)

            await wait_until(hq_holds_all, "HQ to hold every sale the node booked")
            hq_seconds = time.perf_counter() - last_s
    finally:
        await node.stop()
        await hq.stop()
    return Result(figures, busy, page_seconds, node_total - before, node_total, hq_seconds)


def spread(values: list[float]) -> tuple[str, float]:
    """'p50 / p95 / p99 / max ms' and the p99."""
    p99 = percentile(values, 0.99)
    return (
        f"{percentile(values, 0.5):.1f} / {percentile(values, 0.95):.1f} / {p99:.1f} / {max(values):.1f} ms",
        p99,
    )


def report(result: Result, sales: int, busy_rate: float) -> None:
    page, busy = result.page, result.busy
    out = Report(
        f"The till in headless Chromium: {sales} sales of two scanned lines and cash,"
        f" the branch busy with {busy_rate:g} API sales/s"
    )
    line, line_p99 = spread(page.line_ms)
    out.add(
        "(a) scan to line on screen p50 / p95 / p99 / max",
        line,
        f"p99 < {TARGET_LINE_P99_MS:.0f} ms",
        line_p99 < TARGET_LINE_P99_MS,
    )
    out.add("(a) scan to line in the DOM (before its frame)", spread(page.line_dom_ms)[0])
    out.add("(a) scan to line priced (incl. the page's 120 ms pause)", spread(page.priced_ms)[0])
    receipt, receipt_p99 = spread(page.receipt_ms)
    out.add(
        "(b) pay to receipt p50 / p95 / p99 / max",
        receipt,
        f"p99 < {TARGET_RECEIPT_P99_MS:.0f} ms",
        receipt_p99 < TARGET_RECEIPT_P99_MS,
    )
    out.add("(b) pay to receipt in the DOM (before its frame)", spread(page.receipt_dom_ms)[0])
    expected = sales + busy.booked
    out.add(
        "sales booked at the node: page + busy = node",
        f"{len(set(page.sale_ids)):,} + {busy.booked:,} = {result.node_booked:,}",
        "exactly, none refused",
        result.node_booked == expected and len(set(page.sale_ids)) == sales and not busy.refused,
    )
    achieved = busy.booked / busy.seconds if busy.seconds else 0.0
    out.add(
        "busy sales/s achieved (asked)",
        f"{achieved:.1f} ({busy_rate:g})",
        f">= {BUSY_ACHIEVED_SHARE:.0%} of asked",
        achieved >= BUSY_ACHIEVED_SHARE * busy_rate,
    )
    if busy.post_ms:
        out.add(
            "busy POST /api/sales p50 / p99",
            f"{percentile(busy.post_ms, 0.5):.1f} / {percentile(busy.post_ms, 0.99):.1f} ms",
        )
    out.add(
        "page sales a minute (with Playwright's keys and clicks)", f"{sales / result.page_seconds * 60:.0f}"
    )
    out.add(f"all {result.node_total:,} sales at HQ, after the last", f"{result.hq_seconds:.1f} s")
    out.add("peak RSS (HQ, node and busy counters in one process; not Chromium)", f"{peak_rss_mib():.0f} MiB")
    out.print()
    for refusal in busy.refused[:3]:
        print(f"busy sale refused: {refusal}")


README_BEGIN = "<!-- till: begin -->"
README_END = "<!-- till: end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=200, help="sales at the page, measured")
    parser.add_argument("--busy", type=float, default=20.0, help="the other counters' sales a second")
    parser.add_argument("--readme", action="store_true", help="write the figures into README.md")
    args = parser.parse_args()
    if not 1 <= args.sales <= 1_000:
        parser.error("sales must be 1 to 1,000")
    if not 0 <= args.busy <= 200:
        parser.error("busy must be 0 to 200 sales a second")
    setup_logging()
    measured_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="bench-till-") as tmp:
        figures = Path(tmp) / "figures.jsonl"
        if args.readme:
            os.environ[FIGURES_ENV] = str(figures)  # where the Report saves its rows
        result = asyncio.run(run(Path(tmp) / "chain", args.sales, args.busy))
        report(result, args.sales, args.busy)
        if args.readme:
            write_figures(README_BEGIN, README_END, figures, measured_at, "benchmarks.till")


if __name__ == "__main__":
    main()
