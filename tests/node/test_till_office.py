"""The till's back office in headless Chromium (Playwright), on a real node and HQ: a
store manager counts stock and closes the day's drawer after a cash sale; returns a
line of a cash sale and sees the refund go back to cash, and the node's refusal when
the page is behind; a clerk has no stocktake at all (no link, and 403 from the node),
and sees goods another branch transferred appear in the open stock page.

Every figure the page shows is checked against what the node itself says."""

from __future__ import annotations

import sqlite3
from typing import Any

from playwright.async_api import Page, expect

from node.routes.context import CONTEXT
from tests.browser import WAIT_MS, chromium, logged_in_page, screenshot
from tests.harness import Chain, Server, clerk_login, manager_login, sale, wait_until
from tests.hq.operator import author, caught_up

CUP, SOAP = "CUP-CERAMIC", "SOAP-BAR"


async def _node_rows(node: Server, sql: str) -> list[tuple[Any, ...]]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(sql).fetchall()]

    return await node.app[CONTEXT].store.read(read)


def _page_errors(page: Page) -> list[str]:
    """What the page's scripts threw from now on (a section's failure nobody caught)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def _on_hand(chain: Chain, node: Server, warehouse: str, sku: str) -> int:
    levels = await chain.get(node.url + "/api/stock")
    (row,) = [r for r in levels["stock"] if (r["warehouse"], r["sku"]) == (warehouse, sku)]
    return int(row["qty"])


async def test_a_manager_counts_stock_and_closes_the_day_after_a_cash_sale(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    # 299.00 paid with 10,000.00 in cash: 9,701.00 change, so the drawer should hold 299.00.
    await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1)))
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, manager_login("BR01"))
        errors = _page_errors(page)
        await page.click("nav a[href='#stocktake']")
        counted = page.locator(f"#stocktake-count tr[data-sku='{CUP}']")
        await expect(counted.locator("td.book")).to_have_text("0")
        await counted.locator("input").fill("7")
        await page.click("#stocktake-post")
        booked = page.locator(f"#stocktake-result-lines tr[data-sku='{CUP}']")
        await expect(booked).to_have_attribute("data-variance", "7")
        await expect(counted.locator("td.book")).to_have_text("7")  # the book read again
        await expect(page.locator("#stocktake-history tbody tr")).to_have_count(1)

        await page.click("nav a[href='#settlement']")
        drawer = page.locator("#settlement-drawer")
        await expect(drawer.locator("tr[data-figure=expected_cash] td.n")).to_have_text("¥299.00")
        await expect(page.locator("#settlement-takings tr[data-figure=cash] td.n")).to_have_text("¥299.00")
        await page.fill("#settlement-counted", "300")
        await expect(page.locator("#settlement-difference")).to_have_text("+¥1.00")
        await page.click("#settlement-close")
        closed = page.locator("#settlement-closed")
        await expect(closed).to_contain_text("已日结")
        await expect(closed.locator("tr[data-figure=counted] td.n")).to_have_text("¥300.00")
        await expect(closed.locator("tr[data-figure=difference] td.n")).to_have_text("+¥1.00")
        await expect(page.locator("#settlement-close")).to_have_count(0)
        await screenshot(page, "till-settlement")
        assert errors == []

    assert await _on_hand(chain, br01, "BR01-MAIN", CUP) == 7
    today = (await chain.get(br01.url + "/api/me"))["today"]
    close = (await chain.get(br01.url + "/api/settlement", params={"day": today}))["close"]
    assert (close["expected_cash_fen"], close["counted_cash_fen"], close["difference_fen"]) == (
        29_900,
        30_000,
        100,
    )
    # Both writes went with an Idempotency-Key, so a retried one would book once.
    keys = await _node_rows(
        br01, "SELECT request_key FROM stocktakes UNION ALL SELECT request_key FROM settlement_closes"
    )
    assert len(keys) == 2
    assert all(key for (key,) in keys), keys


async def test_a_manager_returns_a_line_of_a_cash_sale_to_cash(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    sold = await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1), (CUP, 2)))
    sale_id = sold["id"]
    later = await chain.post(br01.url + "/api/sales", sale(("SOAP-BAR", 1)))
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, manager_login("BR01"))
        errors = _page_errors(page)
        await page.click("nav a[href='#returns']")
        # Today's sales, newest first: the cashier picks the one coming back.
        today = page.locator("#return-today tbody tr")
        await expect(today).to_have_count(2)
        await expect(today.first).to_have_attribute("data-sale", later["id"])
        await expect(today.nth(1)).to_contain_text("¥349.00")
        await today.nth(1).click()
        await expect(page.locator("#return-sale-id")).to_have_value(sale_id)
        cups = page.locator(f"#return-lines tr[data-sku='{CUP}']")
        await expect(cups).to_have_attribute("data-left", "2")
        await expect(page.locator("#return-tenders tr[data-kind=cash]")).to_have_count(1)
        await cups.locator("input").fill("1")
        await page.click("#return-post")
        refunds = page.locator("#return-refunds tbody tr")
        await expect(refunds).to_have_count(1)
        await expect(refunds.first).to_have_attribute("data-kind", "cash")
        await expect(refunds.first).to_contain_text("现金")
        await expect(refunds.first.locator("td.n")).to_have_text("¥25.00")
        await expect(cups).to_have_attribute("data-left", "1")
        await expect(page.locator("#return-history-table tbody tr")).to_have_count(1)
        await expect(today.nth(1).locator("td.n").last).to_have_text("¥25.00")  # refunded so far

        # The last cup comes back at another till; this page still offers it, and shows
        # the node's refusal when asked again.
        await chain.post(f"{br01.url}/api/sales/{sale_id}/returns", {"lines": [{"line_no": 1, "qty": 1}]})
        await cups.locator("input").fill("1")
        await page.click("#return-post")
        await expect(page.locator("#flash.bad")).to_contain_text("left to return")
        assert errors == []

    returns = (await chain.get(f"{br01.url}/api/sales/{sale_id}/returns"))["returns"]
    assert [
        (r["refund_kind"], r["refund_fen"], [(x["sku"], x["qty"]) for x in r["lines"]]) for r in returns
    ] == [
        ("cash", 2_500, [(CUP, 1)]),
        ("cash", 2_500, [(CUP, 1)]),
    ]
    assert returns[0]["refunds"] == [{"tender_no": 0, "kind": "cash", "amount_fen": 2_500, "card": None}]
    page_key, test_key = await _node_rows(br01, "SELECT request_key FROM sale_returns ORDER BY seq")
    assert page_key[0]  # the page's return: keyed
    assert test_key[0] is None  # the test's own, sent without one


async def test_a_clerk_has_no_stocktake_and_sees_a_transfer_arrive_in_the_stock_page(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    await author(chain, "suppliers", {"code": "SUP-1", "name": "Jingdezhen Wholesale"})

    async def br02_ready() -> bool:
        warehouses = await chain.get(br02.url + "/api/warehouses")
        return "BR01-MAIN" in {w["code"] for w in warehouses["warehouses"]} and await caught_up(chain, "BR02")

    await wait_until(br02_ready, "BR02 to know the supplier and BR01's warehouse")
    await chain.post(
        br02.url + "/api/receipts",
        {"supplier": "SUP-1", "lines": [{"sku": SOAP, "qty": 10, "unit_cost_fen": 450}]},
    )
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        errors = _page_errors(page)
        await expect(page.locator("nav a[href='#stock']")).to_be_visible()
        await expect(page.locator("nav a[href='#stocktake']")).to_have_count(0)
        status = await page.evaluate(
            "async () => (await fetch('/api/stocktakes', {method: 'POST',"
            " headers: {'Content-Type': 'application/json'}, body: '{}'})).status"
        )
        assert status == 403
        # Transfers to look at, none to send or correct.
        await page.click("nav a[href='#transfers']")
        await expect(page.locator("#transfers-none")).to_be_visible()
        await expect(page.locator("#transfer-send")).to_have_count(0)

        await page.click("nav a[href='#stock']")
        soap = page.locator(f"#stock-levels tr[data-sku='{SOAP}'][data-warehouse='BR01-MAIN']")
        await expect(soap.locator("td.qty")).to_have_text("0")
        await page.evaluate("window.notReloaded = true")
        await chain.post(
            br02.url + "/api/transfers", {"to_warehouse": "BR01-MAIN", "lines": [{"sku": SOAP, "qty": 4}]}
        )
        # Through HQ's routing and BR01's feed: the tests' bound, not expect's 5 s.
        await expect(soap.locator("td.qty")).to_have_text("4", timeout=WAIT_MS)
        await expect(
            page.locator(f"#stock-moves tr[data-cause=transfer_in][data-sku='{SOAP}']")
        ).to_have_count(1)
        assert await page.evaluate("window.notReloaded === true")
        assert errors == []
    assert await _on_hand(chain, br01, "BR01-MAIN", SOAP) == 4
