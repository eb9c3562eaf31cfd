"""A member's contact history and photo (FEATURES M1) across real branch and HQ servers,
on each HQ backend: written at a branch while HQ is away, they reach HQ and the other
branch once it returns.

Worked example: Lin Xiaoyu registers at BR01 and BR02 learns her. HQ goes down. BR01
phones her at 10:00 about the spring promotion and takes her photo (a 140 x 140 PNG of
59,008 bytes); BR02 records her visit at 10:30. When HQ returns, HQ and both branches
list both contacts, the visit first, and HQ serves the photo; BR02, which never held
it, fetches it from HQ the first time a till asks, and still shows it with HQ away.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.e2e.test_directory_partition import digests_agree, online
from tests.harness import Chain, Server, hold_feed_reads_briefly, wait_until
from tests.photos import png

TEN_AM = 1_773_021_600_000  # 9 March 2026, 10:00 Beijing time
HALF_PAST_TEN = TEN_AM + 30 * 60_000
PORTRAIT = png(140, 140)


async def known(chain: Chain, url: str, member_id: str) -> bool:
    async with chain.session.get(f"{url}/api/members/{member_id}") as response:
        return response.status == 200


async def contacts_at(chain: Chain, url: str, member_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await chain.get(f"{url}/api/members/{member_id}/contacts"))["contacts"]
    return found


async def photo_at(chain: Chain, url: str, member_id: str) -> tuple[int, str, bytes]:
    async with chain.session.get(f"{url}/api/members/{member_id}/photo") as response:
        return response.status, response.content_type, await response.read()


async def both_online(chain: Chain) -> None:
    for branch in chain.nodes:
        await wait_until(lambda branch=branch: online(chain, branch), f"{branch} to reach HQ")  # type: ignore[misc]


async def two_branches(chain: Chain) -> tuple[Server, Server]:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await both_online(chain)
    return a, b


async def test_a_contact_and_a_photo_made_offline_reach_hq_and_the_other_branch(chain: Chain) -> None:
    a, b = await two_branches(chain)
    lin = await chain.post(a.url + "/api/members", {"name": "Lin Xiaoyu", "phone": "13800000002"})
    await wait_until(lambda: known(chain, b.url, lin["id"]), "Lin Xiaoyu to reach BR02")

    await chain.hq.stop()
    call = {"channel": "phone", "note": "asked about the spring promotion", "at_ms": TEN_AM}
    phoned = await chain.post(f"{a.url}/api/members/{lin['id']}/contacts", call)
    async with chain.session.put(
        f"{a.url}/api/members/{lin['id']}/photo", data=PORTRAIT, headers={"Content-Type": "image/png"}
    ) as response:
        assert response.status == 200, await response.text()
    visit = {"channel": "visit", "note": "tried the new oolong", "at_ms": HALF_PAST_TEN}
    visited = await chain.post(f"{b.url}/api/members/{lin['id']}/contacts", visit)
    # Apart, each branch lists its own contact only, and BR02 has heard of no photo.
    assert [c["id"] for c in await contacts_at(chain, a.url, lin["id"])] == [phoned["id"]]
    assert [c["id"] for c in await contacts_at(chain, b.url, lin["id"])] == [visited["id"]]
    assert (await photo_at(chain, b.url, lin["id"]))[0] == 404

    await chain.hq.start()
    await both_online(chain)
    await wait_until(lambda: digests_agree(chain), "HQ and both branches to hold the same directory")

    for where in (chain.hq.url, a.url, b.url):
        shown = await contacts_at(chain, where, lin["id"])
        assert [(c["id"], c["channel"], c["at_ms"], c["branch"]) for c in shown] == [
            (visited["id"], "visit", HALF_PAST_TEN, "BR02"),
            (phoned["id"], "phone", TEN_AM, "BR01"),
        ], where
        assert [c["operator"] for c in shown] == [visited["operator"], phoned["operator"]], where
    # HQ knows every operator; a branch only its own.
    logins = [c["operator_login"] for c in await contacts_at(chain, chain.hq.url, lin["id"])]
    assert logins == ["br02-manager", "br01-manager"]
    assert [c["operator_login"] for c in await contacts_at(chain, b.url, lin["id"])] == ["br02-manager", None]

    reference = "sha256:" + hashlib.sha256(PORTRAIT).hexdigest()
    for where in (chain.hq.url, a.url, b.url):
        assert (await chain.get(f"{where}/api/members/{lin['id']}"))["photo"] == reference, where
        assert await photo_at(chain, where, lin["id"]) == (200, "image/png", PORTRAIT), where

    # BR02 kept what it fetched: its tills see the photo with HQ away too.
    await chain.hq.stop()
    assert await photo_at(chain, b.url, lin["id"]) == (200, "image/png", PORTRAIT)
    await chain.hq.start()


async def test_a_photo_another_branch_took_is_unavailable_while_hq_is_away(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await two_branches(chain)
    lin = await chain.post(a.url + "/api/members", {"name": "Lin Xiaoyu", "phone": "13800000002"})
    async with chain.session.put(
        f"{a.url}/api/members/{lin['id']}/photo", data=PORTRAIT, headers={"Content-Type": "image/png"}
    ) as response:
        assert response.status == 200, await response.text()

    async def photo_named_at_br02() -> bool:
        return await known(chain, b.url, lin["id"]) and bool(
            (await chain.get(f"{b.url}/api/members/{lin['id']}"))["photo"]
        )

    await wait_until(photo_named_at_br02, "Lin's profile with her photo to reach BR02")
    # A branch whose feed read is held at the returned HQ hears that it is back only
    # when the read ends; HQ holds it briefly here.
    hold_feed_reads_briefly(monkeypatch)
    await chain.hq.stop()
    async with chain.session.get(f"{b.url}/api/members/{lin['id']}/photo") as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (503, "photo_unavailable")
        assert "is not at this branch yet and HQ did not answer" in answer["message"]
    await chain.hq.start()
    await both_online(chain)
    assert await photo_at(chain, b.url, lin["id"]) == (200, "image/png", PORTRAIT)


async def test_duplicates_merged_show_every_contact_under_either_id(chain: Chain) -> None:
    a, b = await two_branches(chain)
    await chain.hq.stop()
    # Zhao Min registers at both branches while they are apart: one phone, two ids.
    at_a = await chain.post(a.url + "/api/members", {"name": "Zhao Min", "phone": "13900000099"})
    at_b = await chain.post(b.url + "/api/members", {"name": "Zhao Min", "phone": "13900000099"})
    first = await chain.post(
        f"{a.url}/api/members/{at_a['id']}/contacts",
        {"channel": "sms", "note": "welcome text", "at_ms": TEN_AM},
    )
    second = await chain.post(
        f"{b.url}/api/members/{at_b['id']}/contacts",
        {"channel": "email", "note": "sent the catalogue", "at_ms": HALF_PAST_TEN},
    )
    await chain.hq.start()
    await both_online(chain)
    await wait_until(lambda: digests_agree(chain), "HQ and both branches to hold the same directory")

    for where in (chain.hq.url, a.url, b.url):
        for member_id in (at_a["id"], at_b["id"]):
            page = await chain.get(f"{where}/api/members/{member_id}/contacts")
            assert [c["id"] for c in page["contacts"]] == [second["id"], first["id"]], (where, member_id)
            assert page["member_id"] in (at_a["id"], at_b["id"])
            assert page["looked_up_as"] == member_id


async def test_hq_refuses_a_member_it_does_not_know_and_a_page_it_cannot_read(chain: Chain) -> None:
    unknown = "01a20823-0000-7000-8000-000000000000"
    for path in (f"/api/members/{unknown}/contacts", f"/api/members/{unknown}/photo"):
        async with chain.session.get(chain.hq.url + path) as response:
            answer = await response.json()
            assert (response.status, answer["error"]) == (404, "not_found"), path
            assert answer["message"].startswith(f"no member {unknown} at HQ")
    async with chain.session.get(chain.hq.url + f"/api/members/{unknown}/contacts?limit=0") as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")
