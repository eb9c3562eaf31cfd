"""The daily settlement at a branch and stored value as a liability at HQ (FEATURES F1),
on real servers and both HQ backends: a day's figures worked by hand, the drawer's
close, and HQ's liability agreeing with what the branches booked.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pytest

from hq.storage.sqlite import liability
from node.routes.context import CONTEXT
from tests.harness import Chain, Server, log_in, manager_login, wait_until
from tests.vouchers import issue_to

DAY = datetime.date(2025, 3, 14)
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")  # the branches' zone (node.json's default)


def local_ms(day: datetime.date, hour: int, minute: int) -> int:
    return int(datetime.datetime.combine(day, datetime.time(hour, minute), SHANGHAI).timestamp() * 1000)


def set_clock(
    monkeypatch: pytest.MonkeyPatch, node: Server, day: datetime.date, hour: int, minute: int
) -> None:
    """The branch's writer books what follows at this local time."""
    at_ms = local_ms(day, hour, minute)
    monkeypatch.setattr(node.app[CONTEXT].store.writer, "_wall_ms", lambda: at_ms)


def cash_sale(lines: dict[str, int], cash_fen: int) -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()],
        "tenders": [{"kind": "cash", "amount_fen": cash_fen}],
    }


async def _card_types_arrived(chain: Chain, node: Server) -> bool:
    listed = (await chain.get(node.url + "/api/card-types"))["card_types"]
    return {"GOLD-16800", "STORED-1000"} <= {card_type["code"] for card_type in listed}


async def _card_known(chain: Chain, node: Server, card: str) -> bool:
    async with chain.session.get(f"{node.url}/api/cards/{card}") as response:
        return response.status == 200


async def _drained(chain: Chain, *branches: str) -> None:
    for branch in branches:
        await wait_until(lambda b=branch: chain.drained(b), f"{branch}'s backlog to reach HQ")  # type: ignore[misc]


async def test_a_worked_day_settles_to_the_fen_and_hq_owes_what_the_cards_hold(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BR01's 14 March 2025 (Asia/Shanghai), worked by hand:

    - 13 Mar 23:30: SOAP-BAR in cash, 1,200 (the day before: not in the 14th).
    - 07:30 (still the 13th in UTC): K-1001 topped up 50,000 in cash.
    - 09:00 sale A: 2 TEA-OOLONG-250 (13,600) and a CUP-CERAMIC (2,500) = 16,100,
      20,000 cash tendered, 3,900 change.
    - 10:00 sale B: 2 TEA-GREEN-100 = 25,600, all stored value from K-1001.
    - 11:00 sale C: SNACK-NUTS 3,990 for Chen Jing: her voucher of HQ's V0001 campaign
      2,000 and 1,990 cash.
    - 12:00 GOLD-16800 sold as G-0001: price 1,680,000, 1,700,000 tendered, 20,000 change.
    - 12:30 STORED-1000 sold as S-0001: 100,000 cash; it puts 100,000 of stored value on it.
    - 13:00 sale D: 2 SVC-HAIRCUT (17,600) on G-0001's uses and a SOAP-BAR for 1,200 cash = 18,800.
    - 14:00 the cup of sale A comes back: 2,500 refunded in cash.
    - 14:30 one green tea of sale B comes back: 12,800 refunded onto K-1001.
    - 15 Mar 00:30 (still the 14th in UTC): SOAP-BAR in cash, 1,200 (the next day).

    The 14th: 4 sales, 16,100 + 25,600 + 3,990 + 18,800 = 64,490. Cash tendered
    20,000 + 1,990 + 1,200 = 23,190 less 3,900 change = 19,290; stored value 25,600;
    voucher 2,000; paid by cards 17,600 (2 uses): 19,290 + 25,600 + 2,000 + 17,600 = 64,490.
    Card sales 2: price 1,780,000, tendered 1,800,000, change 20,000. Cash takings
    19,290 + 1,780,000 = 1,799,290; all takings 1,799,290 + 25,600 + 2,000 = 1,826,890.
    Refunds 2: 2,500 cash, 12,800 stored value = 15,300. Drawer: 23,190 - 3,900 +
    1,780,000 + 50,000 - 2,500 = 1,846,790; 1,846,700 counted is 90 short.

    BR02 then tops K-1001 up by 30,000. HQ owes, per branch where the money moved:
    BR01 100,000 issued + 50,000 topped up - 25,600 spent + 12,800 refunded = 137,200;
    BR02 30,000; in all 167,200 = K-1001's 50,000 - 25,600 + 12,800 + 30,000 = 67,200
    and S-0001's 100,000 (G-0001 holds uses, no stored value).
    """
    # Several pages of the ledger even for a day's handful of entries.
    monkeypatch.setattr(liability, "PAGE_ROWS", 2)
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: _card_types_arrived(chain, a), "the card types to reach BR01")
    member = await chain.post(
        a.url + "/api/members", {"name": "Chen Jing", "phone": "13900008888", "cards": ["K-1001"]}
    )
    voucher = await issue_to(chain, member["id"], "V0001", a, valid=("2025-03-01", "2025-03-31"))

    set_clock(monkeypatch, a, DAY - datetime.timedelta(days=1), 23, 30)
    await chain.post(a.url + "/api/sales", cash_sale({"SOAP-BAR": 1}, 1_200))
    set_clock(monkeypatch, a, DAY, 7, 30)
    await chain.post(a.url + "/api/cards/K-1001/top-up", {"amount_fen": 50_000})
    await _drained(chain, "BR01")  # HQ holds the top-up: sale B's spend is held online
    set_clock(monkeypatch, a, DAY, 9, 0)
    sale_a = await chain.post(
        a.url + "/api/sales", cash_sale({"TEA-OOLONG-250": 2, "CUP-CERAMIC": 1}, 20_000)
    )
    assert (sale_a["total_fen"], sale_a["change_fen"]) == (16_100, 3_900)
    set_clock(monkeypatch, a, DAY, 10, 0)
    sale_b = await chain.post(
        a.url + "/api/sales",
        {
            "lines": [{"sku": "TEA-GREEN-100", "qty": 2}],
            "tenders": [{"kind": "stored_value", "card": "K-1001", "amount_fen": 25_600}],
        },
    )
    set_clock(monkeypatch, a, DAY, 11, 0)
    await chain.post(
        a.url + "/api/sales",
        {
            "member_id": member["id"],
            "lines": [{"sku": "SNACK-NUTS", "qty": 1}],
            "tenders": [
                {"kind": "voucher", "voucher": voucher, "amount_fen": 2_000},
                {"kind": "cash", "amount_fen": 1_990},
            ],
        },
    )
    set_clock(monkeypatch, a, DAY, 12, 0)
    gold = {"member_id": member["id"], "card_type": "GOLD-16800", "card": "G-0001"}
    await chain.post(
        a.url + "/api/card-sales", {**gold, "tenders": [{"kind": "cash", "amount_fen": 1_700_000}]}
    )
    set_clock(monkeypatch, a, DAY, 12, 30)
    stored = {"member_id": member["id"], "card_type": "STORED-1000", "card": "S-0001"}
    await chain.post(
        a.url + "/api/card-sales", {**stored, "tenders": [{"kind": "cash", "amount_fen": 100_000}]}
    )
    set_clock(monkeypatch, a, DAY, 13, 0)
    sale_d = await chain.post(
        a.url + "/api/sales",
        {
            "lines": [{"sku": "SVC-HAIRCUT", "qty": 2}, {"sku": "SOAP-BAR", "qty": 1}],
            "tenders": [
                {"kind": "uses", "card": "G-0001", "sku": "SVC-HAIRCUT", "qty": 2},
                {"kind": "cash", "amount_fen": 1_200},
            ],
        },
    )
    assert sale_d["total_fen"] == 18_800
    set_clock(monkeypatch, a, DAY, 14, 0)
    cup = await chain.post(f"{a.url}/api/sales/{sale_a['id']}/returns", {"lines": [{"line_no": 1, "qty": 1}]})
    assert cup["refunds"] == [{"tender_no": 0, "kind": "cash", "amount_fen": 2_500, "card": None}]
    set_clock(monkeypatch, a, DAY, 14, 30)
    tea = await chain.post(f"{a.url}/api/sales/{sale_b['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    assert tea["refunds"] == [
        {"tender_no": 0, "kind": "stored_value", "amount_fen": 12_800, "card": "K-1001"}
    ]
    set_clock(monkeypatch, a, DAY + datetime.timedelta(days=1), 0, 30)
    await chain.post(a.url + "/api/sales", cash_sale({"SOAP-BAR": 1}, 1_200))

    settled = await chain.get(a.url + "/api/settlement", params={"day": "2025-03-14"})
    assert settled == {
        "branch": "BR01",
        "day": "2025-03-14",
        "timezone": "Asia/Shanghai",
        "day_starts_at": "00:00",
        "from_ms": local_ms(DAY, 0, 0),
        "to_ms": local_ms(DAY + datetime.timedelta(days=1), 0, 0),
        "sales": {"count": 4, "total_fen": 64_490},
        "takings": {
            "cash_fen": 1_799_290,
            "stored_value_fen": 25_600,
            "voucher_fen": 2_000,
            "credit_fen": 0,
            "total_fen": 1_826_890,
        },
        "paid_by_cards": {
            "uses": {"tenders": 1, "qty": 2, "amount_fen": 17_600},
            "time_card": {"tenders": 0, "qty": 0, "amount_fen": 0},
            "points": {"tenders": 0, "qty": 0, "amount_fen": 0},
            "total_fen": 17_600,
        },
        "card_sales": {"count": 2, "price_fen": 1_780_000, "tendered_fen": 1_800_000, "change_fen": 20_000},
        "top_ups": {"count": 1, "amount_fen": 50_000},
        "payouts": {"count": 0, "amount_fen": 0},  # shown moving the drawer in tests/node/test_settlement.py
        "credit_repaid": {"count": 0, "amount_fen": 0},
        "refunds": {
            "count": 2,
            "cash_fen": 2_500,
            "stored_value_fen": 12_800,
            "credit_fen": 0,
            "voucher_fen": 0,
            "uses_fen": 0,
            "time_card_fen": 0,
            "points_fen": 0,
            "total_fen": 15_300,
        },
        "drawer": {
            "cash_tendered_fen": 23_190,
            "change_fen": 3_900,
            "card_sales_cash_fen": 1_780_000,
            "top_ups_fen": 50_000,
            "credit_repaid_fen": 0,
            "cash_refunds_fen": 2_500,
            "payouts_fen": 0,
            "expected_cash_fen": 1_846_790,
        },
        "close": None,
    }
    # The days either side hold one soap each, the 14th's midnights in Shanghai apart.
    for other in ("2025-03-13", "2025-03-15"):
        beside = await chain.get(a.url + "/api/settlement", params={"day": other})
        assert (beside["sales"], beside["drawer"]["expected_cash_fen"]) == (
            {"count": 1, "total_fen": 1_200},
            1_200,
        )
    # Asked for no day, a branch settles its own today: the evening of the 14th.
    set_clock(monkeypatch, a, DAY, 21, 0)
    assert await chain.get(a.url + "/api/settlement") == settled

    close_url = a.url + "/api/settlement/2025-03-14/close"
    key = {"Idempotency-Key": "close-BR01-2025-03-14"}
    count = {"counted_cash_fen": 1_846_700, "note": "90 fen short: change for sale C"}
    closed = await chain.post(close_url, count, headers=key)
    expected_close = {
        "expected_cash_fen": 1_846_790,
        "counted_cash_fen": 1_846_700,
        "difference_fen": -90,
        "note": "90 fen short: change for sale C",
        "closed_by": closed["close"]["closed_by"],
        "closed_by_login": manager_login("BR01"),
        "closed_at_ms": local_ms(DAY, 21, 0),
    }
    assert closed == {**settled, "close": expected_close, "replayed": False}
    assert closed["close"]["closed_by"]  # the store manager's operator id
    # A retry of the same close answers it again, whatever it now says; another close is refused.
    again = await chain.post(close_url, {"counted_cash_fen": 1}, status=200, headers=key)
    assert (again["close"], again["replayed"]) == (expected_close, True)
    async with chain.session.post(close_url, json={"counted_cash_fen": 1_846_790}) as response:
        refusal = await response.json()
        assert (response.status, refusal["error"]) == (409, "day_closed"), refusal
        assert "br01-manager" in refusal["message"]
    assert (await chain.get(a.url + "/api/settlement", params={"day": "2025-03-14"}))[
        "close"
    ] == expected_close

    await wait_until(lambda: _card_known(chain, b, "K-1001"), "K-1001 to reach BR02")
    await chain.post(b.url + "/api/cards/K-1001/top-up", {"amount_fen": 30_000})
    await _drained(chain, "BR01", "BR02")

    br01 = {
        "branch": "BR01",
        "outstanding_fen": 137_200,
        "issued_fen": 100_000,
        "topped_up_fen": 50_000,
        "spent_fen": 25_600,
        "refunded_fen": 12_800,
        "other_fen": 0,
    }
    br02 = {
        "branch": "BR02",
        "outstanding_fen": 30_000,
        "issued_fen": 0,
        "topped_up_fen": 30_000,
        "spent_fen": 0,
        "refunded_fen": 0,
        "other_fen": 0,
    }
    liability_url = chain.hq.url + "/api/liability"
    assert await chain.get(liability_url) == {"branch": None, "total_fen": 167_200, "branches": [br01, br02]}
    # HQ's figures are the branch's: its top-ups, stored-value takings and refunds.
    assert (br01["topped_up_fen"], br01["spent_fen"], br01["refunded_fen"]) == (
        settled["top_ups"]["amount_fen"],
        settled["takings"]["stored_value_fen"],
        settled["refunds"]["stored_value_fen"],
    )
    # What HQ owes is what the cards hold.
    balances = [
        (await chain.get(f"{chain.hq.url}/api/cards/{card}"))["balances"]["stored_value"]
        for card in ("K-1001", "S-0001", "G-0001")
    ]
    assert balances == [67_200, 100_000, 0]
    assert await chain.get(liability_url, params={"branch": "BR02"}) == {
        "branch": "BR02",
        "total_fen": 30_000,
        "branches": [br02],
    }

    # BR01's store manager sees BR01's figures at HQ, and not BR02's.
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR01'))}"}
    own = {"branch": "BR01", "total_fen": 137_200, "branches": [br01]}
    assert await chain.get(liability_url, headers=manager) == own
    assert await chain.get(liability_url, params={"branch": "BR01"}, headers=manager) == own
    async with chain.session.get(liability_url, params={"branch": "BR02"}, headers=manager) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")
