"""HQStore (hq.storage.base) on PostgreSQL, for a chain too large for one SQLite file.

The storage modules are the SQLite backend's (hq.storage.sqlite.*), run unchanged:
each transaction is one of their functions, run under `bridge.run_sync` over an
asyncpg connection from a pool (connection.PgConnection speaks the modules' SQL).
So a new table or query is written once and both backends run it.

Several HQ processes may share one database. Every write transaction first takes
one advisory lock, so writes are applied one at a time across all processes, as
SQLite's single writer applies them: per-origin order, feed sequence numbers,
sightings and the operation log's chain need no other coordination. Reads run
in read-only REPEATABLE READ snapshots, concurrently with writes.

What one process writes, the others hear of through LISTEN/NOTIFY (triggers in
`schema`): a grown feed wakes the long-polls waiting on it on every process, a
changed directory makes every process compute its digest again (each process's
connections carry its own application_name, which the trigger announces, so a
process does not count its own writes twice). The listening
connection is re-opened with backoff if the database goes away; on its return
every feed is woken, since a message may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Concatenate, ParamSpec, TypeVar

import asyncpg

from hq import quarantine
from hq.storage.base import IngestResult
from hq.storage.postgres.bridge import run_sync
from hq.storage.postgres.connection import PgConnection
from hq.storage.postgres.schema import (
    BEGIN_WRITE,
    DIRECTORY_CHANNEL,
    FEEDS_CHANNEL,
    check_database,
    install_functions,
    migrate,
)
from hq.storage.sqlite import SqliteHQStore, directory, feeds, ingest, operations
from hq.storage.sqlite.ingest import Push
from protocol.batch import SignedBatch
from protocol.errors import ShuttingDown
from protocol.ingest import Fork
from shared_tables.sql import Connection

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)

# The advisory lock every write transaction holds ("HQW" in ASCII): one writer at a time.
WRITE_LOCK = 0x485157
# Connections per process: reads run beside the one write at a time.
POOL_SIZE = 8
# Pushes applied in one transaction at most (group commit): the write lock, BEGIN and
# COMMIT with its WAL flush are paid once per group, not once per push.
PUSH_GROUP_MAX = 16
# Waits between attempts to re-open the listening connection: first, then the most.
RELISTEN_FIRST_S = 0.2
RELISTEN_MAX_S = 5.0

FeedsGrown = Callable[[Iterable[str]], None]
PushOutcome = IngestResult | Fork


class PostgresHQStore(SqliteHQStore):
    """HQStore on a PostgreSQL database named by a `postgresql://` URL."""

    def __init__(
        self,
        url: str,
        pool: asyncpg.Pool,
        signer: operations.Signer | None,
        latest_hlc: int,
        writer: str,
    ) -> None:
        self._url = url
        self._pool = pool
        self._writer = writer
        self._started(signer, latest_hlc)
        # The digest's version (SqliteHQStore.directory_digest): this process's writes,
        # and the directory changes other processes announced.
        self._writes = 0
        self._directory_changes = 0
        self._feeds_grown: list[FeedsGrown] = []
        self._listening: asyncio.Task[None] | None = None
        self._closing = False
        # Pushes waiting for the next group, and the task applying groups while any wait.
        self._pushes: list[tuple[Push, asyncio.Future[PushOutcome]]] = []
        self._applying: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, url: str, *, signer: operations.Signer | None = None) -> PostgresHQStore:
        # The name the directory trigger announces: what this process wrote itself it has
        # already counted, and hearing of it later would make the digest be computed twice.
        writer = f"branchline-hq-{os.getpid()}-{secrets.token_hex(4)}"
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=POOL_SIZE, server_settings={"application_name": writer}
        )
        try:
            async with pool.acquire() as raw:
                await check_database(raw)
                await migrate(raw)
                await install_functions(raw)
                latest = await run_sync(feeds.latest_hlc, PgConnection(raw))
            store = cls(url, pool, signer, latest, writer)
            store._listening = asyncio.create_task(store._listen(), name="hq-postgres-listen")
            # A store from before sightings holds registrations HQ never ordered.
            now_ms = time.time_ns() // 1_000_000
            await store._tx(directory.sight_backlog, store._append(now_ms), now_ms)
            return store
        except BaseException:
            await pool.close()
            raise

    async def close(self) -> None:
        self._closing = True
        for task in (self._listening, self._applying):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for _, done in self._pushes:
            if not done.done():
                done.set_exception(ShuttingDown("HQ is shutting down; the branch sends the push again"))
        await self._pool.close()

    def watch_feeds(self, feeds_grown: FeedsGrown) -> None:
        """Call `feeds_grown(branches)` whenever any HQ process grows those feeds."""
        self._feeds_grown.append(feeds_grown)

    def _on_feeds(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        branches = [code for code in payload.split(",") if code]
        for callback in self._feeds_grown:
            callback(branches)

    def _on_directory(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload != self._writer:  # this process's own writes counted in _tx already
            self._directory_changes += 1

    async def _listen(self) -> None:
        """Hold a connection that LISTENs; open it again whenever it is lost."""
        wait_s = RELISTEN_FIRST_S
        missed = False
        while not self._closing:
            try:
                raw = await asyncpg.connect(self._url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning(
                    "cannot listen for other HQ processes' changes (%s); retrying in %.1f s", exc, wait_s
                )
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, RELISTEN_MAX_S)
                missed = True
                continue
            lost = asyncio.Event()
            raw.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await raw.add_listener(FEEDS_CHANNEL, self._on_feeds)
                await raw.add_listener(DIRECTORY_CHANNEL, self._on_directory)
                if missed:
                    # Whatever was announced while nobody listened: every reader looks again.
                    self._directory_changes += 1
                    self._on_feeds(None, 0, FEEDS_CHANNEL, ",".join(await self._branch_codes()))
                wait_s, missed = RELISTEN_FIRST_S, False
                await lost.wait()
                missed = True
                log.warning("lost the connection listening for other HQ processes' changes; reopening")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listening for other HQ processes' changes failed (%s)", exc)
                missed = True
            finally:
                with contextlib.suppress(Exception):
                    await raw.close()

    async def _branch_codes(self) -> list[str]:
        return [branch.code for branch in await self.branches()]

    # -- the branches' logs, group committed ---------------------------------------------

    async def ingest(self, batch: SignedBatch, now_ms: int, reported_backlog: int | None) -> IngestResult:
        """As SQLite's, but pushes that arrive while a group is being applied wait and
        are applied together in the next transaction (hq.storage.sqlite.ingest.ingest_each),
        in arrival order: a thousand branches catching up at once pay for the write
        lock and the commit once per group. The answer comes after the group commits."""
        done: asyncio.Future[PushOutcome] = asyncio.get_running_loop().create_future()
        self._pushes.append((Push(batch, now_ms, reported_backlog), done))
        if self._applying is None:
            self._applying = asyncio.create_task(self._apply_pushes(), name="hq-postgres-pushes")
        result = await done
        if isinstance(result, Fork):
            raise quarantine.forked_log(batch.origin, result)
        return result

    async def _apply_pushes(self) -> None:
        try:
            while self._pushes:
                group = self._pushes[:PUSH_GROUP_MAX]
                del self._pushes[:PUSH_GROUP_MAX]
                outcomes: list[PushOutcome | Exception]
                try:
                    outcomes = [*await self._tx(ingest.ingest_each, self.clock, [push for push, _ in group])]
                except Exception as exc:
                    if len(group) == 1:
                        outcomes = [exc]
                    else:
                        # One push's failure must not fail the others with it (nor wedge
                        # their branches, retried in its company): each on its own.
                        outcomes = [await self._apply_alone(push) for push, _ in group]
                for (_, done), outcome in zip(group, outcomes, strict=True):
                    if done.done():
                        continue  # the branch hung up; it sends the push again
                    if isinstance(outcome, BaseException):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
        finally:
            self._applying = None

    async def _apply_alone(self, push: Push) -> PushOutcome | Exception:
        try:
            [outcome] = await self._tx(ingest.ingest_each, self.clock, [push])
        except Exception as exc:
            return exc
        return outcome

    async def _tx(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, ...)` in one transaction, holding the write lock."""
        async with self._pool.acquire() as raw, raw.transaction():
            # Another process may have stamped feeds since: HQ's stamps never go back.
            self.clock.last = max(self.clock.last, await raw.fetchval(BEGIN_WRITE, WRITE_LOCK))
            result = await run_sync(fn, PgConnection(raw), *args, **kwargs)
        self._writes += 1
        return result

    async def _read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(conn, ...)` on one consistent snapshot."""
        async with self._pool.acquire() as raw, raw.transaction(isolation="repeatable_read", readonly=True):
            return await run_sync(fn, PgConnection(raw), *args, **kwargs)

    async def _version(self) -> object:
        return (self._writes, self._directory_changes)
