"""The till's Members section in headless Chromium (Playwright), on a real node and HQ:
a clerk registers a member with a photo, finds them by phone and tops their card up; a
store manager reports a card lost and unlocks it, where a clerk is not offered (and is
refused) a password reset; a card swiped at the reader opens its member, and a blank
card swiped is offered for a registration.

Each test checks what the page shows against what the node holds afterwards."""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Any

from playwright.async_api import Page, expect

from node.routes.context import CONTEXT
from tests.browser import chromium, logged_in_page, screenshot
from tests.harness import Chain, Server, clerk_login, manager_login, sale
from tests.photos import png

PHONE = "13900000021"
CARD = "C-7001"
FACE = png(40, 40)  # 4.9 KB


async def _members_section(page: Page) -> None:
    await page.click('nav a[href="#members"]')
    await expect(page.locator("#members")).to_be_visible()
    await expect(page.locator("#m-key")).to_be_visible()


async def _find(page: Page, key: str) -> None:
    await page.fill("#m-key", key)
    await page.press("#m-key", "Enter")


async def _top_up_keys(node: Server) -> list[tuple[Any, ...]]:
    store = node.app[CONTEXT].store
    sql = "SELECT card_id, amount_fen, request_key FROM top_ups"
    return await store.read(lambda conn: conn.execute(sql).fetchall())


def _birthday_in(today: str, days: int) -> str:
    """A birthday in 1990 that falls `days` after the branch's `today`."""
    day = datetime.date.fromisoformat(today) + datetime.timedelta(days=days)
    return day.replace(year=1990).isoformat() if (day.month, day.day) != (2, 29) else "1992-02-29"


async def test_a_clerk_registers_a_member_with_a_photo_finds_them_by_phone_and_tops_up(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    today = (await chain.get(br01.url + "/api/me"))["today"]
    birthday = _birthday_in(today, 3)
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await _members_section(page)
        await page.click("#m-new")
        form = page.locator("#m-form")
        await form.locator("[name=name]").fill("李娜")
        await form.locator("[name=phone]").fill(PHONE)
        await form.locator("[name=gender]").select_option("female")
        await form.locator("[name=birthday]").fill(birthday)
        await form.locator("[name=region]").fill("上海")
        await form.locator("[name=cards]").fill(CARD)
        await form.locator("[name=salesperson]").fill("BR01-S01")
        await form.locator("[name=photo]").set_input_files(
            {"name": "face.png", "mimeType": "image/png", "buffer": FACE}
        )
        await page.click("#m-form-save")
        member_page = page.locator("#m-page")
        await expect(member_page).to_be_visible()
        await expect(page.locator("#m-name")).to_have_text("李娜")
        # The photo came back from GET .../photo with the session's cookie, as a blob.
        photo = page.locator("#m-photo")
        await expect(photo).to_be_visible()
        await expect(photo).to_have_attribute("src", re.compile("^blob:"))
        assert await photo.evaluate("img => img.complete && img.naturalWidth") == 40
        await expect(page.locator("#m-birthday-note")).to_have_text(f"会员生日还有 3 天（{birthday[5:]}）")

        # A fresh page knows nobody: the member is found by phone.
        await page.reload()
        await _members_section(page)
        await _find(page, PHONE)
        await expect(page.locator("#m-name")).to_have_text("李娜")
        row = page.locator(f"#m-cards tr[data-card={CARD}]")
        await expect(row.locator(".stored")).to_have_text("¥0.00")

        await page.click("#m-card-actions [data-action=top_up]")
        amount = page.locator("#m-action [name=amount]")
        await amount.fill("1000")
        await expect(page.locator("#m-bonus")).to_contain_text("¥100.00")  # the demo's pay 1,000 get 100
        await amount.fill("100")
        await expect(page.locator("#m-bonus")).not_to_contain_text("¥")
        await page.click("#m-action-go")
        await expect(row.locator(".stored")).to_have_text("¥100.00")
        await expect(page.locator("#m-action")).to_be_hidden()
        await expect(page.locator("#m-purchases")).to_contain_text("本店暂无消费记录")
        # A purchase at the counter shows in the member's history, newest first.
        member_id = await page.locator("#m-page").get_attribute("data-member")
        await chain.post(br01.url + "/api/sales", {**sale(("SOAP-BAR", 2)), "member_id": member_id})
        await page.fill("#m-key", PHONE)  # looked up again
        await page.press("#m-key", "Enter")
        history = page.locator("#m-purchases tbody tr")
        await expect(history).to_have_count(1)
        await expect(history.first).to_contain_text("×2")
        await expect(history.first).to_contain_text("¥24.00")
        await screenshot(page, "till-member")

    found = (await chain.get(br01.url + "/api/members", params={"phone": PHONE}))["members"]
    assert len(found) == 1
    member = found[0]
    assert (member["name"], member["gender"], member["birthday"], member["region"]) == (
        "李娜",
        "female",
        birthday,
        "上海",
    )
    assert member["salesperson"] == "BR01-S01"
    # The PNG is small enough to go as it is: the node names the very bytes chosen.
    assert member["photo"] == "sha256:" + hashlib.sha256(FACE).hexdigest()
    card = await chain.get(f"{br01.url}/api/cards/{CARD}")
    assert card["member_id"] == member["id"]
    assert card["balances"]["stored_value"] == 10_000
    # One top-up, booked under the page's Idempotency-Key.
    [(card_id, amount_fen, key)] = await _top_up_keys(br01)
    assert (card_id, amount_fen) == (CARD, 10_000)
    assert key is not None
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key)


# A password reset as a page's script would send it, answering the HTTP status.
RESET_PASSWORD = """async () => (await fetch("/api/cards/C-7002/password/reset", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({password: "135790"})})).status"""


async def _member_with_card(chain: Chain, node: Server, name: str, phone: str, card: str) -> str:
    member = await chain.post(node.url + "/api/members", {"name": name, "phone": phone, "cards": [card]})
    return str(member["id"])


async def test_a_manager_reports_a_card_lost_and_unlocks_it_and_a_clerk_may_not_reset_its_password(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01")
    await _member_with_card(chain, br01, "张伟", "13900000022", "C-7002")
    await _member_with_card(chain, br01, "陈静", "13900000023", "C-7003")
    # HQ down: a card's status changes at the branch alone, and with no feed from HQ to
    # redraw the page, what it shows after each action is its own reading of the node.
    await chain.hq.stop()
    row = 'tr[data-card="C-7002"]'
    async with chromium() as browser:
        manager = await logged_in_page(browser, br01.url, manager_login("BR01"))
        await _members_section(manager)
        await _find(manager, "C-7002")
        await expect(manager.locator("#m-name")).to_have_text("张伟")
        status = manager.locator(f"#m-cards {row} .status")
        await expect(status).to_have_text("正常")
        actions = manager.locator("#m-card-actions")
        await expect(actions.locator("[data-action=password_reset]")).to_be_visible()
        await expect(actions.locator("[data-action=unlock]")).to_have_count(0)

        await actions.locator("[data-action=report_lost]").click()
        await manager.click("#m-action-go")
        await expect(status).to_have_text("已挂失")
        assert (await chain.get(br01.url + "/api/cards/C-7002"))["status"] == "lost"
        # A lost card is neither topped up nor lost again; it is unlocked or replaced.
        await expect(actions.locator("[data-action=top_up]")).to_have_count(0)
        await expect(actions.locator("[data-action=report_lost]")).to_have_count(0)
        # The node's refusal is shown as it says it: the new number is another member's.
        await actions.locator("[data-action=replace]").click()
        await manager.fill("#m-action [name=new_card]", "C-7003")
        await manager.click("#m-action-go")
        await expect(manager.locator("#m-action-error")).to_contain_text("C-7003 is already in use")
        await manager.click("#m-action-cancel")

        await actions.locator("[data-action=unlock]").click()
        await manager.click("#m-action-go")
        await expect(status).to_have_text("正常")
        await expect(actions.locator("[data-action=report_lost]")).to_be_visible()
        assert (await chain.get(br01.url + "/api/cards/C-7002"))["status"] == "active"

        clerk = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await _members_section(clerk)
        await _find(clerk, "13900000022")
        clerk_actions = clerk.locator("#m-card-actions")
        await expect(clerk_actions.locator("[data-action=password]")).to_be_visible()
        await expect(clerk_actions.locator("[data-action=password_reset]")).to_have_count(0)
        assert await clerk.evaluate(RESET_PASSWORD) == 403
        assert (await chain.get(br01.url + "/api/cards/C-7002"))["has_password"] is False
        # The same request from the manager's page is taken: the clerk's was refused for
        # the permission, not for its body.
        assert await manager.evaluate(RESET_PASSWORD) == 201
    assert (await chain.get(br01.url + "/api/cards/C-7002"))["has_password"] is True


async def test_a_card_swiped_at_the_reader_opens_its_member(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    member_id = await _member_with_card(chain, br01, "王芳", "13900000024", "C-7004")
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await _members_section(page)
        await expect(page.locator("#hq-state")).to_have_text("总部在线")  # the live events are open
        await chain.post(br01.url + "/api/till/swipe", {"card": "C-7004"}, status=200)
        await expect(page.locator("#m-page")).to_have_attribute("data-member", member_id)
        await expect(page.locator("#m-name")).to_have_text("王芳")
        await expect(page.locator("#m-card-actions")).to_have_attribute("data-card", "C-7004")
        # A blank card: offered for a registration with its number filled in.
        await chain.post(br01.url + "/api/till/swipe", {"card": "C-7999"}, status=200)
        await expect(page.locator("#m-found")).to_contain_text("C-7999")
        await page.click("#m-register-card")
        await expect(page.locator("#m-form [name=cards]")).to_have_value("C-7999")
