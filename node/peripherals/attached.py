"""The devices node.json names, opened when the node starts and closed when it stops.
A device whose url is "virtual" runs inside the node (devices.virtual): a reader swiped
through a Unix socket in the node's folder (`branchline node swipe`), a printer that
draws each receipt it is sent as a PNG in the node's folder. Their state is written to
the node's folder too, for `branchline node devices` to read without a session."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.printer import ReceiptPrinter
from devices.reader import CardReader
from devices.virtual import VirtualPrinter, VirtualReader
from node.config import VIRTUAL, NodeConfig
from node.peripherals.printing import Printing
from node.peripherals.reading import Reading
from node.services import device_health
from node.services.till import TillEvents
from node.store.store import Store

log = logging.getLogger(__name__)

DEVICES_DIR = "devices"
READER_SOCKET = "reader.sock"  # the virtual reader's: a card number per line swipes it
PRINTED_DIR = "printed"  # the virtual printer's receipts, as PNG and text
STATE_FILE = "state.json"


# The devices' health goes into the branch's log at most this often (its first time
# this long after the node starts, once the devices have opened).
ANNOUNCE_EVERY_S = 10.0


@dataclass
class Attached:
    reading: Reading | None = None
    printing: Printing | None = None
    virtual_reader: VirtualReader | None = None
    virtual_printer: VirtualPrinter | None = None
    state_path: Path | None = None
    _saved: str = ""
    _announced: tuple[Any, ...] | None = None
    _announced_at_s: float = field(default_factory=time.monotonic)

    def state(self) -> dict[str, Any]:
        return {
            "reader": None if self.reading is None else self.reading.state(),
            "printer": None if self.printing is None else self.printing.state(),
        }

    def health(self) -> dict[str, Any]:
        """What HQ is told of the devices (protocol.contract.BRANCH_DEVICES)."""
        return {
            "reader": None if self.reading is None else self.reading.state()["state"],
            "printer": None if self.printing is None else self.printing.state()["state"],
            "receipts_waiting": 0 if self.printing is None else self.printing.waiting,
        }

    async def announce(self, store: Store) -> bool:
        """The devices' health into the branch's log when it changed (a state, or
        receipts starting or stopping to wait), at most every ANNOUNCE_EVERY_S."""
        if self.reading is None and self.printing is None:
            return False
        health = self.health()
        key = (health["reader"], health["printer"], health["receipts_waiting"] > 0)
        now_s = time.monotonic()
        if key == self._announced or now_s - self._announced_at_s < ANNOUNCE_EVERY_S:
            return False
        await store.writer.run(device_health.announce_job(health))
        self._announced, self._announced_at_s = key, now_s
        return True

    def wake(self) -> None:
        if self.printing is not None:
            self.printing.wake()

    def save_state(self) -> None:
        """The devices' state for `branchline node devices`, replaced whole when it
        changed (its counters and times included)."""
        if self.state_path is None:
            return
        text = json.dumps(self.state(), indent=2) + "\n"
        if text == self._saved:
            return
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.state_path)
        self._saved = text

    async def stop(self) -> None:
        if self.reading is not None:
            await self.reading.stop()
        if self.printing is not None:
            await self.printing.stop()
        if self.virtual_reader is not None:
            self.virtual_reader.close()
        if self.virtual_printer is not None:
            self.virtual_printer.close()


async def attach(config: NodeConfig, store: Store, events: TillEvents, data_dir: Path) -> Attached:
    attached = Attached()
    reader, printer = config.reader_settings, config.printer_settings
    if reader is None and printer is None:
        return attached
    folder = data_dir / DEVICES_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    attached.state_path = folder / STATE_FILE
    if reader is not None:
        url = reader.url
        if url == VIRTUAL:
            attached.virtual_reader = VirtualReader.create()
            attached.virtual_reader.serve_socket(folder / READER_SOCKET)
            url = attached.virtual_reader.path
        driver = CardReader(url, baudrate=reader.baudrate, kind=reader.kind, lrc=reader.lrc)
        attached.reading = Reading(store, driver, events)
        await attached.reading.start()
        log.info("card reader at %s (%s)", reader.url, reader.kind)
    if printer is not None:
        url = printer.url
        if url == VIRTUAL:
            out = data_dir / PRINTED_DIR
            out.mkdir(mode=0o700, exist_ok=True)
            attached.virtual_printer = VirtualPrinter.create(out, width_chars=printer.width_chars)
            url = attached.virtual_printer.path
        driver_p = ReceiptPrinter(url, baudrate=printer.baudrate, width_chars=printer.width_chars)
        attached.printing = Printing(store, driver_p, config.branch, config.business_day, printer.width_chars)
        await attached.printing.start()
        log.info("receipt printer at %s (%s mm)", printer.url, printer.paper_width_mm)
    attached.save_state()
    return attached
