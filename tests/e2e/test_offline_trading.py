"""A branch trades while HQ is down; when HQ returns, everything arrives once."""

from __future__ import annotations

from tests.harness import Chain, sale, wait_until


async def test_branch_trades_offline_and_backlog_drains_when_hq_returns(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: _has_catalogue(chain, a.url), "BR01 to receive the catalogue")

    await chain.hq.stop()
    member = await chain.post(a.url + "/api/members", {"name": "Li Lei", "phone": "13900001234"})
    totals = []
    for qty in range(1, 21):
        receipt = await chain.post(a.url + "/api/sales", sale(("CUP-CERAMIC", qty), ("SOAP-BAR", 1)))
        totals.append(receipt["total_fen"])
    # Worked example: the 20 sales are cups at 25.00 x (1+...+20) plus 20 soaps at 12.00.
    assert sum(totals) == 2500 * 210 + 1200 * 20 == 549_000
    offline = await chain.sync("BR01")
    assert offline["hq_reachable"] is False
    assert offline["backlog"] == 21  # one registration, twenty sales

    await chain.hq.start()
    await wait_until(lambda: chain.drained("BR01"), "BR01's backlog to drain")

    node_summary = await chain.get(a.url + "/api/sales/summary")
    hq_summary = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
    assert (hq_summary["count"], hq_summary["total_fen"]) == (20, 549_000)
    assert (node_summary["count"], node_summary["total_fen"]) == (20, 549_000)

    async def found_at_b() -> bool:
        found = await chain.get(b.url + "/api/members", params={"phone": "13900001234"})
        return [m["id"] for m in found["members"]] == [member["id"]]

    await wait_until(found_at_b, "the member registered at BR01 to be found at BR02")
    at_b = (await chain.get(b.url + "/api/members", params={"phone": "13900001234"}))["members"][0]
    assert at_b == {**member, "birthday": None}
    branches = {row["code"]: row for row in (await chain.get(chain.hq.url + "/api/branches"))["branches"]}
    assert branches["BR01"]["acked_seq"] == 21
    assert branches["BR01"]["quarantined"] is False


async def test_member_edit_at_one_branch_reaches_the_other(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    member = await chain.post(a.url + "/api/members", {"name": "Han Mei", "phone": "13700002222"})

    async def known_at_b() -> bool:
        async with chain.session.get(f"{b.url}/api/members/{member['id']}") as response:
            return response.status == 200

    await wait_until(known_at_b, "the member to reach BR02")
    async with chain.session.patch(
        f"{b.url}/api/members/{member['id']}", json={"name": "Han Meimei", "birthday": "1988-02-29"}
    ) as response:
        assert response.status == 200

    async def edited_at_a() -> bool:
        shown = await chain.get(f"{a.url}/api/members/{member['id']}")
        return bool(shown["name"] == "Han Meimei" and shown["birthday"] == "1988-02-29")

    await wait_until(edited_at_a, "BR02's edit to reach BR01")


async def _has_catalogue(chain: Chain, url: str) -> bool:
    return len((await chain.get(url + "/api/products"))["products"]) == 10
