"""What every stock document's request shares: its lines of products and
quantities, its warehouse, and the till's Idempotency-Key."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from node import fields
from node.errors import InvalidRequest

MAX_DOCUMENT_LINES = 500  # a full delivery from a supplier; more is a runaway client
MAX_LINE_QTY = 1_000_000


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
