"""Member levels at HQ (hq.levels): HQ defines the levels as master data (POST/GET
/api/levels, hq.inventory_api), grades every member once a day, and an operator may
grade now (POST /api/levels/grade) after changing the levels.

The daily run is an APScheduler 3.x job with an explicit id, one scheduler per HQ
process; a run missed while the process was down or busy runs once when it can
(coalesce, a day's grace). Several HQ processes on one database may all run it: the
store publishes each changed grade once (hq.storage.sqlite.levels).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from hq.http_common import HQ_KEY, doer
from protocol.access import Scope, requires

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

JOB_ID = "level-grading"
# Graded at 02:30 UTC: 10:30 in China, before most shops' busiest hours.
GRADING_HOUR_UTC, GRADING_MINUTE_UTC = 2, 30
MISFIRE_GRACE_S = 86_400


@routes.post("/api/levels/grade")
@requires("members:edit", Scope.HQ)
async def grade_now(request: web.Request) -> web.Response:
    """Grade every member now; answers the grades that changed."""
    changes = await request.app[HQ_KEY].grade_levels(doer(request))
    return web.json_response({"changed": [change.payload for change in changes]})


async def daily_grading(app: web.Application) -> AsyncIterator[None]:
    """The daily grading job, for the app's lifetime (after HQ's store is open)."""
    scheduler = AsyncIOScheduler(timezone="UTC")

    async def run() -> None:
        try:
            changes = await app[HQ_KEY].grade_levels()
        except Exception:  # a failed run is logged and tried again tomorrow; HQ serves on
            log.exception("the daily member level grading failed")
            return
        log.info("member levels graded: %d changed", len(changes))

    scheduler.add_job(
        run,
        CronTrigger(hour=GRADING_HOUR_UTC, minute=GRADING_MINUTE_UTC, timezone="UTC"),
        id=JOB_ID,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=MISFIRE_GRACE_S,
    )
    scheduler.start()
    yield
    scheduler.shutdown(wait=False)
