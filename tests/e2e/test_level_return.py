"""A level graded by spend goes with the return that takes the spend away, at once, not
at the next daily grading (hq.storage.sqlite.levels.regrade_after_returns), on real
servers and both HQ backends."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_level_purchase import _graded_at
from tests.e2e.test_points import _author, _hq_headers
from tests.harness import Chain, Server, wait_until

SILVER = {"code": "silver", "name": "Silver / 银卡", "rank": 1, "min_spend_fen": 50_000}


async def _level_of(chain: Chain, node: Server, member: str) -> Any:
    return (await chain.get(f"{node.url}/api/members/{member}"))["level"]


async def test_a_return_below_the_levels_spend_takes_the_level_away_at_once(chain: Chain) -> None:
    """Silver needs 500 yuan spent. Two gift boxes (2 x 299 = 598 yuan): HQ's grading
    makes the member silver everywhere. One box back (299 spent): HQ grades the member
    again as the return arrives and the branch shows no level, with no grading run."""
    a = await chain.add_node("BR01")
    headers = await _hq_headers(chain)
    await _author(chain, headers, "/api/levels", SILVER)
    member = (await chain.post(a.url + "/api/members", {"name": "Ma Li", "phone": "13900009101"}))["id"]
    sale = {
        "member_id": member,
        "lines": [{"sku": "GIFT-BOX", "qty": 2}],
        "tenders": [{"kind": "cash", "amount_fen": 59_800}],
    }
    sold = await chain.post(a.url + "/api/sales", sale)
    await wait_until(lambda: chain.drained("BR01"), "BR01's sale to reach HQ")
    graded = await chain.post(chain.hq.url + "/api/levels/grade", {}, status=200, headers=headers)
    assert [change["member_id"] for change in graded["changed"]] == [member]
    await wait_until(lambda: _graded_at(chain, a, member, "silver"), "silver to reach BR01")

    await chain.post(f"{a.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})

    async def ungraded() -> bool:
        return await _level_of(chain, a, member) is None

    await wait_until(ungraded, "the return's regrade to reach BR01")
