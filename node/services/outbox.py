"""The branch's message outbox: messages to members (a birthday greeting), kept in the
branch's store and handed to a gateway. The gateway for now is a file of JSON lines;
SMS comes later. Outbox rows are the branch's own and never enter the change log.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from node.config import DEFAULT_OUTBOX_FILE, NodeConfig
from node.store.store import Store
from node.store.writer import Tx
from shared_tables.private_files import FILE_MODE, private_folder

log = logging.getLogger(__name__)

# GET /api/outbox lists this many messages unless ?limit says otherwise, and never
# more than MAX_LISTED: an operator looks at the last days, not the whole year.
DEFAULT_LISTED = 50
MAX_LISTED = 500
# Messages handed to the gateway in one write and one fsync, and batches in one
# delivery: a backlog of a year of greetings drains over a few runs, and no run holds
# the file, or marks rows in one transaction, without bound.
MAX_LINES_PER_WRITE = 500
MAX_WRITES_PER_DELIVERY = 20

# Delivery also runs on its own, so a message the gateway could not take (its folder
# missing, the disk full) goes out soon after the fault is fixed, not the next morning.
DELIVERY_JOB_ID = "outbox-delivery"
DELIVERY_INTERVAL_S = 300
# How long a stopping node waits for a delivery under way before it closes the store.
STOP_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    kind: str
    member_id: str
    year: int
    phone: str
    text: str
    created_at_ms: int
    delivered_at_ms: int | None

    @property
    def state(self) -> str:
        return "pending" if self.delivered_at_ms is None else "delivered"


_COLUMNS = "id, kind, member_id, year, phone, text, created_at_ms, delivered_at_ms"


def add(conn: sqlite3.Connection, message: Message) -> bool:
    """Write `message` unless the outbox already holds one of its kind for its member
    and year; whether it was written. Called inside the writer's job that decided to
    send it, so the check and the write are one transaction."""
    cursor = conn.execute(
        f"INSERT INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (member_id, year, kind) DO NOTHING",
        (
            message.id,
            message.kind,
            message.member_id,
            message.year,
            message.phone,
            message.text,
            message.created_at_ms,
            message.delivered_at_ms,
        ),
    )
    return cursor.rowcount == 1


def listed(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` messages, newest first, each with its state."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox ORDER BY created_at_ms DESC, id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [{**asdict(message), "state": message.state} for message in map(_message, rows)]


def undelivered(conn: sqlite3.Connection, limit: int) -> list[Message]:
    """The oldest `limit` messages not yet handed to the gateway, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE delivered_at_ms IS NULL ORDER BY created_at_ms, id LIMIT ?",
        (limit,),
    ).fetchall()
    return [_message(row) for row in rows]


def _message(row: tuple[Any, ...]) -> Message:
    return Message(*row)


def mark_delivered_job(message_ids: list[str]) -> Callable[[Tx], int]:
    def job(tx: Tx) -> int:
        cursor = tx.conn.executemany(
            "UPDATE outbox SET delivered_at_ms = ? WHERE id = ? AND delivered_at_ms IS NULL",
            [(tx.wall_ms, message_id) for message_id in message_ids],
        )
        return cursor.rowcount

    return job


# -- the file gateway -------------------------------------------------------------------


def message_line(message: Message) -> bytes:
    """One message as the gateway's line: JSON (UTF-8, names as written) ending in a
    newline. The line carries the message's id, which is what makes a line written
    twice harmless (see `FileGateway`)."""
    fields = {
        "id": message.id,
        "kind": message.kind,
        "member_id": message.member_id,
        "phone": message.phone,
        "text": message.text,
        "created_at_ms": message.created_at_ms,
    }
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def append_lines(path: Path, lines: list[bytes]) -> None:
    """Append `lines` to the file at `path` and fsync it (and its folder, if the file
    is new) before returning. The file is made owner-only, like the store, for it holds
    names and phone numbers. A folder that is missing is not made: the default one is
    made at start (`file_gateway`), and one named in node.json is the operator's.

    A line left torn by a crash or a full disk is ended before anything is appended,
    so it spoils only itself and a reader skips it."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with os.fdopen(fd, "ab") as handle:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        handle.write((b"\n" if torn else b"") + b"".join(lines))
        handle.flush()
        os.fsync(fd)
    if created:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class FileGateway:
    """Hands undelivered messages to a file, one JSON line each, then marks them
    delivered with the time.

    Each batch's lines are written and fsynced before the rows are marked, so no
    message is marked delivered that is not on disk. A crash between the two leaves
    the lines written and the rows undelivered, and the next run writes them again:
    a reader of the file must keep the first line of each message id and skip the
    rest. Exactly once would need the file and the store in one transaction, which a
    file cannot join; at least once with the id on every line is the honest promise.
    A write that fails (folder missing, disk full) marks nothing, is logged, and the
    next run tries the same messages again."""

    def __init__(self, store: Store, path: Path) -> None:
        self.store = store
        self.path = path
        # One delivery at a time: two at once would read the same undelivered rows
        # and write each line twice.
        self._lock = asyncio.Lock()
        self._closed = False

    async def deliver(self) -> int:
        """Hand every undelivered message to the file (within the bounds above);
        how many were delivered."""
        delivered = 0
        async with self._lock:
            for _ in range(MAX_WRITES_PER_DELIVERY):
                if self._closed:
                    break
                batch = await self.store.read(lambda conn: undelivered(conn, MAX_LINES_PER_WRITE))
                if not batch:
                    break
                try:
                    await asyncio.to_thread(append_lines, self.path, [message_line(m) for m in batch])
                except OSError as exc:
                    log.warning(
                        "outbox: %d messages not delivered to %s (%s); they are tried again next run",
                        len(batch),
                        self.path,
                        exc,
                    )
                    break
                delivered += await self.store.writer.run(mark_delivered_job([m.id for m in batch]))
                if len(batch) < MAX_LINES_PER_WRITE:
                    break
        if delivered:
            log.info("outbox: %d messages delivered to %s", delivered, self.path)
        return delivered

    async def close(self) -> None:
        """Take no more deliveries; wait (bounded) for one under way, so the store
        closes after it."""
        self._closed = True
        await wait_for_run(self._lock, "outbox: a delivery")


async def wait_for_run(lock: asyncio.Lock, what: str) -> None:
    """Until the run holding `lock` ends, or STOP_WAIT_S pass (then it is left to the shutdown)."""
    try:
        async with asyncio.timeout(STOP_WAIT_S):
            await lock.acquire()
            lock.release()
    except TimeoutError:
        log.warning("%s still running after %.0f s is left to the shutdown", what, STOP_WAIT_S)


def file_gateway(store: Store, data_dir: Path, config: NodeConfig) -> FileGateway:
    """The gateway at the file node.json names, or the default one in the data folder,
    whose folder is made here (owner-only, like the data folder)."""
    if config.outbox_file is None:
        private_folder(data_dir / DEFAULT_OUTBOX_FILE.parent)
    return FileGateway(store, config.outbox_path(data_dir))


def schedule(scheduler: Any, gateway: FileGateway, zone: datetime.tzinfo) -> None:
    """Deliver every DELIVERY_INTERVAL_S. A run missed (the loop busy, the machine
    asleep) runs once when it can; the next is never more than an interval away."""
    scheduler.add_job(
        gateway.deliver,
        IntervalTrigger(seconds=DELIVERY_INTERVAL_S, timezone=zone),
        id=DELIVERY_JOB_ID,
        name="outbox delivery",
        coalesce=True,
        misfire_grace_time=DELIVERY_INTERVAL_S,
        max_instances=1,
        replace_existing=True,
    )
