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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import asyncpg

from hq.storage.postgres.bridge import run_sync
from hq.storage.postgres.connection import PgConnection
from hq.storage.postgres.schema import check_database, migrate
from hq.storage.sqlite import SqliteHQStore, directory, feeds, operations
from shared_tables.sql import Connection

T = TypeVar("T")
P = ParamSpec("P")

# The advisory lock every write transaction holds ("HQW" in ASCII): one writer at a time.
WRITE_LOCK = 0x485157
# Connections per process: reads run beside the one write at a time.
POOL_SIZE = 8


class PostgresHQStore(SqliteHQStore):
    """HQStore on a PostgreSQL database named by a `postgresql://` URL."""

    def __init__(self, pool: asyncpg.Pool, signer: operations.Signer | None, latest_hlc: int) -> None:
        self._pool = pool
        self._started(signer, latest_hlc)

    @classmethod
    async def connect(cls, url: str, *, signer: operations.Signer | None = None) -> PostgresHQStore:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE)
        try:
            async with pool.acquire() as raw:
                await check_database(raw)
                await migrate(raw)
                latest = await run_sync(feeds.latest_hlc, PgConnection(raw))
            store = cls(pool, signer, latest)
            # A store from before sightings holds registrations HQ never ordered.
            now_ms = time.time_ns() // 1_000_000
            await store._tx(directory.sight_backlog, store._append(now_ms), now_ms)
            return store
        except BaseException:
            await pool.close()
            raise

    async def close(self) -> None:
        await self._pool.close()

    async def _tx(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, ...)` in one transaction, holding the write lock."""
        async with self._pool.acquire() as raw, raw.transaction():
            await raw.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            # Another process may have stamped feeds since: HQ's stamps never go back.
            self.clock.last = max(self.clock.last, await run_sync(feeds.latest_hlc, PgConnection(raw)))
            return await run_sync(fn, PgConnection(raw), *args, **kwargs)

    async def _read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(conn, ...)` on one consistent snapshot."""
        async with self._pool.acquire() as raw, raw.transaction(isolation="repeatable_read", readonly=True):
            return await run_sync(fn, PgConnection(raw), *args, **kwargs)

    async def _version(self) -> object:
        async with self._pool.acquire() as raw:
            return await raw.fetchval("SELECT pg_current_wal_lsn()")
