"""Sales at HQ on SQLite: each sale once, and the per-day aggregates reports read
(never a scan of raw entries)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hq.plan import SaleRow
from hq.storage.base import SalesTotals


def record_sales(conn: sqlite3.Connection, sales: Sequence[SaleRow]) -> None:
    """Each sale under its (origin, id), once, and added to its branch's day. A sale id
    booked already fails the insert (sqlite3.IntegrityError), and with it the day's sum."""
    if not sales:
        return
    conn.executemany(
        "INSERT INTO sales (origin, sale_id, seq, day, total_fen, line_count, cost_fen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(s.origin, s.sale_id, s.seq, s.day, s.total_fen, s.line_count, s.cost_fen) for s in sales],
    )
    conn.executemany(
        "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen) VALUES (?, ?, 1, ?, ?)"
        " ON CONFLICT (branch, day) DO UPDATE SET count = count + 1,"
        " total_fen = total_fen + excluded.total_fen, cost_fen = cost_fen + excluded.cost_fen",
        [(s.origin, s.day, s.total_fen, s.cost_fen) for s in sales],
    )


def sales_totals(conn: sqlite3.Connection, branch: str | None) -> SalesTotals:
    row = conn.execute(
        "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(total_fen), 0), COALESCE(SUM(cost_fen), 0)"
        " FROM sales_daily WHERE ? IS NULL OR branch = ?",
        (branch, branch),
    ).fetchone()
    return SalesTotals(int(row[0]), int(row[1]), int(row[2]))
