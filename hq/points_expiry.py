"""HQ's hourly run booking the expiry of the points lots HQ earned members (referral
awards, hq.storage.sqlite.directory.expire_points); each branch expires the lots it
earned itself (node.services.points_expiry). Several HQ processes on one database may
all run it: expiry ids follow from the lot and its expired total, so each point
expires once."""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from hq.http_common import HQ_KEY

log = logging.getLogger(__name__)

JOB_ID = "points-expiry"
INTERVAL_S = 3600
SCHEDULER = web.AppKey("points_expiry_scheduler", AsyncIOScheduler)


async def hourly_expiry(app: web.Application) -> AsyncIterator[None]:
    """The hourly job, for the app's lifetime (after HQ's store is open); the first run
    at once, so an HQ that was down catches up."""
    scheduler = AsyncIOScheduler(timezone="UTC")

    async def run() -> int:
        try:
            expired = await app[HQ_KEY].expire_points()
        except Exception:  # a failed run is logged and tried again within the hour; HQ serves on
            log.exception("the points expiry run failed")
            return 0
        if expired:
            log.info("points expiry: %d points of HQ's referral awards expired", expired)
        return expired

    scheduler.add_job(
        run,
        IntervalTrigger(seconds=INTERVAL_S, timezone="UTC"),
        id=JOB_ID,
        next_run_time=datetime.datetime.now(datetime.UTC),
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=INTERVAL_S,
    )
    scheduler.start()
    app[SCHEDULER] = scheduler
    yield
    scheduler.shutdown(wait=False)
