"""Members' sales at HQ on SQLite (and, unchanged, PostgreSQL): each sale that names a
member once, with its items and tenders, its returns added to the same rows; and a
member's figures read back branch by branch (hq.member_stats decides the rest)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from hq.member_stats import BranchPurchases, MemberPurchases, MemberReturn, MemberSale
from shared_tables import directory_store
from shared_tables.sql import Connection

SQL_CHUNK = directory_store.SQL_CHUNK  # ids per IN (...), under both engines' bounds


def record(conn: Connection, purchases: Sequence[MemberSale | MemberReturn]) -> None:
    """The batch's member sales, then its returns (a return comes after its sale in the
    log, in this batch or an earlier one). A sale booked already fails the insert, as
    its row in `sales` does (hq.storage.sqlite.reports)."""
    sales = [p for p in purchases if isinstance(p, MemberSale)]
    returns = [p for p in purchases if isinstance(p, MemberReturn)]
    if sales:
        conn.executemany(
            "INSERT INTO member_sales (origin, sale_id, member_id, at_ms, day, total_fen)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(s.origin, s.sale_id, s.member_id, s.at_ms, s.day, s.total_fen) for s in sales],
        )
        conn.executemany(
            "INSERT INTO member_sale_items (origin, sale_id, sku, qty, amount_fen) VALUES (?, ?, ?, ?, ?)",
            [(s.origin, s.sale_id, sku, qty, fen) for s in sales for sku, qty, fen in s.items],
        )
        conn.executemany(
            "INSERT INTO member_sale_tenders (origin, sale_id, kind, paid_fen) VALUES (?, ?, ?, ?)",
            [(s.origin, s.sale_id, kind, fen) for s in sales for kind, fen in s.paid],
        )
    if returns:
        # A return of a sale that named no member matches no row: nothing to add to.
        conn.executemany(
            "UPDATE member_sales SET returns_count = returns_count + 1, refund_fen = refund_fen + ?"
            " WHERE origin = ? AND sale_id = ?",
            [(r.refund_fen, r.origin, r.sale_id) for r in returns],
        )
        conn.executemany(
            "UPDATE member_sale_items SET returned_qty = returned_qty + ?, returned_fen = returned_fen + ?"
            " WHERE origin = ? AND sale_id = ? AND sku = ?",
            [(qty, fen, r.origin, r.sale_id, sku) for r in returns for sku, qty, fen in r.items],
        )
        conn.executemany(
            "UPDATE member_sale_tenders SET refunded_fen = refunded_fen + ?"
            " WHERE origin = ? AND sale_id = ? AND kind = ?",
            [(fen, r.origin, r.sale_id, kind) for r in returns for kind, fen in r.refunded],
        )


def member_purchases(
    conn: Connection, looked_up_as: str, start_ms: int, end_ms: int, branch: str | None
) -> MemberPurchases | None:
    """The member's sales made in [start_ms, end_ms), at `branch` or every branch, under
    every id of its duplicate group; None for a member HQ does not know."""
    members = _members_of(conn, looked_up_as)
    if members is None:
        return None
    by_branch: dict[str, BranchPurchases] = {}

    def of(origin: str) -> BranchPurchases:
        return by_branch.setdefault(origin, BranchPurchases(origin))

    window = (start_ms, end_ms, branch, branch)
    where = " AND s.at_ms >= ? AND s.at_ms < ? AND (CAST(? AS TEXT) IS NULL OR s.origin = ?)"
    for marks, chunk in _chunks(members):
        # By branch and day: a member's days are few, and the days visited are what is counted.
        for origin, day, count, total, returns, refund, last in conn.execute(
            "SELECT s.origin, s.day, COUNT(*), SUM(s.total_fen), SUM(s.returns_count), SUM(s.refund_fen),"
            f" MAX(s.at_ms) FROM member_sales s WHERE s.member_id IN ({marks}){where}"
            " GROUP BY s.origin, s.day",
            (*chunk, *window),
        ):
            found = of(origin)
            found.sales_count += int(count)
            found.total_fen += int(total)
            found.returns_count += int(returns)
            found.refund_fen += int(refund)
            found.days.add(str(day))
            found.last_at_ms = max(found.last_at_ms or 0, int(last))
        for origin, sku, qty, fen, returned_qty, returned_fen in conn.execute(
            "SELECT s.origin, i.sku, SUM(i.qty), SUM(i.amount_fen), SUM(i.returned_qty), SUM(i.returned_fen)"
            " FROM member_sales s JOIN member_sale_items i ON i.origin = s.origin AND i.sale_id = s.sale_id"
            f" WHERE s.member_id IN ({marks}){where} GROUP BY s.origin, i.sku",
            (*chunk, *window),
        ):
            held = of(origin).items.setdefault(str(sku), [0, 0, 0, 0])
            for n, figure in enumerate((qty, fen, returned_qty, returned_fen)):
                held[n] += int(figure)
        for origin, kind, paid, refunded in conn.execute(
            "SELECT s.origin, t.kind, SUM(t.paid_fen), SUM(t.refunded_fen)"
            " FROM member_sales s JOIN member_sale_tenders t ON t.origin = s.origin AND t.sale_id = s.sale_id"
            f" WHERE s.member_id IN ({marks}){where} GROUP BY s.origin, t.kind",
            (*chunk, *window),
        ):
            found = of(origin)  # every kind is one the contract names: it checked the sale
            found.paid_fen[kind] += int(paid)
            found.refunded_fen[kind] += int(refunded)
    skus = sorted({sku for found in by_branch.values() for sku in found.items})
    names: dict[str, str] = {}
    for marks, chunk in _chunks(skus):
        names.update(
            (str(sku), str(name))
            for sku, name in conn.execute(f"SELECT sku, name FROM products WHERE sku IN ({marks})", chunk)
        )
    return MemberPurchases(members[0], members[1:], [by_branch[code] for code in sorted(by_branch)], names)


def _members_of(conn: Connection, looked_up_as: str) -> tuple[str, ...] | None:
    """The survivor of the member's duplicate group first, then its aliases: a sale
    names the survivor of when and where it was made, and the group may since have
    grown or come to be led by another registration."""
    group = directory_store.group_of(conn, looked_up_as)
    if looked_up_as in group.registrations:
        return group.members_of(group.survivor(looked_up_as))
    # A member from before the directory kept registrations has a profile only.
    if conn.execute("SELECT 1 FROM members WHERE id = ?", (looked_up_as,)).fetchone() is None:
        return None
    return (looked_up_as,)


def _chunks(ids: Sequence[str]) -> Iterator[tuple[str, Sequence[str]]]:
    for start in range(0, len(ids), SQL_CHUNK):
        chunk = ids[start : start + SQL_CHUNK]
        yield ",".join("?" * len(chunk)), chunk


def lapsed(
    conn: Connection, branch: str | None, before_ms: int, limit: int
) -> list[tuple[str, str, str, int, int]]:
    """Members whose last visit (at `branch`, or anywhere) was before `before_ms`, the
    longest lapsed first: (member, name, home branch, last visit ms, visits)."""
    rows = conn.execute(
        "SELECT s.member_id, COALESCE(m.name, ''), COALESCE(m.home_branch, ''), MAX(s.at_ms), COUNT(*)"
        " FROM member_sales s LEFT JOIN members m ON m.id = s.member_id"
        " WHERE CAST(? AS TEXT) IS NULL OR s.origin = ?"
        " GROUP BY s.member_id, m.name, m.home_branch HAVING MAX(s.at_ms) < ?"
        " ORDER BY MAX(s.at_ms), s.member_id LIMIT ?",
        (branch, branch, before_ms, limit),
    )
    return [(str(a), str(b), str(c), int(d), int(e)) for a, b, c, d, e in rows]


def off_cycle(
    conn: Connection, branch: str | None, now_ms: int, min_visits: int, limit: int
) -> list[tuple[str, str, int, int, int]]:
    """Members with at least `min_visits` visits whose time since the last is over one
    and a half times their usual interval (first to last visit, over the visits less
    one): (member, name, visits, usual interval ms, last visit ms), most overdue first."""
    rows = conn.execute(
        "SELECT s.member_id, COALESCE(m.name, ''), COUNT(*), (MAX(s.at_ms) - MIN(s.at_ms)) / (COUNT(*) - 1),"
        " MAX(s.at_ms) FROM member_sales s LEFT JOIN members m ON m.id = s.member_id"
        " WHERE CAST(? AS TEXT) IS NULL OR s.origin = ?"
        " GROUP BY s.member_id, m.name"
        " HAVING COUNT(*) >= ? AND MAX(s.at_ms) > MIN(s.at_ms)"
        " AND (? - MAX(s.at_ms)) * 2 * (COUNT(*) - 1) > 3 * (MAX(s.at_ms) - MIN(s.at_ms))"
        " ORDER BY (? - MAX(s.at_ms)) * (COUNT(*) - 1) / (MAX(s.at_ms) - MIN(s.at_ms)) DESC, s.member_id"
        " LIMIT ?",
        (branch, branch, max(2, min_visits), now_ms, now_ms, limit),
    )
    return [(str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in rows]
