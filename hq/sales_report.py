"""The sales report (FEATURES R2, and R5: profit by store, salesperson, product, member
and member level): a period's sales with customers' returns netted, grouped one way,
compared with the period before and the same period a year earlier.

Rules:
1. Figures come from the aggregates HQ keeps at ingest (sales_daily,
   salesperson_daily, product_daily), never from a scan of the entries.
2. A return counts on its own day, against the branch, salesperson and product of
   the goods it gave back: takings go back when the money does.
3. Grouped by day, branch or salesperson, a report counts every sale (a card's sale
   too); grouped by category or product, the goods sold at the till, whose line
   count is units; grouped by member or level, members' sales only (a sale's level
   is the one its member held when HQ booked it). Narrowed to a category or product,
   the goods of it; to a salesperson or a member level, the sales credited to them or
   made to members of it. Its totals and comparisons are of what its lines count.
4. Money stays integer fen; exports write yuan as exact text (CSV) or as fen shown
   with two decimals (XLSX).

No aiohttp here: hq.report_api parses the query and answers with what this computes.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hq.errors import InvalidQuery
from hq.storage.base import HQStore, ReportLine, SalesTotals

PERIOD_KINDS = ("day", "week", "month", "quarter", "year", "custom")
GROUPINGS = ("day", "branch", "category", "product", "salesperson", "member", "level")
# Filters: the goods' (category, product; together or alone) narrow the groupings by
# goods; one salesperson or one member level narrows the groupings its table keeps.
GOODS_FILTERS = ("category", "product")
NARROWERS = {"salesperson": ("day", "branch", "salesperson"), "level": ("day", "branch", "member", "level")}
FILTERS = (*GOODS_FILTERS, *NARROWERS)
# A report's period runs at most a year and a day (a year's comparison, a leap year).
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    kind: str
    first: datetime.date
    last: datetime.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period just before: the month before a month, the quarter before a quarter;
        a custom range's as many days before it."""
        if self.kind in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
            first = _add_months(self.first, -months)
            return Period(self.kind, first, self.first - _DAY)
        return Period(self.kind, self.first - datetime.timedelta(days=self.days), self.first - _DAY)

    def year_earlier(self) -> Period:
        """The same dates a year before (29 February: the 28th)."""
        first = _add_months(self.first, -12)
        last = _add_months(self.last, -12)
        if self.kind in ("month", "quarter", "year"):
            last = _add_months(self.last + _DAY, -12) - _DAY
        return Period(self.kind, first, last)

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "from": self.first.isoformat(), "to": self.last.isoformat()}


_DAY = datetime.timedelta(days=1)


def _add_months(day: datetime.date, months: int) -> datetime.date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return datetime.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def period_of(
    kind: str, anchor: datetime.date, first: datetime.date | None, last: datetime.date | None
) -> Period:
    """The `kind` period holding `anchor` (weeks run Monday to Sunday), or the custom
    range `first`..`last`; InvalidQuery names what is wrong."""
    if kind not in PERIOD_KINDS:
        raise InvalidQuery(f"period {kind!r} is not one of {', '.join(PERIOD_KINDS)}")
    if kind == "custom":
        if first is None or last is None:
            raise InvalidQuery("a custom period needs ?from= and ?to= (YYYY-MM-DD)")
        if first > last:
            raise InvalidQuery(f"from {first} is after to {last}")
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise InvalidQuery(f"a period runs at most {MAX_PERIOD_DAYS} days; ask for it in parts")
        return Period(kind, first, last)
    if kind == "day":
        return Period(kind, anchor, anchor)
    if kind == "week":
        monday = anchor - datetime.timedelta(days=anchor.weekday())
        return Period(kind, monday, monday + datetime.timedelta(days=6))
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    start_month = (anchor.month - 1) // months * months + 1
    start = datetime.date(anchor.year, start_month, 1)
    return Period(kind, start, _add_months(start, months) - _DAY)


@dataclass(frozen=True)
class SalesReport:
    period: Period
    grouping: str
    branch: str | None
    filters: Mapping[str, str]
    lines: list[ReportLine]
    totals: SalesTotals
    previous: SalesTotals
    year_earlier: SalesTotals
    # Points moved in the period by kind (earn, referral, redeem, refund, return,
    # expire, adjust), signed as the ledger signs them: of the branch, whatever the grouping.
    points: Mapping[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "report": "sales",
            "period": self.period.as_json(),
            "previous": {**self.period.previous().as_json(), **figures_json(self.previous)},
            "year_earlier": {**self.period.year_earlier().as_json(), **figures_json(self.year_earlier)},
            "by": self.grouping,
            "branch": self.branch,
            "filters": dict(self.filters),
            "totals": figures_json(self.totals),
            "points": dict(self.points),
            "points_net": sum(self.points.values()),
            "lines": [
                {"key": line.key, "label": line.label, "category": line.group, **figures_json(line.totals)}
                for line in self.lines
            ],
        }

    def table(self) -> tuple[list[str], list[list[int | str]], set[int]]:
        """The report as an export's header, rows and the indexes of its money columns."""
        units = self.grouping in ("category", "product")
        header = [
            self.grouping,
            "name",
            *(["category"] if self.grouping == "product" else []),
            "units" if units else "sales",
            "units returned" if units else "returns",
            "takings",
            "returned",
            "net takings",
            "cost",
            "gross profit",
        ]
        rows: list[list[int | str]] = []
        for line in self.lines:
            t = line.totals
            rows.append(
                [
                    line.key,
                    line.label,
                    *([line.group] if self.grouping == "product" else []),
                    t.count,
                    t.returns,
                    t.total_fen,
                    t.returned_fen,
                    t.net_fen,
                    t.net_cost_fen,
                    t.gross_profit_fen,
                ]
            )
        money = set(range(len(header) - 5, len(header)))
        return header, rows, money


def figures_json(totals: SalesTotals) -> dict[str, int]:
    return {
        "count": totals.count,
        "total_fen": totals.total_fen,
        "returns": totals.returns,
        "returned_fen": totals.returned_fen,
        "net_fen": totals.net_fen,
        "cost_fen": totals.net_cost_fen,
        "gross_profit_fen": totals.gross_profit_fen,
    }


def _summed(lines: list[ReportLine]) -> SalesTotals:
    return SalesTotals(
        sum(line.totals.count for line in lines),
        sum(line.totals.total_fen for line in lines),
        sum(line.totals.cost_fen for line in lines),
        sum(line.totals.returns for line in lines),
        sum(line.totals.returned_fen for line in lines),
        sum(line.totals.returned_cost_fen for line in lines),
    )


async def _lines(
    store: HQStore, grouping: str, branch: str | None, period: Period, filters: Mapping[str, str]
) -> list[ReportLine]:
    first, last = period.first.isoformat(), period.last.isoformat()
    for column in NARROWERS:
        if column in filters:
            key = "member_id" if grouping == "member" else grouping
            return await store.narrowed_lines(column, filters[column], key, branch, first, last)
    if grouping == "day":
        return await store.sales_by_day(branch, first, last)
    if grouping == "salesperson":
        return await store.sales_by_salesperson(branch, first, last)
    if grouping == "member":
        return await store.sales_by_member(branch, first, last)
    if grouping == "level":
        return await store.sales_by_level(branch, first, last)
    if grouping == "branch":
        return [
            ReportLine(code, code, totals)
            for code, totals in await store.sales_by_branch(first, last)
            if branch in (None, code)
        ]
    goods = [
        line
        for line in await store.goods_by_product(branch, first, last)
        if filters.get("category") in (None, line.group) and filters.get("product") in (None, line.key)
    ]
    if grouping == "product":
        return goods
    names = await store.category_names()
    by_category: dict[str, list[ReportLine]] = {}
    for line in goods:
        by_category.setdefault(line.group, []).append(line)
    return [
        ReportLine(code, names.get(code, code) if code else "", _summed(lines))
        for code, lines in sorted(by_category.items())
    ]


def check_filters(grouping: str, filters: Mapping[str, str]) -> None:
    """InvalidQuery unless the filters narrow a grouping they can (rule 3)."""
    narrowers = [name for name in filters if name in NARROWERS]
    if len(narrowers) > 1 or (narrowers and any(name in GOODS_FILTERS for name in filters)):
        raise InvalidQuery(
            "narrow the report by the goods (category, product), a salesperson or a level: one"
        )
    if narrowers and grouping not in NARROWERS[narrowers[0]]:
        allowed = ", ".join(NARROWERS[narrowers[0]])
        raise InvalidQuery(f"a report narrowed to one {narrowers[0]} is by {allowed}")
    if not narrowers and filters and grouping not in ("category", "product"):
        raise InvalidQuery("a category or product filter applies to the report by category or by product")


async def sales_report(
    store: HQStore, period: Period, grouping: str, branch: str | None, filters: Mapping[str, str]
) -> SalesReport:
    """The report of `period` grouped by `grouping`, of `branch` (every branch: None),
    narrowed by `filters` (rule 3)."""
    if grouping not in GROUPINGS:
        raise InvalidQuery(f"by {grouping!r} is not one of {', '.join(GROUPINGS)}")
    check_filters(grouping, filters)
    lines = await _lines(store, grouping, branch, period, filters)
    if filters or grouping in ("category", "product", "member", "level"):
        previous = _summed(await _lines(store, grouping, branch, period.previous(), filters))
        earlier = _summed(await _lines(store, grouping, branch, period.year_earlier(), filters))
        totals = _summed(lines)
    else:

        async def totals_of(of: Period) -> SalesTotals:
            return await store.sales_totals(branch, of.first.isoformat(), of.last.isoformat())

        totals, previous, earlier = (
            await totals_of(period),
            await totals_of(period.previous()),
            await totals_of(period.year_earlier()),
        )
    # Rankings read best first: the most net takings at the top.
    if grouping != "day":
        lines = sorted(lines, key=lambda line: (-line.totals.net_fen, line.key))
    points = await store.points_by_kind(branch, period.first.isoformat(), period.last.isoformat())
    return SalesReport(period, grouping, branch, filters, lines, totals, previous, earlier, points)
