"""A branch's business day (protocol.business_day), on real servers and both HQ
backends: a shop whose day starts late puts a sale made before that hour on the day
before, at the branch (summary, settlement) and at HQ (reports, today's figures),
having told HQ in its own log; a node on the defaults writes nothing about it."""

from __future__ import annotations

import dataclasses
import datetime
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.config import load_config, save_config
from protocol.business_day import DEFAULT, BusinessDay
from protocol.errors import MalformedMessage
from tests.harness import Chain, hq_rows, sale, wait_until
from tests.sse import events


def late_start() -> BusinessDay:
    """A day that has not begun yet now: it starts at 23:59, in a zone where it is not
    yet 23:59 (UTC, or UTC-12 in UTC's last hour)."""
    zone = "UTC" if datetime.datetime.now(datetime.UTC).hour < 23 else "Etc/GMT+12"
    return BusinessDay(zone, "23:59")


async def test_a_sale_before_the_days_start_counts_on_the_day_before_everywhere(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    br01 = await chain.add_node("BR01")
    entries_before = (await chain.sync("BR01"))["head_seq"]
    days = late_start()
    await br01.stop()
    config = load_config(chain.root / "BR01")
    save_config(
        chain.root / "BR01",
        dataclasses.replace(config, timezone=days.timezone, business_day_starts_at=days.starts_at),
    )
    await br01.start()
    await chain.operators_arrived("BR01")
    now_ms = int(time.time() * 1000)
    calendar_day = datetime.datetime.fromtimestamp(now_ms / 1000, days.zone).date()
    business_day = calendar_day - datetime.timedelta(days=1)
    assert days.day_of(now_ms) == business_day

    sold = await chain.post(br01.url + "/api/sales", sale(("CUP-CERAMIC", 2)))
    day = {"from": business_day.isoformat(), "to": business_day.isoformat()}
    at_branch = await chain.get(br01.url + "/api/sales/summary", params=day)
    assert (at_branch["count"], at_branch["total_fen"]) == (1, 5_000)
    on_calendar_day = {"from": calendar_day.isoformat(), "to": calendar_day.isoformat()}
    assert (await chain.get(br01.url + "/api/sales/summary", params=on_calendar_day))["count"] == 0
    settled = await chain.get(br01.url + "/api/settlement")  # today's: the business day
    assert (settled["day"], settled["sales"]["count"], settled["day_starts_at"]) == (
        business_day.isoformat(),
        1,
        "23:59",
    )

    async def at_hq() -> bool:
        return bool((await chain.get(chain.hq.url + "/api/sales/summary"))["count"] == 1)

    await wait_until(at_hq, "the sale to reach HQ")
    # The branch told HQ in its log, once, before the sale.
    rows = await hq_rows(
        chain, "SELECT seq FROM log_entries WHERE origin = 'BR01' AND seq > ? ORDER BY seq", entries_before
    )
    assert len(rows) == 2  # the business day, then the sale
    (told,) = [
        b for b in (await chain.get(chain.hq.url + "/api/branches"))["branches"] if b["code"] == "BR01"
    ]
    assert told["business_day"] == {"timezone": days.timezone, "starts_at": "23:59"}
    report = await chain.get(
        chain.hq.url + "/api/reports/sales", params={"by": "day", "period": "month", "date": day["from"]}
    )
    assert [(line["key"], line["net_fen"]) for line in report["lines"]] == [(business_day.isoformat(), 5_000)]
    hq_day = await chain.get(chain.hq.url + "/api/sales/summary", params=day)
    assert (hq_day["count"], hq_day["net_fen"]) == (1, 5_000)
    # The console's figures show the branch's own day so far, the sale in it.
    async with chain.session.get(chain.hq.url + "/api/live") as response:
        event, _, figures = await anext(events(response))
    assert event == "figures"
    (row,) = [b for b in figures["branches"] if b["code"] == "BR01"]
    assert (row["day"], row["count"], row["net_fen"]) == (business_day.isoformat(), 1, 5_000)
    assert sold["id"]

    # Rebuilt from the entries a page at a time, the sale stays on its branch's day: the
    # rule its log set carries from one page to the next.
    monkeypatch.setattr("hq.storage.sqlite.reports.REBUILD_PAGE", 1)
    await chain.post(chain.hq.url + "/api/reports/rebuild", None, status=200)
    rebuilt = await chain.get(chain.hq.url + "/api/sales/summary", params=day)
    assert (rebuilt["count"], rebuilt["net_fen"]) == (1, 5_000)

    # Restarted with the same settings, the node writes nothing more.
    await br01.stop()
    await br01.start()
    assert (await chain.sync("BR01"))["head_seq"] == entries_before + 2


async def test_a_node_on_the_defaults_writes_nothing_about_its_day(chain: Chain) -> None:
    await chain.add_node("BR01")
    rows = await hq_rows(chain, "SELECT COUNT(*) FROM log_entries WHERE origin = 'BR01'")
    kinds = await hq_rows(chain, "SELECT day_timezone FROM nodes WHERE code = 'BR01'")
    assert kinds == [(None,)]  # HQ assumes DEFAULT
    branches = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    assert branches[0]["business_day"] == DEFAULT.as_json()
    assert rows[0][0] == (await chain.sync("BR01"))["head_seq"]


@given(
    at_ms=st.integers(0, 4_000_000_000_000),
    zone=st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York", "Europe/London", "Pacific/Auckland"]),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_a_moment_falls_in_the_bounds_of_its_business_day(
    at_ms: int, zone: str, hour: int, minute: int
) -> None:
    """Whatever the zone and the hour the day starts, a moment lies within [start, end)
    of the day it is put on, and that day is its local date or the one before."""
    days = BusinessDay(zone, f"{hour:02d}:{minute:02d}")
    day = days.day_of(at_ms)
    start, end = days.bounds_ms(day)
    assert start <= at_ms < end
    # And the bounds hold that day only: every moment in them is put on it (day_text
    # remembers a day's bounds and answers from them).
    assert days.day_of(start) == day == days.day_of(end - 1)
    assert days.day_text(at_ms) == day.isoformat() == days.day_text(start) == days.day_text(end - 1)
    local = datetime.datetime.fromtimestamp(at_ms / 1000, days.zone).date()
    assert day in (local, local - datetime.timedelta(days=1))


def test_a_shop_open_past_midnight_books_its_small_hours_to_the_day_it_opened() -> None:
    days = BusinessDay("Asia/Shanghai", "04:00")
    at = datetime.datetime(2026, 12, 1, 1, 30, tzinfo=days.zone)  # 01:30 on the 1st
    assert days.day_text(int(at.timestamp() * 1000)) == "2026-11-30"
    at = datetime.datetime(2026, 12, 1, 4, 0, tzinfo=days.zone)
    assert days.day_text(int(at.timestamp() * 1000)) == "2026-12-01"
    # At midnight UTC it is 08:00 in China: a UTC day would split the 1st's trading.
    assert DEFAULT.day_text(
        int(datetime.datetime(2026, 12, 1, 16, 30, tzinfo=datetime.UTC).timestamp() * 1000)
    ) == ("2026-12-02")


def test_a_bad_business_day_is_refused_with_what_is_wrong() -> None:
    for zone in ("Mars/Olympus", "", "../etc/passwd"):
        with pytest.raises(MalformedMessage, match="is no IANA time zone"):
            BusinessDay(zone, "00:00")
    for starts in ("24:00", "4:00", "04:00:00", "noon"):
        with pytest.raises(MalformedMessage, match="starts at HH:MM"):
            BusinessDay("UTC", starts)


@pytest.mark.parametrize("starts_at", ["02:30", "01:30", "00:00"])
def test_days_that_start_in_an_hour_the_clocks_skip_or_repeat_still_tile_time(starts_at: str) -> None:
    """New York's clocks skip 02:00-03:00 on 8 March 2026 and repeat 01:00-02:00 on 1
    November. Every quarter hour across both weeks is on exactly one business day,
    whose bounds hold it, and consecutive days meet with no gap and no overlap."""
    days = BusinessDay("America/New_York", starts_at)
    for week in (
        datetime.datetime(2026, 3, 5, tzinfo=datetime.UTC),
        datetime.datetime(2026, 10, 29, tzinfo=datetime.UTC),
    ):
        first_ms = int(week.timestamp() * 1000)
        for quarter in range(7 * 24 * 4):
            at_ms = first_ms + quarter * 900_000
            day = days.day_of(at_ms)
            start, end = days.bounds_ms(day)
            assert start <= at_ms < end, (starts_at, at_ms)
            assert days.bounds_ms(day + datetime.timedelta(days=1))[0] == end
            assert days.day_text(at_ms) == day.isoformat()
