"""The date a card's validity is judged on (node.services.cards.day_of), read from a
cache by the minute: the same date as the clock's own, at every instant, in any zone."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from node.services.cards import day_of

# Half-hour and three-quarter offsets, and a half-hour daylight saving shift.
ZONES = [
    datetime.UTC,
    *map(ZoneInfo, ["Asia/Shanghai", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]),
]
SINCE_1972_MS = 63_072_000_000
UNTIL_2100_MS = 4_102_444_800_000


@given(st.integers(SINCE_1972_MS, UNTIL_2100_MS), st.sampled_from(ZONES))
def test_the_day_is_the_clocks_own_date(wall_ms: int, zone: datetime.tzinfo) -> None:
    assert day_of(wall_ms, zone) == datetime.datetime.fromtimestamp(wall_ms / 1000, zone).date().isoformat()


def test_the_last_and_first_milliseconds_of_a_day_fall_on_their_own_dates() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    midnight_ms = int(datetime.datetime(2026, 11, 30, tzinfo=shanghai).timestamp() * 1000)
    assert day_of(midnight_ms - 1, shanghai) == "2026-11-29"
    assert day_of(midnight_ms, shanghai) == "2026-11-30"
    assert day_of(midnight_ms - 1) == "2026-11-29"  # 16:00 in UTC
