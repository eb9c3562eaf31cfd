"""Member levels graded by HQ from spend and visits at every branch (hq.levels), on real
servers and both HQ backends: levels authored at HQ reach the branches, a grading
publishes each changed grade once, a return and a stricter level grade a member down,
and what each refusal gets."""

from __future__ import annotations

from typing import Any

from tests.harness import Chain, Server, log_in, manager_login, wait_until

SILVER = {"code": "SILVER", "name": "Silver / 银卡", "rank": 1, "min_spend_fen": 50_000, "period_days": 365}
GOLD = {"code": "GOLD", "name": "Gold / 金卡", "rank": 2, "min_visits": 3, "period_days": 365}


def _teas(member: str, qty: int) -> dict[str, Any]:
    return {
        "member_id": member,
        "lines": [{"sku": "TEA-OOLONG-250", "qty": qty}],
        "tenders": [{"kind": "cash", "amount_fen": 6_800 * qty}],
    }


async def _grade(chain: Chain, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await chain.post(chain.hq.url + "/api/levels/grade", {}, status=200, headers=headers)
    changed: list[dict[str, Any]] = answer["changed"]
    return changed


async def _level_at(chain: Chain, node: Server, member: str) -> Any:
    return (await chain.get(f"{node.url}/api/members/{member}"))["level"]


async def test_members_are_graded_by_spend_or_visits_at_every_branch_and_graded_down_again(
    chain: Chain,
) -> None:
    """By hand (oolong tea 6,800 a box):
    - BR01: 8 boxes (54,400) and later 1 box the same day: spend 61,200, one visit (one
      day at one branch). Graded: SILVER (spend >= 50,000; GOLD needs 3 visits).
    - BR02 and BR03: a box each: spend 74,800 on 3 visits. Graded: GOLD (rank 2 beats 1).
    - Grading again changes nothing and publishes nothing.
    - BR01 takes back the 8 boxes: spend 20,400, still 3 visits: GOLD stays. HQ raises
      GOLD to 4 visits: graded down to none (SILVER needs 50,000).
    """
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    c = await chain.add_node("BR03")
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-sun', 'management')}"}
    async with chain.session.post(
        chain.hq.url + "/api/levels",
        json={"code": "NONE", "name": "x", "rank": 3, "period_days": 30},
        headers=headers,
    ) as response:
        assert (response.status, (await response.json())["error"]) == (422, "invalid_master_data")
    authored = await chain.post(chain.hq.url + "/api/levels", [SILVER, GOLD], status=200, headers=headers)
    assert [level["code"] for level in authored["levels"]] == ["SILVER", "GOLD"]

    async def levels_at(node: Server) -> bool:
        return [level["code"] for level in (await chain.get(node.url + "/api/levels"))["levels"]] == [
            "GOLD",
            "SILVER",
        ]

    await wait_until(lambda: levels_at(c), "the levels to reach BR03")
    member = (await chain.post(a.url + "/api/members", {"name": "Tang Yu", "phone": "13900008001"}))["id"]
    first = await chain.post(a.url + "/api/sales", _teas(member, 8))
    await chain.post(a.url + "/api/sales", _teas(member, 1))
    await wait_until(lambda: chain.drained("BR01"), "BR01's sales to reach HQ")
    [silver] = await _grade(chain, headers)
    assert (silver["member_id"], silver["level"], silver["spend_fen"], silver["visits"]) == (
        member,
        "SILVER",
        61_200,
        1,
    )

    for node, branch in ((b, "BR02"), (c, "BR03")):
        await wait_until(lambda n=node: _known(chain, n, member), f"the member to reach {branch}")  # type: ignore[misc]
        await chain.post(node.url + "/api/sales", _teas(member, 1))
        await wait_until(lambda br=branch: chain.drained(br), f"{branch}'s sale to reach HQ")  # type: ignore[misc]
    [gold] = await _grade(chain, headers)
    assert (gold["level"], gold["spend_fen"], gold["visits"]) == ("GOLD", 74_800, 3)
    assert await _grade(chain, headers) == []

    async def graded(node: Server, code: str | None) -> bool:
        level = await _level_at(chain, node, member)
        return (None if level is None else level["code"]) == code

    for node in (a, b, c):
        await wait_until(lambda n=node: graded(n, "GOLD"), f"the grade to reach {node}")  # type: ignore[misc]
    shown = await _level_at(chain, a, member)
    assert (shown["spend_fen"], shown["visits"]) == (74_800, 3)
    assert (await chain.get(f"{chain.hq.url}/api/members/{member}", headers=headers))["level"][
        "code"
    ] == "GOLD"

    await chain.post(f"{a.url}/api/sales/{first['id']}/returns", {"lines": [{"line_no": 0, "qty": 8}]})
    await wait_until(lambda: chain.drained("BR01"), "the return to reach HQ")
    assert await _grade(chain, headers) == []  # three visits still earn GOLD
    await chain.post(chain.hq.url + "/api/levels", {**GOLD, "min_visits": 4}, status=200, headers=headers)
    [down] = await _grade(chain, headers)
    assert (down["level"], down["spend_fen"]) == (None, 20_400)
    await wait_until(lambda: graded(b, None), "the grade down to reach BR02")

    # A store manager may not grade the chain's members: HQ's work.
    manager = await log_in(chain.hq.url, manager_login("BR01"))
    async with chain.session.post(
        chain.hq.url + "/api/levels/grade", headers={"Authorization": f"Bearer {manager}"}
    ) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")


async def _known(chain: Chain, node: Server, member: str) -> bool:
    async with chain.session.get(f"{node.url}/api/members/{member}") as response:
        return response.status == 200
