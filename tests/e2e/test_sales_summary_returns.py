"""Customers' returns are netted out of the sales figures, at the branch and at HQ, on
real servers and both HQ backends (issue: a 29,900 fen return left both totals as
they were).

Worked by hand with the demo catalogue's preset costs (nothing received yet, so each
unit sold is costed at its preset purchase price): BR01 sells a festival gift box
(29,900, cost 16,500) and a cup (2,500, cost 1,100): 32,400 taken, cost 17,600. The
customer brings the gift box back: 29,900 given back, its 16,500 of cost back on the
shelf. Net: 2,500 taken, cost 1,100, gross profit 1,400; one sale, one return.
"""

from __future__ import annotations

import datetime

from tests.harness import Chain, sale, wait_until


async def test_a_return_is_netted_out_at_the_branch_and_at_hq(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    sold = await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1), ("CUP-CERAMIC", 1)))
    assert sold["total_fen"] == 32_400
    back = await chain.post(
        f"{br01.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}
    )
    assert back["refund_fen"] == 29_900

    at_branch = await chain.get(br01.url + "/api/sales/summary")
    assert (at_branch["count"], at_branch["total_fen"]) == (1, 32_400)
    assert (at_branch["returns"], at_branch["returned_fen"], at_branch["net_fen"]) == (1, 29_900, 2_500)

    async def netted_at_hq() -> bool:
        summary = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
        return bool(summary["returns"] == 1)

    await wait_until(netted_at_hq, "the return to reach HQ")
    at_hq = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
    assert (at_hq["count"], at_hq["total_fen"], at_hq["returns"], at_hq["returned_fen"]) == (
        1,
        32_400,
        1,
        29_900,
    )
    assert (at_hq["net_fen"], at_hq["cost_fen"], at_hq["gross_profit_fen"]) == (2_500, 1_100, 1_400)
    # A second return of the same line is refused and nets nothing out.
    again = await chain.post(
        f"{br01.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}, status=409
    )
    assert again["error"] == "document_state"
    assert (await chain.get(br01.url + "/api/sales/summary"))["returned_fen"] == 29_900


async def test_hqs_summary_answers_for_a_period_and_refuses_a_bad_one(chain: Chain) -> None:
    """?from=&to= (UTC days, inclusive) picks the days the figures come from: the sale
    and its return of today are in a period around today and not in one that ended the
    day before yesterday. A date that is no date, or a period that ends before it
    starts, is refused (400) rather than ignored."""
    br01 = await chain.add_node("BR01")
    sold = await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1), ("CUP-CERAMIC", 1)))
    await chain.post(f"{br01.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    url = chain.hq.url + "/api/sales/summary"

    async def netted_at_hq() -> bool:
        return bool((await chain.get(url))["returns"] == 1)

    await wait_until(netted_at_hq, "the return to reach HQ")
    today = datetime.datetime.now(datetime.UTC).date()

    def day(offset: int) -> str:
        return (today + datetime.timedelta(days=offset)).isoformat()

    around = await chain.get(url, params={"from": day(-1), "to": day(1)})
    assert (around["from"], around["to"]) == (day(-1), day(1))
    assert (around["count"], around["net_fen"], around["returns"]) == (1, 2_500, 1)
    before = await chain.get(url, params={"to": day(-2)})
    assert (before["count"], before["total_fen"], before["returns"], before["net_fen"]) == (0, 0, 0, 0)
    assert (await chain.get(url, params={"from": day(-1)}))["count"] == 1
    for bad in ({"from": "2026-13-01"}, {"to": "yesterday"}, {"from": day(1), "to": day(-1)}):
        async with chain.session.get(url, params=bad) as response:
            assert response.status == 400, bad
            assert (await response.json())["error"] == "invalid_query"
