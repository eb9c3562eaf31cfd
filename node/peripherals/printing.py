"""The receipt printer's worker: prints the queue in order, never losing a receipt.

Each job's document is made once, right after the commit that queued it
(node.services.printouts rule 2); then the oldest job waiting is printed and marked
printed. A printer that is away (offline, cover open, out of paper, unplugged) keeps
the queue: the worker tries again every RETRY_S, and again at once when something new
is queued, and prints what waits in order once it is back. A job is marked printed
only after the printer took all its bytes, so a crash in between prints it once more
when the node is back, never not at all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any

from devices.document import Document
from devices.escpos import encode
from devices.printer import PrinterUnavailable, ReceiptPrinter
from node.services import printout_documents, printouts
from node.store.store import Store
from protocol.business_day import BusinessDay

log = logging.getLogger(__name__)

RETRY_S = 1.0


class Printing:
    def __init__(
        self, store: Store, printer: ReceiptPrinter, branch: str, days: BusinessDay, width_chars: int
    ) -> None:
        self.store = store
        self.width_chars = width_chars
        self.printer = printer
        self.branch = branch
        self.days = days
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.waiting = 0
        self.last_error: str | None = None

    def wake(self) -> None:
        """Something was committed: there may be a receipt to make and print."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="printing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.printer.close()

    def state(self) -> dict[str, Any]:
        return {**self.printer.state(), "waiting": self.waiting, "last_error": self.last_error}

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._make_documents()
                printed = await self._print_next()
            except PrinterUnavailable as exc:
                self._failed(str(exc))
                printed = False
            except Exception:
                # A receipt that cannot be made (a bug of ours) must not stop the others
                # behind it forever; it is logged with its cause and tried again.
                log.exception("printing failed; trying again in %s s", RETRY_S)
                printed = False
            if printed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_S)

    async def _make_documents(self) -> None:
        for job_id, kind, ref, copy in await self.store.read(printouts.unmade):

            def make(
                conn: sqlite3.Connection, kind: str = kind, ref: str = ref, copy: bool = copy
            ) -> Document:
                return printout_documents.document_for(
                    conn, kind, ref, copy, self.branch, self.days, self.width_chars
                )

            try:
                document = await self.store.read(make)
                encode(document, width_chars=self.width_chars)  # printable, or never will be
            except Exception as exc:
                # Made from committed rows, a document fails the same way every time (a
                # bug of ours, or a row gone): trying again would hold up every receipt
                # behind it for good, so it is given up, logged with its cause and listed.
                log.exception("receipt %d (%s %s) cannot be made, given up", job_id, kind, ref)
                await self.store.writer.run(printouts.give_up_job(job_id, f"cannot be made: {exc!r}"))
                continue
            await self.store.writer.run(printouts.keep_document_job(job_id, document))

    async def _print_next(self) -> bool:
        found = await self.store.read(printouts.next_waiting)
        self.waiting = await self.store.read(printouts.waiting_count)
        if found is None:
            return False
        job_id, kind, ref, _, document = found
        if document is None:
            return False  # made on the next turn
        await self.printer.print(printouts.from_json(document))
        await self.store.writer.run(printouts.mark_printed_job(job_id))
        self.waiting -= 1
        self.last_error = None
        log.info("printed receipt %d (%s %s)", job_id, kind, ref)
        return True

    def _failed(self, error: str) -> None:
        if error != self.last_error:
            log.warning("the receipt printer is away: %s; %d receipt(s) wait", error, self.waiting)
        self.last_error = error
