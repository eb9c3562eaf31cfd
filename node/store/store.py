"""Opening a branch's store: migrations, the group-commit writer, readers.

Two readers: `reader` (aiosqlite) for queries written in the handlers, and
`read(fn)`, which runs a synchronous function of a read-only connection on its
own thread, so the directory's views (shared_tables.directory_store), which HQ's SQLite
backend shares, run without taking the writer's turn.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiosqlite

from node.store import schema
from node.store.changelog import LogHead, LogWriter, read_head
from node.store.writer import Writer

T = TypeVar("T")


@dataclass
class Store:
    path: Path
    writer: Writer
    reader: aiosqlite.Connection
    read_conn: sqlite3.Connection
    _read_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchline-read")
    )

    @classmethod
    async def open(
        cls,
        path: Path,
        origin: str,
        *,
        on_commit: Callable[[LogHead], None] | None = None,
        wall_ms: Callable[[], int] | None = None,
        synchronous: str = "FULL",
    ) -> Store:
        def prepare() -> tuple[object, LogHead]:
            conn = schema.connect(str(path), synchronous=synchronous)
            schema.migrate(conn)
            return conn, read_head(conn)

        conn, head = await asyncio.to_thread(prepare)
        writer = Writer(conn, LogWriter(origin, head), wall_ms=wall_ms, on_commit=on_commit)  # type: ignore[arg-type]
        reader = await aiosqlite.connect(str(path))
        await reader.execute("PRAGMA query_only=ON")
        reader.row_factory = aiosqlite.Row
        read_conn = schema.connect(str(path), synchronous=synchronous)
        read_conn.execute("PRAGMA query_only=ON")
        return cls(path, writer, reader, read_conn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the read-only connection, in a transaction of its own so it
        sees one committed state throughout."""

        def run() -> T:
            self.read_conn.execute("BEGIN")
            try:
                return fn(self.read_conn)
            finally:
                self.read_conn.execute("ROLLBACK")

        return await asyncio.get_running_loop().run_in_executor(self._read_thread, run)

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()
        await asyncio.get_running_loop().run_in_executor(self._read_thread, self.read_conn.close)
        self._read_thread.shutdown(wait=True)
