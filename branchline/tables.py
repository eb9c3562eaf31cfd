"""How operator commands print: rich tables whose cells fold rather than cut, and
amounts in yuan from integer fen."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table


def titled(title: str | None, columns: Iterable[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def cell(value: Any) -> str:
    """A table cell: empty for a field that is not set."""
    return "" if value is None else str(value)


def yuan(fen: int | None) -> str:
    """12345 -> "123.45"; never through a float."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"
