"""A report's period and the two it is compared with (hq.sales_report.Period), worked
by hand: the month, quarter and year before, a week Monday to Sunday, a custom range's
as many days before, and a year earlier where February has no 29th."""

from __future__ import annotations

import datetime
import re

import pytest

from hq.errors import InvalidQuery
from hq.sales_report import Period, period_of

D = datetime.date


def spans(period: Period) -> list[tuple[D, D]]:
    return [(p.first, p.last) for p in (period, period.previous(), period.year_earlier())]


def test_a_leap_february_against_january_and_the_february_before() -> None:
    assert spans(period_of("month", D(2028, 2, 10), None, None)) == [
        (D(2028, 2, 1), D(2028, 2, 29)),
        (D(2028, 1, 1), D(2028, 1, 31)),
        (D(2027, 2, 1), D(2027, 2, 28)),
    ]


def test_a_quarter_a_year_a_week_and_a_day() -> None:
    assert spans(period_of("quarter", D(2026, 11, 30), None, None)) == [
        (D(2026, 10, 1), D(2026, 12, 31)),
        (D(2026, 7, 1), D(2026, 9, 30)),
        (D(2025, 10, 1), D(2025, 12, 31)),
    ]
    assert spans(period_of("year", D(2026, 3, 3), None, None))[:2] == [
        (D(2026, 1, 1), D(2026, 12, 31)),
        (D(2025, 1, 1), D(2025, 12, 31)),
    ]
    assert spans(period_of("week", D(2026, 12, 2), None, None))[:2] == [  # a Wednesday
        (D(2026, 11, 30), D(2026, 12, 6)),
        (D(2026, 11, 23), D(2026, 11, 29)),
    ]
    assert spans(period_of("day", D(2028, 2, 29), None, None)) == [
        (D(2028, 2, 29), D(2028, 2, 29)),
        (D(2028, 2, 28), D(2028, 2, 28)),
        (D(2027, 2, 28), D(2027, 2, 28)),
    ]


def test_a_custom_range_against_as_many_days_before() -> None:
    assert spans(period_of("custom", D(2000, 1, 1), D(2026, 11, 1), D(2026, 11, 10))) == [
        (D(2026, 11, 1), D(2026, 11, 10)),
        (D(2026, 10, 22), D(2026, 10, 31)),
        (D(2025, 11, 1), D(2025, 11, 10)),
    ]


@pytest.mark.parametrize(
    ("kind", "first", "last", "says"),
    [
        ("fortnight", None, None, "is not one of"),
        ("custom", D(2026, 1, 1), None, "needs ?from= and ?to="),
        ("custom", D(2026, 2, 1), D(2026, 1, 1), "is after"),
        ("custom", D(2024, 1, 1), D(2026, 1, 1), "at most 366 days"),
    ],
)
def test_a_period_that_cannot_be_is_refused_saying_why(
    kind: str, first: D | None, last: D | None, says: str
) -> None:
    with pytest.raises(InvalidQuery, match=re.escape(says)):
        period_of(kind, D(2026, 1, 1), first, last)
