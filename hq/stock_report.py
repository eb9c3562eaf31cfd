"""The stock ranking (FEATURES R2's stock ranking, R4's turnover): each product's stock
against how fast it sells, most urgent first, with the day it will reach its lower
limit at that pace.

Rules:
1. The pace is the units sold, returns netted, over the `days` up to today, per day
   (product_daily, kept at ingest); stock is what the branches' moves add up to now.
2. Days of cover: stock over the daily pace. The warning date: the day the stock
   reaches the product's lower limit (nought without one) at that pace; today when it
   is there already. A product that did not sell has neither.
3. Turnover over the period: the cost of the goods sold over the cost of the stock
   held now, in thousandths (integers: no float carries a figure here).

No aiohttp here: hq.report_api parses the query and answers with what this computes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from hq.storage.base import HQStore, Product


@dataclass(frozen=True)
class StockLine:
    sku: str
    name: str
    qty: int
    cost_fen: int
    lower_limit: int | None
    sold: int  # units, returns netted, over the period
    sold_cost_fen: int

    def days_of_cover(self, days: int) -> int | None:
        return None if self.sold <= 0 else max(0, self.qty) * days // self.sold

    def warning_date(self, today: datetime.date, days: int) -> datetime.date | None:
        if self.sold <= 0:
            return None
        above = self.qty - (self.lower_limit or 0)
        return today + datetime.timedelta(days=max(0, above) * days // self.sold)

    def turnover_permille(self) -> int | None:
        return None if self.cost_fen <= 0 else self.sold_cost_fen * 1000 // self.cost_fen


@dataclass(frozen=True)
class StockReport:
    today: datetime.date
    days: int
    branch: str | None
    lines: list[StockLine]

    def as_json(self) -> dict[str, object]:
        return {
            "report": "stock",
            "today": self.today.isoformat(),
            "days": self.days,
            "branch": self.branch,
            "lines": [
                {
                    "sku": line.sku,
                    "name": line.name,
                    "qty": line.qty,
                    "cost_fen": line.cost_fen,
                    "lower_limit": line.lower_limit,
                    "sold": line.sold,
                    "sold_cost_fen": line.sold_cost_fen,
                    "days_of_cover": line.days_of_cover(self.days),
                    "warning_date": _iso(line.warning_date(self.today, self.days)),
                    "turnover_permille": line.turnover_permille(),
                }
                for line in self.lines
            ],
        }


def _iso(day: datetime.date | None) -> str | None:
    return None if day is None else day.isoformat()


async def stock_report(store: HQStore, today: datetime.date, days: int, branch: str | None) -> StockReport:
    """Every stocked product of `branch`'s warehouses (every warehouse: None), ranked by
    its warning date, the soonest first; those that did not sell last, by stock."""
    first = (today - datetime.timedelta(days=days - 1)).isoformat()
    held: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for level in await store.stock_levels(None, None):
        if branch not in (None, level.branch):
            continue
        figures = held.setdefault(level.sku, [0, 0])
        figures[0] += level.qty
        figures[1] += level.cost_fen
        names[level.sku] = level.name or level.sku
    sold = {line.key: line for line in await store.goods_by_product(branch, first, today.isoformat())}
    products = {p.sku: p for p in await store.master_records("product") if isinstance(p, Product)}
    lines = []
    for sku in sorted(held.keys() | sold.keys()):
        product = products.get(sku)
        if product is not None and product.service:
            continue  # a service is sold, never stocked
        qty, cost_fen = held.get(sku, [0, 0])
        goods = sold.get(sku)
        lines.append(
            StockLine(
                sku,
                names.get(sku) or (product.name if product else sku),
                qty,
                cost_fen,
                product.lower_limit if product else None,
                goods.totals.count - goods.totals.returns if goods else 0,
                goods.totals.net_cost_fen if goods else 0,
            )
        )
    never = datetime.date.max
    lines.sort(key=lambda line: (line.warning_date(today, days) or never, line.qty, line.sku))
    return StockReport(today, days, branch, lines)
