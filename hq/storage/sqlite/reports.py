"""Sales at HQ on SQLite: each sale once, and the per-day aggregates reports read
(never a scan of raw entries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hq.plan import ReturnRow, SaleRow, TopUpRow
from hq.storage.base import SalesTotals, TopUpTotals
from shared_tables.sql import Connection


def record_sales(conn: Connection, sales: Sequence[SaleRow]) -> None:
    """Each sale under its (origin, id), once, and added to its branch's day. A sale id
    booked already fails the insert (sqlite3.IntegrityError), and with it the day's sum."""
    if not sales:
        return
    conn.executemany(
        "INSERT INTO sales (origin, sale_id, seq, day, total_fen, line_count, cost_fen, salesperson)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (s.origin, s.sale_id, s.seq, s.day, s.total_fen, s.line_count, s.cost_fen, s.salesperson)
            for s in sales
        ],
    )
    conn.executemany(
        "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (branch, day) DO UPDATE SET count = sales_daily.count + excluded.count,"
        " total_fen = sales_daily.total_fen + excluded.total_fen,"
        " cost_fen = sales_daily.cost_fen + excluded.cost_fen",
        _by_day((sale.origin, sale.day, sale.total_fen, sale.cost_fen) for sale in sales),
    )


def _by_day(rows: Iterable[tuple[str, str, int, int]]) -> list[tuple[str, str, int, int, int]]:
    """(branch, day, how many, fen, cost fen) for each branch and day of the (branch,
    day, fen, cost fen) rows. A day's row is only ever added to, so a batch's rows of
    one branch and day are summed first and added as one."""
    days: dict[tuple[str, str], list[int]] = {}
    for branch, day, fen, cost_fen in rows:
        summed = days.setdefault((branch, day), [0, 0, 0])
        summed[0] += 1
        summed[1] += fen
        summed[2] += cost_fen
    return [(branch, day, count, fen, cost) for (branch, day), (count, fen, cost) in days.items()]


def record_returns(conn: Connection, returns: Sequence[ReturnRow]) -> None:
    """Each return under its (origin, id), once, and netted out of its branch's day (a
    day a branch returned goods but sold nothing gets a row of its own)."""
    if not returns:
        return
    conn.executemany(
        "INSERT INTO sale_returns (origin, return_id, seq, day, refund_fen, cost_fen)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(r.origin, r.return_id, r.seq, r.day, r.refund_fen, r.cost_fen) for r in returns],
    )
    conn.executemany(
        "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen, returns, returned_fen,"
        " returned_cost_fen) VALUES (?, ?, 0, 0, 0, ?, ?, ?)"
        " ON CONFLICT (branch, day) DO UPDATE SET returns = sales_daily.returns + excluded.returns,"
        " returned_fen = sales_daily.returned_fen + excluded.returned_fen,"
        " returned_cost_fen = sales_daily.returned_cost_fen + excluded.returned_cost_fen",
        _by_day((row.origin, row.day, row.refund_fen, row.cost_fen) for row in returns),
    )


def sales_totals(
    conn: Connection, branch: str | None, first_day: str = "0000-01-01", last_day: str = "9999-12-31"
) -> SalesTotals:
    """The sales and returns of `branch` (every branch: None) on the UTC days from
    `first_day` to `last_day`, both inclusive (a return counts on its own day)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(total_fen), 0), COALESCE(SUM(cost_fen), 0),"
        " COALESCE(SUM(returns), 0), COALESCE(SUM(returned_fen), 0), COALESCE(SUM(returned_cost_fen), 0)"
        " FROM sales_daily WHERE (CAST(? AS TEXT) IS NULL OR branch = ?) AND day >= ? AND day <= ?",
        (branch, branch, first_day, last_day),
    ).fetchone()
    return SalesTotals(*(int(value) for value in row))


def sales_by_branch(conn: Connection, first_day: str, last_day: str) -> list[tuple[str, SalesTotals]]:
    """Each branch's sales and returns on the UTC days from `first_day` to `last_day`
    inclusive, by branch code; branches with neither are left out."""
    rows = conn.execute(
        "SELECT branch, SUM(count), SUM(total_fen), SUM(cost_fen), SUM(returns), SUM(returned_fen),"
        " SUM(returned_cost_fen) FROM sales_daily WHERE day >= ? AND day <= ?"
        " GROUP BY branch ORDER BY branch",
        (first_day, last_day),
    )
    return [(str(branch), SalesTotals(*(int(value) for value in figures))) for branch, *figures in rows]


def sale_entry(conn: Connection, origin: str, sale_id: str) -> bytes | None:
    """The entry that booked a sale (or a card's sale or change, which HQ books as sales),
    as the branch signed it; None if HQ holds no such sale of `origin`."""
    row = conn.execute(
        "SELECT l.entry FROM sales s JOIN log_entries l ON l.origin = s.origin AND l.seq = s.seq"
        " WHERE s.origin = ? AND s.sale_id = ?",
        (origin, sale_id),
    ).fetchone()
    return None if row is None else bytes(row[0])


def record_top_ups(conn: Connection, top_ups: Sequence[TopUpRow]) -> None:
    """Each top-up, bonus and purchase of uses under its (origin, entry id), once."""
    if top_ups:
        conn.executemany(
            "INSERT INTO top_ups (origin, entry_id, day, kind, card_id, paid_fen, bonus_fen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(t.origin, t.entry_id, t.day, t.kind, t.card_id, t.paid_fen, t.bonus_fen) for t in top_ups],
        )


def top_up_totals(conn: Connection, branch: str | None, first_day: str, last_day: str) -> list[TopUpTotals]:
    """Top-ups by branch, day and kind within [first_day, last_day]: how many payments,
    what was paid, and the bonus given beside it."""
    rows = conn.execute(
        "SELECT origin, day, kind, SUM(CASE WHEN paid_fen > 0 THEN 1 ELSE 0 END), SUM(paid_fen),"
        " SUM(bonus_fen) FROM top_ups WHERE day >= ? AND day <= ? AND (CAST(? AS TEXT) IS NULL OR origin = ?)"
        " GROUP BY origin, day, kind ORDER BY origin, day, kind",
        (first_day, last_day, branch, branch),
    )
    return [TopUpTotals(str(o), str(d), str(k), int(n), int(p), int(b)) for o, d, k, n, p, b in rows]
