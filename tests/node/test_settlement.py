"""The daily settlement at a node: what a day is, who may close one, what a close keeps,
and what each bad request gets. The worked day and HQ's liability are in
tests/e2e/test_settlement.py."""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
import zoneinfo
from typing import Any

import pytest

from node.config import STORE_FILE
from node.routes.context import CONTEXT
from node.services import settlement
from protocol.contract import TENDER_KINDS
from tests.harness import Chain, Server, clerk_login, log_in

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY = datetime.date(2025, 3, 14)


def _local_ms(day: datetime.date, hour: int, minute: int, zone: datetime.tzinfo = SHANGHAI) -> int:
    return int(datetime.datetime.combine(day, datetime.time(hour, minute), zone).timestamp() * 1000)


def _set_clock(monkeypatch: pytest.MonkeyPatch, node: Server, at_ms: int) -> None:
    monkeypatch.setattr(node.app[CONTEXT].store.writer, "_wall_ms", lambda: at_ms)


def _cash_sale(sku: str, qty: int, cash_fen: int) -> dict[str, Any]:
    return {"lines": [{"sku": sku, "qty": qty}], "tenders": [{"kind": "cash", "amount_fen": cash_fen}]}


async def _refused(chain: Chain, method: str, url: str, status: int, code: str, **kwargs: Any) -> None:
    async with chain.session.request(method, url, **kwargs) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]


def test_every_tender_kind_is_either_takings_or_a_cards() -> None:
    """A tender kind the settlement does not place would be money in no column."""
    assert set(TENDER_KINDS) <= set(settlement.TAKINGS_TENDERS + settlement.CARD_TENDERS)
    assert not set(settlement.TAKINGS_TENDERS) & set(settlement.CARD_TENDERS)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Asia/Shanghai", datetime.date(2025, 3, 14), 24),
        ("Europe/Berlin", datetime.date(2025, 3, 30), 23),  # the clocks go forward at 02:00
        ("Europe/Berlin", datetime.date(2025, 10, 26), 25),  # and back at 03:00
    ],
)
def test_a_day_runs_from_midnight_to_midnight_where_the_branch_is(
    zone: str, day: datetime.date, hours: int
) -> None:
    start_ms, end_ms = settlement.day_bounds_ms(day, zoneinfo.ZoneInfo(zone))
    assert start_ms == _local_ms(day, 0, 0, zoneinfo.ZoneInfo(zone))
    assert end_ms - start_ms == hours * 3_600_000
    if zone == "Asia/Shanghai":
        # 14 March in Shanghai is 13 March 16:00 to 14 March 16:00 in UTC.
        utc = datetime.datetime.fromtimestamp(start_ms / 1000, datetime.UTC)
        assert utc == datetime.datetime(2025, 3, 13, 16, 0, tzinfo=datetime.UTC)


async def test_a_clerk_reads_the_settlement_but_only_a_store_manager_closes_the_day(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await chain.add_node("BR01")
    _set_clock(monkeypatch, node, _local_ms(DAY, 10, 0))
    await chain.post(node.url + "/api/sales", _cash_sale("SOAP-BAR", 1, 2_000))
    clerk = {"Authorization": f"Bearer {await log_in(node.url, clerk_login('BR01'))}"}
    read = await chain.get(node.url + "/api/settlement", params={"day": "2025-03-14"}, headers=clerk)
    assert read["drawer"]["expected_cash_fen"] == 1_200
    close_url = node.url + "/api/settlement/2025-03-14/close"
    await _refused(
        chain, "POST", close_url, 403, "forbidden", json={"counted_cash_fen": 1_200}, headers=clerk
    )
    assert (await chain.get(node.url + "/api/settlement", params={"day": "2025-03-14"}))["close"] is None
    closed = await chain.post(close_url, {"counted_cash_fen": 1_200})
    assert (closed["close"]["difference_fen"], closed["close"]["note"]) == (0, None)


async def test_a_close_keeps_what_was_expected_when_the_drawer_was_counted(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10:00 a soap for 1,200 in cash; 18:00 the drawer counted at 1,300 (100 over);
    19:00 a cup for 2,500: the day now expects 3,700, the close still 1,200 and +100."""
    node = await chain.add_node("BR01")
    url = node.url + "/api/settlement"
    _set_clock(monkeypatch, node, _local_ms(DAY, 10, 0))
    await chain.post(node.url + "/api/sales", _cash_sale("SOAP-BAR", 1, 1_200))
    _set_clock(monkeypatch, node, _local_ms(DAY, 18, 0))
    closed = await chain.post(url + "/2025-03-14/close", {"counted_cash_fen": 1_300})
    assert closed["close"]["difference_fen"] == 100
    _set_clock(monkeypatch, node, _local_ms(DAY, 19, 0))
    await chain.post(node.url + "/api/sales", _cash_sale("CUP-CERAMIC", 1, 2_500))
    later = await chain.get(url, params={"day": "2025-03-14"})
    assert later["drawer"]["expected_cash_fen"] == 3_700
    assert later["close"] == closed["close"]
    assert (later["close"]["expected_cash_fen"], later["close"]["counted_cash_fen"]) == (1_200, 1_300)
    # Another day closes on its own.
    _set_clock(monkeypatch, node, _local_ms(DAY + datetime.timedelta(days=1), 9, 0))
    next_day = await chain.post(url + "/2025-03-15/close", {"counted_cash_fen": 0})
    assert next_day["close"]["difference_fen"] == 0


async def test_a_day_not_begun_at_the_branch_cannot_be_closed(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 23:30 on the 14th in Shanghai (15:30 UTC) the 15th has not begun there."""
    node = await chain.add_node("BR01")
    _set_clock(monkeypatch, node, _local_ms(DAY, 23, 30))
    url = node.url + "/api/settlement/2025-03-15/close"
    await _refused(chain, "POST", url, 422, "invalid", json={"counted_cash_fen": 0})
    _set_clock(monkeypatch, node, _local_ms(DAY + datetime.timedelta(days=1), 0, 0))
    await chain.post(url, {"counted_cash_fen": 0})


@pytest.mark.parametrize(
    "day",
    ["2025-3-14", "20250314", "2025-02-30", "yesterday", "1970-01-01", "２０２５-03-14", "2025-03-14T00"],
)
async def test_a_day_not_written_yyyy_mm_dd_is_refused(chain: Chain, day: str) -> None:
    node = await chain.add_node("BR01")
    await _refused(chain, "GET", node.url + "/api/settlement", 422, "invalid", params={"day": day})
    url = f"{node.url}/api/settlement/{day}/close"
    await _refused(chain, "POST", url, 422, "invalid", json={"counted_cash_fen": 0})
    assert (await chain.get(node.url + "/api/settlement"))["close"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid"),
        ({"counted_cash_fen": -1}, 422, "invalid"),
        ({"counted_cash_fen": 12.5}, 422, "invalid"),  # money is integer fen
        ({"counted_cash_fen": "1200"}, 422, "invalid"),
        ({"counted_cash_fen": 1_200, "expected_cash_fen": 1_200}, 422, "invalid"),
        ({"counted_cash_fen": 1_200, "note": ""}, 422, "invalid"),
        ({"counted_cash_fen": 1_200, "note": "x" * 201}, 422, "invalid"),
        ([1_200], 400, "malformed"),
    ],
)
async def test_a_bad_close_is_refused_and_closes_nothing(
    chain: Chain, body: Any, status: int, code: str
) -> None:
    node = await chain.add_node("BR01")
    today = (await chain.get(node.url + "/api/settlement"))["day"]
    url = f"{node.url}/api/settlement/{today}/close"
    await _refused(chain, "POST", url, status, code, json=body)
    assert (await chain.get(node.url + "/api/settlement"))["close"] is None


async def test_a_return_booked_before_refunds_were_kept_per_tender_counts_as_cash(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cup sold for 2,500 in cash and returned; the store then holds the return as one
    from before migration 4 does, with no refund rows: it refunded cash, so the drawer
    expects 2,500 - 2,500 = 0."""
    node = await chain.add_node("BR01")
    _set_clock(monkeypatch, node, _local_ms(DAY, 10, 0))
    sale = await chain.post(node.url + "/api/sales", _cash_sale("CUP-CERAMIC", 1, 2_500))
    await chain.post(f"{node.url}/api/sales/{sale['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    with contextlib.closing(sqlite3.connect(chain.root / "BR01" / STORE_FILE)) as conn:
        conn.execute("DELETE FROM sale_return_refunds")
        conn.commit()
    settled = await chain.get(node.url + "/api/settlement", params={"day": "2025-03-14"})
    assert settled["refunds"] == {
        "count": 1,
        "cash_fen": 2_500,
        "stored_value_fen": 0,
        "credit_fen": 0,
        "voucher_fen": 0,
        "uses_fen": 0,
        "time_card_fen": 0,
        "points_fen": 0,
        "total_fen": 2_500,
    }
    assert settled["drawer"]["expected_cash_fen"] == 0


async def test_stored_value_paid_back_leaves_the_drawer_and_credit_repaid_comes_in(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 50,000 top-up comes in (below the demo's 100,000 bonus threshold), 20,000 of it
    is paid back; a cup (2,500) drawn on a 10,000 credit line is repaid in
    cash. The drawer: 50,000 + 2,500 - 20,000 = 32,500; no sale took cash."""
    node = await chain.add_node("BR01")
    _set_clock(monkeypatch, node, _local_ms(DAY, 10, 0))
    await chain.post(node.url + "/api/members", {"name": "Pan", "phone": "13900005151", "cards": ["K-5151"]})
    card = node.url + "/api/cards/K-5151"
    await chain.post(card + "/top-up", {"amount_fen": 50_000})
    await chain.post(card + "/payout", {"amount_fen": 20_000})
    await chain.post(card + "/credit", {"action": "grant", "amount_fen": 10_000})
    on_credit = {
        "lines": [{"sku": "CUP-CERAMIC", "qty": 1}],
        "tenders": [{"kind": "credit", "card": "K-5151", "amount_fen": 2_500}],
    }
    await chain.post(node.url + "/api/sales", on_credit)
    await chain.post(card + "/credit", {"action": "repay", "amount_fen": 2_500})
    day = await chain.get(node.url + "/api/settlement", params={"day": DAY.isoformat()})
    assert (day["payouts"], day["credit_repaid"]) == (
        {"count": 1, "amount_fen": 20_000},
        {"count": 1, "amount_fen": 2_500},
    )
    assert day["takings"]["credit_fen"] == 2_500
    assert day["drawer"]["expected_cash_fen"] == 50_000 + 2_500 - 20_000 == 32_500
