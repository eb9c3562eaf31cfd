"""The branch's reader and printer as the node runs them, on real servers and real pty
pairs: a swipe from the CLI reaches an open till page's event stream with the member;
a sale prints a receipt (the virtual printer's PNG saved in the node's folder) and
kicks the drawer for cash; a printer that goes away in the middle of 20 receipts
prints every one exactly once, in order, when it comes back; a node SIGKILLed while
its printer is out of paper loses none; a receipt is reprinted as a copy."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp

from devices.virtual import VirtualPrinter
from node.config import load_config, save_config
from node.routes.context import CONTEXT
from node.services import printouts
from protocol.business_day import DEFAULT
from tests.browser import SCREENSHOTS
from tests.harness import Chain, NodeProcess, branchline, clerk_login, log_in, sale, wait_until
from tests.sse import events

CARD = "C-5001"
PHONE = "13900005001"


def _with_devices(
    data_dir: Path, reader: dict[str, Any] | None = None, printer: dict[str, Any] | None = None
) -> None:
    config = load_config(data_dir)
    save_config(data_dir, dataclasses.replace(config, reader=reader, printer=printer))


async def _printed_refs(printer: VirtualPrinter) -> list[str]:
    return [
        r.document.text().split("[QR ")[1].split("]")[0]
        for r in printer.printed
        if "[QR " in r.document.text()
    ]


async def test_a_cli_swipe_reaches_the_open_page_and_a_cash_sale_prints_and_kicks_the_drawer(
    chain: Chain, tmp_path: Path
) -> None:
    node = await chain.add_node("BR01", start=False)
    data = chain.root / "BR01"
    _with_devices(data, reader={"url": "virtual"}, printer={"url": "virtual", "paper_width_mm": 58})
    await node.start()
    await chain.operators_arrived("BR01")
    member = await chain.post(node.url + "/api/members", {"name": "周杰", "phone": PHONE, "cards": [CARD]})
    clerk = await log_in(node.url, clerk_login("BR01"))
    headers = {"Authorization": f"Bearer {clerk}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(node.url + "/api/till/events") as live,
    ):
        stream = events(live)
        code, out = await branchline("node", "swipe", "--data", str(data), CARD)
        assert code == 0, out
        swiped = await asyncio.wait_for(_next(stream, "swipe"), 10)
        assert swiped == {"card": CARD, "member_id": member["id"]}
    sold = await chain.post(node.url + "/api/sales", {**sale(("GIFT-BOX", 1)), "member_id": member["id"]})
    printer = node.app[CONTEXT].devices.virtual_printer
    assert printer is not None

    async def printed() -> bool:
        return len(printer.printed) == 1

    await wait_until(printed, "the sale's receipt to print")
    receipt = printer.printed[0]
    text = receipt.document.text()
    assert f"[QR {sold['id']}]" in text
    assert re.search(r"合计 Total +¥299.00", text), text
    assert "周杰" in text
    assert receipt.drawer_kicked  # paid in cash
    assert receipt.png is not None
    assert receipt.png.is_file()
    assert receipt.png.parent == data / "printed"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(receipt.png, SCREENSHOTS / "receipt-sale.png")  # kept for a person to read
    listed = await chain.get(node.url + "/api/printouts")
    assert [(j["kind"], j["ref"], j["copy"]) for j in listed["printed"]] == [("sale", sold["id"], False)]
    assert listed["waiting_count"] == 0
    devices = await chain.get(node.url + "/api/devices")
    assert (devices["reader"]["state"], devices["printer"]["state"]) == ("ready", "ready")
    # The till's status bar and the replication status carry them too.
    assert (await chain.get(node.url + "/api/till/status"))["devices"]["printer"]["waiting"] == 0
    assert (await chain.get(node.url + "/api/sync"))["devices"]["reader"]["reads"] == 1
    # A copy, marked as one, and no drawer kick for it.
    await chain.post(f"{node.url}/api/printouts/{listed['printed'][0]['id']}/reprint", {}, status=201)

    async def copied() -> bool:
        return len(printer.printed) == 2

    await wait_until(copied, "the copy to print")
    assert "重印 COPY" in printer.printed[1].document.text()
    assert not printer.printed[1].drawer_kicked

    async def both_ready() -> bool:  # the node writes its devices' state twice a second
        code, out = await branchline("node", "devices", "--data", str(data))
        assert code == 0, out
        return (
            re.search(r"reader +│ virtual .*│ ready", out) is not None
            and re.search(r"printer +│ virtual .*│ ready +│ 0 receipt\(s\) waiting", out) is not None
        )

    await wait_until(both_ready, "branchline node devices to list both devices ready")


async def _next(stream: Any, kind: str) -> Any:
    async for event, _, data in stream:
        if event == kind:
            return data
    raise AssertionError(f"the stream ended before a {kind} event")


async def test_a_printer_gone_in_the_middle_of_20_receipts_prints_each_once_in_order(
    chain: Chain, tmp_path: Path
) -> None:
    printer = VirtualPrinter.create(tmp_path / "paper", link_path=tmp_path / "printer")
    try:
        node = await chain.add_node("BR01", start=False)
        _with_devices(chain.root / "BR01", printer={"url": str(tmp_path / "printer")})
        await node.start()
        await chain.operators_arrived("BR01")
        # A receipt that can never be made (its sale is not there) is given up with why,
        # and holds up none of the others.
        await node.app[CONTEXT].store.writer.run(lambda tx: printouts.queue(tx, "sale", "no-such-sale"))
        sold = []
        for number in range(20):
            sold.append((await chain.post(node.url + "/api/sales", sale(("SOAP-BAR", 1))))["id"])
            if number == 6:
                await wait_until(lambda: _at_least(printer, 7), "seven receipts to print")
                printer.unplug()
        state = await chain.get(node.url + "/api/devices")
        assert state["printer"]["state"] != "ready"
        assert state["printer"]["waiting"] >= 1
        printer.plug()
        await wait_until(lambda: _at_least(printer, 20), "every receipt to print once the printer is back")
        await asyncio.sleep(0.5)  # nothing more comes
        assert await _printed_refs(printer) == sold
        listed = await chain.get(node.url + "/api/printouts")
        assert [(j["ref"], j["printed_ms"]) for j in listed["given_up"]] == [("no-such-sale", None)]
        assert "no sale no-such-sale" in listed["given_up"][0]["last_error"]
    finally:
        printer.close()


async def _at_least(printer: VirtualPrinter, count: int) -> bool:
    return len(printer.printed) >= count


async def test_a_node_killed_while_its_printer_is_out_of_paper_loses_no_receipt(
    chain: Chain, tmp_path: Path
) -> None:
    printer = VirtualPrinter.create(tmp_path / "paper", link_path=tmp_path / "printer")
    printer.condition = "paper_out"
    await chain.add_node("BR01", start=False)
    _with_devices(chain.root / "BR01", printer={"url": str(tmp_path / "printer")})
    node = NodeProcess(chain.root / "BR01", chain.root / "BR01.log")
    try:
        await node.start(chain.session)
        chain.logins.logins[node.port] = "br01-manager"
        sold = [(await chain.post(node.url + "/api/sales", sale(("SOAP-BAR", 1))))["id"] for _ in range(5)]
        state = await chain.get(node.url + "/api/devices")
        assert state["printer"]["state"] == "paper_out"
        await node.kill()
        assert printer.printed == []
        printer.condition = "ready"
        await node.start(chain.session)
        await wait_until(lambda: _at_least(printer, 5), "the receipts queued before the kill to print")
        assert await _printed_refs(printer) == sold
    finally:
        await node.terminate()
        printer.close()


async def test_a_top_up_a_card_sale_a_return_and_the_days_close_each_print_their_receipt(
    chain: Chain,
) -> None:
    node = await chain.add_node("BR01", start=False)
    data = chain.root / "BR01"
    _with_devices(data, printer={"url": "virtual"})
    await node.start()
    await chain.operators_arrived("BR01")
    printer = node.app[CONTEXT].devices.virtual_printer
    assert printer is not None
    # Born on this day (the branch's, in its zone), in a leap year so 29 February is one.
    today = DEFAULT.day_text(int(time.time() * 1000))
    profile = {"name": "吴涛", "phone": PHONE, "cards": [CARD], "birthday": f"1992-{today[5:]}"}
    member = await chain.post(node.url + "/api/members", profile)
    await chain.post(f"{node.url}/api/cards/{CARD}/top-up", {"amount_fen": 20_000})

    async def types_here() -> bool:
        listed = (await chain.get(node.url + "/api/card-types"))["card_types"]
        return "STORED-1000" in {t["code"] for t in listed}

    await wait_until(types_here, "the card types to reach BR01")
    card_sale = {
        "member_id": member["id"],
        "card_type": "STORED-1000",
        "card": "S-5002",
        "tenders": [{"kind": "cash", "amount_fen": 100_000}],
    }
    await chain.post(node.url + "/api/card-sales", card_sale)
    sold = await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 2), member_id=member["id"]))
    await chain.post(f"{node.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    today = (await chain.get(node.url + "/api/settlement"))["day"]
    await chain.post(f"{node.url}/api/settlement/{today}/close", {"counted_cash_fen": 100_000})
    await wait_until(lambda: _at_least(printer, 5), "the five receipts to print")
    texts = [receipt.document.text() for receipt in printer.printed]
    assert "充值凭条 Top-up" in texts[0]
    assert re.search(r"储值余额 Balance ¥200.00", texts[0])
    assert "售卡凭条 Card sale" in texts[1]
    assert "S-5002 (STORED-1000)" in texts[1]
    assert "销售小票 Sale" in texts[2]
    assert "祝 吴涛 生日快乐！Happy birthday!" in texts[2]  # on the member's birthday
    assert "生日快乐" not in texts[3]  # a return's receipt names no member
    assert "退货凭条 Return" in texts[3]
    assert re.search(r"退回 现金 Cash +¥25.00", texts[3])
    assert f"日结单 Daily settlement · {today}" in texts[4]
    assert "实点现金 Counted ¥1,000.00" in texts[4]
    assert [r.drawer_kicked for r in printer.printed] == [True, True, True, True, False]
    assert (await chain.get(node.url + "/api/printouts"))["given_up"] == []
