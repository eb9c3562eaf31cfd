"""Cards of a type end to end, on real servers and both HQ backends: a type authored at
HQ reaches the branches through the feed, a card of it is sold at one branch, its
uses are spent at two branches (one cut off from HQ), and every replica and HQ agree
on what is left; what each refusal gets.

HQ's demo card GOLD-16800 (the seed's example): price 16,800 yuan = 1,680,000 fen, ten
haircuts (SVC-HAIRCUT, 8,800 fen each) and ten foot massages (SVC-MASSAGE, 19,800 fen),
five gift boxes (GIFT-BOX, preset purchase price 16,500 fen), 365 days, 90 % rate,
level gold.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pytest

from node.routes.context import CONTEXT
from tests.harness import Chain, Server, wait_until

GOLD = "GOLD-16800"


async def _refused(chain: Chain, url: str, body: Any, status: int, code: str) -> dict[str, Any]:
    async with chain.session.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert (response.status, answer.get("error")) == (status, code), answer
        assert answer["message"]
        return answer


async def _types_arrived(chain: Chain, node: Server) -> bool:
    listed = (await chain.get(node.url + "/api/card-types"))["card_types"]
    return GOLD in {card_type["code"] for card_type in listed}


async def _uses(chain: Chain, url: str, card: str) -> dict[str, int] | None:
    async with chain.session.get(f"{url}/api/cards/{card}") as response:
        if response.status != 200:
            return None
        uses: dict[str, int] = (await response.json())["uses"]
        return uses


def _uses_sale(member: str, sku: str, qty: int, card: str, cash_fen: int = 0, **extra: int) -> dict[str, Any]:
    lines = [{"sku": sku, "qty": qty}] + [{"sku": s, "qty": q} for s, q in extra.items()]
    tenders: list[dict[str, Any]] = [{"kind": "uses", "card": card, "sku": sku, "qty": qty}]
    if cash_fen:
        tenders.append({"kind": "cash", "amount_fen": cash_fen})
    return {"member_id": member, "lines": lines, "tenders": tenders}


async def test_a_card_of_a_type_sold_offline_capable_used_at_two_branches_and_agreed_at_hq(
    chain: Chain,
) -> None:
    """Worked by hand:
    - BR01 sells G-0001 for 1,700,000 fen cash: change 20,000; the card holds 10 + 10 uses,
      no stored value; the five gift boxes leave BR01-MAIN at 5 x 16,500 = 82,500 fen.
    - The card's type takes 10% off every unit its holder buys (loyalty.discounts), those
      its uses pay included.
    - BR01: two haircuts on the card (17,600 fen of services, 15,840 after the rate, no
      points): haircuts 8.
    - HQ goes down. BR02: three massages on the card (59,400: 53,460) and a cup (2,500:
      2,250) paid with 2,500 in cash: a 55,710 fen sale, 250 change, 22 points for the
      cup only (floor of 22.5); massages 7 there. BR01: one massage (17,820): massages 9
      there.
    - HQ returns: everywhere haircuts 8, massages 10 - 3 - 1 = 6.
    - HQ's BR01 sales: the card (1,680,000) and the two service sales (15,840 + 17,820):
      3 sales, 1,713,660 fen, as BR01 counts them itself.
    """
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    for node in (a, b):
        await wait_until(lambda n=node: _types_arrived(chain, n), "the card types to arrive")  # type: ignore[misc]
    gold = next(t for t in (await chain.get(a.url + "/api/card-types"))["card_types"] if t["code"] == GOLD)
    assert (gold["price_fen"], gold["uses"], gold["gifts"]) == (
        1_680_000,
        [{"sku": "SVC-HAIRCUT", "qty": 10}, {"sku": "SVC-MASSAGE", "qty": 10}],
        [{"sku": "GIFT-BOX", "qty": 5}],
    )
    member = (await chain.post(a.url + "/api/members", {"name": "Wang Fang", "phone": "13900005555"}))["id"]

    body = {
        "member_id": member,
        "card_type": GOLD,
        "card": "G-0001",
        "tenders": [{"kind": "cash", "amount_fen": 1_700_000}],
    }
    sold = await chain.post(a.url + "/api/card-sales", body, headers={"Idempotency-Key": "card-0001"})
    again = await chain.post(
        a.url + "/api/card-sales", body, status=200, headers={"Idempotency-Key": "card-0001"}
    )
    assert (again["id"], again["replayed"]) == (sold["id"], True)
    assert (sold["price_fen"], sold["change_fen"], sold["member_id"]) == (1_680_000, 20_000, member)
    card = sold["card"]
    assert card["uses"] == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}
    assert card["balances"]["stored_value"] == 0
    first = datetime.date.fromisoformat(card["card_type"]["valid_from"])
    assert card["card_type"] == {
        "code": GOLD,
        "level": "gold",
        "discount_rate": 90,
        "valid_from": first.isoformat(),
        "valid_until": (first + datetime.timedelta(days=364)).isoformat(),
        "services": [],
    }

    haircuts = await chain.post(a.url + "/api/sales", _uses_sale(member, "SVC-HAIRCUT", 2, "G-0001"))
    assert (haircuts["total_fen"], haircuts["points_earned"]) == (15_840, 0)
    assert haircuts["tenders"] == [
        {"amount_fen": 15_840, "card": "G-0001", "kind": "uses", "qty": 2, "sku": "SVC-HAIRCUT"}
    ]
    # A service item holds no stock: the haircuts moved none.
    assert haircuts["lines"][0]["cost_fen"] == 0

    async def at_b(expected: dict[str, int]) -> bool:
        return await _uses(chain, b.url, "G-0001") == expected

    await wait_until(lambda: at_b({"SVC-HAIRCUT": 8, "SVC-MASSAGE": 10}), "the card to reach BR02")

    await chain.hq.stop()
    massages = await chain.post(
        b.url + "/api/sales",
        _uses_sale(member, "SVC-MASSAGE", 3, "G-0001", cash_fen=2_500, **{"CUP-CERAMIC": 1}),
    )
    assert (massages["total_fen"], massages["change_fen"], massages["points_earned"]) == (55_710, 250, 22)
    assert await _uses(chain, b.url, "G-0001") == {"SVC-HAIRCUT": 8, "SVC-MASSAGE": 7}
    one = await chain.post(a.url + "/api/sales", _uses_sale(member, "SVC-MASSAGE", 1, "G-0001"))
    assert one["total_fen"] == 17_820
    assert await _uses(chain, a.url, "G-0001") == {"SVC-HAIRCUT": 8, "SVC-MASSAGE": 9}

    await chain.hq.start()
    for branch in ("BR01", "BR02"):
        await wait_until(lambda br=branch: chain.drained(br), f"{branch}'s backlog to drain")  # type: ignore[misc]
    agreed = {"SVC-HAIRCUT": 8, "SVC-MASSAGE": 6}
    await wait_until(lambda: at_b(agreed), "BR01's massage to reach BR02")

    async def at_a() -> bool:
        return await _uses(chain, a.url, "G-0001") == agreed

    await wait_until(at_a, "BR02's massages to reach BR01")
    at_hq = await chain.get(chain.hq.url + "/api/cards/G-0001")
    assert at_hq["uses"] == agreed
    assert at_hq["card_type"]["code"] == GOLD
    assert at_hq["member_id"] == member

    hq_sales = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
    node_sales = await chain.get(a.url + "/api/sales/summary")
    assert (hq_sales["count"], hq_sales["total_fen"]) == (3, 1_713_660)
    assert (node_sales["count"], node_sales["total_fen"]) == (3, 1_713_660)
    stock = await chain.get(chain.hq.url + "/api/stock", params={"sku": "GIFT-BOX"})
    [gifts] = stock["skus"]
    assert gifts["qty"] == -5


async def test_what_each_card_refusal_gets(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    await wait_until(lambda: _types_arrived(chain, a), "the card types to arrive")
    member = (await chain.post(a.url + "/api/members", {"name": "Zhao Lei", "phone": "13900006666"}))["id"]
    cash = [{"kind": "cash", "amount_fen": 1_680_000}]
    sales_url = a.url + "/api/card-sales"
    await _refused(
        chain,
        sales_url,
        {"member_id": member, "card_type": "NO-SUCH", "card": "G-0002", "tenders": cash},
        404,
        "unknown_card_type",
    )
    await _refused(
        chain,
        sales_url,
        {"member_id": "nobody", "card_type": GOLD, "card": "G-0002", "tenders": cash},
        404,
        "unknown_member",
    )
    short = [{"kind": "cash", "amount_fen": 1_679_999}]
    await _refused(
        chain,
        sales_url,
        {"member_id": member, "card_type": GOLD, "card": "G-0002", "tenders": short},
        422,
        "tender_short",
    )
    await _refused(
        chain,
        sales_url,
        {
            "member_id": member,
            "card_type": GOLD,
            "card": "G-0002",
            "tenders": [{"kind": "stored_value", "amount_fen": 1}],
        },
        422,
        "invalid",
    )
    # The member's own virtual card is taken by the member.
    await _refused(
        chain,
        sales_url,
        {"member_id": member, "card_type": GOLD, "card": member, "tenders": cash},
        409,
        "card_taken",
    )
    await chain.post(sales_url, {"member_id": member, "card_type": GOLD, "card": "G-0002", "tenders": cash})
    await _refused(
        chain,
        sales_url,
        {"member_id": member, "card_type": GOLD, "card": "G-0002", "tenders": cash},
        409,
        "card_taken",
    )

    sales = a.url + "/api/sales"
    await _refused(chain, sales, _uses_sale(member, "SVC-HAIRCUT", 11, "G-0002"), 402, "uses_exhausted")
    # The card pays for more haircuts than the sale has.
    over = _uses_sale(member, "SVC-HAIRCUT", 1, "G-0002")
    over["tenders"][0]["qty"] = 2
    await _refused(chain, sales, over, 422, "not_on_this_card")
    time_card = _uses_sale(member, "SVC-MASSAGE", 1, "G-0002")
    time_card["tenders"][0]["kind"] = "time_card"
    await _refused(chain, sales, time_card, 422, "not_on_this_card")
    await _refused(chain, sales, _uses_sale(member, "SVC-HAIRCUT", 1, "G-0404"), 404, "unknown_card")
    missing_qty = _uses_sale(member, "SVC-HAIRCUT", 1, "G-0002")
    del missing_qty["tenders"][0]["qty"]
    await _refused(chain, sales, missing_qty, 422, "invalid")
    # Nothing above moved a use.
    assert await _uses(chain, a.url, "G-0002") == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}
    # A lost card pays with no uses either.
    await chain.post(a.url + "/api/cards/G-0002/status", {"action": "report_lost"})
    await _refused(chain, sales, _uses_sale(member, "SVC-HAIRCUT", 1, "G-0002"), 409, "card_blocked")


async def test_a_time_card_admits_its_services_only_inside_its_window(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MASSAGE-MONTH: 99,900 fen, 30 days of foot massages. Inside the window a massage
    (19,800 fen) is paid by the card; a haircut is not on it; the day after its last day
    it is refused as expired."""
    a = await chain.add_node("BR01")
    await wait_until(lambda: _types_arrived(chain, a), "the card types to arrive")
    member = (await chain.post(a.url + "/api/members", {"name": "Sun Li", "phone": "13900007777"}))["id"]
    sold = await chain.post(
        a.url + "/api/card-sales",
        {
            "member_id": member,
            "card_type": "MASSAGE-MONTH",
            "card": "T-0001",
            "tenders": [{"kind": "cash", "amount_fen": 99_900}],
        },
    )
    terms = sold["card"]["card_type"]
    assert terms["services"] == ["SVC-MASSAGE"]
    first = datetime.date.fromisoformat(terms["valid_from"])
    assert terms["valid_until"] == (first + datetime.timedelta(days=29)).isoformat()

    visit = _uses_sale(member, "SVC-MASSAGE", 1, "T-0001")
    visit["tenders"][0]["kind"] = "time_card"
    paid = await chain.post(a.url + "/api/sales", visit)
    assert (paid["total_fen"], paid["points_earned"], paid["tenders"][0]["amount_fen"]) == (19_800, 0, 19_800)
    haircut = _uses_sale(member, "SVC-HAIRCUT", 1, "T-0001")
    haircut["tenders"][0]["kind"] = "time_card"
    await _refused(chain, a.url + "/api/sales", haircut, 422, "not_on_this_card")

    # The node's clock moved to half past midnight on the day after the card's last day
    # (still its last day in UTC: the branch's own date decides), then to late on its last day.
    writer = a.app[CONTEXT].store.writer
    last_day = first + datetime.timedelta(days=29)
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    for day, time, status in (
        (last_day + datetime.timedelta(days=1), datetime.time(0, 30), 409),
        (last_day, datetime.time(23, 30), 201),
    ):
        at_ms = int(datetime.datetime.combine(day, time, shanghai).timestamp() * 1000)
        monkeypatch.setattr(writer, "_wall_ms", lambda ms=at_ms: ms)
        if status == 409:
            answer = await _refused(chain, a.url + "/api/sales", visit, 409, "card_expired")
            assert last_day.isoformat() in answer["message"]
        else:
            await chain.post(a.url + "/api/sales", visit)
