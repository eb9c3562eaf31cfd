"""A branch's devices in HQ's view of its health, on real servers and both HQ backends:
the node writes their state into its log when it changes (branch/devices), and HQ's
branches list shows the printer out of paper, the receipts waiting, and back."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from devices.virtual import VirtualPrinter
from node.config import load_config, save_config
from node.peripherals import attached
from tests.browser import chromium, logged_in_page
from tests.harness import Chain, hq_login, sale, wait_until


async def _hq_devices(chain: Chain) -> Any:
    branches = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    return next(branch["devices"] for branch in branches if branch["code"] == "BR01")


async def test_hq_shows_the_branch_printer_out_of_paper_its_receipts_waiting_and_back(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attached, "ANNOUNCE_EVERY_S", 0.2)
    printer = VirtualPrinter.create(tmp_path / "paper", link_path=tmp_path / "printer")
    try:
        node = await chain.add_node("BR01", start=False)
        config = load_config(chain.root / "BR01")
        save_config(
            chain.root / "BR01", dataclasses.replace(config, printer={"url": str(tmp_path / "printer")})
        )
        assert await _hq_devices_or_none(chain) is None  # a branch that never said
        printer.condition = "paper_out"
        await node.start()
        await chain.operators_arrived("BR01")
        await chain.post(node.url + "/api/sales", sale(("SOAP-BAR", 1)))

        async def out_of_paper_at_hq() -> bool:
            devices = await _hq_devices(chain)
            return devices is not None and (devices["printer"], devices["receipts_waiting"] > 0) == (
                "paper_out",
                True,
            )

        await wait_until(out_of_paper_at_hq, "HQ to show BR01's printer out of paper with a receipt waiting")
        devices = await _hq_devices(chain)
        assert devices["reader"] is None  # BR01 has no reader
        # The console's live view shows it in the branch's row.
        async with chromium() as browser:
            page = await logged_in_page(browser, chain.hq.url, hq_login())
            shown = page.locator("#branches tbody tr[data-branch=BR01] td[data-devices]")
            await expect(shown).to_contain_text("打印机 缺纸 · 待打印")
            await expect(shown).to_have_class("bad")
        printer.condition = "ready"

        async def back_at_hq() -> bool:
            devices = await _hq_devices(chain)
            return bool((devices["printer"], devices["receipts_waiting"]) == ("ready", 0))

        await wait_until(back_at_hq, "HQ to show BR01's printer back with nothing waiting")
        # The node counts a receipt printed once the printer has taken its bytes; the
        # virtual printer decodes them on a thread of its own, which may still be at it.
        await asyncio.to_thread(printer.wait_printed, 1, 30)
        assert len(printer.printed) == 1
    finally:
        printer.close()


async def _hq_devices_or_none(chain: Chain) -> Any:
    branches = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    return next((branch["devices"] for branch in branches if branch["code"] == "BR01"), None)
