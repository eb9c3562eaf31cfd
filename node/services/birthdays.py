"""Birthday greetings: every morning each member whose birthday it is gets a greeting
in the outbox (node.services.outbox), written by the member's home branch only and
at most once per member and year, however often the day's job runs.

Which birthdays fall on a day is a pure rule (`birthdays_on`); the job that checks
and writes runs through the store's writer, the check and the write in one
transaction, so the outbox's unique key makes "once a year" hold by construction.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from node.services import outbox
from node.services.outbox import FileGateway, Message
from node.store.store import Store
from node.store.writer import Tx
from protocol.ids import uuid7
from shared_tables import directory_store

log = logging.getLogger(__name__)

KIND = "birthday"
GREETING = "Happy birthday, {name}! Best wishes from all of us at your store."

JOB_ID = "birthday-greetings"
# A daily job's latest missed time is always less than a day old, so with coalesce a
# run missed while the loop was busy or the machine asleep runs once, never twice.
MISFIRE_GRACE_S = 86_400
# Members looked at per write transaction: the tills' writes wait behind each one,
# so a branch of many members is greeted in short transactions, not one long one.
MAX_MEMBERS_PER_JOB = 200
# Transactions per run: 2,000 x 200 members is beyond any branch's birthdays in a day
# (a tenth of a million members have about 300); the bound only stops a runaway loop.
MAX_JOBS_PER_RUN = 2_000


def birthdays_on(day: datetime.date) -> tuple[str, ...]:
    """The birthdays (as MM-DD) greeted on `day`: its own, and on 28 February of a
    common year also 29 February's, whose owners would otherwise wait four years."""
    own = f"{day.month:02d}-{day.day:02d}"
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        return (own, "02-29")
    return (own,)


def local_day(at_ms: int, zone: datetime.tzinfo) -> datetime.date:
    """The date at the branch at the instant `at_ms` (Unix ms)."""
    return datetime.datetime.fromtimestamp(at_ms / 1000, zone).date()


def greeting_text(name: str) -> str:
    return GREETING.format(name=name)


@dataclass(frozen=True, slots=True)
class Page:
    """What one job of a run did: greetings written, and the member id to go on
    after (None when the day's candidates are done)."""

    written: int
    after: str | None


def greet_job(branch: str, day: datetime.date, after: str) -> Callable[[Tx], Page]:
    """Greet the members after `after` (by id, at most MAX_MEMBERS_PER_JOB looked at)
    whose birthday falls on `day`, if this branch is their home. A duplicate is greeted
    as its survivor, whose profile and home branch are the person's (the directory's
    merged view, as a till sees it)."""
    month_days = birthdays_on(day)

    def job(tx: Tx) -> Page:
        marks = ",".join("?" * len(month_days))
        # A member's own birthday column finds the group: the group's merged birthday is
        # the one of the member whose stamp is the latest, so some member holds it.
        rows = tx.conn.execute(
            f"SELECT id FROM members WHERE id > ? AND substr(birthday, 6) IN ({marks}) ORDER BY id LIMIT ?",
            (after, *month_days, MAX_MEMBERS_PER_JOB),
        ).fetchall()
        written = 0
        for (member_id,) in rows:
            person = directory_store.member_json(tx.conn, member_id)
            if person is None or person["home_branch"] != branch:
                continue  # another branch is the member's home, and greets them
            birthday = person["birthday"]
            if not isinstance(birthday, str) or birthday[5:] not in month_days:
                continue  # an alias's old birthday; the person's is another day
            message = Message(
                id=uuid7(tx.wall_ms, os.urandom(10)),
                kind=KIND,
                member_id=person["id"],
                year=day.year,
                phone=person["phone"],
                text=greeting_text(person["name"]),
                created_at_ms=tx.wall_ms,
                delivered_at_ms=None,
            )
            written += outbox.add(tx.conn, message)
        return Page(written, rows[-1][0] if len(rows) == MAX_MEMBERS_PER_JOB else None)

    return job


async def greet(store: Store, branch: str, day: datetime.date) -> int:
    """Greet every member of this branch whose birthday falls on `day`; how many
    greetings were new (a second run the same day writes none)."""
    written = 0
    after: str | None = ""
    for _ in range(MAX_JOBS_PER_RUN):
        if after is None:
            return written
        page = await store.writer.run(greet_job(branch, day, after))
        written += page.written
        after = page.after
    log.warning("birthdays: stopped after %d transactions with members left to look at", MAX_JOBS_PER_RUN)
    return written


def _system_wall_ms() -> int:
    return time.time_ns() // 1_000_000


class DailyGreetings:
    """The node's daily run: today's greetings (today at the branch, by `wall_ms`),
    then a delivery of the outbox."""

    def __init__(
        self,
        store: Store,
        branch: str,
        zone: datetime.tzinfo,
        gateway: FileGateway,
        wall_ms: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.branch = branch
        self.zone = zone
        self.gateway = gateway
        self.wall_ms = wall_ms if wall_ms is not None else _system_wall_ms
        self._lock = asyncio.Lock()
        self._closed = False

    async def run(self) -> int:
        """Greet today's birthdays and deliver; how many greetings were new."""
        async with self._lock:
            if self._closed:
                return 0
            day = local_day(self.wall_ms(), self.zone)
            written = await greet(self.store, self.branch, day)
            log.info("birthdays: %d new greetings for %s at %s", written, day.isoformat(), self.branch)
            await self.gateway.deliver()
            return written

    async def close(self) -> None:
        """Take no more runs; wait (bounded) for one under way, so the store closes after it."""
        self._closed = True
        await outbox.wait_for_run(self._lock, "birthdays: a run")

    def missed_today(self, at: datetime.time) -> bool:
        """Whether today's run time has passed: a node started after it (down at the
        hour) runs at once. A run the same day before the restart makes that run
        write nothing new, so running again is always safe."""
        now = datetime.datetime.fromtimestamp(self.wall_ms() / 1000, self.zone)
        return now.time() >= at


def schedule(scheduler: Any, greetings: DailyGreetings, at: datetime.time) -> None:
    """Run `greetings` daily at `at`, branch time, under JOB_ID; at once as well when
    the node starts after today's time (its memory of jobs starts empty, so a run
    missed while it was down is known only this way)."""
    catch_up: dict[str, Any] = {}
    if greetings.missed_today(at):
        catch_up["next_run_time"] = datetime.datetime.now(greetings.zone)
    scheduler.add_job(
        greetings.run,
        CronTrigger(hour=at.hour, minute=at.minute, timezone=greetings.zone),
        id=JOB_ID,
        name="birthday greetings",
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE_S,
        max_instances=1,
        replace_existing=True,
        **catch_up,
    )
