"""The members report (FEATURES R1, in part): members registered over a period, day by
day, per salesperson, by gender, age band and region, the members who referred most,
and the cards sold by type, with the period before and the
same period a year earlier. Read from the aggregates HQ keeps at ingest
(member_joins_daily, card_sales_daily), on the branches' business days.

No aiohttp here: hq.report_api parses the query and answers with what this computes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hq.sales_report import Period
from hq.storage.base import HQStore

SECTIONS = ("trend", "salespeople", "card_types", "gender", "age_band", "region", "referrers")
MAX_REFERRERS = 50
PROFILE_DIMENSIONS = ("gender", "age_band", "region")


@dataclass(frozen=True)
class MembersReport:
    period: Period
    branch: str | None
    trend: list[tuple[str, int]]  # (day, members registered)
    salespeople: list[tuple[str, str, int]]  # (employee, name, members registered)
    card_types: list[tuple[str, str, int, int]]  # (type, name, cards sold, price fen)
    # Members registered by gender, age band (at registration) and region ('' not given).
    by_profile: dict[str, list[tuple[str, int]]]
    referrers: list[tuple[str, str, int]]  # (member, name, members they referred)
    previous_joined: int
    year_earlier_joined: int

    @property
    def joined(self) -> int:
        return sum(joined for _, joined in self.trend)

    def as_json(self) -> dict[str, object]:
        return {
            "report": "members",
            "period": self.period.as_json(),
            "branch": self.branch,
            "joined": self.joined,
            "previous": {**self.period.previous().as_json(), "joined": self.previous_joined},
            "year_earlier": {**self.period.year_earlier().as_json(), "joined": self.year_earlier_joined},
            "trend": [{"day": day, "joined": joined} for day, joined in self.trend],
            "salespeople": [
                {"salesperson": code, "name": name, "joined": joined}
                for code, name, joined in self.salespeople
            ],
            "card_types": [
                {"card_type": code, "name": name, "cards": cards, "price_fen": fen}
                for code, name, cards, fen in self.card_types
            ],
            **{
                dimension: [{"key": key, "joined": joined} for key, joined in rows]
                for dimension, rows in self.by_profile.items()
            },
            "referrers": [
                {"member_id": member, "name": name, "referred": count}
                for member, name, count in self.referrers
            ],
        }

    def table(self, section: str) -> tuple[list[str], list[list[int | str]], set[int]]:
        """One section as an export's header, rows and the indexes of its money columns."""
        if section == "trend":
            return ["day", "members registered"], [[day, joined] for day, joined in self.trend], set()
        if section == "salespeople":
            rows: list[list[int | str]] = [[code, name, joined] for code, name, joined in self.salespeople]
            return ["salesperson", "name", "members registered"], rows, set()
        if section in self.by_profile:
            return [section, "members registered"], [[key, n] for key, n in self.by_profile[section]], set()
        if section == "referrers":
            rows = [[member, name, count] for member, name, count in self.referrers]
            return ["member", "name", "members referred"], rows, set()
        rows = [[code, name, cards, fen] for code, name, cards, fen in self.card_types]
        return ["card type", "name", "cards sold", "price"], rows, {3}


async def members_report(store: HQStore, period: Period, branch: str | None) -> MembersReport:
    first, last = period.first.isoformat(), period.last.isoformat()

    async def joined(of: Period) -> int:
        return sum(n for _, n in await store.joins_by_day(branch, of.first.isoformat(), of.last.isoformat()))

    return MembersReport(
        period,
        branch,
        await store.joins_by_day(branch, first, last),
        await store.joins_by_salesperson(branch, first, last),
        await store.cards_by_type(branch, first, last),
        {dimension: await store.joins_by(dimension, branch, first, last) for dimension in PROFILE_DIMENSIONS},
        await store.referrals(branch, first, last, MAX_REFERRERS),
        await joined(period.previous()),
        await joined(period.year_earlier()),
    )
