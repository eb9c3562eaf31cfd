"""The scheduled job that books points past their expiry (loyalty.lots rule 4) for the
lots this branch earned (node.services.points_book.expire_due): hourly, and at once
when the node starts, so a node that was down catches up. Each run books at most a
batch; a run that filled its batch runs again straight away."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from node.services import outbox, points_book
from node.store.store import Store
from node.store.writer import Tx

log = logging.getLogger(__name__)

JOB_ID = "points-expiry"
INTERVAL_S = 3600
# Batches one run may book before it leaves the rest to the next run: the writer
# serves tills in between.
MAX_BATCHES = 20


class PointsExpiry:
    def __init__(self, store: Store, wall_ms: Callable[[], int] | None = None) -> None:
        self.store = store
        self.wall_ms = wall_ms if wall_ms is not None else lambda: time.time_ns() // 1_000_000
        self._lock = asyncio.Lock()
        self._closed = False

    async def run(self) -> int:
        """Book what is due now; the points expired."""
        async with self._lock:
            expired = 0
            for _ in range(MAX_BATCHES):
                if self._closed:
                    break
                at_ms = self.wall_ms()
                booked, more = await self.store.writer.run(_batch(at_ms))
                expired += booked
                if not more:
                    break
            if expired:
                log.info("points expiry: %d points expired", expired)
            return expired

    async def close(self) -> None:
        self._closed = True
        await outbox.wait_for_run(self._lock, "points expiry: a run")


def _batch(at_ms: int) -> Any:
    def job(tx: Tx) -> tuple[int, bool]:
        return points_book.expire_due(tx, at_ms)

    return job


def schedule(scheduler: Any, expiry: PointsExpiry, zone: datetime.tzinfo) -> None:
    scheduler.add_job(
        expiry.run,
        IntervalTrigger(seconds=INTERVAL_S, timezone=zone),
        id=JOB_ID,
        name="points expiry",
        next_run_time=datetime.datetime.now(zone),
        coalesce=True,
        misfire_grace_time=INTERVAL_S,
        max_instances=1,
        replace_existing=True,
    )
