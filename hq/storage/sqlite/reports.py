"""Sales at HQ on SQLite: each sale once, and the per-day aggregates reports read
(never a scan of raw entries)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from hq.plan import CardSaleRow, MemberJoin, PointsRow, ReturnRow, SaleRow, TopUpRow, plan_entries
from hq.storage.base import LiveSale, ReportLine, SalesTotals, TopUpTotals
from protocol.business_day import DEFAULT
from protocol.entry import decode_entry
from shared_tables.sql import Connection

Key = TypeVar("Key", bound=tuple[str, ...])


def record_sales(conn: Connection, sales: Sequence[SaleRow]) -> None:
    """Each sale under its (origin, id), once, and added to its branch's day. A sale id
    booked already fails the insert (sqlite3.IntegrityError), and with it the day's sum."""
    if not sales:
        return
    conn.executemany(
        "INSERT INTO sales (origin, sale_id, seq, day, total_fen, line_count, cost_fen, salesperson, at_ms,"
        " member_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                s.origin,
                s.sale_id,
                s.seq,
                s.day,
                s.total_fen,
                s.line_count,
                s.cost_fen,
                s.salesperson,
                s.at_ms,
                s.member_id,
            )
            for s in sales
        ],
    )
    conn.executemany(
        "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (branch, day) DO UPDATE SET count = sales_daily.count + excluded.count,"
        " total_fen = sales_daily.total_fen + excluded.total_fen,"
        " cost_fen = sales_daily.cost_fen + excluded.cost_fen",
        _by_day(((sale.origin, sale.day), sale.total_fen, sale.cost_fen) for sale in sales),
    )
    conn.executemany(
        "INSERT INTO salesperson_daily (branch, day, salesperson, count, total_fen, cost_fen, returns,"
        " returned_fen, returned_cost_fen) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0)"
        " ON CONFLICT (day, branch, salesperson) DO UPDATE"
        " SET count = salesperson_daily.count + excluded.count,"
        " total_fen = salesperson_daily.total_fen + excluded.total_fen,"
        " cost_fen = salesperson_daily.cost_fen + excluded.cost_fen",
        [
            (branch, day, salesperson, count, fen, cost)
            for (branch, day, salesperson), (count, fen, cost) in _summed(
                ((s.origin, s.day, s.salesperson or ""), s.total_fen, s.cost_fen) for s in sales
            ).items()
        ],
    )
    members = _summed(
        ((s.origin, s.day, s.member_id), s.total_fen, s.cost_fen) for s in sales if s.member_id is not None
    )
    if members:
        # Under the level the member holds as HQ books the sale.
        conn.executemany(
            "INSERT INTO member_daily (branch, day, member_id, level, count, total_fen, cost_fen, returns,"
            " returned_fen, returned_cost_fen)"
            " SELECT ?, ?, ?, COALESCE((SELECT level FROM member_levels WHERE member_id = ?), ''), ?, ?, ?,"
            " 0, 0, 0 WHERE true ON CONFLICT (day, branch, member_id, level) DO UPDATE"
            " SET count = member_daily.count + excluded.count,"
            " total_fen = member_daily.total_fen + excluded.total_fen,"
            " cost_fen = member_daily.cost_fen + excluded.cost_fen",
            [
                (branch, day, member, member, count, fen, cost)
                for (branch, day, member), (count, fen, cost) in members.items()
            ],
        )
    _record_goods(
        conn,
        [
            ((sale.origin, sale.day, line.sku), (line.qty, line.amount_fen, line.cost_fen, 0, 0, 0))
            for sale in sales
            for line in sale.lines
        ],
    )


def _summed(rows: Iterable[tuple[Key, int, int]]) -> dict[Key, list[int]]:
    """How many rows, their fen and their cost fen, by key."""
    sums: dict[Key, list[int]] = {}
    for key, fen, cost_fen in rows:
        summed = sums.setdefault(key, [0, 0, 0])
        summed[0] += 1
        summed[1] += fen
        summed[2] += cost_fen
    return sums


def _record_goods(conn: Connection, rows: Iterable[tuple[tuple[str, str, str], tuple[int, ...]]]) -> None:
    """Add (branch, day, sku) -> (qty, fen, cost fen, returned qty, returned fen, returned
    cost fen) to the goods by day; a batch's rows of one key are summed first."""
    goods: dict[tuple[str, str, str], list[int]] = {}
    for key, figures in rows:
        summed = goods.setdefault(key, [0] * 6)
        for i, figure in enumerate(figures):
            summed[i] += figure
    if goods:
        conn.executemany(
            "INSERT INTO product_daily (branch, day, sku, qty, amount_fen, cost_fen, returned_qty,"
            " returned_fen, returned_cost_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (day, branch, sku) DO UPDATE SET qty = product_daily.qty + excluded.qty,"
            " amount_fen = product_daily.amount_fen + excluded.amount_fen,"
            " cost_fen = product_daily.cost_fen + excluded.cost_fen,"
            " returned_qty = product_daily.returned_qty + excluded.returned_qty,"
            " returned_fen = product_daily.returned_fen + excluded.returned_fen,"
            " returned_cost_fen = product_daily.returned_cost_fen + excluded.returned_cost_fen",
            [(*key, *figures) for key, figures in goods.items()],
        )


def _by_day(rows: Iterable[tuple[tuple[str, str], int, int]]) -> list[tuple[str, str, int, int, int]]:
    """(branch, day, how many, fen, cost fen) for each branch and day of the ((branch,
    day), fen, cost fen) rows. A day's row is only ever added to, so a batch's rows of
    one branch and day are summed first and added as one."""
    return [(branch, day, count, fen, cost) for (branch, day), (count, fen, cost) in _summed(rows).items()]


def record_returns(conn: Connection, returns: Sequence[ReturnRow]) -> None:
    """Each return under its (origin, id), once, and netted out of its branch's day (a
    day a branch returned goods but sold nothing gets a row of its own)."""
    if not returns:
        return
    conn.executemany(
        "INSERT INTO sale_returns (origin, return_id, seq, day, refund_fen, cost_fen, at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(r.origin, r.return_id, r.seq, r.day, r.refund_fen, r.cost_fen, r.at_ms) for r in returns],
    )
    conn.executemany(
        "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen, returns, returned_fen,"
        " returned_cost_fen) VALUES (?, ?, 0, 0, 0, ?, ?, ?)"
        " ON CONFLICT (branch, day) DO UPDATE SET returns = sales_daily.returns + excluded.returns,"
        " returned_fen = sales_daily.returned_fen + excluded.returned_fen,"
        " returned_cost_fen = sales_daily.returned_cost_fen + excluded.returned_cost_fen",
        _by_day(((row.origin, row.day), row.refund_fen, row.cost_fen) for row in returns),
    )
    # Netted from the salesperson the sale was credited to (none, if HQ holds no such
    # sale of the branch), on the day of the return.
    conn.executemany(
        "INSERT INTO salesperson_daily (branch, day, salesperson, count, total_fen, cost_fen, returns,"
        " returned_fen, returned_cost_fen)"
        " SELECT ?, ?, COALESCE((SELECT salesperson FROM sales WHERE origin = ? AND sale_id = ?), ''),"
        " 0, 0, 0, 1, ?, ? WHERE true"
        " ON CONFLICT (day, branch, salesperson) DO UPDATE"
        " SET returns = salesperson_daily.returns + excluded.returns,"
        " returned_fen = salesperson_daily.returned_fen + excluded.returned_fen,"
        " returned_cost_fen = salesperson_daily.returned_cost_fen + excluded.returned_cost_fen",
        [(r.origin, r.day, r.origin, r.sale_id, r.refund_fen, r.cost_fen) for r in returns],
    )
    # Netted from the member the sale was made to, under the level they hold now.
    conn.executemany(
        "INSERT INTO member_daily (branch, day, member_id, level, count, total_fen, cost_fen, returns,"
        " returned_fen, returned_cost_fen)"
        " SELECT ?, ?, s.member_id, COALESCE(l.level, ''), 0, 0, 0, 1, ?, ?"
        " FROM sales s LEFT JOIN member_levels l ON l.member_id = s.member_id"
        " WHERE s.origin = ? AND s.sale_id = ? AND s.member_id IS NOT NULL"
        " ON CONFLICT (day, branch, member_id, level) DO UPDATE"
        " SET returns = member_daily.returns + excluded.returns,"
        " returned_fen = member_daily.returned_fen + excluded.returned_fen,"
        " returned_cost_fen = member_daily.returned_cost_fen + excluded.returned_cost_fen",
        [(r.origin, r.day, r.refund_fen, r.cost_fen, r.origin, r.sale_id) for r in returns],
    )
    _record_goods(
        conn,
        [
            ((row.origin, row.day, line.sku), (0, 0, 0, line.qty, line.amount_fen, line.cost_fen))
            for row in returns
            for line in row.lines
        ],
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


_BRANCH = "(CAST(? AS TEXT) IS NULL OR branch = ?)"
JOIN_DIMENSIONS = ("gender", "age_band", "region")  # columns of member_joins_daily
_TOTALS = "SUM(count), SUM(total_fen), SUM(cost_fen), SUM(returns), SUM(returned_fen), SUM(returned_cost_fen)"


def sales_by_day(conn: Connection, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
    """Sales with returns netted on each day of the period that had either, by day."""
    rows = conn.execute(
        f"SELECT day, {_TOTALS} FROM sales_daily WHERE day >= ? AND day <= ? AND {_BRANCH}"
        " GROUP BY day ORDER BY day",
        (first_day, last_day, branch, branch),
    )
    return [ReportLine(str(day), str(day), _totals(figures)) for day, *figures in rows]


def goods_by_product(conn: Connection, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
    """Each product's units (as the lines' count), takings and cost with returns netted,
    by sku, with its name and category as the catalogue has them now."""
    rows = conn.execute(
        "SELECT d.sku, COALESCE(p.name, d.sku), COALESCE(p.category, ''), SUM(d.qty), SUM(d.amount_fen),"
        " SUM(d.cost_fen), SUM(d.returned_qty), SUM(d.returned_fen), SUM(d.returned_cost_fen)"
        " FROM product_daily d LEFT JOIN products p ON p.sku = d.sku"
        f" WHERE d.day >= ? AND d.day <= ? AND {_BRANCH.replace('branch', 'd.branch')}"
        " GROUP BY d.sku, p.name, p.category ORDER BY d.sku",
        (first_day, last_day, branch, branch),
    )
    return [
        ReportLine(str(sku), str(name), _totals(rest), str(category)) for sku, name, category, *rest in rows
    ]


def category_names(conn: Connection) -> dict[str, str]:
    return {str(code): str(name) for code, name in conn.execute("SELECT code, name FROM categories")}


def _totals(figures: Sequence[Any]) -> SalesTotals:
    return SalesTotals(*(int(value) for value in figures))


def live_sales(conn: Connection, origin: str, after_seq: int, up_to_seq: int, limit: int) -> list[LiveSale]:
    """`origin`'s sales and returns booked by its entries after `after_seq` up to
    `up_to_seq`, in its log's order, at most `limit`."""
    rows = conn.execute(
        "SELECT seq, 'sale', sale_id, at_ms, total_fen, cost_fen, salesperson FROM sales"
        " WHERE origin = ? AND seq > ? AND seq <= ?"
        " UNION ALL SELECT seq, 'return', return_id, at_ms, refund_fen, cost_fen, NULL FROM sale_returns"
        " WHERE origin = ? AND seq > ? AND seq <= ? ORDER BY 1 LIMIT ?",
        (origin, after_seq, up_to_seq, origin, after_seq, up_to_seq, limit),
    )
    return [
        LiveSale(origin, int(seq), str(kind), str(sale_id), int(at_ms), int(fen), int(cost), salesperson)
        for seq, kind, sale_id, at_ms, fen, cost, salesperson in rows
    ]


def record_joins(conn: Connection, joins: Sequence[MemberJoin], card_sales: Sequence[CardSaleRow]) -> None:
    """Members registered and cards sold, added to their branch's day."""
    counted = Counter((j.origin, j.day, j.salesperson, j.gender, j.age_band, j.region) for j in joins)
    if counted:
        conn.executemany(
            "INSERT INTO member_joins_daily (branch, day, salesperson, gender, age_band, region, joined)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (day, branch, salesperson, gender, age_band, region) DO UPDATE"
            " SET joined = member_joins_daily.joined + excluded.joined",
            [(*key, joined) for key, joined in counted.items()],
        )
    referred = Counter((j.origin, j.day, j.referrer) for j in joins if j.referrer)
    if referred:
        conn.executemany(
            "INSERT INTO referrals_daily (branch, day, referrer, referred) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (day, branch, referrer) DO UPDATE"
            " SET referred = referrals_daily.referred + excluded.referred",
            [(*key, count) for key, count in referred.items()],
        )
    cards = _summed(((sale.origin, sale.day, sale.card_type), sale.price_fen, 0) for sale in card_sales)
    if cards:
        conn.executemany(
            "INSERT INTO card_sales_daily (branch, day, card_type, cards, price_fen) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (day, branch, card_type) DO UPDATE"
            " SET cards = card_sales_daily.cards + excluded.cards,"
            " price_fen = card_sales_daily.price_fen + excluded.price_fen",
            [(*key, count, fen) for key, (count, fen, _) in cards.items()],
        )


def joins_by_day(
    conn: Connection, branch: str | None, first_day: str, last_day: str
) -> list[tuple[str, int]]:
    rows = conn.execute(
        f"SELECT day, SUM(joined) FROM member_joins_daily WHERE day >= ? AND day <= ? AND {_BRANCH}"
        " GROUP BY day ORDER BY day",
        (first_day, last_day, branch, branch),
    )
    return [(str(day), int(joined)) for day, joined in rows]


def record_points(conn: Connection, points: Sequence[PointsRow]) -> None:
    """Points movements added to their branch's day, by kind."""
    moved: dict[tuple[str, str, str], int] = {}
    for row in points:
        key = (row.origin, row.day, row.kind)
        moved[key] = moved.get(key, 0) + row.points
    if moved:
        conn.executemany(
            "INSERT INTO points_daily (branch, day, kind, points) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (day, branch, kind) DO UPDATE SET points = points_daily.points + excluded.points",
            [(*key, total) for key, total in moved.items()],
        )


def points_by_kind(conn: Connection, branch: str | None, first_day: str, last_day: str) -> dict[str, int]:
    """Points moved over the days by kind, signed as the ledger signs them."""
    rows = conn.execute(
        f"SELECT kind, SUM(points) FROM points_daily WHERE day >= ? AND day <= ? AND {_BRANCH} GROUP BY kind",
        (first_day, last_day, branch, branch),
    )
    return {str(kind): int(points) for kind, points in rows}


def joins_by(
    conn: Connection, dimension: str, branch: str | None, first_day: str, last_day: str
) -> list[tuple[str, int]]:
    """Members registered by gender, age band or region ('' where not given), most first."""
    if dimension not in JOIN_DIMENSIONS:
        raise ValueError(f"no members' dimension {dimension!r}")
    rows = conn.execute(
        f"SELECT {dimension}, SUM(joined) FROM member_joins_daily WHERE day >= ? AND day <= ? AND {_BRANCH}"
        f" GROUP BY {dimension} ORDER BY SUM(joined) DESC, {dimension}",
        (first_day, last_day, branch, branch),
    )
    return [(str(key), int(joined)) for key, joined in rows]


def referrals(
    conn: Connection, branch: str | None, first_day: str, last_day: str, limit: int
) -> list[tuple[str, str, int]]:
    """(referrer, name, members they referred), the most first."""
    rows = conn.execute(
        "SELECT r.referrer, COALESCE(m.name, r.referrer), SUM(r.referred) FROM referrals_daily r"
        " LEFT JOIN members m ON m.id = r.referrer"
        f" WHERE r.day >= ? AND r.day <= ? AND {_BRANCH.replace('branch', 'r.branch')}"
        " GROUP BY r.referrer, m.name ORDER BY SUM(r.referred) DESC, r.referrer LIMIT ?",
        (first_day, last_day, branch, branch, limit),
    )
    return [(str(code), str(name), int(count)) for code, name, count in rows]


def joins_by_salesperson(
    conn: Connection, branch: str | None, first_day: str, last_day: str
) -> list[tuple[str, str, int]]:
    """(employee code, name where HQ knows it, members registered), most first."""
    rows = conn.execute(
        "SELECT d.salesperson, COALESCE(e.name, d.salesperson), SUM(d.joined) FROM member_joins_daily d"
        " LEFT JOIN employees e ON e.code = d.salesperson"
        f" WHERE d.day >= ? AND d.day <= ? AND {_BRANCH.replace('branch', 'd.branch')}"
        " GROUP BY d.salesperson, e.name ORDER BY SUM(d.joined) DESC, d.salesperson",
        (first_day, last_day, branch, branch),
    )
    return [(str(code), str(name), int(joined)) for code, name, joined in rows]


def cards_by_type(
    conn: Connection, branch: str | None, first_day: str, last_day: str
) -> list[tuple[str, str, int, int]]:
    """(card type, its name, cards sold, their price in fen), most sold first."""
    rows = conn.execute(
        "SELECT d.card_type, COALESCE(t.name, d.card_type), SUM(d.cards), SUM(d.price_fen)"
        " FROM card_sales_daily d LEFT JOIN card_types t ON t.code = d.card_type"
        f" WHERE d.day >= ? AND d.day <= ? AND {_BRANCH.replace('branch', 'd.branch')}"
        " GROUP BY d.card_type, t.name ORDER BY SUM(d.cards) DESC, d.card_type",
        (first_day, last_day, branch, branch),
    )
    return [(str(code), str(name), int(cards), int(fen)) for code, name, cards, fen in rows]


# Every table the reports read that ingest derives from the branches' entries alone.
REPORT_TABLES = (
    "points_daily",
    "referrals_daily",
    "sales",
    "sale_returns",
    "sales_daily",
    "product_daily",
    "salesperson_daily",
    "member_daily",
    "member_joins_daily",
    "card_sales_daily",
)
REBUILD_PAGE = 2_000


def rebuild(conn: Connection) -> int:
    """Derive the report tables afresh from the entries HQ holds, branch by branch in
    log order, as ingest would have (an upgrade's new aggregates, for the entries taken
    in before it); the entries replayed. Entries whose effects were set aside stay out;
    nothing but the report tables is touched. A member's sales are filed under the
    level the member holds now."""
    for table in REPORT_TABLES:
        conn.execute(f"DELETE FROM {table}")  # the names are the constant above
    set_aside = {(str(o), int(s)) for o, s in conn.execute("SELECT origin, seq FROM effect_quarantine")}
    replayed = 0
    for (origin,) in conn.execute("SELECT code FROM nodes ORDER BY code").fetchall():
        days, after = DEFAULT, 0
        while rows := conn.execute(
            "SELECT seq, entry FROM log_entries WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?",
            (origin, after, REBUILD_PAGE),
        ).fetchall():
            entries = [decode_entry(bytes(raw)) for seq, raw in rows if (origin, int(seq)) not in set_aside]
            plan = plan_entries(entries, days)
            days = plan.days
            record_sales(conn, plan.sales)
            record_returns(conn, plan.returns)
            record_joins(conn, plan.joins, plan.card_sales)
            record_points(conn, plan.points)
            replayed += len(entries)
            after = int(rows[-1][0])
    return replayed


def sales_by_salesperson(
    conn: Connection, branch: str | None, first_day: str, last_day: str
) -> list[ReportLine]:
    """Sales with returns netted by the employee each sale was credited to ('' for none),
    with the employee's name where HQ knows it."""
    return _lines_by(
        conn, "salesperson_daily", "salesperson", ("employees", "code"), branch, first_day, last_day
    )


def sales_by_member(conn: Connection, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
    """Members' sales with returns netted, by member, with the member's name."""
    return _lines_by(conn, "member_daily", "member_id", ("members", "id"), branch, first_day, last_day)


def sales_by_level(conn: Connection, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
    """Members' sales with returns netted, by the level the member held ('' for none)."""
    return _lines_by(conn, "member_daily", "level", ("levels", "code"), branch, first_day, last_day)


def _lines_by(
    conn: Connection,
    table: str,
    key: str,
    names: tuple[str, str] | None,
    branch: str | None,
    first_day: str,
    last_day: str,
    only: tuple[str, str] | None = None,
) -> list[ReportLine]:
    """A daily table's figures summed by its `key` column over the days, named from the
    `names` table (and its key column) where it knows them; with `only`, of the rows
    whose column holds the value. Table and column names are the callers' constants,
    never a request's; values are parameters."""
    totals = _TOTALS.replace("SUM(", "SUM(d.")
    name = "d." + key if names is None else f"COALESCE(n.name, d.{key})"
    join = "" if names is None else f" LEFT JOIN {names[0]} n ON n.{names[1]} = d.{key}"
    where = "" if only is None else f" AND d.{only[0]} = ?"
    rows = conn.execute(
        f"SELECT d.{key}, {name}, {totals} FROM {table} d{join}"
        f" WHERE d.day >= ? AND d.day <= ? AND {_BRANCH.replace('branch', 'd.branch')}{where}"
        f" GROUP BY d.{key}{'' if names is None else ', n.name'} ORDER BY d.{key}",
        (first_day, last_day, branch, branch, *(() if only is None else (only[1],))),
    )
    return [ReportLine(str(code), str(label), _totals(figures)) for code, label, *figures in rows]


# What the sales report may be narrowed to one salesperson or one member level by: the
# daily table holding that column, and the groupings it can give (with their names).
NARROWED_BY = {
    "salesperson": (
        "salesperson_daily",
        {"day": None, "branch": None, "salesperson": ("employees", "code")},
    ),
    "level": (
        "member_daily",
        {"day": None, "branch": None, "member_id": ("members", "id"), "level": ("levels", "code")},
    ),
}


def narrowed_lines(
    conn: Connection,
    column: str,
    value: str,
    grouping: str,
    branch: str | None,
    first_day: str,
    last_day: str,
) -> list[ReportLine]:
    """The report's lines of one salesperson's or one member level's sales (`column`
    `value`), grouped by `grouping` (day, branch, salesperson; or day, branch,
    member_id, level)."""
    table, groupings = NARROWED_BY[column]
    return _lines_by(conn, table, grouping, groupings[grouping], branch, first_day, last_day, (column, value))
