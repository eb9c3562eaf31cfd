"""A member's contact history at the till (FEATURES M1): a contact is added by the
operator logged in, listed newest first a page at a time, and every bad request is
refused with its own status and code, writing nothing (the log's head stays put and
the history is as it was)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from node.routes.context import CONTEXT
from protocol.limits import MAX_CONTACT_NOTE_CHARS
from tests.harness import Chain, Server, log_in
from tests.node.test_birthdays import add_operator_without

UNKNOWN_ID = "01a20823-0000-7000-8000-000000000000"
# 9 March 2026, 10:00 Beijing time (02:00 UTC), and the minutes after.
TEN_AM = 1_773_021_600_000
MINUTE_MS = 60_000


@pytest.fixture
async def till(chain: Chain) -> Server:
    return await chain.add_node("BR01")


async def lin(chain: Chain, till: Server) -> Any:
    return await chain.post(till.url + "/api/members", {"name": "Lin Xiaoyu", "phone": "13800000002"})


async def add_contact(chain: Chain, till: Server, member_id: str, body: Any, status: int = 201) -> Any:
    return await chain.post(f"{till.url}/api/members/{member_id}/contacts", body, status=status)


async def history(chain: Chain, till: Server, member_id: str, **query: Any) -> Any:
    return await chain.get(f"{till.url}/api/members/{member_id}/contacts", params=query)


async def operator_id(till: Server, login: str) -> str:
    def read(conn: Any) -> str:
        return str(conn.execute("SELECT id FROM operators WHERE login = ?", (login,)).fetchone()[0])

    return await till.app[CONTEXT].store.read(read)


async def head_seq(chain: Chain) -> int:
    return int((await chain.sync("BR01"))["head_seq"])


async def test_a_contact_is_recorded_as_the_operator_logged_in_and_listed_newest_first(
    chain: Chain, till: Server
) -> None:
    member = await lin(chain, till)
    first = await add_contact(
        chain,
        till,
        member["id"],
        {"channel": "phone", "note": "asked about the spring promotion", "at_ms": TEN_AM},
    )
    second = await add_contact(
        chain, till, member["id"], {"channel": "wechat", "note": "sent the price list"}
    )
    operator = await operator_id(till, "br01-manager")
    assert first == {
        "id": first["id"],
        "member_id": member["id"],
        "operator": operator,
        "operator_login": "br01-manager",
        "at_ms": TEN_AM,
        "channel": "phone",
        "note": "asked about the spring promotion",
        "branch": "BR01",
    }
    assert second["at_ms"] > TEN_AM  # made just now
    shown = await history(chain, till, member["id"])
    assert [c["id"] for c in shown["contacts"]] == [second["id"], first["id"]]
    assert shown["contacts"][1] == first
    assert (shown["member_id"], shown["next"]) == (member["id"], None)


async def test_history_comes_a_page_at_a_time(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    made = []
    for minute in range(5):  # 10:00 to 10:04, then two more at 10:04
        at = TEN_AM + min(minute, 4) * MINUTE_MS
        made.append(
            await add_contact(
                chain, till, member["id"], {"channel": "sms", "note": f"text {minute}", "at_ms": at}
            )
        )
    for extra in (5, 6):
        made.append(
            await add_contact(
                chain,
                till,
                member["id"],
                {"channel": "sms", "note": f"text {extra}", "at_ms": TEN_AM + 4 * MINUTE_MS},
            )
        )
    newest_first = sorted(made, key=lambda c: (c["at_ms"], c["id"]), reverse=True)
    pages, before = [], None
    while True:
        query = {"limit": 3} if before is None else {"limit": 3, "before": before}
        page = await history(chain, till, member["id"], **query)
        pages.append([c["id"] for c in page["contacts"]])
        before = page["next"]
        if before is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [cid for page in pages for cid in page] == [c["id"] for c in newest_first]


# Each bad request, what it is answered, and that it wrote nothing.
BAD_CONTACTS = [
    pytest.param(
        {"channel": "fax", "note": "hello"}, 422, "invalid", "channel must be one of", id="unknown channel"
    ),
    pytest.param({"note": "hello"}, 422, "invalid", "channel must be one of", id="no channel"),
    pytest.param(
        {"channel": "phone", "note": "x" * (MAX_CONTACT_NOTE_CHARS + 1)},
        422,
        "invalid",
        f"note must be text: what was said, 1 to {MAX_CONTACT_NOTE_CHARS} characters",
        id="note too long",
    ),
    pytest.param({"channel": "phone", "note": "   "}, 422, "invalid", "note must be text", id="blank note"),
    pytest.param({"channel": "phone"}, 422, "invalid", "note is required", id="no note"),
    pytest.param(
        {"channel": "phone", "note": "hello", "operator": "someone-else"},
        422,
        "invalid",
        "operator is whoever is logged in and cannot be given",
        id="forged operator",
    ),
    pytest.param(
        {"channel": "phone", "note": "hi", "by": "x"},
        422,
        "invalid",
        "unknown contact fields: by",
        id="unknown field",
    ),
    pytest.param(
        {"channel": "phone", "note": "hi", "at_ms": 1.5},
        422,
        "invalid",
        "at_ms must be an integer",
        id="float time",
    ),
    pytest.param(
        {"channel": "phone", "note": "hi", "at_ms": 5},
        422,
        "invalid",
        "at_ms must be between",
        id="time in 1970",
    ),
    pytest.param(
        {"channel": "phone", "note": "hi", "at_ms": 4_102_444_800_000},
        422,
        "invalid",
        "is in the future",
        id="time in 2100",
    ),
    pytest.param(["phone", "hi"], 400, "malformed", "must be a JSON object", id="not an object"),
]


@pytest.mark.parametrize(("body", "status", "code", "message"), BAD_CONTACTS)
async def test_a_bad_contact_is_refused_and_writes_nothing(
    chain: Chain, till: Server, body: Any, status: int, code: str, message: str
) -> None:
    member = await lin(chain, till)
    await add_contact(chain, till, member["id"], {"channel": "visit", "note": "came in for tea"})
    before, seq = await history(chain, till, member["id"]), await head_seq(chain)
    refused = await add_contact(chain, till, member["id"], body, status=status)
    assert refused["error"] == code
    assert message in refused["message"]
    assert await head_seq(chain) == seq
    assert await history(chain, till, member["id"]) == before


async def test_a_retry_under_the_same_idempotency_key_answers_the_contact_it_booked(
    chain: Chain, till: Server
) -> None:
    """A till that lost the answer to its POST sends it again with the same key: 200 with
    the contact it booked, no second entry, one contact in the history. Another key books
    another contact; a key of 200 characters is refused (422) and writes nothing."""
    member = await lin(chain, till)
    body = {"channel": "phone", "note": "called back about the order"}
    url = f"{till.url}/api/members/{member['id']}/contacts"
    key = {"Idempotency-Key": "till-3-contact-0001"}
    first = await chain.post(url, body, headers=key)
    seq = await head_seq(chain)
    again = await chain.post(url, body, status=200, headers=key)
    assert again == first
    assert await head_seq(chain) == seq
    assert [c["id"] for c in (await history(chain, till, member["id"]))["contacts"]] == [first["id"]]
    other = await chain.post(url, body, headers={"Idempotency-Key": "till-3-contact-0002"})
    assert other["id"] != first["id"]
    refused = await chain.post(url, body, status=422, headers={"Idempotency-Key": "k" * 200})
    assert refused["error"] == "invalid"
    assert len((await history(chain, till, member["id"]))["contacts"]) == 2


async def test_a_contact_with_a_member_the_branch_does_not_know_is_refused_404(
    chain: Chain, till: Server
) -> None:
    seq = await head_seq(chain)
    refused = await add_contact(chain, till, UNKNOWN_ID, {"channel": "phone", "note": "hello"}, status=404)
    assert refused["error"] == "unknown_member"
    assert refused["message"].startswith(f"no member {UNKNOWN_ID} at this branch")
    assert await head_seq(chain) == seq
    async with chain.session.get(f"{till.url}/api/members/{UNKNOWN_ID}/contacts") as response:
        assert (response.status, (await response.json())["error"]) == (404, "unknown_member")


async def test_an_operator_without_members_edit_may_read_but_not_add(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    await add_operator_without(chain, "br01-reader", "members:edit")
    token = await log_in(till.url, "br01-reader")
    seq = await head_seq(chain)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{till.url}/api/members/{member['id']}/contacts"
    async with aiohttp.ClientSession() as plain:
        async with plain.post(url, json={"channel": "phone", "note": "hello"}, headers=headers) as response:
            answer = await response.json()
            assert (response.status, answer["error"]) == (403, "forbidden")
            assert "may not edit members" in answer["message"]
        async with plain.get(url, headers=headers) as response:
            assert (response.status, (await response.json())["contacts"]) == (200, [])
        async with plain.get(url) as response:
            assert (response.status, (await response.json())["error"]) == (401, "not_logged_in")
    assert await head_seq(chain) == seq


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit must be a whole number from 1 to 200"),
        ({"limit": "201"}, "limit must be a whole number from 1 to 200"),
        ({"limit": "ten"}, "limit must be a whole number from 1 to 200"),
        ({"before": "yesterday"}, "before must be the `next` of the page before"),
    ],
)
async def test_a_bad_page_is_refused_422(
    chain: Chain, till: Server, query: dict[str, str], message: str
) -> None:
    member = await lin(chain, till)
    async with chain.session.get(f"{till.url}/api/members/{member['id']}/contacts", params=query) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (422, "invalid")
        assert message in answer["message"]
