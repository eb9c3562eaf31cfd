"""Goods redeemed for points (FEATURES L7), on real servers and both HQ backends: HQ
gives a product a points price, it reaches the branch, a member redeems it beside goods
paid in cash, its stock leaves as for a sale, and returns give the points back into
the lots they came from; every refusal with its code and status; the same redemption
with HQ down.

HQ's settings make a point worth 2 fen and a tender rule gives no points on what points
pay (as test_points does), so a redemption tender the points engine weighed would show."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.contract import PRODUCT_UPSERT, SALE_CHECKOUT
from protocol.errors import PayloadInvalid
from tests.e2e.test_points import _author, _hq_headers
from tests.e2e.test_points_lots import _held, _lots, _recorded_lots
from tests.harness import Chain, Server, wait_until
from tests.protocol.test_contract import a_sale

TEA_FEN = 12_800  # HQ's demo TEA-GREEN-100: 128 points a tin (1 per yuan, HQ's default)
CUP_FEN = 2_500  # CUP-CERAMIC
NUTS = "SNACK-NUTS"  # 3,990 fen in money; 150 points to redeem here
NUTS_POINTS = 150
NO_POINTS_ON_POINTS = {
    "code": "NO-PTS",
    "name": "None on points",
    "kind": "tender",
    "target": "points",
    "factor_milli": 0,
}


async def _redeemable(chain: Chain, node: Server) -> None:
    """HQ prices the nuts at 150 points, a point at 2 fen, puts the nuts on offer at
    2.00 (a special price a redeemed line must not take), and gives no points on what
    points pay; the branch has all four."""
    headers = await _hq_headers(chain)
    await _author(chain, headers, "/api/products", {"sku": NUTS, "points_price": NUTS_POINTS})
    await _author(chain, headers, "/api/points-settings", {"code": "chain", "point_value_fen": 2})
    await _author(chain, headers, "/api/points-rules", NO_POINTS_ON_POINTS)
    special = {"code": "NUTS-OFF", "name": "Nuts on offer", "sku": NUTS, "price_fen": 200}
    await _author(chain, headers, "/api/special-prices", special)

    async def arrived() -> bool:
        products = (await chain.get(node.url + "/api/products"))["products"]
        priced = {item["sku"]: item["points_price"] for item in products}
        held = await chain.get(node.url + "/api/points-rules")
        return (
            priced[NUTS] == NUTS_POINTS
            and priced["CUP-CERAMIC"] is None
            and held["settings"]["point_value_fen"] == 2
            and {rule["code"] for rule in held["rules"] if rule["active"]} == {"NO-PTS"}
            and len((await chain.get(node.url + "/api/discounts"))["special_prices"]) == 1
        )

    await wait_until(arrived, f"the points price, the worth of a point and NO-PTS to reach {node}")


async def _member_with_lots(chain: Chain, node: Server, phone: str) -> tuple[str, str, str]:
    """A member who earned lot S1 of 256 points (two tins) and lot S2 of 128 (one tin)."""
    member = str((await chain.post(node.url + "/api/members", {"name": "Lu Xin", "phone": phone}))["id"])
    lots = []
    for tins in (2, 1):
        sale = {
            "member_id": member,
            "lines": [{"sku": "TEA-GREEN-100", "qty": tins}],
            "tenders": [{"kind": "cash", "amount_fen": tins * TEA_FEN}],
        }
        sold = await chain.post(node.url + "/api/sales", sale)
        lots.append(f"{sold['id']}-pts")
    assert await _held(chain, node, member) == {lots[0]: 256, lots[1]: 128}
    return member, lots[0], lots[1]


async def _stock_of(chain: Chain, node: Server, sku: str) -> int:
    products = (await chain.get(node.url + "/api/products"))["products"]
    return int(next(item["stock_qty"] for item in products if item["sku"] == sku))


def _cup_and_nuts(member: str | None, nuts: int, redeem: Any = True) -> dict[str, Any]:
    return {
        "member_id": member,
        "lines": [{"sku": "CUP-CERAMIC", "qty": 1}, {"sku": NUTS, "qty": nuts, "redeem": redeem}],
        "tenders": [{"kind": "cash", "amount_fen": CUP_FEN}],
    }


async def _refused(chain: Chain, node: Server, body: dict[str, Any]) -> tuple[int, str, str]:
    async with chain.session.post(node.url + "/api/sales", json=body) as response:
        answer = await response.json()
        return response.status, answer["error"], answer["message"]


async def test_a_member_redeems_goods_beside_a_cup_and_returns_give_the_points_back_into_their_lots(
    chain: Chain,
) -> None:
    """By hand (a point is worth 2 fen; the nuts cost 150 points; a cup 2,500 fen):
    - Lots S1 256 and S2 128 (two tins, then one). Stock of nuts at the branch: n.
    - One sale: a cup in cash and 2 nuts redeemed. The nuts take 2 x 150 = 300 points,
      soonest expiry first: S1's 256 and 44 of S2 (S2 keeps 84). Their line is worth
      300 x 2 = 600 fen (unit price 300), no discount (not the offer's 2.00 a unit:
      that would make 400); the sale's total is
      2,500 + 600 = 3,100, paid by 2,500 in cash (t0) and the 300 points (t1). Only the
      cup earns: 25 points (lot S3), none on the nuts; had the engine weighed the points
      tender (NO-PTS: x0), the cup would earn floor(25 x 2,500 / 3,100) = 20. Held:
      S2 84, S3 25; balance 384 - 300 + 25 = 109. Stock of nuts n - 2.
    - 1 nut back: 150 points go back, into the lot taken last first: 44 into S2, 106
      into S1 (S1 106, S2 128, S3 25); stock n - 1. The refund is 600 fen's half (300)
      to the points tender t1, none in cash.
    - The cup back: 2,500 in cash, though the points tender still has 300 fen's worth
      unreturned; its 25 points taken back (S1 106, S2 128).
    - The other nut back: 150 more into S1 (S1 256, S2 128); stock n. Together the
      returns gave back 300 points, what the sale took lot by lot: balance 384, as
      before the sale."""
    a = await chain.add_node("BR01")
    await _redeemable(chain, a)
    member, s1, s2 = await _member_with_lots(chain, a, "13900009101")
    stock = await _stock_of(chain, a, NUTS)

    sold = await chain.post(a.url + "/api/sales", _cup_and_nuts(member, 2))
    cup, nuts = sold["lines"]
    assert (nuts["sku"], nuts["qty"], nuts["redeem_points"]) == (NUTS, 2, 150)
    assert (nuts["unit_price_fen"], nuts["amount_fen"], nuts["points"]) == (300, 600, 0)
    assert "discount_fen" not in nuts
    assert "redeem_points" not in cup
    assert nuts["cost_fen"] > 0  # the goods' cost: HQ sees the redemption's gross profit
    assert nuts["gross_profit_fen"] == 600 - nuts["cost_fen"]
    assert (cup["amount_fen"], cup["points"]) == (CUP_FEN, 25)
    assert (sold["total_fen"], sold["change_fen"], sold["points_earned"]) == (3_100, 0, 25)
    assert sold["tenders"] == [
        {"amount_fen": CUP_FEN, "kind": "cash"},
        {"amount_fen": 600, "card": member, "kind": "points", "points": 300, "sku": NUTS},
    ]
    s3 = f"{sold['id']}-pts"
    assert await _recorded_lots(a, f"{sold['id']}-t1") == ((s1, 256), (s2, 44))
    assert await _held(chain, a, member) == {s2: 84, s3: 25}
    assert (await _lots(chain, a, member))["balance"] == 109
    assert await _stock_of(chain, a, NUTS) == stock - 2
    read = await chain.get(f"{a.url}/api/sales/{sold['id']}")  # the receipt, read back
    assert (read["lines"], read["tenders"]) == (
        [{**line, "line_no": n} for n, line in enumerate(sold["lines"])],
        sold["tenders"],
    )

    returns = f"{a.url}/api/sales/{sold['id']}/returns"
    one = await chain.post(returns, {"lines": [{"line_no": 1, "qty": 1}]})
    assert one["refunds"] == [
        {"tender_no": 1, "kind": "points", "amount_fen": 300, "card": member, "points": 150}
    ]
    assert (one["refund_fen"], one["points_taken_back"]) == (300, 0)
    assert await _held(chain, a, member) == {s1: 106, s2: 128, s3: 25}
    assert await _stock_of(chain, a, NUTS) == stock - 1
    cup_back = await chain.post(returns, {"lines": [{"line_no": 0, "qty": 1}]})
    assert cup_back["refunds"] == [{"tender_no": 0, "kind": "cash", "amount_fen": CUP_FEN, "card": None}]
    assert cup_back["points_taken_back"] == 25
    assert await _held(chain, a, member) == {s1: 106, s2: 128}
    other = await chain.post(returns, {"lines": [{"line_no": 1, "qty": 1}]})
    assert [(r["tender_no"], r["points"], r["amount_fen"]) for r in other["refunds"]] == [(1, 150, 300)]
    assert await _stock_of(chain, a, NUTS) == stock
    back_lots = {lot for r in (one, other) for lot in await _recorded_lots(a, f"{r['id']}-r0")}
    assert back_lots == {(s2, 44), (s1, 106), (s1, 150)}
    shown = await _lots(chain, a, member)
    assert (shown["balance"], {lot["lot"]: lot["held"] for lot in shown["lots"]}) == (384, {s1: 256, s2: 128})

    # HQ books the redemption as any sale line: the sale's revenue and cost, the stock.
    async def at_hq() -> bool:
        summary = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
        return bool(summary["count"] == 3)

    await wait_until(at_hq, "HQ to hold the branch's three sales")
    at = await chain.get(f"{chain.hq.url}/api/sales/{sold['id']}", params={"branch": "BR01"})
    assert (at["total_fen"], at["lines"][1]["redeem_points"], at["tenders"][1]["sku"]) == (3_100, 150, NUTS)
    summary = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
    assert summary["total_fen"] == 3 * TEA_FEN + 3_100


async def test_each_refusal_of_a_redemption(chain: Chain) -> None:
    """At HQ, a points price of 0, a fraction, text or a flag is 422 invalid_master_data.
    At the till, with the member's 384 points (S1 256, S2 128): a redemption to no member
    is 422 redeem_needs_member; a cup (no points price) 409 not_redeemable; 3 nuts (450
    points) 402 points_short; redeem given as "yes" or 1 is 422 invalid. Nothing is
    taken: the lots are as they were."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    for price in (0, -150, 1.5, "150", True):
        async with chain.session.post(
            chain.hq.url + "/api/products", json={"sku": NUTS, "points_price": price}, headers=headers
        ) as response:
            answer = await response.json()
            assert (response.status, answer["error"]) == (422, "invalid_master_data"), price
            assert "points_price" in answer["message"]
    await _redeemable(chain, a)
    member, s1, s2 = await _member_with_lots(chain, a, "13900009102")

    assert (await _refused(chain, a, _cup_and_nuts(None, 1)))[:2] == (422, "redeem_needs_member")
    cup_redeemed = {
        "member_id": member,
        "lines": [{"sku": "CUP-CERAMIC", "qty": 1, "redeem": True}],
        "tenders": [],
    }
    status, code, message = await _refused(chain, a, cup_redeemed)
    assert (status, code) == (409, "not_redeemable")
    assert "CUP-CERAMIC" in message
    status, code, message = await _refused(chain, a, _cup_and_nuts(member, 3))
    assert (status, code) == (402, "points_short")
    assert "384 points" in message
    for redeem in ("yes", 1, None):
        status, code, message = await _refused(chain, a, _cup_and_nuts(member, 1, redeem))
        assert (status, code) == (422, "invalid"), redeem
        assert "lines[1].redeem" in message
    assert await _held(chain, a, member) == {s1: 256, s2: 128}

    # Goods alone, all redeemed, need no tender of their own: 1 nut, 150 points.
    alone = {"member_id": member, "lines": [{"sku": NUTS, "qty": 1, "redeem": True}], "tenders": []}
    sold = await chain.post(a.url + "/api/sales", alone)
    assert (sold["total_fen"], [t["kind"] for t in sold["tenders"]]) == (300, ["points"])
    assert await _held(chain, a, member) == {s1: 106, s2: 128}


async def test_the_same_redemption_with_hq_down(chain: Chain) -> None:
    """With HQ stopped, the member (S1 256, S2 128) redeems 2 nuts beside a cup as online:
    300 points from S1 256 and S2 44, a total of 3,100, 25 points earned on the cup. HQ,
    back, holds the card's 384 - 300 + 25 = 109 points."""
    a = await chain.add_node("BR01")
    await _redeemable(chain, a)
    member, s1, s2 = await _member_with_lots(chain, a, "13900009103")
    await chain.hq.stop()
    sold = await chain.post(a.url + "/api/sales", _cup_and_nuts(member, 2))
    assert (sold["total_fen"], sold["points_earned"], sold["lines"][1]["redeem_points"]) == (3_100, 25, 150)
    assert await _recorded_lots(a, f"{sold['id']}-t1") == ((s1, 256), (s2, 44))
    assert await _held(chain, a, member) == {s2: 84, f"{sold['id']}-pts": 25}
    await chain.hq.start()

    async def hq_agrees() -> bool:
        headers = await _hq_headers(chain)
        async with chain.session.get(f"{chain.hq.url}/api/cards/{member}", headers=headers) as response:
            return response.status == 200 and (await response.json())["balances"]["points"] == 109

    await wait_until(hq_agrees, "HQ to hold the member's 109 points")


def test_the_contract_bounds_a_redemption_on_the_wire() -> None:
    """A redeemed line carries its points per unit (1 or more) and its points tender the
    goods, nothing else; a product's points price in HQ's feed is 1 or more, or null."""
    nuts = {"sku": NUTS, "qty": 2, "unit_price_fen": 300, "amount_fen": 600, "redeem_points": 150}
    tender = {"kind": "points", "amount_fen": 600, "card": "M-0001", "points": 300, "sku": NUTS}
    sale = a_sale(
        lines=[nuts],
        tenders=[tender],
        total_fen=600,
        change_fen=0,
        moves=[{"warehouse": "BR01-MAIN", "sku": NUTS, "qty": -2, "cost_fen": -4_400, "cause": "sale"}],
    )
    SALE_CHECKOUT.check(sale)
    for line, tenders in (
        ({**nuts, "redeem_points": 0}, [tender]),
        (nuts, [{**tender, "qty": 2}]),
        (nuts, [{**tender, "sku": ""}]),
    ):
        with pytest.raises(PayloadInvalid):
            SALE_CHECKOUT.check({**sale, "lines": [line], "tenders": tenders})
    product = {"sku": NUTS, "name": "Mixed nuts", "price_fen": 3_990}
    for points_price in (None, 1, 150):
        PRODUCT_UPSERT.check({**product, "points_price": points_price})
    for wrong in (0, -1, 1.5, "150"):
        with pytest.raises(PayloadInvalid):
            PRODUCT_UPSERT.check({**product, "points_price": wrong})
