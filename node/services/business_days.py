"""The branch's business day in its log: when node.json's time zone or day start differs
from what the log last said, the node writes a branch/business_day entry, so HQ counts
the sales after it on the new days (protocol.business_day, rule 3).

A node on the defaults writes nothing: HQ assumes DEFAULT of a branch that never said."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

from node.store.store import Store
from node.store.writer import Tx
from protocol.business_day import DEFAULT, BusinessDay
from protocol.contract import BRANCH_BUSINESS_DAY
from protocol.ids import uuid7

log = logging.getLogger(__name__)


def logged(conn: sqlite3.Connection) -> BusinessDay:
    """The business day the branch's log says it runs."""
    row = conn.execute("SELECT timezone, starts_at FROM business_day WHERE id = 1").fetchone()
    return DEFAULT if row is None else BusinessDay(row[0], row[1])


def announce_job(days: BusinessDay) -> Any:
    def job(tx: Tx) -> bool:
        if logged(tx.conn) == days:
            return False
        tx.conn.execute(
            "INSERT INTO business_day (id, timezone, starts_at) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET timezone = excluded.timezone, starts_at = excluded.starts_at",
            (days.timezone, days.starts_at),
        )
        payload = {"timezone": days.timezone, "starts_at": days.starts_at, "at_ms": tx.wall_ms}
        tx.record(BRANCH_BUSINESS_DAY, uuid7(tx.wall_ms, os.urandom(10)), payload)
        return True

    return job


async def announce(store: Store, days: BusinessDay) -> None:
    """Write `days` into the log if it is not what the log last said."""
    if await store.writer.run(announce_job(days)):
        log.info("business day now runs from %s (%s); HQ is told in the log", days.starts_at, days.timezone)
