"""The till's checkout in headless Chromium (Playwright), on a real node and HQ: a clerk
sells to a member found by phone, paying with stored value and cash, sees the points
and the change before and after paying, and the sale reaches HQ; the same with HQ
stopped; a double-submitted sale books once; the whole sale from the keyboard alone.

The node is what these tests drive; HQ (SQLite here) only receives the sales, which
every HQ backend is shown to do by the replication tests."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from playwright.async_api import Page, expect

from node.config import load_config, save_config
from node.routes.context import CONTEXT
from tests.browser import chromium, logged_in_page, screenshot
from tests.harness import Chain, Server, clerk_login, wait_until

PHONE = "13900000008"
GIFT_BOX_BARCODE = "6902468000100"  # hq.setup's demo catalogue
CARD = "C-8001"


async def _member_with_money(chain: Chain, node: Server, stored_fen: int = 20_000) -> str:
    member = await chain.post(node.url + "/api/members", {"name": "王芳", "phone": PHONE, "cards": [CARD]})
    await chain.post(f"{node.url}/api/cards/{CARD}/top-up", {"amount_fen": stored_fen})
    return str(member["id"])


async def _sales_at_node(node: Server) -> list[tuple[Any, ...]]:
    store = node.app[CONTEXT].store
    return await store.read(lambda conn: conn.execute("SELECT id, total_fen FROM sales").fetchall())


async def _scan(page: Page, code: str) -> None:
    await page.fill("#scan", code)
    await page.press("#scan", "Enter")


async def test_a_clerk_sells_to_a_member_by_phone_with_stored_value_and_cash(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    member_id = await _member_with_money(chain, br01)
    # What the node itself says the sale earns: the page must show the same, before paying.
    expected = await chain.post(
        br01.url + "/api/sales/preview",
        {"member_id": member_id, "lines": [{"sku": "GIFT-BOX", "qty": 1}, {"sku": "CUP-CERAMIC", "qty": 2}]},
        status=200,
    )
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await expect(page.locator("#sale")).to_be_visible()
        await expect(page.locator("#hq-state")).to_have_text("总部在线")
        await _scan(page, "GIFT-BOX")
        await _scan(page, "2*CUP-CERAMIC")
        await expect(page.locator("#lines tbody tr")).to_have_count(2)
        await page.fill("#member-key", PHONE)
        await page.press("#member-key", "Enter")
        await expect(page.locator("#member-name")).to_contain_text("王芳")
        await expect(page.locator("#total")).to_have_text("¥349.00")
        await expect(page.locator("#points")).to_have_text(str(expected["points_earned"]))
        assert expected["points_earned"] > 0
        await expect(page.locator("#points-reasons li")).to_have_count(len(expected["points_reasons"]))
        await page.select_option("#tender-kind", "stored_value")
        await expect(page.locator("#tender-extra")).to_have_value(CARD)
        await page.fill("#tender-amount", "200")
        await page.click("#tender-add")
        await page.select_option("#tender-kind", "cash")
        await page.fill("#tender-amount", "200")
        await page.click("#tender-add")
        await expect(page.locator("#change")).to_have_text("¥51.00")
        await screenshot(page, "till-checkout")
        await page.click("#pay")
        receipt = page.locator("#receipt")
        await expect(receipt).to_be_visible()
        await expect(page.locator("#receipt-change")).to_have_text("¥51.00")
        await expect(page.locator("#receipt-points")).to_have_text(str(expected["points_earned"]))
        await expect(page.locator("#receipt-member")).to_have_text(f"王芳 · {PHONE}")
        # What the card holds after the sale: 200.00 spent, the sale's points earned.
        await expect(page.locator("#receipt-balance")).to_have_text(
            f"{CARD} · 储值 ¥0.00 · 积分 {expected['points_earned']}"
        )
        await screenshot(page, "till-receipt")
        await expect(page.locator("#receipt-tenders tr[data-kind=stored_value]")).to_have_attribute(
            "data-mode", "online"
        )
        sale_id = await receipt.get_attribute("data-sale")
    assert [row[0] for row in await _sales_at_node(br01)] == [sale_id]
    card = await chain.get(f"{br01.url}/api/cards/{CARD}")
    assert card["balances"]["stored_value"] == 0  # 200.00 topped up, 200.00 spent

    async def at_hq() -> bool:
        return bool((await chain.get(chain.hq.url + "/api/sales/summary"))["count"] == 1)

    await wait_until(at_hq, "the till's sale to reach HQ")


async def test_with_hq_stopped_the_page_says_offline_the_sale_books_and_drains_later(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The status bar changes with the node's next status, sent every two seconds; here
    # more often, so the page shows HQ gone and back without the test sitting out a tick.
    monkeypatch.setattr("node.routes.till.STATUS_EVERY_S", 0.2)
    br01 = await chain.add_node("BR01")
    await _member_with_money(chain, br01)
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await expect(page.locator("#hq-state")).to_have_attribute("data-reachable", "true")
        await expect(page.locator("#offline-note")).to_be_hidden()
        await chain.hq.stop()
        # The status bar says so before the customer pays, and which payments go offline.
        await expect(page.locator("#hq-state")).to_have_text("总部离线：本店照常营业")
        await expect(page.locator("#offline-tenders")).to_have_text("储值、挂账")
        await _scan(page, "GIFT-BOX")
        await page.fill("#member-key", CARD)  # by card number this time
        await page.press("#member-key", "Enter")
        await expect(page.locator("#member-name")).to_contain_text("王芳")
        # The card's offline limit left today, from the node's own figure (500.00 by default).
        await expect(page.locator("#card-limit")).to_be_visible()
        await expect(page.locator("#card-limit-left")).to_have_text(f"{CARD} ¥500.00")
        await page.select_option("#tender-kind", "stored_value")
        await page.fill("#tender-amount", "99")
        await page.click("#tender-add")
        await page.select_option("#tender-kind", "cash")
        await page.click("#tender-add")  # no amount: the rest, 200.00
        await expect(page.locator("#tenders tbody tr")).to_have_count(2)
        await expect(page.locator("#change")).to_have_text("¥0.00")
        await page.click("#pay")
        await expect(page.locator("#receipt-tenders tr[data-kind=stored_value]")).to_have_attribute(
            "data-mode", "offline"
        )
        await expect(page.locator("#receipt-total")).to_have_text("¥299.00")
        await expect(page.locator("#backlog")).not_to_have_text("0")
        await chain.hq.start()
        await expect(page.locator("#hq-state")).to_have_text("总部在线")
        await expect(page.locator("#backlog")).to_have_text("0")

    async def at_hq() -> bool:
        return bool((await chain.get(chain.hq.url + "/api/sales/summary"))["count"] == 1)

    await wait_until(at_hq, "the sale booked offline to reach HQ once it is back")


async def test_a_double_click_and_a_retry_after_a_lost_answer_book_the_sale_once(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await _scan(page, "SOAP-BAR")
        # A clerk's line discount: within the branch's 10% it prices the line; beyond it
        # the node refuses and the page says why.
        discount = page.locator("#lines tbody tr[data-sku=SOAP-BAR] input[aria-label=discount]")
        await discount.fill("1.50")
        await discount.press("Enter")
        await expect(page.locator("#sale-error")).to_contain_text("ask a store manager")
        await discount.fill("1.20")
        await discount.press("Enter")
        await expect(page.locator("#lines tbody tr[data-sku=SOAP-BAR] td.amount")).to_have_text("¥10.80")
        await page.fill("#tender-amount", "20")
        await page.press("#tender-amount", "Enter")
        await expect(page.locator("#change")).to_have_text("¥9.20")
        # The node books the first try, but its answer never reaches the page (a network
        # blip): the cashier presses pay again, twice in a row.
        lost: list[str] = []

        async def lose_the_first_answer(route: Any) -> None:
            if not lost:
                await route.fetch()  # the node receives it and books the sale
                lost.append(route.request.headers["idempotency-key"])
                await route.abort("connectionreset")
            else:
                await route.continue_()

        await page.route("**/api/sales", lose_the_first_answer)
        await page.click("#pay")
        await expect(page.locator("#sale-error")).not_to_have_text("")
        await expect(page.locator("#receipt")).to_be_hidden()
        await page.dblclick("#pay")
        await expect(page.locator("#receipt")).to_be_visible()
        sale_id = await page.locator("#receipt").get_attribute("data-sale")
        assert len(lost) == 1
    assert await _sales_at_node(br01) == [(sale_id, 1_080)]


async def test_the_whole_checkout_from_the_keyboard_alone(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    await _member_with_money(chain, br01, stored_fen=10_000)
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        keyboard = page.keyboard
        await expect(page.locator("#scan")).to_be_focused()
        # A barcode scanner types the code and Enter (the gift box's EAN-13); a cashier
        # types part of a name, and Enter takes the first match.
        await keyboard.type(GIFT_BOX_BARCODE)
        await keyboard.press("Enter")
        await expect(page.locator("#lines tbody tr[data-sku=GIFT-BOX]")).to_have_count(1)
        await keyboard.type("2*cup")
        await expect(page.locator("#results li")).not_to_have_count(0)
        await keyboard.press("Enter")
        await expect(page.locator("#lines tbody tr")).to_have_count(2)
        cups = page.locator("#lines tbody tr[data-sku=CUP-CERAMIC] input[aria-label=qty]")
        await expect(cups).to_have_value("2")
        await keyboard.press("F2")
        await expect(page.locator("#member-key")).to_be_focused()
        await keyboard.type(PHONE)
        await keyboard.press("Enter")
        await expect(page.locator("#member-name")).to_contain_text("王芳")
        await expect(page.locator("#scan")).to_be_focused()
        await keyboard.press("F7")  # stored value, on the member's card
        await keyboard.type("100")
        await keyboard.press("Enter")
        await keyboard.press("F6")  # cash: Enter with no amount pays the rest
        await keyboard.press("Enter")
        await expect(page.locator("#due")).to_have_text("¥0.00")
        await keyboard.press("Enter")  # nothing left to pay: book it
        await expect(page.locator("#receipt")).to_be_visible()
        await expect(page.locator("#receipt-total")).to_have_text("¥349.00")
        await expect(page.locator("#receipt-tenders tr[data-kind=cash] td.n")).to_have_text("¥249.00")
        await keyboard.press("Enter")  # the next sale
        await expect(page.locator("#receipt")).to_be_hidden()
        await expect(page.locator("#scan")).to_be_focused()
        await expect(page.locator("#lines tbody tr")).to_have_count(0)
    assert [row[1] for row in await _sales_at_node(br01)] == [34_900]


async def test_a_card_read_at_the_reader_fills_the_open_checkout_and_the_bar_shows_the_devices(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01", start=False)
    config = load_config(chain.root / "BR01")
    virtual = {"url": "virtual"}
    save_config(chain.root / "BR01", dataclasses.replace(config, reader=virtual, printer=virtual))
    await br01.start()
    await chain.operators_arrived("BR01")
    await _member_with_money(chain, br01)
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await expect(page.locator("#reader-state")).to_contain_text("读卡器 正常")
        await expect(page.locator("#printer-state")).to_contain_text("打印机 正常")
        await _scan(page, "SOAP-BAR")
        # The card at the branch's reader (its virtual one, through the reader's driver).
        told = await chain.post(br01.url + "/api/till/swipe", {"card": CARD}, status=200)
        assert told["via"] == "reader"
        await expect(page.locator("#member-name")).to_contain_text("王芳")
        await expect(page.locator(f"#member-cards li[data-card={CARD}]")).to_have_class("ok")
        await page.select_option("#tender-kind", "stored_value")  # from the card swiped
        await expect(page.locator("#tender-extra")).to_have_value(CARD)
