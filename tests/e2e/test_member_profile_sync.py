"""A member's profile edited at two branches while they are cut off from HQ, with real
HQ and branch servers, on each HQ backend.

Worked example: Lin Xiaoyu registers at BR01 (address "1 Old Road", region Luohu,
car plate 粤B11111, gender female, salesperson BR01-S01, referred by Zhou Jie). HQ
goes down. BR01 changes her address to "2 Binhai Avenue", her region to Futian and
adds a note; a moment later BR02 changes her address to "3 Shennan Road", her car
plate to 粤B22222, her salesperson to E-0007, clears her gender and adds family
notes. When HQ returns, HQ and both branches show the same profile: BR02's address
(the later write of the one field both changed), and every other field as the one
branch that changed it left it.
"""

from __future__ import annotations

from typing import Any

from conflict.profile import PROFILE_FIELDS, StampedField
from node.routes.context import CONTEXT
from shared_tables import directory_store
from tests.e2e.test_directory_partition import digests_agree, online
from tests.harness import Chain, Server, wait_until


async def edit(chain: Chain, url: str, member_id: str, body: dict[str, Any], status: int = 200) -> Any:
    async with chain.session.patch(f"{url}/api/members/{member_id}", json=body) as response:
        assert response.status == status, f"PATCH: {response.status} {await response.text()}"
        return await response.json()


async def known(chain: Chain, url: str, member_id: str) -> bool:
    async with chain.session.get(f"{url}/api/members/{member_id}") as response:
        return response.status == 200


async def stamp_of(node: Server, member_id: str, field: str) -> tuple[int, str]:
    """The (hlc, node) a branch holds for one field of a member's profile."""

    def read(conn: Any) -> StampedField:
        return directory_store.load_profile(conn, member_id)[field]

    _, hlc, writer = await node.app[CONTEXT].store.read(read)
    return hlc, writer


def profile_of(member: dict[str, Any]) -> dict[str, Any]:
    return {field: member[field] for field in PROFILE_FIELDS}


async def test_a_profile_edited_at_two_branches_apart_merges_per_field_the_same_everywhere(
    chain: Chain,
) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ")
    referrer = await chain.post(a.url + "/api/members", {"name": "Zhou Jie", "phone": "13800000001"})
    registered = {
        "name": "Lin Xiaoyu",
        "phone": "13800000002",
        "birthday": "1991-03-08",
        "gender": "female",
        "address": "1 Old Road",
        "region": "Luohu",
        "car_plate": "粤B11111",
        "family_notes": None,
        "salesperson": "BR01-S01",  # one of HQ's demo employees at BR01
        "referrer": referrer["id"],
        "notes": None,
        "photo": None,  # named by uploading the image (tests/e2e/test_member_contacts_photos.py)
    }
    member = await chain.post(a.url + "/api/members", registered)
    assert profile_of(member) == registered
    await wait_until(lambda: known(chain, b.url, member["id"]), "Lin Xiaoyu to reach BR02")
    assert profile_of(await chain.get(f"{b.url}/api/members/{member['id']}")) == registered

    await chain.hq.stop()
    at_a = await edit(
        chain,
        a.url,
        member["id"],
        {"address": "2 Binhai Avenue", "region": "Futian", "notes": "prefers weekday mornings"},
    )
    at_b = await edit(
        chain,
        b.url,
        member["id"],
        {
            "address": "3 Shennan Road",
            "car_plate": "粤B22222",
            "salesperson": "E-0007",
            "gender": None,
            "family_notes": "two children, 6 and 9",
        },
    )
    # Apart, each branch shows its own edit only.
    assert (at_a["address"], at_a["car_plate"], at_a["gender"]) == ("2 Binhai Avenue", "粤B11111", "female")
    assert (at_b["address"], at_b["region"], at_b["notes"]) == ("3 Shennan Road", "Luohu", None)
    # BR02 wrote the address after BR01 did: its stamp is the greater one.
    assert await stamp_of(a, member["id"], "address") < await stamp_of(b, member["id"], "address")

    await chain.hq.start()
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ again")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ again")
    await wait_until(lambda: digests_agree(chain), "HQ and both branches to hold the same directory")

    merged = {
        **registered,
        "address": "3 Shennan Road",  # both changed it; BR02's write is the later
        "region": "Futian",  # BR01's
        "notes": "prefers weekday mornings",  # BR01's
        "car_plate": "粤B22222",  # BR02's
        "salesperson": "E-0007",  # BR02's
        "gender": None,  # BR02 cleared it
        "family_notes": "two children, 6 and 9",  # BR02's
    }
    for where in (chain.hq.url, a.url, b.url):
        shown = await chain.get(f"{where}/api/members/{member['id']}")
        assert profile_of(shown) == merged, where
        by_phone = await chain.get(f"{where}/api/members", params={"phone": "13800000002"})
        assert [profile_of(found) for found in by_phone["members"]] == [merged], where


async def test_a_referrer_from_another_branch_is_named_once_synced_and_its_chain_reads_everywhere(
    chain: Chain,
) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ")
    await chain.hq.stop()
    zhou = await chain.post(a.url + "/api/members", {"name": "Zhou Jie", "phone": "13800000001"})
    # BR02 has not heard of Zhou Jie yet: it cannot vouch for him as a referrer.
    refused = await chain.post(
        b.url + "/api/members",
        {"name": "Lin Xiaoyu", "phone": "13800000002", "referrer": zhou["id"]},
        status=404,
    )
    assert refused["error"] == "unknown_member"
    assert refused["message"].startswith(f"referrer {zhou['id']} is no member this branch knows")

    await chain.hq.start()
    await wait_until(lambda: known(chain, b.url, zhou["id"]), "Zhou Jie to reach BR02")
    lin = await chain.post(
        b.url + "/api/members", {"name": "Lin Xiaoyu", "phone": "13800000002", "referrer": zhou["id"]}
    )
    wu = await chain.post(a.url + "/api/members", {"name": "Wu Lei", "phone": "13800000003"})
    await wait_until(lambda: known(chain, b.url, wu["id"]), "Wu Lei to reach BR02")
    await edit(chain, b.url, wu["id"], {"referrer": lin["id"]})  # Lin brought Wu in
    await wait_until(lambda: digests_agree(chain), "HQ and both branches to hold the same directory")

    for where in (chain.hq.url, a.url, b.url):
        assert (await chain.get(f"{where}/api/members/{lin['id']}"))["referrer"] == zhou["id"], where
        assert (await chain.get(f"{where}/api/members/{wu['id']}"))["referrer"] == lin["id"], where
    for node in (a, b):
        chain_up = await node.app[CONTEXT].store.read(
            lambda conn: directory_store.referrer_chain(conn, wu["id"], 5)
        )
        assert chain_up == [lin["id"], zhou["id"]]
