"""The till's texts: every key its pages use is in both languages (listed from the
pages' own files), and the page renders in zh-CN and in English with no key showing
in place of a text; the language is kept per operator at the branch."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.async_api import Page, expect

from conflict.card_status import STATUSES
from protocol.access import ROLES
from protocol.contract.fields import TENDER_KINDS
from tests.browser import chromium, logged_in_page, screenshot
from tests.harness import Chain, clerk_login, log_in, manager_login

TILL = Path(__file__).resolve().parents[2] / "node" / "till"
# Keys the scripts build at run time (t(`family.${value}`)), with every value they take.
FAMILIES = {
    "tender": set(TENDER_KINDS),
    "card_status": {*STATUSES, "replaced"},
    "mode": {"online", "offline"},
    "role": set(ROLES),
    # devices.reader's and devices.printer's states (CardReader.state, PrinterStatus.state).
    "device": {"ready", "reconnecting", "closed", "offline", "cover_open", "paper_out", "unknown"},
}


def _texts() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(TILL.glob("i18n*.json")):
        for language, table in json.loads(path.read_text()).items():
            held = merged.setdefault(language, {})
            clash = set(held) & set(table)
            assert not clash, f"{path.name} defines keys another file has: {sorted(clash)}"
            held.update(table)
    return merged


def used_keys() -> set[str]:
    texts = _texts()
    prefixes = {key.split(".", 1)[0] for key in texts["en"]}
    pages = "".join(path.read_text() for path in TILL.glob("*.html"))
    scripts = "".join(path.read_text() for path in TILL.glob("*.js"))
    used = set(re.findall(r'data-i18n(?:-placeholder)?="([^"]+)"', pages))
    used |= set(re.findall(r'data-i18n(?:-placeholder)?="([^"]+)"', scripts))
    # Any literal shaped like a key of a known family is one (t("sale.pay"), a ternary's
    # two keys, a key in a table); a file name ("i18n.json") has no such prefix.
    literals = re.findall(r'["\']([a-z_]+\.[a-z_.]+)["\']', scripts)
    used |= {key for key in literals if key.split(".", 1)[0] in prefixes}
    built = set(re.findall(r"\bt\(`([a-z_]+)\.\$\{", scripts))
    unknown = built - set(FAMILIES)
    assert not unknown, f"keys built at run time from families this test does not list: {sorted(unknown)}"
    for family in built:
        used |= {f"{family}.{value}" for value in FAMILIES[family]}
    return used


def test_every_text_the_till_uses_is_in_both_languages() -> None:
    texts = _texts()
    assert set(texts) == {"zh-CN", "en"}
    assert set(texts["zh-CN"]) == set(texts["en"]), set(texts["zh-CN"]) ^ set(texts["en"])
    used = used_keys()
    assert {"sale.pay", "tender.stored_value", "status.hq_offline", "role.clerk"} <= used  # the listing works
    missing = sorted(used - set(texts["en"]))
    assert not missing, missing
    for language, table in texts.items():
        empty = [key for key, text in table.items() if not text.strip()]
        assert not empty, (language, empty)


async def _no_key_shows(page: Page) -> None:
    """No element's own text is a key (a text the language lacks shows as its key)."""
    keys = sorted(_texts()["en"])
    shown = await page.evaluate(
        """(keys) => {
          const wanted = new Set(keys);
          const found = [];
          for (const node of document.querySelectorAll("body *")) {
            if (node.closest("[hidden]") || node.children.length) continue;
            const text = (node.textContent || node.placeholder || "").trim();
            if (wanted.has(text) || /^[a-z_]+\\.[a-z_]+$/.test(text)) found.push(text);
          }
          return found;
        }""",
        keys,
    )
    assert shown == [], shown


async def test_the_page_renders_in_chinese_and_english_and_keeps_each_operators_choice(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    async with chromium() as browser:
        page = await logged_in_page(browser, br01.url, manager_login("BR01"))
        await expect(page.locator("nav a[href='#sale']")).to_have_text("收银")
        await expect(page.locator("#pay")).to_have_text("结账（F9）")
        await _no_key_shows(page)
        await page.select_option("#language", "en")
        await expect(page.locator("nav a[href='#sale']")).to_have_text("Checkout")
        await expect(page.locator("#pay")).to_have_text("Pay (F9)")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await _no_key_shows(page)
        await screenshot(page, "till-checkout-en")
        # Kept at the branch for this operator: a reload is still English...
        await page.reload()
        await expect(page.locator("#pay")).to_have_text("Pay (F9)")
        # ...and another operator still gets Chinese.
        clerk = await logged_in_page(browser, br01.url, clerk_login("BR01"))
        await expect(clerk.locator("#pay")).to_have_text("结账（F9）")
    token = await log_in(br01.url, clerk_login("BR01"))
    async with chain.session.put(
        br01.url + "/api/me/language", json={"language": "fr"}, headers={"Authorization": f"Bearer {token}"}
    ) as refused:
        assert refused.status == 422
        assert "zh-CN, en" in (await refused.json())["message"]
