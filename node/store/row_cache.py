"""Rows the writer's jobs keep in memory, undone exactly as SQLite undoes them.

The writer's connection is the only one that writes, so a row it has read or
written is known without asking SQLite again, provided every write of that row
goes through the cache and every rollback undoes the cache too. A value is put
after its SQL write succeeded; each put keeps the value it replaced on the
job's undo list, which joins the group's when the job's savepoint is released
and is dropped when the group commits. A job rolled back to its savepoint
undoes its own puts, newest first; a group rolled back undoes all of them. A
value read from SQLite needs no undo: it is what the transaction holds, and a
rollback leaves it so.

The cache writes through: SQLite always holds every row, so reads elsewhere
(the read threads, a report) never depend on it. Keys start with the table's
name; a table is cached only by the one module that writes it: the stock rows'
cost state (node.services.stock_ledger) and the products (node.services.catalogue),
both read by every sale, and the employees a sale is credited to (node.services.employees).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable
from typing import Any, Final

from protocol.errors import require

# A branch holds a few thousand products in a few warehouses; beyond this many
# rows the cache is emptied between groups rather than grow without bound.
MAX_CACHED_ROWS = 100_000

ABSENT: Final = object()  # a key the cache does not hold (None is a value)


class RowCache:
    """Key to value, with the writer's job and group undone as SQLite undoes them."""

    __slots__ = ("_group_undo", "_job_undo", "_rows", "max_rows")

    def __init__(self, max_rows: int = MAX_CACHED_ROWS) -> None:
        self._rows: dict[Hashable, Any] = {}
        self._job_undo: list[tuple[Hashable, Any]] = []
        self._group_undo: list[tuple[Hashable, Any]] = []
        self.max_rows = max_rows

    def get(self, key: Hashable) -> Any:
        """The value held for `key`, or ABSENT."""
        return self._rows.get(key, ABSENT)

    def remember(self, key: Hashable, value: Any) -> None:
        """A value just read from SQLite inside the transaction: held without undo."""
        self._rows[key] = value

    def put(self, key: Hashable, value: Any) -> None:
        """A value the job has just written to SQLite: undone if the job or group is."""
        rows = self._rows
        self._job_undo.append((key, rows.get(key, ABSENT)))
        rows[key] = value

    def drop(self, key: Hashable) -> None:
        """The job has just written `key` to SQLite (or a write of it failed part way)
        without saying what it holds now: SQLite is asked next time. Undone like a put."""
        self._job_undo.append((key, self._rows.pop(key, ABSENT)))

    def __len__(self) -> int:
        return len(self._rows)

    # -- the writer's transaction, step by step -------------------------------------

    def job_kept(self) -> None:
        """The job's savepoint was released: its puts belong to the group now."""
        if self._job_undo:
            self._group_undo.extend(self._job_undo)
            self._job_undo.clear()

    def job_undone(self) -> None:
        """The job was rolled back to its savepoint."""
        _undo(self._rows, self._job_undo)

    def group_committed(self) -> None:
        require(not self._job_undo, "a group commits only between jobs")
        self._group_undo.clear()
        if len(self._rows) > self.max_rows:
            self._rows.clear()

    def group_undone(self) -> None:
        """The group's transaction was rolled back (or never committed)."""
        _undo(self._rows, self._job_undo)
        _undo(self._rows, self._group_undo)


def _undo(rows: dict[Hashable, Any], undo: list[tuple[Hashable, Any]]) -> None:
    for key, before in reversed(undo):
        if before is ABSENT:
            rows.pop(key, None)
        else:
            rows[key] = before
    undo.clear()


class WriterConnection(sqlite3.Connection):
    """The writer's connection, carrying the rows its jobs keep in memory."""

    rows: RowCache

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = RowCache()


def rows_of(conn: sqlite3.Connection) -> RowCache | None:
    """The writer's cache if `conn` is the writer's connection; None for any other
    (a test's plain connection), which then reads SQLite every time."""
    return conn.rows if isinstance(conn, WriterConnection) else None
