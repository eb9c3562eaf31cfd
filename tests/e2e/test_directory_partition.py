"""The shared member directory across a partition, with real HQ and branch servers.

Worked example (all amounts in fen, computed by hand):

- Before the cut, member M registers at BR01 with card C-3003 and tops up 30,000
  online. Both branches see the card.
- HQ goes down, so both branches are cut off from it and from each other.
  BR01 sells a foot massage (19,800) and BR02 a tin of green tea (12,800), both
  paid from C-3003 offline. Together 32,600 > 30,000: the later spend (BR02's)
  is 2,600 short and the card owes 2,600.
- Meanwhile the same phone 13955556666 registers at both: at BR01 with card
  A-0001 (top-up 10,000, spends 2 cups = 5,000: balance 5,000), then at BR02 with
  card B-0002 (top-up 20,000, spends a soap = 1,200: balance 18,800).
- HQ returns to BR01 first (BR02 is still shut), then to BR02. Everywhere: one
  member (BR01's, the registration HQ saw first) with both cards,
  stored value 5,000 + 18,800 = 23,800; the duplicate and the 2,600 overdraft
  are in HQ's queue. Writing the overdraft off books +2,600 at HQ, and both
  branches show C-3003 at 0 with no debt; separating the two members splits them
  again at both branches.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from node.config import load_config, save_config
from simulations.proxy import FaultyLink
from tests.harness import Chain, Server, hold_feed_reads_briefly, wait_until

PHONE = "13955556666"


def paid_by_card(sku: str, card: str, amount_fen: int) -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "qty": 1}],
        "tenders": [{"kind": "stored_value", "card": card, "amount_fen": amount_fen}],
    }


async def digests_agree(chain: Chain) -> bool:
    digests = {(await chain.get(chain.hq.url + "/api/directory/digest"))["sha256"]}
    for node in chain.nodes.values():
        digests.add((await chain.get(node.url + "/api/directory/digest"))["sha256"])
    return len(digests) == 1


async def online(chain: Chain, branch: str) -> bool:
    return bool((await chain.sync(branch))["hq_reachable"])


async def operator(chain: Chain, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """A request to HQ as its operator Wang of management, who decides conflicts."""
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-wang', 'management')}"}
    async with chain.session.request(method, chain.hq.url + path, json=body, headers=headers) as response:
        assert response.status == status, f"{method} {path}: {response.status} {await response.text()}"
        return await response.json()


async def test_two_cut_off_branches_converge_to_one_member_and_surface_every_conflict(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ")

    await chain.post(
        a.url + "/api/members", {"name": "Wang Fang", "phone": "13900003003", "cards": ["C-3003"]}
    )
    top_up = await chain.post(a.url + "/api/cards/C-3003/top-up", {"amount_fen": 30_000})
    assert top_up["balances"]["stored_value"] == 30_000
    await wait_until(lambda: _card_known(chain, b, "C-3003", 30_000), "C-3003's top-up to reach BR02")

    await chain.hq.stop()
    massage = await chain.post(a.url + "/api/sales", paid_by_card("SVC-MASSAGE", "C-3003", 19_800))
    tea = await chain.post(b.url + "/api/sales", paid_by_card("TEA-GREEN-100", "C-3003", 12_800))
    assert massage["tenders"][0]["mode"] == tea["tenders"][0]["mode"] == "offline"
    # Each branch saw enough for its own spend; neither saw the other's.
    assert (await chain.get(a.url + "/api/cards/C-3003"))["balances"]["stored_value"] == 10_200
    assert (await chain.get(b.url + "/api/cards/C-3003"))["balances"]["stored_value"] == 17_200

    first = await chain.post(
        a.url + "/api/members", {"name": "Zhao Min", "phone": PHONE, "cards": ["A-0001"]}
    )
    await chain.post(a.url + "/api/cards/A-0001/top-up", {"amount_fen": 10_000})
    cups = {
        "lines": [{"sku": "CUP-CERAMIC", "qty": 2}],
        "tenders": [{"kind": "stored_value", "card": "A-0001", "amount_fen": 5_000}],
    }
    await chain.post(a.url + "/api/sales", cups)
    second = await chain.post(
        b.url + "/api/members", {"name": "Zhao Min", "phone": PHONE, "cards": ["B-0002"]}
    )
    await chain.post(b.url + "/api/cards/B-0002/top-up", {"amount_fen": 20_000})
    await chain.post(b.url + "/api/sales", paid_by_card("SOAP-BAR", "B-0002", 1_200))
    assert first["id"] != second["id"]

    # Duplicates survive in the order HQ sees them (a branch cannot stamp its way
    # ahead): BR02 stays shut until BR01's registration has reached HQ.
    await b.stop()
    await chain.hq.start()

    async def first_at_hq() -> bool:
        async with chain.session.get(f"{chain.hq.url}/api/members/{first['id']}") as response:
            return response.status == 200

    await wait_until(first_at_hq, "BR01's registration to reach HQ", timeout_s=30)
    await b.start()
    await wait_until(
        lambda: digests_agree(chain), "HQ and both branches to hold the same directory", timeout_s=30
    )

    for where in (chain.hq.url, a.url, b.url):
        merged = await chain.get(f"{where}/api/members/{second['id']}")
        assert merged["id"] == first["id"], where
        assert merged["aliases"] == [second["id"]]
        assert [(c["card"], c["balances"]["stored_value"]) for c in merged["cards"]] == [
            ("A-0001", 5_000),
            ("B-0002", 18_800),
        ]
        assert merged["balances"]["stored_value"] == 23_800
        card = await chain.get(f"{where}/api/cards/C-3003")
        assert (card["balances"]["stored_value"], card["debt_fen"]) == (-2_600, 2_600)
    for node in (a, b):
        by_phone = await chain.get(node.url + "/api/members", params={"phone": PHONE})
        assert [found["id"] for found in by_phone["members"]] == [first["id"]]
        by_card = await chain.get(node.url + "/api/members", params={"card": "B-0002"})
        assert [found["id"] for found in by_card["members"]] == [first["id"]]

    queue = {c["id"]: c for c in (await operator(chain, "GET", "/api/conflicts?state=open"))["conflicts"]}
    overdraft = queue[f"overdraft:{tea['id']}-t0"]
    assert (overdraft["amount_fen"], overdraft["branches"]) == (2_600, ["BR01", "BR02"])
    assert [e["amount"] for e in overdraft["details"]["entries"]] == [-19_800, -12_800]
    assert overdraft["actions"] == ["write_off", "collect"]
    duplicate = queue[f"duplicate:{second['id']}"]
    assert duplicate["subject"] == first["id"]
    assert duplicate["details"]["shared_keys"] == [f"phone:{PHONE}"]
    assert set(queue) == {overdraft["id"], duplicate["id"]}
    async with chain.session.get(chain.hq.url + "/status") as response:
        assert (
            "Open conflicts in the member directory: 1 duplicate member, 1 overdraft."
            in await response.text()
        )

    written_off = await operator(
        chain,
        "POST",
        f"/api/conflicts/{overdraft['id']}/resolve",
        {"action": "write_off", "note": "goodwill"},
    )
    assert written_off["state"] == "resolved"
    assert written_off["resolution"]["by"] == "mgr-wang"
    await operator(chain, "POST", f"/api/conflicts/{duplicate['id']}/resolve", {"action": "separate"})
    await wait_until(lambda: digests_agree(chain), "the resolutions to reach both branches")
    for node in (a, b):
        card = await chain.get(node.url + "/api/cards/C-3003")
        assert (card["balances"]["stored_value"], card["debt_fen"]) == (0, 0)
        apart = await chain.get(node.url + "/api/members", params={"phone": PHONE})
        assert sorted(found["id"] for found in apart["members"]) == sorted([first["id"], second["id"]])
    assert (await operator(chain, "GET", "/api/conflicts?state=open"))["conflicts"] == []
    # A decided conflict cannot be decided again.
    again = await operator(
        chain, "POST", f"/api/conflicts/{overdraft['id']}/resolve", {"action": "collect"}, status=409
    )
    assert again["error"] == "conflict_closed"


async def test_the_registration_hq_sees_first_survives_at_every_replica_whatever_the_stamps(
    chain: Chain,
) -> None:
    # BR01 registers the phone first by the clock, BR02 a moment later; BR02 reaches
    # HQ first. HQ's order decides (a branch could forge an early stamp, not HQ's
    # order), and every branch follows it once HQ's sightings arrive.
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ")
    await chain.hq.stop()
    earlier = await chain.post(
        a.url + "/api/members", {"name": "Qian Yu", "phone": PHONE, "cards": ["A-0101"]}
    )
    later = await chain.post(b.url + "/api/members", {"name": "Qian Yu", "phone": PHONE, "cards": ["B-0101"]})
    await a.stop()
    await chain.hq.start()

    async def at_hq(member_id: str) -> bool:
        async with chain.session.get(f"{chain.hq.url}/api/members/{member_id}") as response:
            return response.status == 200

    await wait_until(lambda: at_hq(later["id"]), "BR02's registration to reach HQ")
    await a.start()
    await wait_until(
        lambda: digests_agree(chain), "HQ and both branches to hold the same directory", timeout_s=30
    )
    for where in (chain.hq.url, a.url, b.url):
        merged = await chain.get(f"{where}/api/members/{earlier['id']}")
        assert (merged["id"], merged["aliases"]) == (later["id"], [earlier["id"]]), where
        assert [c["card"] for c in merged["cards"]] == ["A-0101", "B-0101"]


async def test_online_spends_take_a_hold_at_hq_and_cannot_overdraw(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ")
    await chain.post(a.url + "/api/members", {"name": "Sun Li", "phone": "13900004004", "cards": ["D-4004"]})
    await chain.post(a.url + "/api/cards/D-4004/top-up", {"amount_fen": 20_000})
    await wait_until(lambda: _card_known(chain, b, "D-4004", 20_000), "D-4004 to reach BR02")

    haircut = await chain.post(b.url + "/api/sales", paid_by_card("SVC-HAIRCUT", "D-4004", 8_800))
    tender = haircut["tenders"][0]
    assert (tender["mode"], tender["hold"]) == ("online", f"{haircut['id']}-D-4004")
    # 20,000 - 8,800 = 11,200 left: a 12,800 tin at BR01 is refused by HQ, although
    # BR01 may not have heard of the haircut yet.
    refused = await chain.post(
        a.url + "/api/sales", paid_by_card("TEA-GREEN-100", "D-4004", 12_800), status=402
    )
    assert refused["error"] == "insufficient_balance"
    assert "11200 fen available" in refused["message"]
    await wait_until(lambda: digests_agree(chain), "the haircut to reach everyone")
    assert (await chain.get(chain.hq.url + "/api/cards/D-4004"))["balances"]["stored_value"] == 11_200
    # The haircut's entry captured its hold: the 11,200 left are spendable in full,
    # not 11,200 less the hold a second time.
    rest = {
        "lines": [{"sku": "SVC-HAIRCUT", "qty": 1}, {"sku": "SOAP-BAR", "qty": 2}],
        "tenders": [{"kind": "stored_value", "card": "D-4004", "amount_fen": 11_200}],
    }
    spent = await chain.post(a.url + "/api/sales", rest)
    assert (spent["total_fen"], spent["tenders"][0]["mode"]) == (11_200, "online")
    await wait_until(lambda: digests_agree(chain), "the last spend to reach everyone")
    assert (await chain.get(b.url + "/api/cards/D-4004"))["balances"]["stored_value"] == 0
    assert (await operator(chain, "GET", "/api/conflicts"))["conflicts"] == []


async def test_a_loss_reported_at_one_branch_blocks_the_card_at_a_partitioned_one_once_it_syncs(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BR02, restarted behind its link with nothing to push, hears that HQ is there
    # only when its first feed read ends; HQ holds it briefly here.
    hold_feed_reads_briefly(monkeypatch)
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    link = FaultyLink("BR02", int(chain.hq.url.rsplit(":", 1)[1]))
    await link.start()
    try:
        await _route_through(chain, b, "BR02", link)
        await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
        await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ through its link")
        await chain.post(
            a.url + "/api/members", {"name": "Qian Yu", "phone": "13900005005", "cards": ["E-5005"]}
        )
        await chain.post(a.url + "/api/cards/E-5005/top-up", {"amount_fen": 5_000})
        await wait_until(lambda: _card_known(chain, b, "E-5005", 5_000), "E-5005 to reach BR02")

        link.cut()
        await wait_until(lambda: _offline(chain, "BR02"), "BR02 to notice it is cut off")
        lost = await chain.post(a.url + "/api/cards/E-5005/status", {"action": "report_lost"})
        assert lost["status"] == "lost"
        # BR02, cut off, still sees the card active and keeps using it: later in
        # time than the loss report, but without having seen it.
        later = await chain.post(b.url + "/api/sales", paid_by_card("SOAP-BAR", "E-5005", 1_200))
        assert later["tenders"][0]["mode"] == "offline"
        await chain.post(b.url + "/api/cards/E-5005/status", {"action": "suspend"})
        await chain.post(b.url + "/api/cards/E-5005/status", {"action": "resume"})
        # An unlock at BR02 has no loss to clear there.
        nothing = await chain.post(b.url + "/api/cards/E-5005/status", {"action": "unlock"}, status=409)
        assert nothing["error"] == "nothing_to_clear"

        link.heal()
        await wait_until(lambda: digests_agree(chain), "BR02 to sync after the link heals", timeout_s=40)
        for node in (a, b):
            assert (await chain.get(node.url + "/api/cards/E-5005"))["status"] == "lost"
        blocked = await chain.post(
            b.url + "/api/sales", paid_by_card("SOAP-BAR", "E-5005", 1_200), status=409
        )
        assert blocked["error"] == "card_blocked"
        # Now BR02 has seen the loss, its unlock clears it everywhere.
        await chain.post(b.url + "/api/cards/E-5005/status", {"action": "unlock"})
        await wait_until(lambda: digests_agree(chain), "the unlock to reach BR01")
        assert (await chain.get(a.url + "/api/cards/E-5005"))["status"] == "active"
    finally:
        await link.close()


async def _card_known(chain: Chain, node: Server, card: str, balance_fen: int) -> bool:
    async with chain.session.get(f"{node.url}/api/cards/{card}") as response:
        if response.status != 200:
            return False
        return bool((await response.json())["balances"]["stored_value"] == balance_fen)


async def _offline(chain: Chain, branch: str) -> bool:
    return not await online(chain, branch)


async def _route_through(chain: Chain, node: Server, branch: str, link: FaultyLink) -> None:
    """Restart the branch with HQ's address replaced by the link's."""
    await node.stop()
    data_dir = chain.root / branch
    save_config(data_dir, dataclasses.replace(load_config(data_dir), hq_url=link.url))
    await node.start()
