"""The console's live stream (GET /api/live, server-sent events) on real servers and
both HQ backends: a sale posted at a branch arrives as an event; a client that drops
and comes back with its last event's id gets what it missed, once; a store manager's
stream carries their own branch only; a bad cursor is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from hq.live import Cursor, stamped
from hq.storage.base import LiveSale
from tests.harness import WAIT_BOUND_S, Chain, log_in, manager_login, sale, wait_until
from tests.sse import events

LIVE = "/api/live"


async def next_sale(stream: AsyncIterator[tuple[str, str | None, Any]]) -> tuple[str | None, Any]:
    async def first() -> tuple[str | None, Any]:
        async for event, event_id, data in stream:
            if event == "sale":
                return event_id, data
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(first(), WAIT_BOUND_S)


async def test_a_sale_arrives_live_and_a_dropped_stream_resumes_without_loss_or_repeat(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    url = chain.hq.url + LIVE
    async with chain.session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        stream = events(response)
        first_event = await anext(stream)
        assert first_event[0] == "figures"  # today's figures at once
        assert [b["code"] for b in first_event[2]["branches"]] == ["BR01"]
        first = await chain.post(br01.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
        event_id, shown = await next_sale(stream)
    assert (shown["branch"], shown["kind"], shown["id"], shown["total_fen"]) == (
        "BR01",
        "sale",
        first["id"],
        2_500,
    )
    assert shown["at_ms"] > 0
    assert event_id is not None

    # While no one listens, a second sale and a return of the first.
    second = await chain.post(br01.url + "/api/sales", sale(("SOAP-BAR", 2)))
    back = await chain.post(
        f"{br01.url}/api/sales/{first['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}
    )

    async def at_hq() -> bool:
        return bool((await chain.get(chain.hq.url + "/api/sales/summary"))["returns"] == 1)

    await wait_until(at_hq, "the second sale and the return to reach HQ")
    async with chain.session.get(url, headers={"Last-Event-ID": event_id}) as response:
        stream = events(response)
        _, missed = await next_sale(stream)
        _, returned = await next_sale(stream)
    assert (missed["id"], missed["total_fen"]) == (second["id"], 2_400)  # not the first again
    assert (returned["kind"], returned["id"], returned["total_fen"]) == ("return", back["id"], 2_500)


async def test_a_store_managers_stream_carries_their_own_branch_only(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR02'))}"}
    elsewhere = await chain.post(br01.url + "/api/sales", sale(("CUP-CERAMIC", 1)))

    async def at_hq() -> bool:
        return bool((await chain.get(chain.hq.url + "/api/sales/summary"))["count"] == 1)

    await wait_until(at_hq, "BR01's sale to reach HQ")
    # Even asked from the start of BR01's log, BR02's manager is sent none of it.
    async with chain.session.get(
        chain.hq.url + LIVE, params={"after": "BR01:0,BR02:0"}, headers=manager
    ) as response:
        stream = events(response)
        *_, data = await anext(stream)
        assert [b["code"] for b in data["branches"]] == ["BR02"]
        assert "open_conflicts" not in data  # the chain's own work is HQ's
        own = await chain.post(br02.url + "/api/sales", sale(("SOAP-BAR", 1)))
        _, shown = await next_sale(stream)
    assert (shown["branch"], shown["id"]) == ("BR02", own["id"])
    assert shown["id"] != elsewhere["id"]
    async with chain.session.get(chain.hq.url + LIVE, params={"branch": "BR01"}, headers=manager) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")


async def test_a_bad_cursor_is_refused_with_400(chain: Chain) -> None:
    for cursor in ("BR01", "BR01:-1", "BR01:x", "a b:1", "BR01:" + "9" * 19, "B" * 40 + ":1"):
        async with chain.session.get(chain.hq.url + LIVE, headers={"Last-Event-ID": cursor}) as response:
            assert (response.status, (await response.json())["error"]) == (400, "invalid_query"), cursor


def _sale(branch: str, seq: int) -> LiveSale:
    return LiveSale(branch, seq, "sale", f"{branch}-{seq}", 0, 100, 50, None)


def test_each_sale_is_stamped_with_the_cursor_that_resumes_just_past_it() -> None:
    before = Cursor({"BR01": 3, "BR02": 10, "BR03": 4})
    after = Cursor({"BR01": 9, "BR02": 12, "BR03": 4})  # BR01 ends past its last sale
    sales = [_sale("BR01", 5), _sale("BR01", 7), _sale("BR02", 12)]
    assert [event_id for _, event_id in stamped(sales, before, after)] == [
        "BR01:5,BR02:10,BR03:4",
        "BR01:7,BR02:10,BR03:4",
        "BR01:9,BR02:12,BR03:4",
    ]
    assert Cursor.parse("BR01:9,BR02:12,BR03:4") == Cursor({"BR01": 9, "BR02": 12, "BR03": 4})
    assert Cursor.parse("") == Cursor({})
