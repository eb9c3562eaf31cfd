"""What the till's pages stand on, over real HTTP to a real node: the pages and their
files (and nothing else of the node's folder), the session cookie, the status bar and
the live events (a swipe at the reader, HQ's feed applied)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.harness import Chain, clerk_login, log_in, wait_until
from tests.harness import sale as cash_sale
from tests.sse import events

PHONE = "13900000009"
CARD = "C-9001"


async def test_the_pages_need_a_session_and_their_files_are_public(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    async with aiohttp.ClientSession() as plain:
        async with plain.get(br01.url + "/", allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, "/login")
        async with plain.get(br01.url + "/api/till/status") as response:
            assert response.status == 401  # an API answers JSON, never a redirect
            assert (await response.json())["error"] == "not_logged_in"
        async with plain.get(br01.url + "/login") as response:
            assert response.status == 200
            assert "/api/login" in await response.text()
        for name, kind in (("till.js", "text/javascript"), ("i18n.json", "application/json")):
            async with plain.get(f"{br01.url}/till/{name}") as response:
                assert (response.status, response.content_type) == (200, kind)
        async with plain.get(br01.url + "/till/font/cjk.ttf") as response:
            assert (response.status, response.content_type) == (200, "font/ttf")
            assert len(await response.read()) > 1_000_000  # the whole CJK font
        # Nothing but the till's own files: not the node's key, config or store.
        for name in ("..%2Fnode.json", "..%2F..%2Fnode.key", "node.sqlite", "x.py"):
            async with plain.get(f"{br01.url}/till/{name}") as response:
                assert response.status == 404, name


async def test_a_browser_session_is_an_httponly_strict_cookie_ended_by_logging_out(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    await log_in(br01.url, clerk_login("BR01"))  # waits for the operators to arrive
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        body = {"login": clerk_login("BR01"), "password": "till-password-1"}
        async with browser.post(br01.url + "/api/login", json=body) as response:
            assert response.status == 200
            cookie = response.cookies["branchline_till"]
            assert cookie["httponly"] is True
            assert cookie["samesite"] == "Strict"
            assert cookie["path"] == "/"
            assert cookie.value == (await response.json())["token"]
        async with browser.get(br01.url + "/api/me") as response:
            me = await response.json()
            assert (me["operator"]["login"], me["language"]) == (clerk_login("BR01"), "zh-CN")
            assert me["offline_limit_fen"] == 50_000
        async with browser.get(br01.url + "/", allow_redirects=False) as response:
            assert response.status == 200
        async with browser.post(br01.url + "/api/logout") as response:
            assert response.status == 200
        token = cookie.value
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as plain, plain.get(br01.url + "/api/me", headers=headers) as response:
        assert response.status == 401, "the cookie's session ended with the log-out"


async def _next(stream: Any, kind: str) -> Any:
    async def found() -> Any:
        async for event, _, data in stream:
            if event == kind:
                return data
        raise AssertionError(f"the stream ended before a {kind} event")

    return await asyncio.wait_for(found(), 10)


async def test_a_swipe_and_the_feed_reach_an_open_page_and_the_status_bar_says_what_goes_offline(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01")
    member = await chain.post(br01.url + "/api/members", {"name": "Li", "phone": PHONE, "cards": [CARD]})
    clerk = await log_in(br01.url, clerk_login("BR01"))
    headers = {"Authorization": f"Bearer {clerk}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(br01.url + "/api/till/events") as live,
    ):
        assert live.headers["Content-Type"] == "text/event-stream"
        stream = events(live)
        status = await _next(stream, "status")
        assert (status["hq_reachable"], status["offline_tenders"]) == (True, [])
        told = await chain.post(br01.url + "/api/till/swipe", {"card": CARD}, status=200)
        assert told == {"card": CARD, "member_id": member["id"], "pages_told": 1, "via": "api"}
        assert await _next(stream, "swipe") == {"card": CARD, "member_id": member["id"]}
        # A card the branch does not know is still a swipe, with no member.
        await chain.post(br01.url + "/api/till/swipe", {"card": "C-0000-UNKNOWN"}, status=200)
        assert await _next(stream, "swipe") == {"card": "C-0000-UNKNOWN", "member_id": None}
        # HQ changes the catalogue: the branch applies its feed, and the page is told.
        await chain.post(
            chain.hq.url + "/api/products", {"sku": "TEA-GREEN-100", "price_fen": 13_000}, status=200
        )
        assert await _next(stream, "feed") == {}
        await chain.hq.stop()
        while (status := await _next(stream, "status"))["hq_reachable"]:
            pass
        assert status["offline_tenders"] == ["stored_value", "credit"]
    refusals = [
        ({"card": "no spaces allowed"}, 422),
        ({"card": 12345}, 422),
        ({}, 422),
    ]
    for body, expected in refusals:
        refused = await chain.post(br01.url + "/api/till/swipe", body, status=expected)
        assert refused["error"] == "invalid", refused
    async with chain.session.post(
        br01.url + "/api/till/swipe", data="not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
    async with chain.session.get(f"{br01.url}/api/till/status?card={CARD}") as response:
        card = (await response.json())["card"]
    assert card == {"card": CARD, "offline_spent_fen": 0, "offline_left_fen": 50_000}


async def test_a_preview_with_tenders_still_short_says_what_is_due_and_the_sale_is_refused(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01")
    member = await chain.post(br01.url + "/api/members", {"name": "Li", "phone": PHONE, "cards": [CARD]})
    await chain.post(f"{br01.url}/api/cards/{CARD}/top-up", {"amount_fen": 10_000})
    lines = [{"sku": "GIFT-BOX", "qty": 1}]
    in_cash = await chain.post(
        br01.url + "/api/sales/preview", {"member_id": member["id"], "lines": lines}, status=200
    )
    short = {
        "member_id": member["id"],
        "lines": lines,
        "tenders": [{"kind": "stored_value", "card": CARD, "amount_fen": 10_000}],
    }
    previewed = await chain.post(br01.url + "/api/sales/preview", short, status=200)
    # 299.00 less the 100.00 on the card: 199.00 still due, as the till's page shows it.
    assert (previewed["total_fen"], previewed["change_fen"]) == (29_900, -19_900)
    # The points are reckoned as if the rest came in cash: what the sale earns when paid so.
    assert previewed["points_earned"] == in_cash["points_earned"] > 0
    # With a rule that earns nothing on stored value, only the rest, in cash, earns.
    none_on_cards = {"code": "NO-SV", "name": "None on stored value", "kind": "tender"}
    await chain.post(
        chain.hq.url + "/api/points-rules",
        {**none_on_cards, "target": "stored_value", "factor_milli": 0},
        status=200,
    )

    async def rule_arrived() -> bool:
        return bool(
            (await chain.post(br01.url + "/api/sales/preview", short, status=200))["points_earned"] != 299
        )

    await wait_until(rule_arrived, "the tender rule to reach BR01")
    part = await chain.post(br01.url + "/api/sales/preview", short, status=200)
    assert (part["change_fen"], part["points_earned"]) == (-19_900, 199)
    refused = await chain.post(br01.url + "/api/sales", short, status=422)
    assert refused["error"] == "tender_short"
    assert (await chain.get(f"{br01.url}/api/cards/{CARD}"))["balances"]["stored_value"] == 10_000


async def test_the_days_sales_and_a_members_history_newest_first(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    member = await chain.post(br01.url + "/api/members", {"name": "Li", "phone": PHONE, "cards": [CARD]})
    walk_in = await chain.post(br01.url + "/api/sales", cash_sale(("SOAP-BAR", 2)))
    first = await chain.post(
        br01.url + "/api/sales", {**cash_sale(("GIFT-BOX", 1)), "member_id": member["id"]}
    )
    second = await chain.post(
        br01.url + "/api/sales", {**cash_sale(("CUP-CERAMIC", 3)), "member_id": member["id"]}
    )
    await chain.post(f"{br01.url}/api/sales/{first['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    today = await chain.get(br01.url + "/api/sales")
    assert [s["id"] for s in today["sales"]] == [second["id"], first["id"], walk_in["id"]]
    assert today["sales"][1]["refunded_fen"] == 29_900
    assert today["sales"][0]["lines"] == [{"sku": "CUP-CERAMIC", "qty": 3}]
    assert (await chain.get(br01.url + "/api/sales", params={"limit": "1"}))["sales"][0]["id"] == second["id"]
    other_day = await chain.get(br01.url + "/api/sales", params={"day": "2020-01-01"})
    assert (other_day["day"], other_day["sales"]) == ("2020-01-01", [])
    history = await chain.get(f"{br01.url}/api/members/{member['id']}/sales")
    assert [(s["id"], s["total_fen"]) for s in history["sales"]] == [
        (second["id"], 7_500),
        (first["id"], 29_900),
    ]
    shown = await chain.get(f"{br01.url}/api/sales/{first['id']}")
    assert shown["at_ms"] == history["sales"][1]["at_ms"] > 0
    for query, field in (
        ({"day": "yesterday"}, "day"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ):
        async with chain.session.get(br01.url + "/api/sales", params=query) as response:
            refused = await response.json()
            assert (response.status, refused["error"]) == (422, "invalid"), query
            assert field in refused["message"]


async def test_a_node_stops_at_once_with_a_till_page_open(chain: Chain) -> None:
    """A page's event stream runs as long as the page is open; stopping the node ends
    it, rather than the stop waiting out the server's shutdown timeout (a minute)."""
    br01 = await chain.add_node("BR01")
    clerk = await log_in(br01.url, clerk_login("BR01"))
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {clerk}"}) as session,
        session.get(br01.url + "/api/till/events") as live,
    ):
        stream = events(live)
        assert (await _next(stream, "status"))["hq_reachable"] is True
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(br01.stop(), 10)
        assert loop.time() - started < 5, "the open page held the node's stop up"
        # The stream ended without any event of the node's closing reaching the page.
        assert [event async for event, _, _ in stream if event != "status"] == []
