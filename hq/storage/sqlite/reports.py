"""Sales at HQ on SQLite: each sale once, and the per-day aggregates reports read
(never a scan of raw entries)."""

from __future__ import annotations

from collections.abc import Sequence

from hq.plan import SaleRow
from hq.storage.base import SalesTotals
from shared_tables.sql import Connection


def record_sales(conn: Connection, sales: Sequence[SaleRow]) -> None:
    """Each sale under its (origin, id), once, and added to its branch's day. A sale id
    booked already fails the insert (sqlite3.IntegrityError), and with it the day's sum."""
    if not sales:
        return
    conn.executemany(
        "INSERT INTO sales (origin, sale_id, seq, day, total_fen, line_count, cost_fen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(s.origin, s.sale_id, s.seq, s.day, s.total_fen, s.line_count, s.cost_fen) for s in sales],
    )
    # A day's row is only ever added to, so the batch's sales of one branch and day
    # are summed first and added as one.
    days: dict[tuple[str, str], list[int]] = {}
    for sale in sales:
        day = days.get((sale.origin, sale.day))
        if day is None:
            days[sale.origin, sale.day] = [1, sale.total_fen, sale.cost_fen]
        else:
            day[0] += 1
            day[1] += sale.total_fen
            day[2] += sale.cost_fen
    conn.executemany(
        "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (branch, day) DO UPDATE SET count = sales_daily.count + excluded.count,"
        " total_fen = sales_daily.total_fen + excluded.total_fen,"
        " cost_fen = sales_daily.cost_fen + excluded.cost_fen",
        [(branch, day, count, total, cost) for (branch, day), (count, total, cost) in days.items()],
    )


def sales_totals(conn: Connection, branch: str | None) -> SalesTotals:
    row = conn.execute(
        "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(total_fen), 0), COALESCE(SUM(cost_fen), 0)"
        " FROM sales_daily WHERE CAST(? AS TEXT) IS NULL OR branch = ?",
        (branch, branch),
    ).fetchone()
    return SalesTotals(int(row[0]), int(row[1]), int(row[2]))
