"""The receipt printer's driver (devices.printer) against the virtual printer
(devices.virtual) on real pty pairs: 20 receipts with the printer unplugged after the
7th print each once, in order; a port that goes away is tried again after 0.1 s
doubling to 5 s (the clock injected); a printer offline, with its cover open, out of
paper, silent or echoing is not sent the receipt, paper near its end is; a port that
fails mid-receipt raises; the event loop runs while the printer is asked. Then the
virtual printer's PNG and text of each receipt."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from devices import receipt_image
from devices.document import Barcode, Document, Line, QRCode
from devices.escpos import encode
from devices.printer import PrinterUnavailable, ReceiptPrinter
from devices.receipt_image import MARGIN_PX, TEXT_PX, FontMissing, qr_modules, render_png
from devices.virtual import VirtualPrinter

WAIT_S = 5.0  # every wait below is bounded by this
# How long a driver waits for a status answer the virtual printer will send: ample
# on a loaded CI machine, and no slower when the answer comes at once.
ANSWER_S = 2.0


def receipt(n: int) -> Document:
    return Document(
        (
            Line(f"收据 {n}", bold=True, align="center"),
            Line(f"Total {n}.00", align="right"),
            QRCode(f"SALE-{n}"),
        )
    )


@pytest.fixture
def virtual(tmp_path: Path) -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter.create(None, link_path=tmp_path / "printer")
    try:
        yield printer
    finally:
        printer.close()


async def printed(virtual: VirtualPrinter, count: int) -> list[Document]:
    receipts = await asyncio.to_thread(virtual.wait_printed, count, WAIT_S)
    return [r.document for r in receipts]


def links_to(link: Path) -> str:
    return os.readlink(link)


def anything_at(path: Path) -> bool:
    return os.path.lexists(path)


# -- the driver and the virtual printer ------------------------------------------------------


async def test_20_receipts_with_the_printer_unplugged_after_the_7th_print_each_once_in_order(
    virtual: VirtualPrinter,
) -> None:
    assert virtual.link_path is not None
    driver = ReceiptPrinter(str(virtual.link_path), status_timeout_s=ANSWER_S)
    try:
        for n in range(1, 8):
            await driver.print(receipt(n))
        await printed(virtual, 7)
        virtual.unplug()
        # The port is gone from its path (a pty's own path is soon another pty's).
        assert not anything_at(virtual.link_path)
        with pytest.raises(PrinterUnavailable, match="away") as gone:
            await driver.print(receipt(8))
        assert gone.value.state == "reconnecting"
        assert driver.state()["state"] == "reconnecting"
        with pytest.raises(PrinterUnavailable):  # still away: paused, or nothing at the path
            await driver.print(receipt(8))
        virtual.plug()
        assert links_to(virtual.link_path) == virtual.path  # the pty's own path may change
        deadline = time.monotonic() + WAIT_S
        for n in range(8, 21):
            while True:  # the till's retry: the receipt again until the printer takes it
                try:
                    await driver.print(receipt(n))
                    break
                except PrinterUnavailable:
                    assert time.monotonic() < deadline, "the printer never came back"
                    await asyncio.sleep(0.05)
        texts = [document.text() for document in await printed(virtual, 20)]
        assert texts == [receipt(n).text() for n in range(1, 21)]
        # A status asked after the last receipt is answered after it was read: no more came.
        assert (await driver.status()).state == "ready"
        assert len(virtual.printed) == 20
        state = driver.state()
        assert (state["state"], state["printed"], state["reopened"]) == ("ready", 20, 1)
    finally:
        await driver.close()
    assert driver.state()["state"] == "closed"
    with pytest.raises(PrinterUnavailable, match="closed"):
        await driver.print(receipt(21))


async def test_a_gone_port_is_tried_again_after_0_1_s_doubling_to_5_s(virtual: VirtualPrinter) -> None:
    now_s = 100.0
    driver = ReceiptPrinter(str(virtual.link_path), status_timeout_s=ANSWER_S, monotonic_s=lambda: now_s)
    try:
        assert (await driver.status()).state == "ready"
        virtual.unplug()
        with pytest.raises(PrinterUnavailable) as failed:
            await driver.status()
        assert failed.value.retry_in_s == pytest.approx(0.1)
        delays = []
        for _ in range(8):
            # Asked again within the pause: refused at once, saying when it retries.
            with pytest.raises(PrinterUnavailable, match=r"tried again in [0-9.]+ s") as paused:
                await driver.status()
            assert paused.value.retry_in_s is not None
            now_s += paused.value.retry_in_s
            with pytest.raises(PrinterUnavailable, match="cannot open") as again:
                await driver.status()
            delays.append(again.value.retry_in_s)
        assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
        assert driver.state()["state"] == "reconnecting"
        virtual.plug()  # a new pty, the link pointing at it
        now_s += 5.0
        assert (await driver.status()).state == "ready"
        assert driver.state()["reopened"] == 1
    finally:
        await driver.close()


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("offline", "is offline"),
        ("cover_open", "has its cover open: close it"),
        ("paper_out", "is out of paper: load a new roll"),
    ],
)
async def test_a_printer_not_ready_is_not_sent_the_receipt(
    virtual: VirtualPrinter, condition: str, says: str
) -> None:
    virtual.condition = condition  # type: ignore[assignment]
    driver = ReceiptPrinter(virtual.path, status_timeout_s=ANSWER_S)
    try:
        with pytest.raises(PrinterUnavailable, match=says) as refused:
            await driver.print(receipt(1))
        assert refused.value.state == condition
        assert driver.state()["state"] == condition
        virtual.condition = "ready"
        await driver.print(receipt(2))
        assert [d.text() for d in await printed(virtual, 1)] == [receipt(2).text()]
        assert len(virtual.printed) == 1
    finally:
        await driver.close()


async def test_paper_near_its_end_prints_and_is_reported(virtual: VirtualPrinter) -> None:
    virtual.condition = "paper_near_end"
    driver = ReceiptPrinter(virtual.path, status_timeout_s=ANSWER_S)
    try:
        await driver.print(receipt(1))
        assert await printed(virtual, 1) == [receipt(1)]
        state = driver.state()
        assert (state["state"], state["paper_near_end"]) == ("ready", True)
        assert "change the roll" in state["detail"]
    finally:
        await driver.close()


async def test_a_printer_that_does_not_answer_is_unknown_and_not_sent_the_receipt(
    virtual: VirtualPrinter,
) -> None:
    virtual.condition = "silent"
    driver = ReceiptPrinter(virtual.path, status_timeout_s=0.1)
    try:
        status = await driver.status()
        assert (status.online, status.cover_open, status.paper_out, status.state) == (
            None,
            None,
            None,
            "unknown",
        )
        with pytest.raises(PrinterUnavailable, match="does not answer its status") as refused:
            await driver.print(receipt(1))
        assert refused.value.state == "unknown"
    finally:
        await driver.close()
    virtual.condition = "ready"
    driver = ReceiptPrinter(virtual.path, status_timeout_s=ANSWER_S)
    try:
        assert (await driver.status()).state == "ready"  # answered after all sent before it was read
        assert virtual.printed == []
    finally:
        await driver.close()


async def test_a_port_that_echoes_the_queries_is_unknown_not_ready() -> None:
    driver = ReceiptPrinter("loop://", status_timeout_s=0.1)
    try:
        status = await driver.status()  # each answer is a byte of a query: not a status byte
        assert status.state == "unknown"
        with pytest.raises(PrinterUnavailable, match="does not answer"):
            await driver.print(receipt(1))
    finally:
        await driver.close()


async def test_a_port_that_fails_while_the_receipt_is_sent_raises_and_reconnects() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)

    def printer_that_dies() -> None:
        """Answers the three status queries "ready", takes a first piece of the
        receipt, and is unplugged."""
        for _ in range(3):
            query = b""
            while len(query) < 3:
                query += os.read(master, 3 - len(query))
            os.write(master, b"\x12")
        os.read(master, 1024)
        os.close(master)
        os.close(slave)

    # 10,000 lines: far more than a pty holds (64 KiB), so the write is still going.
    long = Document(tuple(Line(f"{n:04d} 很长的收据 a long receipt line") for n in range(10_000)))
    assert len(encode(long)) > 5 * 65536
    thread = threading.Thread(target=printer_that_dies, daemon=True)
    thread.start()
    driver = ReceiptPrinter(path, status_timeout_s=ANSWER_S)
    try:
        with pytest.raises(PrinterUnavailable, match="partly printed") as failed:
            await driver.print(long)
        assert failed.value.state == "reconnecting"
        assert driver.state()["printed"] == 0
    finally:
        thread.join(WAIT_S)
        await driver.close()


async def test_the_event_loop_runs_while_the_printer_is_asked(virtual: VirtualPrinter) -> None:
    virtual.condition = "silent"
    driver = ReceiptPrinter(virtual.path, status_timeout_s=0.5)
    try:
        asking = asyncio.create_task(driver.status())  # 0.5 s waiting for an answer that never comes
        await asyncio.sleep(0.01)
        # The loop ran this coroutine again while the status was still being waited for.
        assert not asking.done()
        assert (await asking).state == "unknown"
    finally:
        await driver.close()


def test_a_job_sent_while_the_paper_is_out_waits_in_the_printer(virtual: VirtualPrinter) -> None:
    """Another writer that never asks the status: a real printer holds the job until
    the paper is back, and so does the virtual one."""
    virtual.condition = "paper_out"
    fd = os.open(virtual.path, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, encode(receipt(1)))
    finally:
        os.close(fd)
    with pytest.raises(TimeoutError):
        virtual.wait_printed(1, 0.2)
    virtual.condition = "ready"
    assert [r.document for r in virtual.wait_printed(1, WAIT_S)] == [receipt(1)]


# -- the receipt as a picture ----------------------------------------------------------------

CHINESE = Document(
    (
        Line("茶铺 BR01", bold=True, double=True, align="center"),
        Line("奶茶 x2          24.00"),
        Line("合计 Total ¥24.00", bold=True, align="right"),
        QRCode("SALE-BR01-000042"),
        Barcode("BR01-42"),
        Line("谢谢惠顾", align="center"),
    )
)


def dark_columns(image: Image.Image, top: int, bottom: int) -> list[int]:
    """The x of each column with a dark pixel between rows top and bottom."""
    gray = image.convert("L")
    return [x for x in range(gray.width) if any(gray.getpixel((x, y)) < 128 for y in range(top, bottom))]  # type: ignore[operator]


@pytest.mark.parametrize(("width_chars", "width_px"), [(32, 384), (48, 576)])
def test_a_chinese_receipt_is_drawn_at_the_paper_width_with_its_text_placed(
    tmp_path: Path, width_chars: int, width_px: int
) -> None:
    path = tmp_path / "receipt.png"
    render_png(CHINESE, path, width_px=width_chars * 12)
    # The paper's printable width, all its cells, with a white margin each side.
    paper_px, width_px = width_px, width_px + 2 * MARGIN_PX
    with Image.open(path) as image:
        assert (image.format, image.width) == ("PNG", width_px)
        assert paper_px == width_chars * 12
        # The double title (48 px high): dark, and centred within a character's width.
        title = dark_columns(image, MARGIN_PX, MARGIN_PX + 2 * TEXT_PX)
        assert len(title) > 50
        assert abs(title[0] - (width_px - 1 - title[-1])) <= 12
        # The right-aligned total ends at the right margin.
        total_top = MARGIN_PX + 2 * (TEXT_PX + 6) + (TEXT_PX + 6)
        total = dark_columns(image, total_top, total_top + TEXT_PX)
        assert width_px - MARGIN_PX - 12 <= total[-1] < width_px - MARGIN_PX + 2
        # Below the text, the QR code and the barcode: far more than text is dark.
        assert image.height > MARGIN_PX + 4 * (TEXT_PX + 6) + 100


def test_without_the_qrcode_package_the_qr_is_a_box_with_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert qr_modules("SALE-1") is not None  # python-escpos brings qrcode to the tests
    monkeypatch.setitem(sys.modules, "qrcode", None)  # `import qrcode` now fails
    assert qr_modules("SALE-1") is None
    path = tmp_path / "box.png"
    render_png(Document((QRCode("SALE-1"),)), path)
    with Image.open(path) as image:
        left = (384 + 2 * MARGIN_PX - receipt_image.QR_FALLBACK_PX) // 2
        # The box's left edge is dark from top to bottom.
        gray = image.convert("L")
        assert all(gray.getpixel((left + 1, MARGIN_PX + y)) == 0 for y in range(receipt_image.QR_FALLBACK_PX))


def test_a_missing_font_names_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipt_image, "FONT_PATH", tmp_path / "none.ttf")
    receipt_image._font.cache_clear()
    try:
        with pytest.raises(FontMissing, match="apt-get install fonts-droid-fallback"):
            render_png(CHINESE, tmp_path / "x.png")
    finally:
        receipt_image._font.cache_clear()


async def test_the_virtual_printer_keeps_each_receipt_as_png_and_text_numbered_on(tmp_path: Path) -> None:
    out = tmp_path / "printed"
    with VirtualPrinter.create(out, width_chars=32) as virtual:
        driver = ReceiptPrinter(virtual.path, width_chars=32, status_timeout_s=ANSWER_S)
        await driver.print(Document((Line("谢谢"), QRCode("SALE/1"))))
        await driver.print(Document((Line("no QR code"),)))
        await driver.close()
        first, second = await asyncio.to_thread(virtual.wait_printed, 2, WAIT_S)
    assert (first.png, first.txt) == (out / "0001-SALE_1.png", out / "0001-SALE_1.txt")
    assert first.txt is not None
    assert first.png is not None
    assert first.txt.read_text(encoding="utf-8") == "谢谢\n[QR SALE/1]\n"
    assert second.png == out / "0002-0002.png"
    with Image.open(first.png) as image:
        assert image.width == 384 + 2 * MARGIN_PX
    with VirtualPrinter.create(out) as again:  # the node restarted: numbering goes on
        driver = ReceiptPrinter(again.path, status_timeout_s=ANSWER_S)
        await driver.print(Document((QRCode("SALE-3"),)))
        await driver.close()
        [third] = await asyncio.to_thread(again.wait_printed, 1, WAIT_S)
    assert third.png == out / "0003-SALE-3.png"
