"""Headless Chromium for the tests that drive the web pages, through Playwright.

Debian's Chromium (`./dev test` installs it), never a browser Playwright downloads:
the machine's network is closed, and the flags below keep Chromium from reaching
for Google's hosts. Screenshots go under .artifacts/screenshots (not in git)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from tests.harness import TEST_PASSWORD, WAIT_BOUND_S

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / ".artifacts" / "screenshots"
FLAGS = (
    "--no-sandbox",  # the tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WAIT_MS = WAIT_BOUND_S * 1000


def chromium_path() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise AssertionError(
            "browser tests need Debian's chromium: ./dev test installs it (apt-get install chromium)"
        )
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=list(FLAGS))
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in_page(browser: Browser, url: str, login: str, password: str = TEST_PASSWORD) -> Page:
    """A new page (its own cookies) logged in at `url` through the log-in form."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(url + "/")
    assert page.url.endswith("/login")
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", password)
    await page.click("button")
    await page.wait_for_url(url + "/")
    return page


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
