"""Opening a branch's store: migrations, the group-commit writer, a reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from node import schema
from node.changelog import LogHead, LogWriter, read_head
from node.writer import Writer


@dataclass
class Store:
    path: Path
    writer: Writer
    reader: aiosqlite.Connection

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
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()

    async def sync_value(self, key: str, default: int | bytes) -> int | bytes:
        async with self.reader.execute("SELECT value FROM sync_state WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return default if row is None else row[0]
