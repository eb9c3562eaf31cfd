"""Points by HQ's rules (loyalty.points), on real servers and both HQ backends: rules
authored at HQ reach a branch and change the next sale's points; the same sale earns
the same points with HQ down; the seed's worked example under each way of combining;
a sale's reasons read back at the till and at HQ; a return takes its points back;
what each refusal at authoring gets.

Rules' windows are set around the test's own time (the "golden week" is the hour
around now), so nothing depends on the date the suite runs.
"""

from __future__ import annotations

import datetime
from typing import Any

from tests.e2e.test_card_life import _sell
from tests.harness import Chain, Server, wait_until

RING = {"sku": "RING-B", "name": "Jade ring / 玉戒指", "price_fen": 200_000, "category": "B"}


def _iso(ms: int) -> str:
    """A moment as HQ takes it: an ISO time with its offset (Beijing time)."""
    zone = datetime.timezone(datetime.timedelta(hours=8))
    return datetime.datetime.fromtimestamp(ms // 1000, zone).isoformat()


async def _hq_headers(chain: Chain) -> dict[str, str]:
    return {"Authorization": f"Bearer {await chain.hq_token('mgr-zhou', 'management')}"}


async def _author(chain: Chain, headers: dict[str, str], path: str, body: Any) -> Any:
    return await chain.post(chain.hq.url + path, body, status=200, headers=headers)


async def _rules_at(chain: Chain, node: Server, codes: set[str], combine: str = "multiply") -> None:
    async def arrived() -> bool:
        held = await chain.get(node.url + "/api/points-rules")
        return {r["code"] for r in held["rules"] if r["active"]} == codes and held["settings"][
            "combine"
        ] == combine

    await wait_until(arrived, f"the points rules {sorted(codes)} ({combine}) to reach {node}")


def _ring_sale(member: str, tenders: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "member_id": member,
        "lines": [{"sku": "RING-B", "qty": 1}],
        "tenders": tenders or [{"kind": "cash", "amount_fen": 200_000}],
    }


async def _points_of(chain: Chain, node: Server, member: str) -> int:
    found = await chain.get(f"{node.url}/api/members/{member}")
    return int(sum(card["balances"]["points"] for card in found["cards"]))


async def test_the_seeds_gold_member_in_the_golden_week_under_each_way_of_combining(chain: Chain) -> None:
    """A gold member (level rule 1.5x) buys a 2,000-yuan ring of category B (2x) in the
    golden week (holiday 2x). The gold card pays 90% of list (loyalty.discounts), so the
    ring is paid 1,800 and points are on that. By hand:
    - multiply: 1,800 x 2 x 1.5 x 2 = 10,800 points;
    - add: 1,800 x (1 + (2-1) + (1.5-1) + (2-1)) = 1,800 x 3.5 = 6,300;
    - best: 1,800 x 2 = 3,600.
    The sale's reasons name the category, level and holiday rules and the combination.
    Taking the ring back takes its 10,800 points back, to the point."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    await _author(chain, headers, "/api/categories", [{"code": "A", "name": "A"}, {"code": "B", "name": "B"}])
    await _author(chain, headers, "/api/products", RING)
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    week = {"valid_from_ms": _iso(now_ms - 3_600_000), "valid_until_ms": _iso(now_ms + 3_600_000)}
    rules = [
        {"code": "CAT-B", "name": "Category B 2x", "kind": "category", "target": "B", "factor_milli": 2_000},
        {"code": "GOLD", "name": "Gold 1.5x", "kind": "level", "target": "gold", "factor_milli": 1_500},
        {"code": "GOLDEN-WEEK", "name": "National Day", "kind": "holiday", "factor_milli": 2_000, **week},
    ]
    authored = await _author(chain, headers, "/api/points-rules", rules)
    assert (
        authored["points_rules"][2]["valid_until_ms"] - authored["points_rules"][2]["valid_from_ms"]
        == 7_200_000
    )
    await _rules_at(chain, a, {"CAT-B", "GOLD", "GOLDEN-WEEK"})
    member = await _sell(chain, a, "13900008001", "GOLD-16800", "G-0001", 1_680_000)
    before = await _points_of(chain, a, member)
    assert before == 0  # selling the card itself earns nothing

    preview = await chain.post(
        a.url + "/api/sales/preview",
        {"member_id": member, "lines": [{"sku": "RING-B", "qty": 1}]},
        status=200,
    )
    assert (preview["points_earned"], preview["change_fen"]) == (10_800, None)
    assert await _points_of(chain, a, member) == before  # a preview books nothing
    sold = await chain.post(a.url + "/api/sales", _ring_sale(member))
    assert sold["points_earned"] == 10_800
    assert [line["points"] for line in sold["lines"]] == [10_800]
    kinds = [(r["kind"], r["code"], r["factor_milli"]) for r in sold["points_reasons"]]
    for applied in (
        ("category", "CAT-B", 2_000),
        ("level", "GOLD", 1_500),
        ("holiday", "GOLDEN-WEEK", 2_000),
    ):
        assert applied in kinds
    assert ("combine", "", 6_000) in kinds
    assert all(r["text"] and r["text_zh"] for r in sold["points_reasons"])
    assert await _points_of(chain, a, member) == before + 10_800
    again = await chain.get(f"{a.url}/api/sales/{sold['id']}")
    assert (again["points_earned"], again["points_reasons"]) == (10_800, sold["points_reasons"])

    for combine, points in (("add", 6_300), ("best", 3_600)):
        await _author(chain, headers, "/api/points-settings", {"code": "chain", "combine": combine})
        await _rules_at(chain, a, {"CAT-B", "GOLD", "GOLDEN-WEEK"}, combine)
        shown = await chain.post(a.url + "/api/sales/preview", _ring_sale(member), status=200)
        assert shown["points_earned"] == points, combine

    taken = await chain.post(f"{a.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    assert taken["points_taken_back"] == 10_800
    assert await _points_of(chain, a, member) == before

    # HQ says why, from the entry the branch signed.
    async def at_hq() -> bool:
        async with chain.session.get(
            f"{chain.hq.url}/api/sales/{sold['id']}?branch=BR01", headers=headers
        ) as response:
            return response.status == 200

    await wait_until(at_hq, "the sale to reach HQ")
    read = await chain.get(f"{chain.hq.url}/api/sales/{sold['id']}?branch=BR01", headers=headers)
    assert read["points_earned"] == 10_800
    assert [r["text"] for r in read["points_reasons"]] == [r["text"] for r in sold["points_reasons"]]


async def test_a_rule_from_hq_changes_the_next_sale_and_a_branch_cut_off_earns_the_same(chain: Chain) -> None:
    """Green tea, 12,800 a tin, 1 point per yuan without rules: 128 points. HQ makes
    category TEA 2x: 256 points. With HQ down the branch earns 256 for the same sale.
    With a tender rule giving nothing on stored value, a tin paid 6,400 from a card and
    10,000 in cash (3,600 change: 6,400 of cash kept) earns half: 128."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    await _author(chain, headers, "/api/categories", {"code": "TEA", "name": "Tea / 茶"})
    await _author(chain, headers, "/api/products", {"sku": "TEA-GREEN-100", "category": "TEA"})
    member = await _sell(chain, a, "13900008002", "STORED-1000", "S-8002", 100_000)
    tea = {"member_id": member, "lines": [{"sku": "TEA-GREEN-100", "qty": 1}]}
    cash = [{"kind": "cash", "amount_fen": 12_800}]

    async def catalogued() -> bool:
        found = await chain.post(a.url + "/api/sales/preview", tea, status=200)
        return bool(found["points_earned"] == 128)

    await wait_until(catalogued, "the tea to be sold at BR01")
    first = await chain.post(a.url + "/api/sales", {**tea, "tenders": cash})
    assert first["points_earned"] == 128
    assert [r["kind"] for r in first["points_reasons"]] == ["base"]  # the default, 1 per yuan

    rule = {"code": "TEA-2X", "name": "Tea 2x", "kind": "category", "target": "TEA", "factor_milli": 2_000}
    await _author(chain, headers, "/api/points-rules", rule)
    await _rules_at(chain, a, {"TEA-2X"})
    online = await chain.post(a.url + "/api/sales", {**tea, "tenders": cash})
    await chain.hq.stop()
    offline = await chain.post(a.url + "/api/sales", {**tea, "tenders": cash})
    assert (online["points_earned"], offline["points_earned"]) == (256, 256)
    assert online["points_reasons"] == offline["points_reasons"]
    await chain.hq.start()

    no_card = {
        "code": "NO-SV",
        "name": "None on stored value",
        "kind": "tender",
        "target": "stored_value",
        "factor_milli": 0,
    }
    await _author(chain, headers, "/api/points-rules", no_card)
    await _rules_at(chain, a, {"TEA-2X", "NO-SV"})
    split = [
        {"kind": "cash", "amount_fen": 10_000},
        {"kind": "stored_value", "card": "S-8002", "amount_fen": 6_400},
    ]
    half = await chain.post(a.url + "/api/sales", {**tea, "tenders": split})
    assert half["points_earned"] == 128


async def test_rules_hq_cannot_apply_are_refused_when_authored(chain: Chain) -> None:
    """Each refusal: 422 invalid_master_data with what is wrong, unknown_reference for a category HQ
    does not hold; nothing is published."""
    headers = await _hq_headers(chain)
    base = {"code": "R1", "name": "R1", "kind": "holiday", "factor_milli": 2_000}
    refused = [
        ({**base, "valid_from_ms": 2_000, "valid_until_ms": 1_000}, 422, "ends before it starts"),
        ({**base, "valid_from_ms": "2026-10-01T00:00:00"}, 422, "offset"),
        ({**base, "factor_milli": -1}, 422, "between 0 and"),
        ({**base, "kind": "lottery"}, 422, "must be one of"),
        ({**base, "kind": "category"}, 422, "needs a target"),
        ({**base, "kind": "tender", "target": "bitcoin"}, 422, "tender kind"),
        ({**base, "kind": "tier", "min_fen": 500_000, "max_fen": 100_000}, 422, "below its bottom"),
        ({**base, "kind": "category", "target": "NO-SUCH"}, 422, "NO-SUCH"),
        ({**base, "factor_milli": 1.5}, 422, "must be an integer"),
    ]
    for body, status, words in refused:
        async with chain.session.post(
            chain.hq.url + "/api/points-rules", json=body, headers=headers
        ) as response:
            answer = await response.json()
            assert response.status == status, (body, answer)
            assert words in answer["message"], (words, answer["message"])
    async with chain.session.post(
        chain.hq.url + "/api/points-settings", json={"code": "BR01", "combine": "add"}, headers=headers
    ) as response:
        assert response.status == 422
    listed = await chain.get(chain.hq.url + "/api/points-rules", headers=headers)
    assert listed["points_rules"] == []


async def test_a_cards_level_counts_while_the_member_holds_it_and_returns_take_back_line_by_line(
    chain: Chain,
) -> None:
    """Level rule gold 1.5x; a cup costs 2,500; the gold card pays 90% of list
    (loyalty.discounts), and points are on what was paid. By hand:
    - a gold member (GOLD-16800 card) buys 3 cups: 67.50 yuan x 1.5 = 101.25, 101 points;
    - the card replaced by a new number: still gold, 101 again;
    - two haircuts (8,800 each, 15,840 at 90%), one paid with the card's uses (7,920, its
      share): only the one paid in cash earns, 79.20 x 1.5 = 118.8, 118;
    - two returns of the first sale, 1 cup then 2: floor(101 x 1/3) = 33, then
      floor(101 x 3/3) - 33 = 68: 101 taken back in all, exactly what it earned (taking
      each return's own share, 33 then floor(101 x 2/3) = 67, would leave one behind);
    - the card returned: no level and no card discount, 3 cups earn 75."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    rule = {"code": "GOLD", "name": "Gold 1.5x", "kind": "level", "target": "gold", "factor_milli": 1_500}
    await _author(chain, headers, "/api/points-rules", rule)
    await _rules_at(chain, a, {"GOLD"})
    member = await _sell(chain, a, "13900008003", "GOLD-16800", "G-0003", 1_680_000)
    cups = {
        "member_id": member,
        "lines": [{"sku": "CUP-CERAMIC", "qty": 3}],
        "tenders": [{"kind": "cash", "amount_fen": 7_500}],
    }
    first = await chain.post(a.url + "/api/sales", cups)
    assert first["points_earned"] == 101
    fee = [{"kind": "cash", "amount_fen": 2_000}]
    await chain.post(a.url + "/api/cards/G-0003/replace", {"new_card": "G-0004", "tenders": fee})
    assert (await chain.post(a.url + "/api/sales", cups))["points_earned"] == 101
    haircuts = {
        "member_id": member,
        "lines": [{"sku": "SVC-HAIRCUT", "qty": 2}],
        "tenders": [
            {"kind": "uses", "card": "G-0004", "sku": "SVC-HAIRCUT", "qty": 1},
            {"kind": "cash", "amount_fen": 8_800},
        ],
    }
    assert (await chain.post(a.url + "/api/sales", haircuts))["points_earned"] == 118
    returns = f"{a.url}/api/sales/{first['id']}/returns"
    one = await chain.post(returns, {"lines": [{"line_no": 0, "qty": 1}]})
    two = await chain.post(returns, {"lines": [{"line_no": 0, "qty": 2}]})
    assert (one["points_taken_back"], two["points_taken_back"]) == (33, 68)
    assert await _points_of(chain, a, member) == 101 + 118
    await chain.post(a.url + "/api/cards/G-0004/payout", {"return_card": True})
    assert (await chain.post(a.url + "/api/sales", cups))["points_earned"] == 75


async def test_a_sale_paid_with_cash_stored_value_and_points_and_its_full_return(chain: Chain) -> None:
    """The seed's mixed payment (L8). A point is worth 1 fen (HQ's default); a tender
    rule gives no points on what points pay. S-8004 (STORED-1000) holds 100,000 fen;
    the member's points are on the card they registered with (numbered as their id).
    - 2 tins of green tea (25,600) in cash earn 256 points.
    - 2 gift boxes (59,800) with 9,800 of it in points: refused (402 points_short,
      the card holds 256).
    - The same boxes paid 29,600 in cash, 30,000 from stored value and 200 points (200
      fen). Earned on what money paid: floor(598 x 59,600 / 59,800) = 596. Points:
      256 - 200 + 596 = 652; stored value 70,000.
    - The full return gives back 30,000 to the card, the 200 points and 29,600 in cash,
      and takes back the 596 earned: points 256, stored value 100,000 again."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    no_points = {
        "code": "NO-PTS",
        "name": "None on points",
        "kind": "tender",
        "target": "points",
        "factor_milli": 0,
    }
    await _author(chain, headers, "/api/points-rules", no_points)
    await _rules_at(chain, a, {"NO-PTS"})
    member = await _sell(chain, a, "13900008004", "STORED-1000", "S-8004", 100_000)
    tea = {
        "member_id": member,
        "lines": [{"sku": "TEA-GREEN-100", "qty": 2}],
        "tenders": [{"kind": "cash", "amount_fen": 25_600}],
    }
    assert (await chain.post(a.url + "/api/sales", tea))["points_earned"] == 256
    boxes = {"member_id": member, "lines": [{"sku": "GIFT-BOX", "qty": 2}]}
    too_many = [
        {"kind": "cash", "amount_fen": 20_000},
        {"kind": "stored_value", "card": "S-8004", "amount_fen": 30_000},
        {"kind": "points", "card": member, "points": 9_800},
    ]
    async with chain.session.post(a.url + "/api/sales", json={**boxes, "tenders": too_many}) as refused:
        answer = await refused.json()
        assert (refused.status, answer["error"]) == (402, "points_short")
        assert "256 points" in answer["message"]
    mixed = [
        {"kind": "cash", "amount_fen": 29_600},
        {"kind": "stored_value", "card": "S-8004", "amount_fen": 30_000},
        {"kind": "points", "card": member, "points": 200},
    ]
    sold = await chain.post(a.url + "/api/sales", {**boxes, "tenders": mixed})
    assert sold["points_earned"] == 596
    assert sold["tenders"][2] == {"amount_fen": 200, "card": member, "kind": "points", "points": 200}
    assert await _points_of(chain, a, member) == 256 - 200 + 596
    card = await chain.get(a.url + "/api/cards/S-8004")
    assert card["balances"]["stored_value"] == 70_000

    back = await chain.post(f"{a.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 2}]})
    refunds = {refund["kind"]: refund for refund in back["refunds"]}
    assert (refunds["stored_value"]["amount_fen"], refunds["points"]["amount_fen"]) == (30_000, 200)
    assert refunds["cash"]["amount_fen"] == 29_600
    assert (refunds["points"]["points"], back["points_taken_back"]) == (200, 596)
    assert await _points_of(chain, a, member) == 256
    card = await chain.get(a.url + "/api/cards/S-8004")
    assert card["balances"]["stored_value"] == 100_000


async def test_points_turned_into_stored_value_are_spent_but_never_paid_back(chain: Chain) -> None:
    """L9 with HQ's worth of 1 point = 2 fen. The member earns 598 points on 2 gift
    boxes (59,800 in cash) and turns 500 of them into 1,000 fen on S-8005 (STORED-1000,
    100,000 paid). S-8005 holds 101,000; returned, it pays back 100,000 in cash and
    forfeits the 1,000 that came from points. Asking for more points than the card
    holds is 402 points_short; a card of someone else is refused; a retry with the same
    Idempotency-Key books once."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    await _author(chain, headers, "/api/points-settings", {"code": "chain", "point_value_fen": 2})

    async def worth_two() -> bool:
        held = await chain.get(a.url + "/api/points-rules")
        return bool(held["settings"]["point_value_fen"] == 2)

    await wait_until(worth_two, "the points settings to reach BR01")
    member = await _sell(chain, a, "13900008005", "STORED-1000", "S-8005", 100_000)
    await _sell(chain, a, "13900008006", "STORED-1000", "S-8006", 100_000)  # someone else's
    boxes = {
        "member_id": member,
        "lines": [{"sku": "GIFT-BOX", "qty": 2}],
        "tenders": [{"kind": "cash", "amount_fen": 59_800}],
    }
    assert (await chain.post(a.url + "/api/sales", boxes))["points_earned"] == 598
    url = f"{a.url}/api/cards/{member}/points/convert"
    for body, status, code in (
        ({"points": 599, "card": "S-8005"}, 402, "points_short"),
        ({"points": 10, "card": "S-8006"}, 422, "invalid"),
        ({"points": 0, "card": "S-8005"}, 422, "invalid"),
    ):
        async with chain.session.post(url, json=body) as response:
            assert (response.status, (await response.json())["error"]) == (status, code), body
    key = {"Idempotency-Key": "convert-1"}
    done = await chain.post(url, {"points": 500, "card": "S-8005"}, headers=key)
    again = await chain.post(url, {"points": 500, "card": "S-8005"}, status=200, headers=key)
    assert (done["points"], done["stored_value_fen"], again["id"]) == (500, 1_000, done["id"])
    assert (done["card"]["balances"]["stored_value"], done["points_card"]["balances"]["points"]) == (
        101_000,
        98,
    )
    settled = await chain.post(a.url + "/api/cards/S-8005/payout", {"return_card": True})
    assert (settled["paid_out_fen"], settled["forfeited_fen"]) == (100_000, 1_000)


async def _known_at(chain: Chain, node: Server, member: str) -> bool:
    async with chain.session.get(f"{node.url}/api/members/{member}") as response:
        return response.status == 200


async def test_the_seeds_referral_chain_pays_each_level_once(chain: Chain) -> None:
    """L5 with HQ's settings: 100 points to the member who referred, 50 to the one who
    referred them (depth 2), at registration. Zhang refers Li, Li refers Liu, Liu refers
    Wang. By hand: Li joins: Zhang +100. Liu joins: Li +100, Zhang +50. Wang joins:
    Liu +100, Li +50, and Zhang nothing (level 3 is beyond the depth). Zhang 150, Li
    150, Liu 100, Wang 0. Liu registers at BR01 and again at BR02 while HQ is down (one
    person, two registrations, merged as duplicates once HQ sees both): one referral,
    paid once."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    headers = await _hq_headers(chain)
    settings = {
        "code": "chain",
        "referral_points": [100, 50],
        "referral_depth": 2,
        "referral_trigger": "register",
    }
    await _author(chain, headers, "/api/points-settings", settings)
    await _rules_at(chain, a, set())
    await _rules_at(chain, b, set())

    async def join(branch: str, name: str, phone: str, referrer: str | None) -> str:
        body = {"name": name, "phone": phone, **({"referrer": referrer} if referrer else {})}
        return str((await chain.post(chain.nodes[branch].url + "/api/members", body))["id"])

    zhang = await join("BR01", "Zhang", "13900008101", None)
    li = await join("BR01", "Li", "13900008102", zhang)
    await wait_until(lambda: _known_at(chain, b, li), "Li to reach BR02")
    await chain.hq.stop()
    liu = await join("BR01", "Liu", "13900008103", li)
    await join("BR02", "Liu Yang", "13900008103", li)
    await chain.hq.start()
    for branch in ("BR01", "BR02"):
        await wait_until(lambda br=branch: chain.drained(br), f"{branch} to sync")  # type: ignore[misc]
    wang = await join("BR01", "Wang", "13900008104", liu)
    expected = {zhang: 150, li: 150, liu: 100, wang: 0}

    async def paid(node: Server) -> bool:
        for member, points in expected.items():
            if not await _known_at(chain, node, member) or await _points_of(chain, node, member) != points:
                return False
        return True

    await wait_until(lambda: paid(a), "the referral points to reach BR01")
    await wait_until(lambda: paid(b), "the referral points to reach BR02")
