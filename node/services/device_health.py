"""The branch's devices in its log: when its reader's or printer's state changes, or
receipts start or stop waiting, the node writes a branch/devices entry, so HQ shows the
branch's health with them (hq.live.branch_health). At most one entry per
node.peripherals.attached.ANNOUNCE_EVERY_S: a printer that flaps does not fill the log."""

from __future__ import annotations

import os
from typing import Any

from node.store.writer import Tx
from protocol.contract import BRANCH_DEVICES
from protocol.ids import uuid7


def announce_job(health: dict[str, Any]) -> Any:
    def job(tx: Tx) -> None:
        tx.record(BRANCH_DEVICES, uuid7(tx.wall_ms, os.urandom(10)), {**health, "at_ms": tx.wall_ms})

    return job
