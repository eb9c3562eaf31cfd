"""One card number sold at two branches apart, on real servers and both HQ backends.

Card numbers are typed or swiped at the till, so two branches cut off from HQ can sell
the same blank card (G-7777) to two members, Wu at BR01 and Zhou at BR02. HQ keeps the
card sale it hears of first; the other is takings like any sale, but its card is a
card_sold_twice in HQ's queue, naming what that member must be given on another card
(GOLD-16800: 10 haircuts, 10 massages, no stored value), for an operator to acknowledge.
The branch whose card HQ did not keep holds on to its own and sets aside the other's
record when HQ's feed brings it: neither branch's replication stops, that branch shows
what it set aside, and what HQ publishes afterwards still reaches both.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.test_card_life import _card, _ready
from tests.harness import Chain, Server, wait_until
from tests.hq.operator import author

GOLD_FEN = 1_680_000


async def _sell_to(chain: Chain, node: Server, name: str, phone: str) -> str:
    member = (await chain.post(node.url + "/api/members", {"name": name, "phone": phone}))["id"]
    body = {
        "member_id": member,
        "card_type": "GOLD-16800",
        "card": "G-7777",
        "tenders": [{"kind": "cash", "amount_fen": GOLD_FEN}],
    }
    await chain.post(node.url + "/api/card-sales", body)
    return str(member)


async def test_a_card_number_sold_twice_apart_is_set_aside_and_replication_goes_on(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await _ready(chain, a, b)
    await chain.hq.stop()
    wu = await _sell_to(chain, a, "Wu Fang", "13900008801")
    zhou = await _sell_to(chain, b, "Zhou Min", "13900008802")
    await chain.hq.start()
    await wait_until(lambda: chain.drained("BR01"), "BR01's backlog to drain")
    await wait_until(lambda: chain.drained("BR02"), "BR02's backlog to drain")

    # Both feeds go on past the card record: a product HQ publishes next reaches both.
    await author(chain, "products", {"sku": "TEA-NEW-1", "name": "New tea", "price_fen": 5_000})

    async def product_at(node: Server) -> bool:
        products = (await chain.get(node.url + "/api/products"))["products"]
        return any(product["sku"] == "TEA-NEW-1" for product in products)

    async def product_at_a() -> bool:
        return await product_at(a)

    async def product_at_b() -> bool:
        return await product_at(b)

    await wait_until(product_at_b, "a product HQ published after the card to reach BR02")
    await wait_until(product_at_a, "a product HQ published after the card to reach BR01")

    # HQ kept the first sale of the number it heard of and queued the other; both sales
    # are takings.
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-lu', 'management')}"}
    found = await chain.get(chain.hq.url + "/api/conflicts?state=open", headers=headers)
    (conflict,) = [c for c in found["conflicts"] if c["kind"] == "card_sold_twice"]
    assert (conflict["subject"], conflict["branches"], conflict["actions"]) == (
        "G-7777",
        ["BR01", "BR02"],
        ["acknowledge"],
    )
    refused = conflict["details"]["refused"]
    assert refused["uses"] == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}
    assert (await chain.get(chain.hq.url + "/api/quarantine"))["quarantined"] == []
    summary = await chain.get(chain.hq.url + "/api/sales/summary")
    assert (summary["count"], summary["total_fen"]) == (2, 2 * GOLD_FEN)
    # (node, code, member): the branch whose card HQ did not keep, and the one it kept.
    loser, winner = ((b, "BR02", zhou), (a, "BR01", wu))[:: 1 if refused["branch"] == "BR02" else -1]
    assert refused["member_id"] == loser[2]

    # HQ's feed brings the kept card and what its sale put on it (two grants of uses) to
    # the other branch, which keeps its own card and sets all three aside: its member's
    # card holds what its own sale put on it, not twice that.
    async def set_aside_at_loser() -> Any:
        return (await chain.get(loser[0].url + "/api/directory/set-aside"))["set_aside"]

    async def three_set_aside() -> bool:
        return len(await set_aside_at_loser()) == 3

    await wait_until(three_set_aside, "the branch whose card HQ did not keep to set the other card aside")
    listed = await set_aside_at_loser()
    assert sorted(held["type"] for held in listed) == ["card", "ledger", "ledger"]
    card = next(held for held in listed if held["type"] == "card")
    assert (card["id"], card["code"]) == ("G-7777", "card_issue_conflict")
    assert "G-7777" in card["message"]
    assert {held["code"] for held in listed if held["type"] == "ledger"} == {"card_sold_twice"}
    assert all(held["node"] == winner[1] for held in listed)
    assert (await chain.sync(loser[1]))["set_aside"] == 3
    assert (await chain.sync(winner[1]))["set_aside"] == 0
    ten_each = {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}
    assert (await _card(chain, loser[0].url, "G-7777"))["uses"] == ten_each  # type: ignore[index]
    assert (await _card(chain, winner[0].url, "G-7777"))["uses"] == ten_each  # type: ignore[index]
    for node, _, member_id in (loser, winner):
        assert await _card(chain, node.url, "G-7777") is not None
        member = await chain.get(f"{node.url}/api/members/{member_id}")
        assert "G-7777" in [card["card"] for card in member["cards"]]
    assert (await chain.sync(loser[1]))["halted_reason"] is None
    done = await chain.post(
        f"{chain.hq.url}/api/conflicts/{conflict['id']}/resolve",
        {"action": "acknowledge", "note": "gave the member G-7778 with ten haircuts and ten massages"},
        status=200,
        headers=headers,
    )
    assert done["state"] == "resolved"
