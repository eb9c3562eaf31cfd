"""HQ's holds and conflict queue over HTTP: what each bad or forged request gets,
and that a refusal changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from node.config import KEY_FILE, read_private_key
from node.sync.hq_client import auth_header
from node.sync.replicator import wall_ms
from tests.harness import Chain, log_in, wait_until


async def _signed(
    chain: Chain, branch: str, method: str, path_qs: str, *, sign_as: str | None = None
) -> tuple[int, Any]:
    key = read_private_key(chain.root / branch / KEY_FILE)
    header = auth_header(key, sign_as or branch, method, path_qs, wall_ms())
    async with chain.session.request(
        method, chain.hq.url + path_qs, headers={"Authorization": header}
    ) as response:
        return response.status, await response.json()


def _hold(hold: str, card: str, amount: Any, unsynced: Any = 0) -> str:
    return "/api/holds?" + urlencode(
        {"hold": hold, "card": card, "amount_fen": amount, "unsynced_fen": unsynced}
    )


async def _setup(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    await chain.post(a.url + "/api/members", {"name": "Hold", "phone": "13900000201", "cards": ["H-0201"]})
    await chain.post(a.url + "/api/cards/H-0201/top-up", {"amount_fen": 10_000})
    await chain.post(a.url + "/api/members", {"name": "Lost", "phone": "13900000202", "cards": ["H-0202"]})
    await chain.post(a.url + "/api/cards/H-0202/status", {"action": "report_lost"})

    async def arrived() -> bool:
        async with chain.session.get(chain.hq.url + "/api/cards/H-0202") as response:
            return response.status == 200 and (await response.json())["status"] == "lost"

    await wait_until(arrived, "BR01's cards to reach HQ")


async def test_a_hold_is_placed_once_and_counts_against_the_balance(chain: Chain) -> None:
    await _setup(chain)
    status, body = await _signed(chain, "BR01", "POST", _hold("h-1", "H-0201", 6_000))
    assert (status, body) == (201, {"hold": "h-1", "available_fen": 4_000})
    # The same request again (a retry) answers the same and holds nothing more.
    status, body = await _signed(chain, "BR01", "POST", _hold("h-1", "H-0201", 6_000))
    assert (status, body["available_fen"]) == (201, 4_000)
    status, body = await _signed(chain, "BR01", "POST", _hold("h-2", "H-0201", 4_001))
    assert (status, body["error"]) == (402, "insufficient_balance")
    # Unsent debits at the branch count too: 4,000 - 1,000 leaves 3,000.
    status, body = await _signed(chain, "BR01", "POST", _hold("h-3", "H-0201", 3_001, unsynced=-1_000))
    assert (status, body["error"]) == (402, "insufficient_balance")
    status, body = await _signed(chain, "BR01", "DELETE", "/api/holds/h-1")
    assert (status, body) == (200, {"hold": "h-1", "released": True})
    status, body = await _signed(chain, "BR01", "POST", _hold("h-4", "H-0201", 10_000))
    assert (status, body["available_fen"]) == (201, 0)


@pytest.mark.parametrize(
    ("path_qs", "status", "code"),
    [
        (_hold("h-9", "H-0201", 0), 400, "invalid_query"),
        (_hold("h-9", "H-0201", -5), 400, "invalid_query"),
        (_hold("h-9", "H-0201", "12.5"), 400, "invalid_query"),
        (_hold("h-9", "H-0201", "²"), 400, "invalid_query"),  # a digit to str.isdigit, not to int()
        (_hold("h-9", "H-0201", 100, unsynced="-٣"), 400, "invalid_query"),
        (_hold("h-9", "H-0201", 100, unsynced=500), 400, "invalid_query"),  # unsent debits are never positive
        (_hold("", "H-0201", 100), 400, "invalid_query"),
        (_hold("h-9", "NO-SUCH", 100), 404, "unknown_card"),
        (_hold("h-9", "H-0202", 100), 409, "card_blocked"),
    ],
)
async def test_bad_holds_are_refused(chain: Chain, path_qs: str, status: int, code: str) -> None:
    await _setup(chain)
    got_status, body = await _signed(chain, "BR01", "POST", path_qs)
    assert (got_status, body["error"]) == (status, code), body
    ok_status, ok = await _signed(chain, "BR01", "POST", _hold("h-ok", "H-0201", 10_000))
    assert (ok_status, ok["available_fen"]) == (201, 0), "the refused hold must not have held anything"


async def test_forged_and_conflicting_holds_are_refused(chain: Chain) -> None:
    await _setup(chain)
    async with chain.session.post(chain.hq.url + _hold("h-5", "H-0201", 100)) as response:
        assert (response.status, (await response.json())["error"]) == (401, "auth_failed")
    # Signed by BR01's key but claiming to be BR02 (not enrolled).
    status, body = await _signed(chain, "BR01", "POST", _hold("h-5", "H-0201", 100), sign_as="BR02")
    assert (status, body["error"]) == (403, "unknown_branch")
    await _signed(chain, "BR01", "POST", _hold("h-5", "H-0201", 100))
    status, body = await _signed(chain, "BR01", "POST", _hold("h-5", "H-0201", 200))
    assert (status, body["error"]) == (409, "hold_conflict")


async def _operator(
    chain: Chain, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    # The chain's session logs in as HQ's general manager unless a token is given.
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(body, str):
        kwargs["data"] = body  # sent as text/plain
    elif isinstance(body, bytes):
        kwargs["data"] = body
        headers["Content-Type"] = "application/json"
    elif body is not None:
        kwargs["json"] = body
    async with chain.session.request(method, chain.hq.url + path, **kwargs) as response:
        return response.status, await response.json()


async def test_the_conflict_queue_needs_a_session_of_an_hq_role(chain: Chain) -> None:
    for token in ("", "wrong-token"):
        status, body = await _operator(chain, "GET", "/api/conflicts", token=token)
        assert (status, body["error"]) == (401, "not_logged_in")
    await chain.add_operator("br01-li", "store_manager", "BR01")
    status, body = await _operator(
        chain, "GET", "/api/conflicts", token=await log_in(chain.hq.url, "br01-li")
    )
    assert (status, body["error"]) == (403, "forbidden")  # the queue is HQ's work
    status, body = await _operator(chain, "GET", "/api/conflicts")
    assert (status, body) == (200, {"conflicts": []})


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/conflicts/overdraft:nope/resolve", {"action": "write_off"}, 404, "unknown_conflict"),
        ("/api/conflicts/{id}/resolve", {"action": "separate"}, 422, "action_not_offered"),
        ("/api/conflicts/{id}/resolve", {"action": "write_off", "amount": 1}, 400, "invalid_query"),
        ("/api/conflicts/{id}/resolve", {"action": 3}, 400, "invalid_query"),
        ("/api/conflicts/{id}/resolve", b"not json", 400, "invalid_query"),
        # text/plain, as any web page may post cross-site: refused before it is read.
        ("/api/conflicts/{id}/resolve", "not json", 415, "unsupported_media_type"),
        ("/api/conflicts/{id}/resolve", {"action": "collect", "note": "x" * 501}, 400, "invalid_query"),
    ],
)
async def test_bad_resolutions_are_refused_and_leave_the_conflict_open(
    chain: Chain, path: str, body: Any, status: int, code: str
) -> None:
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await chain.post(a.url + "/api/members", {"name": "Over", "phone": "13900000203", "cards": ["H-0203"]})
    await chain.post(a.url + "/api/cards/H-0203/top-up", {"amount_fen": 1_000})

    async def at_b() -> bool:
        async with chain.session.get(b.url + "/api/cards/H-0203") as response:
            return response.status == 200

    await wait_until(at_b, "H-0203 to reach BR02")
    await chain.hq.stop()
    # 1,000 fen on the card; each branch spends from it while cut off: 1,000 + 800.
    await chain.post(a.url + "/api/sales", _part_card_sale("CUP-CERAMIC", card_fen=1_000, cash_fen=1_500))
    await chain.post(b.url + "/api/sales", _part_card_sale("SOAP-BAR", card_fen=800, cash_fen=400))
    await chain.hq.start()

    async def queued() -> bool:
        return len((await _operator(chain, "GET", "/api/conflicts?state=open"))[1]["conflicts"]) == 1

    await wait_until(queued, "the overdraft to be queued")
    (conflict,) = (await _operator(chain, "GET", "/api/conflicts?state=open"))[1]["conflicts"]
    got_status, answer = await _operator(chain, "POST", path.format(id=conflict["id"]), body)
    assert (got_status, answer["error"]) == (status, code), answer
    assert (await _operator(chain, "GET", f"/api/conflicts/{conflict['id']}"))[1]["state"] == "open"
    status_bad, bad = await _operator(chain, "GET", "/api/conflicts?state=bogus")
    assert (status_bad, bad["error"]) == (400, "invalid_query")


def _part_card_sale(sku: str, card_fen: int, cash_fen: int) -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "qty": 1}],
        "tenders": [
            {"kind": "stored_value", "card": "H-0203", "amount_fen": card_fen},
            {"kind": "cash", "amount_fen": cash_fen},
        ],
    }
