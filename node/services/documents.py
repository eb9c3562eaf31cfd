"""What every stock document's request shares: its lines of products and
quantities, its warehouse, and the till's Idempotency-Key; and how a document
is read back as JSON-ready dicts."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from node.errors import InvalidRequest, NotFound
from node.services import fields
from protocol import limits

# A stock document is bounded where the wire contract bounds it (protocol.limits).
MAX_DOCUMENT_LINES = limits.MAX_DOCUMENT_LINES
MAX_LINE_QTY = limits.MAX_DOCUMENT_LINE_QTY


class ItemLine(NamedTuple):
    sku: str
    qty: int
    unit_cost_fen: int | None = None  # purchasing lines may name their price


def item_lines(
    body: dict[str, Any],
    name: str = "lines",
    *,
    cost: bool = False,
    minimum_qty: int = 1,
    qty_field: str = "qty",
) -> list[ItemLine]:
    """Lines of {sku, qty} (and `unit_cost_fen` when `cost`); each product at most once."""
    lines: list[ItemLine] = []
    allowed = {"sku", qty_field} | ({"unit_cost_fen"} if cost else set())
    for number, line in enumerate(fields.items(body.get(name), name, maximum=MAX_DOCUMENT_LINES)):
        where = f"{name}[{number}]"
        extra = set(line) - allowed
        if extra:
            raise InvalidRequest(f"{where} has unknown fields {', '.join(sorted(extra))}")
        sku = fields.text(line, "sku")
        qty = fields.integer(
            line.get(qty_field), f"{where}.{qty_field}", minimum=minimum_qty, maximum=MAX_LINE_QTY
        )
        unit = None
        if cost and line.get("unit_cost_fen") is not None:
            unit = fields.amount_fen(line["unit_cost_fen"], f"{where}.unit_cost_fen")
        lines.append(ItemLine(str(sku), qty, unit))
    skus = [line.sku for line in lines]
    if len(set(skus)) < len(skus):
        raise InvalidRequest(f"each product appears once in {name}; merge the lines of the same sku")
    return lines


def only_fields(body: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise InvalidRequest(f"unknown {what} fields: {', '.join(sorted(unknown))}")


def replayed(conn: sqlite3.Connection, table: str, request_key: str | None) -> str | None:
    """The id of the document this Idempotency-Key already booked, if any."""
    if request_key is None:
        return None
    row = conn.execute(f"SELECT id FROM {table} WHERE request_key = ?", (request_key,)).fetchone()
    return None if row is None else str(row[0])


def rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Every row of a query as a dict keyed by its column names, in the query's order."""
    cursor = conn.execute(sql, args)
    names = _names(cursor)
    return [dict(zip(names, row, strict=True)) for row in cursor]


def one(conn: sqlite3.Connection, sql: str, args: Sequence[Any], missing: str) -> dict[str, Any]:
    """The query's first row as a dict keyed by its column names; NotFound(missing) if none."""
    cursor = conn.execute(sql, args)
    row = cursor.fetchone()
    if row is None:
        raise NotFound(missing)
    return dict(zip(_names(cursor), row, strict=True))


def _names(cursor: sqlite3.Cursor) -> list[str]:
    return [column[0] for column in cursor.description]


def where_equal(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """A WHERE clause (empty if none applies) asking each column whose value is not
    None to equal it, and its arguments. The columns are the caller's, never input."""
    named = {column: value for column, value in filters.items() if value is not None}
    if not named:
        return "", []
    return f"WHERE {' AND '.join(f'{column} = ?' for column in named)}", list(named.values())
