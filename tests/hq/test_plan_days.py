"""A sale counts on its UTC day: the day HQ names for an at_ms is the calendar's."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from hq.plan import MAX_AT_MS, MS_PER_DAY, utc_day

at_ms = st.one_of(
    st.integers(0, MAX_AT_MS),
    st.integers(0, MAX_AT_MS // MS_PER_DAY).map(lambda day: day * MS_PER_DAY),
    st.integers(1, MAX_AT_MS // MS_PER_DAY).map(lambda day: day * MS_PER_DAY - 1),
)


@given(at_ms=at_ms)
def test_the_day_of_a_sale_is_its_utc_calendar_day(at_ms: int) -> None:
    expected = datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC).date().isoformat()
    assert utc_day(at_ms) == expected


def test_the_first_and_last_days_hq_accepts() -> None:
    assert utc_day(0) == "1970-01-01"
    assert utc_day(MAX_AT_MS) == "9999-12-31"
