"""A member level bought with points (FEATURES L4, node.services.level_purchase), on real
servers and both HQ backends: silver to gold for 1,000 points at a branch cut off from
HQ, the next sale earning at gold's multiplier there at once and, once HQ has heard of
it, at another branch; HQ's grading keeping the bought level; a retry answering the
same purchase; and what each refusal gets.

HQ's levels here: silver (rank 1) is earned by one visit and not sold for points; gold
(rank 2) and diamond (rank 3) are earned only by spending more than anyone here does
and sold for 1,000 and 5,000 points. A level rule makes gold earn 1.5x.
"""

from __future__ import annotations

from typing import Any

from hq import levels as rules
from hq.storage.base import Level
from tests.e2e.test_points import _author, _hq_headers, _points_of, _rules_at
from tests.harness import Chain, Server, wait_until

LEVELS = [
    {"code": "silver", "name": "Silver / 银卡", "rank": 1, "min_visits": 1},
    {"code": "gold", "name": "Gold / 金卡", "rank": 2, "min_spend_fen": 100_000_000, "points_price": 1_000},
    {
        "code": "diamond",
        "name": "Diamond / 钻石卡",
        "rank": 3,
        "min_spend_fen": 500_000_000,
        "points_price": 5_000,
    },
]
GOLD_RULE = {"code": "GOLD", "name": "Gold 1.5x", "kind": "level", "target": "gold", "factor_milli": 1_500}


def _cups(member: str) -> dict[str, Any]:
    return {
        "member_id": member,
        "lines": [{"sku": "CUP-CERAMIC", "qty": 3}],
        "tenders": [{"kind": "cash", "amount_fen": 7_500}],
    }


async def _buy(chain: Chain, node: Server, member: str, body: dict[str, Any], **headers: str) -> Any:
    async with chain.session.post(
        f"{node.url}/api/members/{member}/level/buy", json=body, headers=headers
    ) as response:
        return response.status, await response.json()


async def _graded_at(chain: Chain, node: Server, member: str, code: str) -> bool:
    async with chain.session.get(f"{node.url}/api/members/{member}") as response:
        if response.status != 200:
            return False
        level = (await response.json())["level"]
        return level is not None and level["code"] == code


async def _levels_at(chain: Chain, node: Server) -> bool:
    listed = (await chain.get(node.url + "/api/levels"))["levels"]
    return [(level["code"], level["points_price"]) for level in listed] == [
        ("diamond", 5_000),
        ("gold", 1_000),
        ("silver", None),
    ]


async def test_silver_buys_gold_for_1000_points_offline_and_the_next_sale_earns_at_gold_everywhere(
    chain: Chain,
) -> None:
    """By hand (a gift box 29,900, a cup 2,500; 1 point a yuan without rules):
    - BR01: 4 gift boxes in cash, 119,600: 1,196 points. With no level, gold is not the
      next level up (silver is) and silver is not sold: both refused.
    - HQ grades: one visit earns silver.
    - HQ goes down. BR01 sells gold for 1,000 points: 1,196 - 1,000 = 196 left. The
      retry with the same Idempotency-Key answers the same purchase; still 196.
    - 3 cups (7,500) at BR01, still offline: 75 x 1.5 = 112.5, 112 points (75 before
      the purchase); 196 + 112 = 308.
    - Diamond costs 5,000: 402 points_short with 308. Silver and gold again: not above.
    - HQ returns: it grades the buyer gold and tells every branch; 3 cups at BR02 earn
      112 too. Grading the chain again changes nothing: the bought level holds for
      gold's 365 days whatever the member spent.
    """
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    headers = await _hq_headers(chain)
    async with chain.session.post(
        chain.hq.url + "/api/levels", json={**LEVELS[1], "points_price": -1}, headers=headers
    ) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (422, "invalid_master_data")
        assert "points_price" in answer["message"]
    await _author(chain, headers, "/api/levels", LEVELS)
    await _author(chain, headers, "/api/points-rules", GOLD_RULE)
    for node in (a, b):
        await _rules_at(chain, node, {"GOLD"})
        await wait_until(lambda n=node: _levels_at(chain, n), f"the levels to reach {node}")  # type: ignore[misc]

    member = (await chain.post(a.url + "/api/members", {"name": "Zhou Min", "phone": "13900008201"}))["id"]
    boxes = {
        "member_id": member,
        "lines": [{"sku": "GIFT-BOX", "qty": 4}],
        "tenders": [{"kind": "cash", "amount_fen": 119_600}],
    }
    assert (await chain.post(a.url + "/api/sales", boxes))["points_earned"] == 1_196
    for body, status, code in (
        ({"level": "gold"}, 409, "not_next_level"),
        ({"level": "silver"}, 409, "level_not_for_sale"),
        ({"level": "platinum"}, 404, "unknown_level"),
        ({"level": "gold", "bonus": 1}, 422, "invalid"),
    ):
        answer = await _buy(chain, a, member, body)
        assert (answer[0], answer[1]["error"]) == (status, code), body
    assert "silver" in (await _buy(chain, a, member, {"level": "gold"}))[1]["message"]

    await wait_until(lambda: chain.drained("BR01"), "BR01's sale to reach HQ")
    graded = await chain.post(chain.hq.url + "/api/levels/grade", {}, status=200, headers=headers)
    assert [(c["member_id"], c["level"]) for c in graded["changed"]] == [(member, "silver")]
    await wait_until(lambda: _graded_at(chain, a, member, "silver"), "silver to reach BR01")
    assert (await chain.post(a.url + "/api/sales/preview", _cups(member), status=200))["points_earned"] == 75

    await chain.hq.stop()
    key = {"Idempotency-Key": "level-gold-1"}
    status, bought = await _buy(chain, a, member, {"level": "gold"}, **key)
    assert (status, bought["level"], bought["points"], bought["replayed"]) == (201, "gold", 1_000, False)
    assert bought["card"]["balances"]["points"] == 196
    assert bought["valid_until_ms"] - bought["at_ms"] == 365 * 86_400_000
    status, again = await _buy(chain, a, member, {"level": "gold"}, **key)
    assert (status, again["id"], again["replayed"]) == (200, bought["id"], True)
    assert await _points_of(chain, a, member) == 196
    shown = await chain.get(f"{a.url}/api/members/{member}/level")
    assert (shown["level"], shown["graded"]["code"], [p["level"] for p in shown["bought"]]) == (
        "gold",
        "silver",
        ["gold"],
    )

    offline = await chain.post(a.url + "/api/sales", _cups(member))
    assert offline["points_earned"] == 112
    assert ("level", "GOLD", 1_500) in [
        (r["kind"], r["code"], r["factor_milli"]) for r in offline["points_reasons"]
    ]
    assert await _points_of(chain, a, member) == 308
    for body, status, code in (
        ({"level": "diamond"}, 402, "points_short"),
        ({"level": "gold"}, 409, "level_not_above"),
        ({"level": "silver"}, 409, "level_not_above"),
    ):
        answer = await _buy(chain, a, member, body)
        assert (answer[0], answer[1]["error"]) == (status, code), body
    assert await _points_of(chain, a, member) == 308

    await chain.hq.start()
    await wait_until(lambda: chain.drained("BR01"), "the purchase to reach HQ")
    await wait_until(lambda: _graded_at(chain, b, member, "gold"), "HQ's gold grade to reach BR02")
    assert (await chain.post(b.url + "/api/sales", _cups(member)))["points_earned"] == 112
    assert (await chain.post(chain.hq.url + "/api/levels/grade", {}, status=200, headers=headers))[
        "changed"
    ] == []
    at_hq = await chain.get(f"{chain.hq.url}/api/members/{member}", headers=headers)
    assert at_hq["level"]["code"] == "gold"


def test_a_bought_level_counts_as_earned_while_it_holds_and_never_lowers_a_grade() -> None:
    """hq.levels rules 3 and 5: of what a member earns and what they bought, the highest
    rank; a bought level HQ switched off counts no more than an earned one would."""
    silver = Level("silver", "Silver", 1, min_visits=1)
    gold = Level("gold", "Gold", 2, min_spend_fen=100_000_000, points_price=1_000)
    diamond = Level("diamond", "Diamond", 3, min_spend_fen=500_000_000, points_price=5_000)
    one_visit = {365: rules.Figures(spend_fen=119_600, visits=1)}
    assert rules.grade([silver, gold, diamond], one_visit) == silver
    assert rules.grade([silver, gold, diamond], one_visit, ["gold"]) == gold
    assert rules.grade([silver, gold, diamond], {}, ["gold"]) == gold
    big_spender = {365: rules.Figures(spend_fen=500_000_000, visits=9)}
    assert rules.grade([silver, gold, diamond], big_spender, ["gold"]) == diamond
    switched_off = Level("gold", "Gold", 2, min_spend_fen=100_000_000, active=False)
    assert rules.grade([silver, switched_off, diamond], one_visit, ["gold"]) == silver
