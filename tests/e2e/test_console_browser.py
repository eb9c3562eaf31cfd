"""HQ's console in headless Chromium (Playwright), on real servers and both HQ
backends: log-in through the form; a sale posted at a branch appears in the open page
without a reload; a clerk sees no export link and is refused the export by the
server; a store manager of BR01 never sees BR02 in the page nor asks for it; the
report shows the figures worked by hand in tests.sales_seed, in Chinese and English."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from hq.member_report import SECTIONS as MEMBER_SECTIONS
from hq.purchase_report import SECTIONS as PURCHASE_SECTIONS
from hq.sales_report import GROUPINGS
from protocol.contract.fields import GENDERS, LEDGER_SIGNS
from tests.browser import chromium, logged_in_page, screenshot
from tests.harness import Chain, clerk_login, hq_login, manager_login, sale
from tests.sales_seed import members_and_purchases, seeded

CONSOLE = Path(__file__).resolve().parents[2] / "hq" / "console"
# The states devices.reader and devices.printer report (CardReader.state, PrinterStatus.state).
DEVICE_STATES = ("ready", "reconnecting", "closed", "offline", "cover_open", "paper_out", "unknown")


async def test_a_sale_appears_in_the_open_live_view_without_a_reload(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    async with chromium() as browser:
        page = await logged_in_page(browser, chain.hq.url, hq_login())
        await expect(page.locator("#live h1")).to_have_text("实时销售")  # zh-CN by default
        await expect(page.locator("#connection")).to_have_text("实时连接中")
        await expect(page.locator("#branches tbody tr[data-branch=BR01]")).to_have_count(1)
        await page.evaluate("window.notReloaded = true")
        sold = await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1), ("CUP-CERAMIC", 2)))
        row = page.locator(f"#sales tbody tr[data-sale='{sold['id']}']")
        await expect(row).to_contain_text("¥349.00")
        await expect(row).to_contain_text("BR01")
        # Today's figures follow: one sale, 34,900 taken, profit 34,900 - 16,500 - 2 x 1,100.
        branch_row = page.locator("#branches tbody tr[data-branch=BR01]")
        await expect(branch_row).to_contain_text("¥349.00")
        await expect(branch_row).to_contain_text("¥162.00")
        assert await page.evaluate("window.notReloaded") is True
        await screenshot(page, "console-live")


async def test_a_clerk_sees_no_export_and_the_server_refuses_it(chain: Chain) -> None:
    await chain.add_node("BR01")
    async with chromium() as browser:
        page = await logged_in_page(browser, chain.hq.url, clerk_login("BR01"))
        await expect(page.locator("#nothing")).to_be_visible()
        await expect(page.locator("#report-export")).to_have_count(0)
        await expect(page.locator("#export-csv")).to_have_count(0)
        status = await page.evaluate(
            "async () => (await fetch('/api/reports/sales/export?format=csv')).status"
        )
        assert status == 403
        await page.goto(chain.hq.url + "/#reports")
        await expect(page.locator("#reports")).to_be_hidden()


async def test_a_store_manager_of_br01_never_sees_br02(chain: Chain) -> None:
    await seeded(chain)  # BR02 sold green tea for 12,800
    async with chromium() as browser:
        page = await logged_in_page(browser, chain.hq.url, manager_login("BR01"))
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        await expect(page.locator("#branches tbody tr")).to_have_count(1)
        await expect(page.locator("#branches tbody tr[data-branch=BR01]")).to_contain_text("¥281.00")
        await page.goto(chain.hq.url + "/#reports")
        await page.select_option("select[name=by]", "branch")
        await page.click("#report-form button")
        await expect(page.locator("#report-table tbody tr")).to_have_count(1)
        await expect(page.locator("#report-total")).to_contain_text("¥281.00")
        await page.select_option("select[name=by]", "product")
        await page.click("#report-form button")
        await expect(page.locator("#report-table tbody tr[data-key=TEA-GREEN-100]")).to_contain_text(
            "¥256.00"
        )
        await expect(page.locator("input[name=branch]")).to_have_count(0)  # HQ's field only
        assert "BR02" not in await page.content()
        assert not [url for url in asked if "BR02" in url]


async def test_the_report_page_shows_the_hand_computed_figures_in_both_languages(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seeded(chain)
    async with chromium() as browser:
        page = await logged_in_page(browser, chain.hq.url, hq_login())
        await page.click("a[href='#reports']")
        await page.select_option("select[name=by]", "category")
        await page.click("#report-form button")
        tea = page.locator("#report-table tbody tr[data-key=TEA]")
        await expect(tea).to_contain_text("¥384.00")
        await expect(tea).to_contain_text("¥156.00")  # gross profit 15,600
        ware = page.locator("#report-table tbody tr[data-key=WARE]")
        await expect(ware).to_contain_text("¥299.00")  # refunded
        await expect(ware).to_contain_text("¥25.00")  # net
        await expect(ware).to_contain_text("¥14.00")  # gross profit
        await expect(page.locator("#report-total")).to_contain_text("¥170.00")
        await expect(page.locator("#report-chart svg rect")).to_have_count(2)
        export = page.locator("#export-xlsx")
        await expect(export).to_have_attribute("href", re.compile(r"by=category.*format=xlsx"))
        # Built in the background (the inline limit at one row): the page waits for it.
        monkeypatch.setattr("hq.export_api.EXPORT_INLINE_ROWS", 1)
        async with page.expect_download() as downloading:
            await page.click("#export-csv")
        csv_file = await downloading.value
        assert csv_file.suggested_filename.startswith("sales-by-category-all-")
        text = await asyncio.to_thread(Path(await csv_file.path()).read_text, encoding="utf-8-sig")
        assert "Tableware" in text
        await screenshot(page, "console-report-zh")
        await page.select_option("#language", "en")
        await expect(page.locator("#reports h1")).to_have_text("Sales report")
        await expect(page.locator("#report-table thead")).to_contain_text("Gross profit")
        await screenshot(page, "console-report-en")
        await page.reload()  # the choice is the operator's, kept at HQ
        await expect(page.locator("#reports h1")).to_have_text("Sales report")
    me = await chain.get(chain.hq.url + "/api/me")
    assert me["language"] == "en"


def test_every_text_the_console_uses_is_translated_into_both_languages() -> None:
    texts = json.loads((CONSOLE / "i18n.json").read_text())
    assert set(texts) == {"zh-CN", "en"}
    assert set(texts["zh-CN"]) == set(texts["en"])
    page = (CONSOLE / "index.html").read_text()
    script = (CONSOLE / "console.js").read_text()
    used = set(re.findall(r'data-i18n="([^"]+)"', page)) | set(re.findall(r'\bt\("([^"]+)"\)', script))
    # Keys built at run time: t(`kind.${...}`), t(`by.${...}`), t(`export.${...}`), ...
    used |= {f"kind.{kind}" for kind in ("sale", "return")}
    used |= {f"by.{by}" for by in GROUPINGS}
    used |= {f"export.{section}" for section in (*MEMBER_SECTIONS, *PURCHASE_SECTIONS)}
    used |= {f"purchases.{kind}" for kind in ("receipt", "purchase_return")}
    used |= {f"gender.{gender}" for gender in GENDERS}
    used |= {f"points.{kind}" for kind in LEDGER_SIGNS["points"]}
    used |= {f"device.{state}" for state in DEVICE_STATES}
    missing = sorted(used - set(texts["en"]))
    assert not missing, missing
    for language, table in texts.items():
        empty = [key for key, text in table.items() if not text.strip()]
        assert not empty, (language, empty)


async def test_the_members_purchases_and_inventory_pages_show_the_hand_computed_figures(chain: Chain) -> None:
    """The data set of tests.sales_seed.members_and_purchases: four members
    joined, a gold card sold for 16,800 yuan and a stored-value card holding 1,000 yuan
    (owed to its member: the liability); SUP-1 owed 222.50 yuan, credited 20, net 202.50,
    three documents booked by br01-manager. BR01's main warehouse holds the 18 cups kept
    (1,000 fen each) and 5 soaps (450 each), less the gold card's five gift boxes, which
    left it at their preset cost of 16,500 each into negative stock: 18 units,
    18,000 + 2,250 - 82,500 = -622.50 yuan."""
    await members_and_purchases(chain)
    async with chromium() as browser:
        page = await logged_in_page(browser, chain.hq.url, hq_login())
        await page.click("a[href='#members']")
        await expect(page.locator("#members-compare")).to_contain_text("4")
        gold = page.locator("#members-cards tbody tr[data-key=GOLD-16800]")
        await expect(gold).to_contain_text("¥16,800.00")
        await expect(page.locator("#members-salespeople tbody tr")).to_have_count(3)
        await expect(page.locator("#members-gender tbody tr[data-key=female]")).to_contain_text("女")
        await expect(page.locator("#members-referrers tbody")).to_contain_text("Member 0001")
        await expect(page.locator("a.export-members-card_types-xlsx")).to_have_count(1)
        await screenshot(page, "console-members-zh")
        await page.click("a[href='#purchases']")
        supplier = page.locator("#purchases-suppliers tbody tr[data-key=SUP-1]")
        await expect(supplier).to_contain_text("¥222.50")
        await expect(supplier).to_contain_text("¥20.00")
        await expect(supplier).to_contain_text("¥202.50")
        await expect(page.locator("#purchases-documents tbody tr")).to_have_count(3)
        await expect(page.locator("#purchases-documents tbody")).to_contain_text(manager_login("BR01"))
        await page.click("a[href='#reports']")  # the stored-value card's 1,000 yuan is owed
        await expect(page.locator("#liability")).to_contain_text("¥1,000.00")
        await page.click("a[href='#inventory']")
        br01_main = page.locator("#inventory-warehouses tbody tr[data-key=BR01-MAIN]")
        await expect(br01_main).to_contain_text("-¥622.50")
        await expect(br01_main).to_contain_text("18")
        await expect(page.locator("#inventory-total")).to_contain_text("-¥622.50")
        # Nothing sold by the till in the period: no pace, no cover, no warning date.
        await expect(page.locator("#stock-ranking tbody tr[data-key=CUP-CERAMIC]")).to_contain_text("18")
        async with page.expect_download() as downloading:
            await page.click("a.export-stock-csv")
        assert (await downloading.value).suggested_filename.startswith("stock-")
