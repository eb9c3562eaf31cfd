"""The daily settlement of a branch (FEATURES F1): for one of the branch's business days,
its sales and their takings by tender, card sales, top-ups and refunds, the cash the
drawer should hold, and the close that records what it did hold.

The figures are read from the branch's own tables. A day is the branch's business day
(protocol.business_day: from node.json's `business_day_starts_at`, midnight unless it
says otherwise, to the same hour the next day, in its `timezone`), so 23 or 25 hours
on a day the clocks change, and a shop open past midnight settles those sales with
the day it opened. A close is the branch's own record: one per day, never
changed, and never in the change log.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from node.errors import DayClosed, InvalidRequest
from node.services import documents, fields
from node.store.writer import Tx
from protocol import limits
from protocol.business_day import BusinessDay
from protocol.errors import require

# Tenders that take a sale's value: cash; stored value (what a card held, released);
# a voucher; credit (charged to the card's line: the member owes it). Those that pay
# with what a card holds, a count card's uses, a time card's admission and the
# member's points, carry their value in fen but are not takings: the card's sale (or
# the sales that earned the points) was. Every tender kind is
# one or the other (a test holds the wire contract's kinds to it).
TAKINGS_TENDERS = ("cash", "stored_value", "voucher", "credit")
CARD_TENDERS = ("uses", "time_card", "points")
# Where a return's refund went (node.services.refunds): in cash, back onto a card's
# stored value or credit line, a voucher's share, not paid out at all, or a service a
# card paid for given back to it (its value in fen). Only cash leaves the drawer.
REFUND_KINDS = ("cash", "stored_value", "credit", "voucher", "uses", "time_card", "points")

# The widest days whose bounds are epoch milliseconds in every zone (UTC-12 to UTC+14)
# and within protocol.limits.MAX_AT_MS.
FIRST_DAY = datetime.date(1970, 1, 2)
LAST_DAY = datetime.date(9999, 12, 30)
# A day as a till writes it: YYYY-MM-DD and nothing else (fromisoformat alone would
# take 20250314 too).
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_NOTE_CHARS = limits.MAX_NOTE_CHARS


def parse_day(text: str) -> datetime.date:
    """A day from a query or a path, or InvalidRequest saying how to write one."""
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"day must be a date as YYYY-MM-DD, like 2025-03-14; not {text[:20]!r}"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidRequest(f"day must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def asked_day(text: str | None, now_ms: int, days: BusinessDay) -> datetime.date:
    """The day a till asks for, or the branch's business day now when it names none."""
    if text is None:
        return days.day_of(now_ms)
    return parse_day(text)


def day_bounds_ms(day: datetime.date, zone: datetime.tzinfo) -> tuple[int, int]:
    """[start, end) of `day` in `zone`, in epoch milliseconds."""
    start = datetime.datetime.combine(day, datetime.time(), zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), zone)
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


class CardTenders(NamedTuple):
    """Tenders of one kind paid with what a card holds: how many, the uses or visits
    they took, and the value of the lines they covered."""

    tenders: int
    qty: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One day's money at one branch, each figure as its tables give it."""

    sales_count: int
    sales_total_fen: int
    cash_tendered_fen: int
    change_fen: int  # change is given in cash only (node.services.checkout)
    non_cash_takings_fen: dict[str, int]  # by TAKINGS_TENDERS kind but cash
    paid_by_cards: dict[str, CardTenders]  # by CARD_TENDERS kind
    card_sales_count: int
    card_sales_price_fen: int
    card_sales_tendered_fen: int
    card_sales_change_fen: int
    top_ups_count: int
    top_ups_fen: int  # paid in cash
    returns_count: int
    refunds_fen: dict[str, int]  # by REFUND_KINDS kind
    payouts_count: int
    payouts_fen: int  # stored value paid back in cash
    repayments_count: int
    repayments_fen: int  # credit repaid in cash

    @property
    def card_sales_cash_fen(self) -> int:
        return self.card_sales_tendered_fen - self.card_sales_change_fen

    @property
    def cash_takings_fen(self) -> int:
        """Sales' cash less the change, and the cards sold (paid in cash)."""
        return self.cash_tendered_fen - self.change_fen + self.card_sales_cash_fen

    @property
    def takings_fen(self) -> int:
        return self.cash_takings_fen + sum(self.non_cash_takings_fen.values())

    @property
    def expected_cash_fen(self) -> int:
        """What the drawer should hold of the day: cash taken for sales and cards, for
        top-ups and credit repaid, less the cash refunded and stored value paid back."""
        return (
            self.cash_takings_fen
            + self.top_ups_fen
            + self.repayments_fen
            - self.refunds_fen["cash"]
            - self.payouts_fen
        )


def day_figures(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> DayFigures:
    """The figures of [start_ms, end_ms), read in the caller's one transaction."""
    window = (start_ms, end_ms)
    sales_count, sales_total, change = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(total_fen), 0), COALESCE(SUM(change_fen), 0) FROM sales"
        " WHERE at_ms >= ? AND at_ms < ?",
        window,
    ).fetchone()
    tendered: dict[str, CardTenders] = {}
    for kind, count, amount, qty in conn.execute(
        "SELECT t.kind, COUNT(*), COALESCE(SUM(t.amount_fen), 0), COALESCE(SUM(t.uses), 0)"
        " FROM sale_tenders t JOIN sales s ON s.id = t.sale_id"
        " WHERE s.at_ms >= ? AND s.at_ms < ? GROUP BY t.kind",
        window,
    ):
        require(
            kind in TAKINGS_TENDERS + CARD_TENDERS,
            f"a sale's tender kind {kind!r} is neither takings nor a card's in the settlement",
        )
        tendered[kind] = CardTenders(int(count), int(qty), int(amount))
    # Cards sold, and cards renewed, replaced or upgraded for a fee: each paid in cash.
    card_count, card_price, card_tendered, card_change = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(price_fen), 0), COALESCE(SUM(tendered_fen), 0),"
        " COALESCE(SUM(change_fen), 0) FROM (SELECT price_fen, tendered_fen, change_fen FROM card_sales"
        " WHERE at_ms >= ? AND at_ms < ? UNION ALL SELECT fee_fen, tendered_fen, change_fen"
        " FROM card_changes WHERE fee_fen > 0 AND at_ms >= ? AND at_ms < ?)",
        window + window,
    ).fetchone()
    top_up_count, top_up_fen = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM top_ups WHERE at_ms >= ? AND at_ms < ?",
        window,
    ).fetchone()
    returns_count, returned_fen = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(refund_fen), 0) FROM sale_returns WHERE at_ms >= ? AND at_ms < ?",
        window,
    ).fetchone()
    payouts_count, payouts_fen = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payouts WHERE at_ms >= ? AND at_ms < ?", window
    ).fetchone()
    repayments_count, repayments_fen = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM credit_moves"
        " WHERE kind = 'repay' AND at_ms >= ? AND at_ms < ?",
        window,
    ).fetchone()
    refunds = dict.fromkeys(REFUND_KINDS, 0)
    for kind, amount in conn.execute(
        "SELECT f.kind, SUM(f.amount_fen) FROM sale_return_refunds f"
        " JOIN sale_returns r ON r.id = f.return_id WHERE r.at_ms >= ? AND r.at_ms < ? GROUP BY f.kind",
        window,
    ):
        require(kind in REFUND_KINDS, f"a return's refund kind {kind!r} is not one the settlement knows")
        refunds[kind] = int(amount)
    # Returns booked before refunds were recorded per tender refunded cash only
    # (node.services.refunds): what they gave back is cash.
    refunds["cash"] += int(returned_fen) - sum(refunds.values())
    none = CardTenders(0, 0, 0)
    figures = DayFigures(
        sales_count=int(sales_count),
        sales_total_fen=int(sales_total),
        cash_tendered_fen=tendered.get("cash", none).amount_fen,
        change_fen=int(change),
        non_cash_takings_fen={
            kind: tendered.get(kind, none).amount_fen for kind in TAKINGS_TENDERS if kind != "cash"
        },
        paid_by_cards={kind: tendered.get(kind, none) for kind in CARD_TENDERS},
        card_sales_count=int(card_count),
        card_sales_price_fen=int(card_price),
        card_sales_tendered_fen=int(card_tendered),
        card_sales_change_fen=int(card_change),
        top_ups_count=int(top_up_count),
        top_ups_fen=int(top_up_fen),
        returns_count=int(returns_count),
        refunds_fen=refunds,
        payouts_count=int(payouts_count),
        payouts_fen=int(payouts_fen),
        repayments_count=int(repayments_count),
        repayments_fen=int(repayments_fen),
    )
    # Each sale's tenders, less its change, are its total; each card sale's cash, less
    # its change, its price. A day that breaks either has money in no column.
    paid_fen = sum(tender.amount_fen for tender in tendered.values()) - figures.change_fen
    require(paid_fen == figures.sales_total_fen, "a day's tenders less its change are its sales' total")
    require(
        figures.card_sales_cash_fen == figures.card_sales_price_fen,
        "a day's card sales were paid their price in cash",
    )
    return figures


def settlement(
    conn: sqlite3.Connection, branch: str, day: datetime.date, days: BusinessDay
) -> dict[str, Any]:
    """The business day's settlement as GET /api/settlement answers it, with its close if any."""
    start_ms, end_ms = days.bounds_ms(day)
    figures = day_figures(conn, start_ms, end_ms)
    cards = figures.paid_by_cards
    return {
        "branch": branch,
        "day": day.isoformat(),
        "timezone": days.timezone,
        "day_starts_at": days.starts_at,
        "from_ms": start_ms,
        "to_ms": end_ms,
        "sales": {"count": figures.sales_count, "total_fen": figures.sales_total_fen},
        "takings": {
            "cash_fen": figures.cash_takings_fen,
            **{f"{kind}_fen": amount for kind, amount in figures.non_cash_takings_fen.items()},
            "total_fen": figures.takings_fen,
        },
        "paid_by_cards": {
            **{kind: tenders._asdict() for kind, tenders in cards.items()},
            "total_fen": sum(tenders.amount_fen for tenders in cards.values()),
        },
        "card_sales": {
            "count": figures.card_sales_count,
            "price_fen": figures.card_sales_price_fen,
            "tendered_fen": figures.card_sales_tendered_fen,
            "change_fen": figures.card_sales_change_fen,
        },
        "top_ups": {"count": figures.top_ups_count, "amount_fen": figures.top_ups_fen},
        "payouts": {"count": figures.payouts_count, "amount_fen": figures.payouts_fen},
        "credit_repaid": {"count": figures.repayments_count, "amount_fen": figures.repayments_fen},
        "refunds": {
            "count": figures.returns_count,
            **{f"{kind}_fen": amount for kind, amount in figures.refunds_fen.items()},
            "total_fen": sum(figures.refunds_fen.values()),
        },
        "drawer": {
            "cash_tendered_fen": figures.cash_tendered_fen,
            "change_fen": figures.change_fen,
            "card_sales_cash_fen": figures.card_sales_cash_fen,
            "top_ups_fen": figures.top_ups_fen,
            "credit_repaid_fen": figures.repayments_fen,
            "cash_refunds_fen": figures.refunds_fen["cash"],
            "payouts_fen": figures.payouts_fen,
            "expected_cash_fen": figures.expected_cash_fen,
        },
        "close": day_close(conn, day),
    }


# -- the drawer's close ------------------------------------------------------------------


class DrawerCount(NamedTuple):
    counted_cash_fen: int
    note: str | None


def parse_close(body: dict[str, Any]) -> DrawerCount:
    documents.only_fields(body, {"counted_cash_fen", "note"}, "close")
    if "counted_cash_fen" not in body:
        raise InvalidRequest("counted_cash_fen is required: the cash counted in the drawer, in fen")
    return DrawerCount(
        fields.amount_fen(body["counted_cash_fen"], "counted_cash_fen"),
        fields.note(body.get("note"), "note", MAX_NOTE_CHARS),
    )


_CLOSE_COLUMNS = (
    "expected_cash_fen, counted_cash_fen, difference_fen, note, closed_by, closed_by_login, closed_at_ms"
)


def day_close(conn: sqlite3.Connection, day: datetime.date) -> dict[str, Any] | None:
    """The day's close: what the drawer should have held then, what was counted, and
    the difference (counted less expected: below zero the drawer was short)."""
    found = documents.rows(
        conn, f"SELECT {_CLOSE_COLUMNS} FROM settlement_closes WHERE day = ?", (day.isoformat(),)
    )
    return found[0] if found else None


def close_job(
    branch: str,
    day: datetime.date,
    days: BusinessDay,
    count: DrawerCount,
    login: str,
    request_key: str | None,
) -> Callable[[Tx], dict[str, Any]]:
    """Close the day's drawer once: the expected cash is figured in the close's own
    transaction, so it is what the branch had booked when the count was taken."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        if request_key is not None:
            row = conn.execute(
                "SELECT day FROM settlement_closes WHERE request_key = ?", (request_key,)
            ).fetchone()
            if row is not None:
                closed_day = datetime.date.fromisoformat(row[0])
                return {**settlement(conn, branch, closed_day, days), "replayed": True}
        start_ms, end_ms = days.bounds_ms(day)
        if start_ms > tx.wall_ms:
            raise InvalidRequest(f"{day} has not begun at {branch}; a day is closed once its trading is done")
        held = day_close(conn, day)
        if held is not None:
            raise DayClosed(
                f"{branch}'s drawer for {day} was closed by {held['closed_by_login']} with"
                f" {held['counted_cash_fen']} fen counted; a close is not redone or changed"
            )
        expected_fen = day_figures(conn, start_ms, end_ms).expected_cash_fen
        conn.execute(
            f"INSERT INTO settlement_closes (day, {_CLOSE_COLUMNS}, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                day.isoformat(),
                expected_fen,
                count.counted_cash_fen,
                count.counted_cash_fen - expected_fen,
                count.note,
                tx.actor,
                login,
                tx.wall_ms,
                request_key,
            ),
        )
        return {**settlement(conn, branch, day, days), "replayed": False}

    return job
