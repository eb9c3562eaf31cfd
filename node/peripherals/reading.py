"""The card reader's worker: each card read at the branch's reader is told to every
open till page, with the member who holds it (node.services.till)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from devices.reader import CardRead, CardReader
from node.services import till
from node.store.store import Store

log = logging.getLogger(__name__)


class Reading:
    def __init__(self, store: Store, reader: CardReader, events: till.TillEvents) -> None:
        self.store = store
        self.reader = reader
        self.events = events
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.reader.run(self._read), name="card-reader")

    async def stop(self) -> None:
        await self.reader.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def state(self) -> dict[str, Any]:
        return self.reader.state()

    def _read(self, read: CardRead) -> None:
        task = asyncio.get_running_loop().create_task(self._tell(read.card))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _tell(self, card: str) -> None:
        found = await self.store.read(lambda conn: till.swiped(conn, card))
        log.info("card %s read at the reader (member %s)", card, found["member_id"])
        self.events.publish("swipe", found)
