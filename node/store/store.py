"""Opening a branch's store: migrations, the group-commit writer, the read threads.

Every write goes through `writer` (node.store.writer). Every read is a synchronous
function of a read-only connection run by `read(fn)` on a read thread, in a
transaction of its own: one thread hop per read however many statements it runs,
and the directory's views (shared_tables.directory_store), which HQ's SQLite
backend shares, run as they are.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from node.store import schema
from node.store.changelog import LogHead, LogWriter, read_head
from node.store.row_cache import WriterConnection
from node.store.writer import Writer
from shared_tables.private_files import private_database

T = TypeVar("T")

# Reads at once: two, so a long read (a stock listing, a push of 500 entries) does
# not hold up a till's lookup, on a machine of two cores that also runs the writer.
READ_THREADS = 2


@dataclass
class Store:
    path: Path
    writer: Writer
    _read_conns: queue.SimpleQueue[sqlite3.Connection]
    _all_read_conns: tuple[sqlite3.Connection, ...]
    _read_threads: ThreadPoolExecutor | None  # None: reads run in the caller's thread

    @classmethod
    async def open(
        cls,
        path: Path,
        origin: str,
        *,
        on_commit: Callable[[LogHead], None] | None = None,
        wall_ms: Callable[[], int] | None = None,
        synchronous: str = "FULL",
        inline: bool = False,
    ) -> Store:
        """`inline`: reads and writes run in the caller's thread, one write a group
        (node.store.writer); for the simulator, which runs one event at a time."""

        def prepare() -> tuple[WriterConnection, LogHead, list[sqlite3.Connection]]:
            conn = schema.connect_writer(str(private_database(path)), synchronous=synchronous)
            schema.migrate(conn)
            count = 1 if inline else READ_THREADS
            readers = [schema.connect(str(path), synchronous=synchronous) for _ in range(count)]
            for reader in readers:
                reader.execute("PRAGMA query_only=ON")
            return conn, read_head(conn), readers

        conn, head, readers = await asyncio.to_thread(prepare)
        writer = Writer(conn, LogWriter(origin, head), wall_ms=wall_ms, on_commit=on_commit, inline=inline)
        # One connection per read thread: a thread takes one from the queue for each read.
        idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        for reader in readers:
            idle.put(reader)
        threads = None
        if not inline:
            threads = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="branchline-read")
        return cls(path, writer, idle, tuple(readers), threads)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on a read-only connection, in a transaction of its own so it sees
        one committed state throughout."""

        def run() -> T:
            conn = self._read_conns.get_nowait()  # as many connections as threads
            try:
                conn.execute("BEGIN")
                try:
                    return fn(conn)
                finally:
                    conn.execute("ROLLBACK")
            finally:
                self._read_conns.put(conn)

        if self._read_threads is None:
            return run()
        return await asyncio.get_running_loop().run_in_executor(self._read_threads, run)

    async def close(self) -> None:
        await self.writer.close()
        # Reads under way finish first; their connections are closed after.
        if self._read_threads is not None:
            await asyncio.to_thread(self._read_threads.shutdown, wait=True)
        for conn in self._all_read_conns:
            conn.close()
