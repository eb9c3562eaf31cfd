"""Discounts (FEATURES L11) on real servers and both HQ backends: a special price, a bundle
and a purchase rebate authored at HQ reach a branch; a gold card member's sale gets the
bundle, the special price and the card's rate, each line's best, with the points on what
was paid; returns give back exactly what was paid and take the rebate back once the sale
no longer earns it; HQ counts the sale at its price after discounts; what each refusal at
authoring gets.

Offers' windows are set around the test's own time, so nothing depends on the date."""

from __future__ import annotations

import datetime
from typing import Any

from tests.e2e.test_card_life import _sell
from tests.e2e.test_points import _author, _hq_headers, _iso
from tests.harness import Chain, Server, wait_until

TEAPOT = {"sku": "TEAPOT-YX", "name": "Yixing teapot / 紫砂壶", "price_fen": 10_000}


async def _balance(chain: Chain, node: Server, member: str, ledger: str) -> int:
    found = await chain.get(f"{node.url}/api/members/{member}")
    return int(sum(card["balances"][ledger] for card in found["cards"]))


async def _hq_sales(chain: Chain, headers: dict[str, str]) -> tuple[int, int]:
    found = await chain.get(chain.hq.url + "/api/sales/summary?branch=BR01", headers=headers)
    return int(found["count"]), int(found["total_fen"])


async def test_a_gold_members_sale_with_a_bundle_a_special_price_and_a_rebate(chain: Chain) -> None:
    """HQ offers, for the hour around now: green tea at 98.00 (list 128.00); a tea set,
    a teapot (100.00) and 4 cups (25.00), for 150.00; 20.00 back on a spend of 200.00.
    A gold card (GOLD-16800) pays 90% of list. The member buys a teapot, 5 cups and a
    tin of tea, 353.00 listed. By hand:
    - the set beats the card (90.00 + 4 x 22.50 = 180.00): 150.00, spread by list price
      over the teapot (100.00) and the 4 cups (100.00): 75.00 each;
    - the 5th cup takes the card: 22.50; the cups' line 75.00 + 22.50 = 97.50;
    - the tea: 98.00 beats the card's 115.20;
    - 75.00 + 97.50 + 98.00 = 270.50, 82.50 off (50.00 + 2.50 + 30.00);
    - points, 1 per yuan on what each line paid: 75 + 97 + 98 = 270 (353 before);
    - spent 270.50 >= 200.00: 20.00 back as stored value on the member's card.
    Returning 2 cups gives back 2/5 of the cups' 97.50: 39.00; the sale keeps 231.50,
    still over 200.00, so the rebate stays. Returning the rest gives back 231.50 (75.00 +
    58.50 + 98.00): 270.50 in all, exactly what was paid, and the rebate and every
    point go back. HQ counts the sale at 270.50."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    hour = {"valid_from_ms": _iso(now_ms - 3_600_000), "valid_until_ms": _iso(now_ms + 3_600_000)}
    await _author(chain, headers, "/api/products", TEAPOT)
    special = {"code": "TEA-WEEK", "name": "Tea week", "sku": "TEA-GREEN-100", "price_fen": 9_800, **hour}
    bundle = {
        "code": "TEA-SET",
        "name": "Tea set / 茶具套装",
        "lines": [{"sku": "TEAPOT-YX", "qty": 1}, {"sku": "CUP-CERAMIC", "qty": 4}],
        "price_fen": 15_000,
        **hour,
    }
    rebate = {"code": "SPEND-200", "name": "Spend 200 get 20", "min_spend_fen": 20_000, "back_fen": 2_000}
    authored = await _author(chain, headers, "/api/special-prices", special)
    assert authored["special_prices"][0]["valid_until_ms"] - authored["special_prices"][0][
        "valid_from_ms"
    ] == (7_200_000)
    await _author(chain, headers, "/api/bundles", bundle)
    await _author(chain, headers, "/api/rebate-rules", {**rebate, **hour})
    listed = await chain.get(chain.hq.url + "/api/bundles", headers=headers)
    assert listed["bundles"][0]["lines"] == bundle["lines"]

    async def arrived() -> bool:
        held = await chain.get(a.url + "/api/discounts")
        return [len(held[table]) for table in ("special_prices", "bundles", "rebate_rules")] == [1, 1, 1]

    await wait_until(arrived, "the offers to reach BR01")
    held = await chain.get(a.url + "/api/discounts")
    assert held["bundles"][0]["lines"] == bundle["lines"]

    member = await _sell(chain, a, "13900009001", "GOLD-16800", "G-9001", 1_680_000)

    async def card_sale_at_hq() -> bool:
        return (await _hq_sales(chain, headers))[0] == 1

    await wait_until(card_sale_at_hq, "the card's sale to reach HQ")
    hq_before = await _hq_sales(chain, headers)
    stored_before = await _balance(chain, a, member, "stored_value")
    lines = [
        {"sku": "TEAPOT-YX", "qty": 1},
        {"sku": "CUP-CERAMIC", "qty": 5},
        {"sku": "TEA-GREEN-100", "qty": 1},
    ]
    shown = await chain.post(a.url + "/api/sales/preview", {"member_id": member, "lines": lines}, status=200)
    assert (shown["total_fen"], shown["discount_fen"], shown["points_earned"]) == (27_050, 8_250, 270)
    sold = await chain.post(
        a.url + "/api/sales",
        {"member_id": member, "lines": lines, "tenders": [{"kind": "cash", "amount_fen": 30_000}]},
    )
    assert [(x["unit_price_fen"], x.get("discount_fen", 0), x["amount_fen"]) for x in sold["lines"]] == [
        (10_000, 2_500, 7_500),
        (2_500, 2_750, 9_750),
        (12_800, 3_000, 9_800),
    ]
    assert (sold["total_fen"], sold["change_fen"], sold["discount_fen"]) == (27_050, 2_950, 8_250)
    assert [line["points"] for line in sold["lines"]] == [75, 97, 98]
    assert sold["points_earned"] == 270
    reasons = {(r["kind"], r["code"]): (r["lines"], r["discount_fen"]) for r in sold["discounts"]}
    assert reasons == {
        ("bundle", "TEA-SET"): ([0, 1], 5_000),
        ("special", "TEA-WEEK"): ([2], 3_000),
        ("card", "GOLD-16800"): ([1], 250),
    }
    assert all(r["text"] and r["text_zh"] for r in sold["discounts"])
    assert [r["discount_fen"] for r in shown["discounts"]] == [r["discount_fen"] for r in sold["discounts"]]
    assert (sold["rebate"]["code"], sold["rebate"]["back_fen"]) == ("SPEND-200", 2_000)
    assert sold["rebate"]["text_zh"]
    assert await _balance(chain, a, member, "stored_value") == stored_before + 2_000
    assert await _balance(chain, a, member, "points") == 270
    again = await chain.get(f"{a.url}/api/sales/{sold['id']}")
    assert (again["discounts"], again["rebate"], again["lines"][1]["discount_fen"]) == (
        sold["discounts"],
        sold["rebate"],
        2_750,
    )

    # HQ counts the sale at what was paid, and says why from the entry the branch signed.
    async def sale_at_hq() -> bool:
        return (await _hq_sales(chain, headers))[0] == hq_before[0] + 1

    await wait_until(sale_at_hq, "the sale to reach HQ")
    assert (await _hq_sales(chain, headers))[1] == hq_before[1] + 27_050
    read = await chain.get(f"{chain.hq.url}/api/sales/{sold['id']}?branch=BR01", headers=headers)
    assert [r["discount_fen"] for r in read["discounts"]] == [r["discount_fen"] for r in sold["discounts"]]
    assert read["rebate"]["back_fen"] == 2_000

    returns = f"{a.url}/api/sales/{sold['id']}/returns"
    cups = await chain.post(returns, {"lines": [{"line_no": 1, "qty": 2}]})
    assert (cups["refund_fen"], cups["rebate_taken_back_fen"]) == (3_900, 0)
    assert await _balance(chain, a, member, "stored_value") == stored_before + 2_000
    rest = await chain.post(
        returns,
        {"lines": [{"line_no": 0, "qty": 1}, {"line_no": 1, "qty": 3}, {"line_no": 2, "qty": 1}]},
    )
    assert [line["amount_fen"] for line in rest["lines"]] == [7_500, 5_850, 9_800]
    assert (rest["refund_fen"], rest["rebate_taken_back_fen"]) == (23_150, 2_000)
    assert cups["refund_fen"] + rest["refund_fen"] == sold["total_fen"]
    assert await _balance(chain, a, member, "stored_value") == stored_before
    assert await _balance(chain, a, member, "points") == 0


async def test_a_special_price_out_of_its_window_or_a_member_without_a_card_gets_none(chain: Chain) -> None:
    """A special price that ended an hour ago gives nothing: green tea 128.00. A member
    with no card of a type pays the list price; a sale to nobody gets no rebate."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    ended = {"valid_from_ms": _iso(now_ms - 7_200_000), "valid_until_ms": _iso(now_ms - 3_600_000)}
    special = {"code": "OLD", "name": "Old", "sku": "TEA-GREEN-100", "price_fen": 9_800, **ended}
    await _author(chain, headers, "/api/special-prices", special)
    await _author(
        chain, headers, "/api/rebate-rules", {"code": "R1", "name": "R1", "min_spend_fen": 100, "back_fen": 1}
    )

    async def arrived() -> bool:
        held = await chain.get(a.url + "/api/discounts")
        return len(held["special_prices"]) == 1 and len(held["rebate_rules"]) == 1

    await wait_until(arrived, "the offers to reach BR01")
    tea = {"lines": [{"sku": "TEA-GREEN-100", "qty": 1}]}
    shown = await chain.post(a.url + "/api/sales/preview", tea, status=200)
    assert (shown["total_fen"], shown["discounts"], shown["rebate"]) == (12_800, [], None)
    member = (await chain.post(a.url + "/api/members", {"name": "Li Na", "phone": "13900009002"}))["id"]
    mine = await chain.post(a.url + "/api/sales/preview", {**tea, "member_id": member}, status=200)
    assert (mine["total_fen"], mine["discount_fen"], mine["rebate"]["back_fen"]) == (12_800, 0, 1)


async def test_offers_hq_cannot_apply_are_refused_when_authored(chain: Chain) -> None:
    """Each refusal: 422 invalid_master_data with what is wrong, unknown_reference for a
    product HQ does not hold; nothing is published."""
    await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    special = {"code": "S1", "name": "S1", "sku": "TEA-GREEN-100", "price_fen": 9_800}
    bundle = {
        "code": "B1",
        "name": "B1",
        "lines": [{"sku": "CUP-CERAMIC", "qty": 2}],
        "price_fen": 4_000,
    }
    rebate = {"code": "R1", "name": "R1", "min_spend_fen": 20_000, "back_fen": 2_000}
    refused: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "/api/special-prices",
            {**special, "valid_from_ms": 2_000, "valid_until_ms": 1_000},
            "invalid_master_data",
            "ends",
        ),
        ("/api/special-prices", {**special, "price_fen": 0}, "invalid_master_data", "between 1 and"),
        ("/api/special-prices", {**special, "price_fen": 98.5}, "invalid_master_data", "integer"),
        ("/api/special-prices", {**special, "price_fen": 12_800}, "invalid_master_data", "not below"),
        ("/api/special-prices", {**special, "sku": "NO-SUCH"}, "unknown_reference", "NO-SUCH"),
        ("/api/bundles", {**bundle, "price_fen": 5_000}, "invalid_master_data", "cost less"),
        (
            "/api/bundles",
            {**bundle, "lines": [{"sku": "CUP-CERAMIC", "qty": 1}]},
            "invalid_master_data",
            "one unit",
        ),
        ("/api/bundles", {**bundle, "lines": []}, "invalid_master_data", "1 to"),
        (
            "/api/bundles",
            {**bundle, "lines": [{"sku": "CUP-CERAMIC", "qty": 1}, {"sku": "CUP-CERAMIC", "qty": 1}]},
            "invalid_master_data",
            "twice",
        ),
        ("/api/bundles", {**bundle, "lines": [{"sku": "NO-SUCH", "qty": 2}]}, "unknown_reference", "NO-SUCH"),
        (
            "/api/rebate-rules",
            {**rebate, "back_fen": 30_000},
            "invalid_master_data",
            "at most what was spent",
        ),
        ("/api/rebate-rules", {**rebate, "kind": "voucher"}, "invalid_master_data", "stored value"),
        ("/api/rebate-rules", {**rebate, "min_spend_fen": -1}, "invalid_master_data", "between 1 and"),
    ]
    for path, body, code, words in refused:
        async with chain.session.post(chain.hq.url + path, json=body, headers=headers) as response:
            answer = await response.json()
            assert response.status == 422, (body, answer)
            assert answer["error"] == code, (body, answer)
            assert words in answer["message"], (body, answer)
    for path, plural in (
        ("/api/special-prices", "special_prices"),
        ("/api/bundles", "bundles"),
        ("/api/rebate-rules", "rebate_rules"),
    ):
        assert (await chain.get(chain.hq.url + path, headers=headers))[plural] == []
