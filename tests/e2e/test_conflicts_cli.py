"""`branchline hq conflicts list|show|resolve` against a running HQ, as an operator types it."""

from __future__ import annotations

import json
from functools import partial

from tests import harness
from tests.harness import TEST_PASSWORD, Chain, hq_login, wait_until

branchline = partial(harness.branchline, password=TEST_PASSWORD)


async def test_an_operator_lists_shows_and_resolves_a_duplicate_member(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    for branch in ("BR01", "BR02"):
        await wait_until(lambda b=branch: _online(chain, b), f"{branch} to reach HQ")  # type: ignore[misc]
    await chain.hq.stop()
    first = await chain.post(a.url + "/api/members", {"name": "Zhou", "phone": "13900000301"})
    second = await chain.post(b.url + "/api/members", {"name": "Zhou", "phone": "13900000301"})
    # HQ's order decides who survives: BR01's registration reaches it first.
    await b.stop()
    await chain.hq.start()

    async def first_at_hq() -> bool:
        async with chain.session.get(f"{chain.hq.url}/api/members/{first['id']}") as response:
            return response.status == 200

    await wait_until(first_at_hq, "BR01's registration to reach HQ")
    await b.start()
    hq = ["--login", hq_login(), "--hq", chain.hq.url]

    async def listed() -> bool:
        code, out = await branchline("hq", "conflicts", "list", *hq)
        return code == 0 and f"duplicate:{second['id']}" in out

    await wait_until(listed, "the duplicate to be listed", timeout_s=30)
    code, out = await branchline("hq", "conflicts", "list", *hq)
    assert "duplicate_member" in out
    assert "confirm, separate" in out

    code, out = await branchline("hq", "conflicts", "show", f"duplicate:{second['id']}", *hq)
    shown = json.loads(out)
    assert (code, shown["subject"], shown["details"]["alias"]["branch"]) == (0, first["id"], "BR02")

    code, out = await branchline("hq", "conflicts", "resolve", f"duplicate:{second['id']}", "delete", *hq)
    assert code == 2, out
    assert "choose one of confirm, separate" in out
    code, out = await branchline(
        "hq", "conflicts", "resolve", f"duplicate:{second['id']}", "confirm", "--note", "same person", *hq
    )
    assert code == 0
    assert "resolved (confirm)" in out
    code, out = await branchline("hq", "conflicts", "list", "--state", "resolved", *hq)
    assert f"duplicate:{second['id']}" in out

    # A wrong password: HQ refuses the log-in itself, in one line, and nothing is asked.
    code, out = await branchline("hq", "conflicts", "list", *hq, password="not-" + TEST_PASSWORD)
    refused = "branchline: HQ refused (401 login_failed): wrong login or password"
    assert (code, out.strip()) == (2, refused), out

    await chain.hq.stop()
    code, out = await branchline("hq", "conflicts", "list", *hq)
    assert code == 2
    assert "did not answer" in out


async def _online(chain: Chain, branch: str) -> bool:
    return bool((await chain.sync(branch))["hq_reachable"])
