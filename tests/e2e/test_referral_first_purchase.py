"""Referral points paid at the referred member's first purchase (FEATURES L5,
`referral_trigger: first_purchase`; hq.storage.sqlite.directory.first_purchase_referrals),
on real servers and both HQ backends: nothing at registration, the chain's awards once
HQ merges the member's first sale, and nothing more for a second sale, a batch sent
again or the first sale returned in full.
"""

from __future__ import annotations

from node.routes.context import CONTEXT
from protocol.replication import Push
from tests.e2e.test_points import _author, _hq_headers, _points_of, _rules_at
from tests.harness import Chain, Server, hq_rows, wait_until

CUP = {"lines": [{"sku": "CUP-CERAMIC", "qty": 1}], "tenders": [{"kind": "cash", "amount_fen": 2_500}]}


async def _referrals_at_hq(chain: Chain) -> list[tuple[str, int]]:
    rows = await hq_rows(
        chain, "SELECT entry_id, amount FROM dir_ledger WHERE entry_id LIKE 'referral:%' ORDER BY entry_id"
    )
    return [(str(entry_id), int(amount)) for entry_id, amount in rows]


async def _set_aside_at_hq(chain: Chain) -> int:
    return int((await hq_rows(chain, "SELECT COUNT(*) FROM effect_quarantine"))[0][0])


async def test_the_seeds_chain_is_paid_once_at_lius_first_purchase(chain: Chain) -> None:
    """HQ pays 100 points to the member who referred, 50 to the one who referred them
    (depth 2), at the first purchase. Zhang refers Li, Li refers Liu. By hand:
    - all three register at BR01: nobody is paid (HQ holds no referral award).
    - Liu buys a cup (2,500, 25 points to Liu): Li +100, Zhang +50 (Li, who bought
      nothing, earns Zhang nothing). Zhang 50, Li 100, Liu 25, at both branches.
    - Liu buys a second cup: Liu 50; Li and Zhang unchanged.
    - BR01's whole log sent to HQ again: still two awards, nothing set aside.
    - Liu returns the first cup in full: Liu 25; the referral stands (Li 100, Zhang 50).
    """
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    headers = await _hq_headers(chain)
    settings = {
        "code": "chain",
        "referral_points": [100, 50],
        "referral_depth": 2,
        "referral_trigger": "first_purchase",
    }
    authored = await _author(chain, headers, "/api/points-settings", settings)
    assert authored["points_settings"][0]["referral_trigger"] == "first_purchase"
    for node in (a, b):
        await _rules_at(chain, node, set())

    async def join(name: str, phone: str, referrer: str | None) -> str:
        body = {"name": name, "phone": phone, **({"referrer": referrer} if referrer else {})}
        return str((await chain.post(a.url + "/api/members", body))["id"])

    zhang = await join("Zhang", "13900008301", None)
    li = await join("Li", "13900008302", zhang)
    liu = await join("Liu", "13900008303", li)
    await wait_until(lambda: chain.drained("BR01"), "the registrations to reach HQ")
    assert await _referrals_at_hq(chain) == []

    first = await chain.post(a.url + "/api/sales", {**CUP, "member_id": liu})
    assert first["points_earned"] == 25
    await wait_until(lambda: chain.drained("BR01"), "Liu's first sale to reach HQ")
    assert await _referrals_at_hq(chain) == [(f"referral:{liu}:1", 100), (f"referral:{liu}:2", 50)]

    async def points_are(node: Server, expected: dict[str, int]) -> bool:
        for member, points in expected.items():
            async with chain.session.get(f"{node.url}/api/members/{member}") as response:
                if response.status != 200:
                    return False
            if await _points_of(chain, node, member) != points:
                return False
        return True

    paid = {zhang: 50, li: 100, liu: 25}
    for node in (a, b):
        await wait_until(lambda n=node: points_are(n, paid), f"the awards to reach {node}")  # type: ignore[misc]

    await chain.post(a.url + "/api/sales", {**CUP, "member_id": liu})
    await wait_until(lambda: chain.drained("BR01"), "Liu's second sale to reach HQ")
    await wait_until(lambda: points_are(a, {**paid, liu: 50}), "Liu's second cup's points")
    assert len(await _referrals_at_hq(chain)) == 2

    head = (await chain.sync("BR01"))["head_seq"]
    replicator = a.app[CONTEXT].replicator
    assert replicator is not None
    body = await replicator.prepare_push(Push(1, head))
    async with chain.session.post(
        chain.hq.url + "/api/push", data=body, headers={"Content-Type": "application/x-msgpack"}
    ) as response:
        assert response.status == 200, await response.text()
    assert len(await _referrals_at_hq(chain)) == 2
    assert await _set_aside_at_hq(chain) == 0

    await chain.post(f"{a.url}/api/sales/{first['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    await wait_until(lambda: chain.drained("BR01"), "the return to reach HQ")
    assert await points_are(a, {**paid, liu: 25})
    assert len(await _referrals_at_hq(chain)) == 2
    assert await _set_aside_at_hq(chain) == 0
