"""A PostgreSQL connection that HQ's storage modules use as they use sqlite3's.

`execute` and `executemany` take the modules' SQL (translated by `dialect`) and
their parameters, and answer a cursor with `fetchone`, `fetchall`, iteration and
`rowcount`. Each runs on the event loop through `bridge.await_`, so a module's
function must run under `bridge.run_sync`.

Rows come back as tuples. PostgreSQL sums bigints as numeric; a whole number comes
back as int, so money stays integer fen whichever engine summed it. A broken
constraint is raised as sqlite3.IntegrityError, the one the modules catch: it
means the same thing on both engines (the row clashes with one held).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from hq.storage.postgres import dialect
from hq.storage.postgres.bridge import await_

Row = tuple[Any, ...]


class PgCursor:
    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    def fetchall(self) -> list[Row]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


def _value(value: Any) -> Any:
    if type(value) is Decimal and value == value.to_integral_value():
        return int(value)
    return value


def _returns_rows(sql: str) -> bool:
    upper = sql.lstrip().upper()
    return upper.startswith(("SELECT", "WITH", "VALUES")) or " RETURNING " in upper


def _count(status: str) -> int:
    """The rows a command touched, from its status ("INSERT 0 3", "UPDATE 2")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgConnection:
    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PgCursor:
        query = dialect.statement(sql)
        try:
            if _returns_rows(sql):
                records = await_(self.raw.fetch(query, *parameters))
                rows = [tuple(_value(v) for v in record) for record in records]
                return PgCursor(rows, len(rows))
            return PgCursor([], _count(await_(self.raw.execute(query, *parameters))))
        except asyncpg.IntegrityConstraintViolationError as clash:
            raise sqlite3.IntegrityError(str(clash)) from clash

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> PgCursor:
        rows = list(parameters)
        if rows:
            try:
                await_(self.raw.executemany(dialect.statement(sql), rows))
            except asyncpg.IntegrityConstraintViolationError as clash:
                raise sqlite3.IntegrityError(str(clash)) from clash
        return PgCursor([], -1)
