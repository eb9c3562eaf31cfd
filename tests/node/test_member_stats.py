"""A member's consumption at one branch (FEATURES M6): visits, spend net of returns, the
last visit, favourite items and what paid, over the branch's own days; and what each
bad request gets. The same figures over every branch, at HQ, are in
tests/e2e/test_member_stats.py."""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
import zoneinfo
from typing import Any

import pytest

from node.config import STORE_FILE
from node.routes import members as member_routes
from node.routes.context import CONTEXT
from protocol import access
from tests.harness import Chain, Server, clerk_login, log_in, wait_until
from tests.vouchers import issue_to

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")  # the branch's zone (node.json's default)
DAY = datetime.date(2025, 3, 14)
UNKNOWN_ID = "01a20823-0000-7000-8000-000000000000"
NAMES = {
    "SOAP-BAR": "Sandalwood soap / 香皂",
    "TEA-OOLONG-250": "Oolong tea 250 g / 乌龙茶",
    "TEA-GREEN-100": "Longjing green tea 100 g / 龙井",
    "SNACK-NUTS": "Mixed nuts 200 g / 坚果",
}


def local_ms(day: datetime.date, hour: int, minute: int) -> int:
    return int(datetime.datetime.combine(day, datetime.time(hour, minute), SHANGHAI).timestamp() * 1000)


def set_clock(
    monkeypatch: pytest.MonkeyPatch, node: Server, day: datetime.date, hour: int, minute: int
) -> None:
    """The branch's writer books what follows, and reads its today, at this local time."""
    at_ms = local_ms(day, hour, minute)
    monkeypatch.setattr(node.app[CONTEXT].store.writer, "_wall_ms", lambda: at_ms)


def sale(member_id: str | None, lines: dict[str, int], *tenders: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()],
        "tenders": list(tenders),
    }
    if member_id is not None:
        body["member_id"] = member_id
    return body


def cash(amount_fen: int) -> dict[str, Any]:
    return {"kind": "cash", "amount_fen": amount_fen}


def stored_value(amount_fen: int) -> dict[str, Any]:
    return {"kind": "stored_value", "card": "K-1001", "amount_fen": amount_fen}


def favourite(sku: str, qty: int, amount_fen: int) -> dict[str, Any]:
    return {"sku": sku, "name": NAMES[sku], "qty": qty, "amount_fen": amount_fen}


def tenders(**paid: tuple[int, int]) -> dict[str, dict[str, int]]:
    """Every tender kind, with (paid, refunded) for those named and nothing for the rest."""
    kinds = ("cash", "stored_value", "voucher", "uses", "time_card", "credit", "points")
    figures = {kind: paid.get(kind, (0, 0)) for kind in kinds}
    return {kind: {"paid_fen": p, "refunded_fen": r, "net_fen": p - r} for kind, (p, r) in figures.items()}


async def stats(chain: Chain, node: Server, member_id: str, **query: str) -> Any:
    return await chain.get(f"{node.url}/api/members/{member_id}/stats", params=query)


async def refused(chain: Chain, url: str, status: int, code: str, **query: str) -> str:
    async with chain.session.get(url, params=query) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]
        return str(answer["message"])


@pytest.fixture
async def node(chain: Chain) -> Server:
    return await chain.add_node("BR01")


async def worked_member(chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """Chen Jing (card K-1001) at BR01, in Shanghai time:

    - 13 Mar 09:00 K-1001 topped up 50,000 in cash.
    - 13 Mar 10:00 S1: a SOAP-BAR, 1,200: 2,000 cash, 800 change.
    - 14 Mar 09:00 S2: 2 TEA-OOLONG-250 (13,600) and a CUP-CERAMIC (2,500) = 16,100:
      20,000 cash, 3,900 change.
    - 14 Mar 12:00 a TEA-GREEN-100 for another member, and 12:30 one for nobody: not hers.
    - 14 Mar 18:00 S3: 3 SOAP-BAR (3,600) and a SNACK-NUTS (3,990) = 7,590, stored value.
    - 15 Mar 07:30 (still the 14th in UTC) S4: a TEA-GREEN-100 (12,800) and 2 SOAP-BAR
      (2,400) = 15,200: 10,000 stored value and 5,200 cash.
    - 15 Mar 10:00 S2's cup comes back: 2,500 refunded in cash.
    """
    member = await chain.post(
        node.url + "/api/members", {"name": "Chen Jing", "phone": "13900008888", "cards": ["K-1001"]}
    )
    other = await chain.post(node.url + "/api/members", {"name": "Li Lei", "phone": "13900007777"})
    me = member["id"]
    set_clock(monkeypatch, node, DAY - datetime.timedelta(days=1), 9, 0)
    await chain.post(node.url + "/api/cards/K-1001/top-up", {"amount_fen": 50_000})
    set_clock(monkeypatch, node, DAY - datetime.timedelta(days=1), 10, 0)
    await chain.post(node.url + "/api/sales", sale(me, {"SOAP-BAR": 1}, cash(2_000)))
    # HQ holds the top-up: the stored-value spends below are held online.
    await wait_until(lambda: chain.drained("BR01"), "BR01's backlog to reach HQ")
    set_clock(monkeypatch, node, DAY, 9, 0)
    s2 = await chain.post(
        node.url + "/api/sales", sale(me, {"TEA-OOLONG-250": 2, "CUP-CERAMIC": 1}, cash(20_000))
    )
    assert (s2["total_fen"], s2["change_fen"]) == (16_100, 3_900)
    set_clock(monkeypatch, node, DAY, 12, 0)
    await chain.post(node.url + "/api/sales", sale(other["id"], {"TEA-GREEN-100": 1}, cash(12_800)))
    set_clock(monkeypatch, node, DAY, 12, 30)
    await chain.post(node.url + "/api/sales", sale(None, {"TEA-GREEN-100": 1}, cash(12_800)))
    set_clock(monkeypatch, node, DAY, 18, 0)
    s3 = await chain.post(
        node.url + "/api/sales", sale(me, {"SOAP-BAR": 3, "SNACK-NUTS": 1}, stored_value(7_590))
    )
    assert s3["total_fen"] == 7_590
    set_clock(monkeypatch, node, DAY + datetime.timedelta(days=1), 7, 30)
    s4 = await chain.post(
        node.url + "/api/sales",
        sale(me, {"TEA-GREEN-100": 1, "SOAP-BAR": 2}, stored_value(10_000), cash(5_200)),
    )
    assert s4["total_fen"] == 15_200
    set_clock(monkeypatch, node, DAY + datetime.timedelta(days=1), 10, 0)
    cup = await chain.post(f"{node.url}/api/sales/{s2['id']}/returns", {"lines": [{"line_no": 1, "qty": 1}]})
    assert cup["refunds"] == [{"tender_no": 0, "kind": "cash", "amount_fen": 2_500, "card": None}]
    set_clock(monkeypatch, node, DAY + datetime.timedelta(days=1), 21, 0)
    return str(me)


async def test_a_members_figures_at_the_branch_are_worked_by_hand(
    chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """14 and 15 March: S2, S3, S4. Visits 3 on 2 days; sales 16,100 + 7,590 + 15,200 =
    38,890, less the cup's 2,500 = 36,390 spent. Kept: SOAP-BAR 3 + 2 = 5 (3,600 + 2,400
    = 6,000), TEA-OOLONG-250 2 (13,600), TEA-GREEN-100 1 (12,800), SNACK-NUTS 1 (3,990;
    after the tea, which cost more); the cup came back. Cash paid 20,000 - 3,900 +
    5,200 = 21,300, 2,500 of it refunded; stored value 7,590 + 10,000 = 17,590:
    21,300 + 17,590 = 38,890 and 18,800 + 17,590 = 36,390."""
    me = await worked_member(chain, node, monkeypatch)
    found = await stats(chain, node, me, **{"from": "2025-03-14", "to": "2025-03-15"})
    assert found == {
        "member_id": me,
        "looked_up_as": me,
        "aliases": [],
        "branch": "BR01",
        "scope": "this branch",
        "timezone": "Asia/Shanghai",
        "from": "2025-03-14",
        "to": "2025-03-15",
        "visits": {"sales": 3, "days": 2},
        "sales": {"count": 3, "total_fen": 38_890},
        "returns": {"count": 1, "refund_fen": 2_500},
        "spend_fen": 36_390,
        "last_visit": {"at_ms": local_ms(DAY + datetime.timedelta(days=1), 7, 30), "day": "2025-03-15"},
        "favourites": [
            favourite("SOAP-BAR", 5, 6_000),
            favourite("TEA-OOLONG-250", 2, 13_600),
            favourite("TEA-GREEN-100", 1, 12_800),
            favourite("SNACK-NUTS", 1, 3_990),
        ],
        "tenders": tenders(cash=(21_300, 2_500), stored_value=(17_590, 0)),
    }
    # The first two favourites only.
    top_two = await stats(chain, node, me, **{"from": "2025-03-14", "to": "2025-03-15", "top": "2"})
    assert top_two == {**found, "favourites": found["favourites"][:2]}


async def test_a_period_is_the_branchs_days_and_a_return_counts_against_its_sale(
    chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the start to today (the 15th, 21:00 at the branch): S1 too, so 4 visits on 3
    days, 38,890 + 1,200 = 40,090 sold, 37,590 spent, 6 soaps for 7,200, and cash paid
    21,300 + 1,200 = 22,500. The 15th alone is S4 only, though it was still the 14th in
    UTC: 15,200, 2 soaps (2,400) before a tea (12,800). The 14th alone is S2 and S3
    (23,690) with the cup returned on the 15th taken off: 21,190."""
    me = await worked_member(chain, node, monkeypatch)
    since_ever = await stats(chain, node, me)
    assert (since_ever["from"], since_ever["to"]) == (None, "2025-03-15")
    assert (since_ever["visits"], since_ever["sales"], since_ever["spend_fen"]) == (
        {"sales": 4, "days": 3},
        {"count": 4, "total_fen": 40_090},
        37_590,
    )
    assert since_ever["favourites"][0] == favourite("SOAP-BAR", 6, 7_200)
    assert since_ever["tenders"]["cash"] == {"paid_fen": 22_500, "refunded_fen": 2_500, "net_fen": 20_000}

    the_15th = await stats(chain, node, me, **{"from": "2025-03-15", "to": "2025-03-15"})
    assert (the_15th["visits"], the_15th["sales"], the_15th["returns"], the_15th["spend_fen"]) == (
        {"sales": 1, "days": 1},
        {"count": 1, "total_fen": 15_200},
        {"count": 0, "refund_fen": 0},
        15_200,
    )
    assert the_15th["favourites"] == [favourite("SOAP-BAR", 2, 2_400), favourite("TEA-GREEN-100", 1, 12_800)]
    assert the_15th["tenders"] == tenders(cash=(5_200, 0), stored_value=(10_000, 0))

    the_14th = await stats(chain, node, me, **{"from": "2025-03-14", "to": "2025-03-14"})
    assert (the_14th["sales"], the_14th["returns"], the_14th["spend_fen"]) == (
        {"count": 2, "total_fen": 23_690},
        {"count": 1, "refund_fen": 2_500},
        21_190,
    )
    assert the_14th["last_visit"] == {"at_ms": local_ms(DAY, 18, 0), "day": "2025-03-14"}
    assert [item["sku"] for item in the_14th["favourites"]] == ["SOAP-BAR", "TEA-OOLONG-250", "SNACK-NUTS"]
    # A day before any of her sales: nothing, and no last visit.
    before = await stats(chain, node, me, **{"from": "2025-03-01", "to": "2025-03-12"})
    assert (before["visits"], before["spend_fen"], before["last_visit"], before["favourites"]) == (
        {"sales": 0, "days": 0},
        0,
        None,
        [],
    )
    assert before["tenders"] == tenders()


async def test_a_member_with_no_sales_has_none_up_to_the_branchs_today(
    chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 00:30 on 16 March in Shanghai (still the 15th in UTC) the branch's today is the 16th."""
    member = await chain.post(node.url + "/api/members", {"name": "Zhou Jie", "phone": "13800000001"})
    set_clock(monkeypatch, node, DAY + datetime.timedelta(days=2), 0, 30)
    found = await stats(chain, node, member["id"])
    assert found == {
        "member_id": member["id"],
        "looked_up_as": member["id"],
        "aliases": [],
        "branch": "BR01",
        "scope": "this branch",
        "timezone": "Asia/Shanghai",
        "from": None,
        "to": "2025-03-16",
        "visits": {"sales": 0, "days": 0},
        "sales": {"count": 0, "total_fen": 0},
        "returns": {"count": 0, "refund_fen": 0},
        "spend_fen": 0,
        "last_visit": None,
        "favourites": [],
        "tenders": tenders(),
    }


async def test_a_return_booked_before_refunds_were_kept_per_tender_counts_as_cash(
    chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cup (2,500) paid 2,000 in cash and 500 by voucher, returned; the store then holds
    the return as one from before migration 4 does, with no refund rows: it refunded
    2,500 in cash, so cash shows 2,000 paid and 2,500 refunded, and the member kept nothing."""
    member = await chain.post(node.url + "/api/members", {"name": "Pan", "phone": "13900005151"})
    code = await issue_to(
        chain, member["id"], "V0500", node, value_fen=500, valid=("2025-03-01", "2025-03-31")
    )
    set_clock(monkeypatch, node, DAY, 10, 0)
    voucher = {"kind": "voucher", "voucher": code, "amount_fen": 500}
    cup = await chain.post(
        node.url + "/api/sales", sale(member["id"], {"CUP-CERAMIC": 1}, voucher, cash(2_000))
    )
    await chain.post(f"{node.url}/api/sales/{cup['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    with contextlib.closing(sqlite3.connect(chain.root / "BR01" / STORE_FILE)) as conn:
        conn.execute("DELETE FROM sale_return_refunds")
        conn.commit()
    found = await stats(chain, node, member["id"])
    assert (found["sales"], found["returns"], found["spend_fen"], found["favourites"]) == (
        {"count": 1, "total_fen": 2_500},
        {"count": 1, "refund_fen": 2_500},
        0,
        [],
    )
    assert found["tenders"] == tenders(cash=(2_000, 2_500), voucher=(500, 0))


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2025-3-14"},
        {"from": "20250314"},
        {"to": "2025-02-30"},
        {"to": "yesterday"},
        {"from": "1970-01-01"},  # before the first day whose bounds are epoch milliseconds anywhere
        {"to": "２０２５-03-14"},
        {"from": "2025-03-14T00"},
        {"from": "2025-03-15", "to": "2025-03-14"},  # from after to
        {"from": "2025-03-17"},  # after today (to): the 16th at the branch
        {"top": "0"},
        {"top": "21"},
        {"top": "five"},
        {"top": "-1"},
    ],
)
async def test_a_bad_period_or_count_is_refused_naming_it(
    chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch, query: dict[str, str]
) -> None:
    member = await chain.post(node.url + "/api/members", {"name": "Zhou Jie", "phone": "13800000001"})
    set_clock(monkeypatch, node, DAY + datetime.timedelta(days=2), 0, 30)
    message = await refused(chain, f"{node.url}/api/members/{member['id']}/stats", 422, "invalid", **query)
    assert message.startswith(next(iter(query))), message


async def test_an_unknown_member_is_not_found_and_a_clerk_may_read_a_members_figures(
    chain: Chain, node: Server
) -> None:
    url = f"{node.url}/api/members/{UNKNOWN_ID}/stats"
    message = await refused(chain, url, 404, "unknown_member")
    assert UNKNOWN_ID in message
    member = await chain.post(node.url + "/api/members", {"name": "Zhou Jie", "phone": "13800000001"})
    clerk = {"Authorization": f"Bearer {await log_in(node.url, clerk_login('BR01'))}"}
    read = await chain.get(f"{node.url}/api/members/{member['id']}/stats", headers=clerk)
    assert read["member_id"] == member["id"]
    async with chain.session.get(
        f"{node.url}/api/members/{member['id']}/stats", headers={"Authorization": "Bearer nobody"}
    ) as response:
        assert (response.status, (await response.json())["error"]) == (401, "not_logged_in")


def test_reading_a_members_figures_needs_what_reading_the_member_needs() -> None:
    """Both branch roles hold members:view and members:add alike, so no log-in at a till
    tells the two apart: the declared policy is checked itself."""
    assert (
        access.declared(member_routes.stats)
        == access.declared(member_routes.show)
        == access.needs("members:view")
    )
