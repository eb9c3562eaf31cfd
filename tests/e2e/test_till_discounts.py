"""A discount given at the till (loyalty.discounts rule 7) on real servers and both HQ
backends. A line carries `"discount_fen": N`; a clerk may take at most the node's
clerk_discount_limit_percent (10) of what the line pays after HQ's offers, a store
manager (sales:edit) anything down to nothing. The sale is booked at its net, earns
points on it, reaches HQ at it, and a return gives back what the line paid; a refusal
books nothing; the preview prices the same as the sale.

The demo catalogue's prices: green tea 128.00 a tin, a ceramic cup 25.00. Points: one a
yuan of what each line paid (the chain's default rule), rounded down per line."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_card_life import _sell
from tests.e2e.test_discounts import _balance, _hq_sales
from tests.e2e.test_points import _hq_headers
from tests.harness import Chain, Server, clerk_login, log_in, wait_until

TEA, CUP = "TEA-GREEN-100", "CUP-CERAMIC"


async def _clerk(node: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {await log_in(node.url, clerk_login('BR01'))}"}


async def _node_sales(chain: Chain, node: Server) -> int:
    return int((await chain.get(node.url + "/api/sales/summary"))["count"])


async def _refused(
    chain: Chain, url: str, body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    async with chain.session.post(url, json=body, headers=headers or {}) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == status, (body, answer)
        return answer


def _tea_and_cups(discount_fen: Any, member: str | None = None) -> dict[str, Any]:
    tea: dict[str, Any] = {"sku": TEA, "qty": 1}
    if discount_fen is not None:
        tea["discount_fen"] = discount_fen
    body: dict[str, Any] = {
        "lines": [tea, {"sku": CUP, "qty": 2}],
        "tenders": [{"kind": "cash", "amount_fen": 20_000}],
    }
    if member is not None:
        body["member_id"] = member
    return body


async def test_a_clerk_takes_ten_percent_off_a_line_and_hq_counts_the_sale_at_its_net(chain: Chain) -> None:
    """A member (a stored-value card, no card discount) buys a tin of tea and 2 cups,
    178.00 at their prices. The clerk takes 12.80 (10%) off the tea. By hand:
    - tea 128.00 - 12.80 = 115.20, cups 50.00: 165.20, 12.80 off; change from 200.00 is
      34.80;
    - points on what each line paid: 115 + 50 = 165 (178 without the discount);
    - HQ counts the sale at 165.20 and reads the till's reason from the entry;
    - returning the tea gives back 115.20, what the line paid, and its 115 points."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    clerk = await _clerk(a)
    member = await _sell(chain, a, "13900009101", "STORED-1000", "S-9101", 100_000)
    await wait_until(lambda: chain.drained("BR01"), "the card's sale to reach HQ")
    hq_before = await _hq_sales(chain, headers)
    points_before = await _balance(chain, a, member, "points")

    body = _tea_and_cups(1_280, member)
    shown = await chain.post(a.url + "/api/sales/preview", body, status=200, headers=clerk)
    assert (shown["total_fen"], shown["discount_fen"], shown["points_earned"]) == (16_520, 1_280, 165)
    sold = await chain.post(a.url + "/api/sales", body, headers=clerk)
    assert [(x["unit_price_fen"], x.get("discount_fen", 0), x["amount_fen"]) for x in sold["lines"]] == [
        (12_800, 1_280, 11_520),
        (2_500, 0, 5_000),
    ]
    assert (sold["total_fen"], sold["change_fen"], sold["discount_fen"]) == (16_520, 3_480, 1_280)
    assert [line["points"] for line in sold["lines"]] == [115, 50]
    assert sold["points_earned"] == shown["points_earned"] == 165
    [reason] = sold["discounts"]
    assert (reason["kind"], reason["code"], reason["target"], reason["lines"], reason["discount_fen"]) == (
        "manual",
        "",
        "",
        [0],
        1_280,
    )
    assert (reason["text"], reason["text_zh"]) == ("till discount: 12.80 yuan off", "收银折让：优惠 12.80 元")
    assert shown["discounts"] == sold["discounts"]
    assert await _balance(chain, a, member, "points") == points_before + 165
    again = await chain.get(f"{a.url}/api/sales/{sold['id']}")
    assert (again["total_fen"], again["discounts"], again["lines"][0]["discount_fen"]) == (
        16_520,
        sold["discounts"],
        1_280,
    )

    await wait_until(lambda: chain.drained("BR01"), "the sale to reach HQ")
    assert await _hq_sales(chain, headers) == (hq_before[0] + 1, hq_before[1] + 16_520)
    read = await chain.get(f"{chain.hq.url}/api/sales/{sold['id']}?branch=BR01", headers=headers)
    assert [(r["kind"], r["discount_fen"]) for r in read["discounts"]] == [("manual", 1_280)]

    returned = await chain.post(
        f"{a.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}
    )
    assert [line["amount_fen"] for line in returned["lines"]] == [11_520]
    assert returned["refund_fen"] == 11_520
    assert await _balance(chain, a, member, "points") == points_before + 50


async def test_a_clerk_above_the_limit_is_refused_and_nothing_is_booked(chain: Chain) -> None:
    """10% of the tea's 128.00 is 12.80: 12.81 off, or 11% (14.08), is refused with 403
    discount_over_limit, by the sale and its preview alike, and the node books nothing.
    The limit is of what the line pays after offers: a gold card (90% of list) makes the
    tea 115.20, so a clerk may give 11.52 there and not 11.53."""
    a = await chain.add_node("BR01")
    clerk = await _clerk(a)
    member = await _sell(chain, a, "13900009102", "GOLD-16800", "G-9102", 1_680_000)
    before = await _node_sales(chain, a)
    for discount_fen in (1_281, 1_408):
        for path in ("/api/sales", "/api/sales/preview"):
            refused = await _refused(chain, a.url + path, _tea_and_cups(discount_fen), 403, clerk)
            assert refused["error"] == "discount_over_limit", refused
            assert "at most 10%" in refused["message"], refused
            assert "1280 fen" in refused["message"], refused
            assert "store manager" in refused["message"], refused
    on_card = await chain.post(
        a.url + "/api/sales/preview", _tea_and_cups(1_152, member), status=200, headers=clerk
    )
    assert [line["amount_fen"] for line in on_card["lines"]] == [10_368, 4_500]  # card 90%, then the till
    refused = await _refused(chain, a.url + "/api/sales", _tea_and_cups(1_153, member), 403, clerk)
    assert (refused["error"], "11520 fen" in refused["message"]) == ("discount_over_limit", True), refused
    assert await _node_sales(chain, a) == before
    # At the limit it is booked.
    sold = await chain.post(a.url + "/api/sales", _tea_and_cups(1_280), headers=clerk)
    assert sold["total_fen"] == 16_520
    assert await _node_sales(chain, a) == before + 1


async def test_a_store_manager_may_take_a_line_down_to_nothing(chain: Chain) -> None:
    """The store manager takes half off the tea (64.00) and all of the cups (50.00):
    64.00 to pay, 114.00 off in one reason over both lines. The preview says the same."""
    a = await chain.add_node("BR01")  # the session acts as BR01's store manager
    body = _tea_and_cups(6_400)
    body["lines"][1]["discount_fen"] = 5_000
    shown = await chain.post(a.url + "/api/sales/preview", body, status=200)
    sold = await chain.post(a.url + "/api/sales", body)
    assert [line["amount_fen"] for line in sold["lines"]] == [6_400, 0]
    assert (sold["total_fen"], sold["discount_fen"], sold["change_fen"]) == (6_400, 11_400, 13_600)
    assert (shown["total_fen"], shown["discount_fen"]) == (sold["total_fen"], sold["discount_fen"])
    assert [(r["kind"], r["lines"], r["discount_fen"]) for r in sold["discounts"]] == [
        ("manual", [0, 1], 11_400)
    ]
    # 0 is no discount: the line at its price, no reason.
    plain = await chain.post(a.url + "/api/sales", _tea_and_cups(0))
    assert (plain["total_fen"], plain["discounts"], "discount_fen" in plain["lines"][0]) == (
        17_800,
        [],
        False,
    )


async def test_a_malformed_discount_is_refused_as_invalid(chain: Chain) -> None:
    """Negative, a float, text, true, or more than the line pays: 422 invalid naming
    lines[0].discount_fen; on goods redeemed for points, 422 too. Nothing is booked."""
    a = await chain.add_node("BR01")
    before = await _node_sales(chain, a)
    for value, words in (
        (
            -1,
            "lines[0].discount_fen must be whole fen from 1 up to what the line pays"
            " (0 or absent for none), not -1",
        ),
        (12.5, "not 12.5"),
        ("100", "not a str"),
        (True, "not True"),
        (12_801, "lines[0].discount_fen 12801 fen is more than the 12800 fen the line pays after offers"),
    ):
        refused = await _refused(chain, a.url + "/api/sales", _tea_and_cups(value), 422)
        assert refused["error"] == "invalid", (value, refused)
        assert words in refused["message"], (value, refused)
    redeemed = {"lines": [{"sku": TEA, "qty": 1, "redeem": True, "discount_fen": 100}], "tenders": []}
    refused = await _refused(chain, a.url + "/api/sales", redeemed, 422)
    assert refused["error"] == "invalid", refused
    assert "redeemed for points" in refused["message"], refused
    assert await _node_sales(chain, a) == before
