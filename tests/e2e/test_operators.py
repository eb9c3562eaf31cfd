"""Operators at work, on real servers: who may do what at a till and at HQ, log-in with
HQ down, a disable reaching the tills, sessions, throttled guessing, passwords.

The harness's own session acts as HQ's general manager and as each branch's store
manager; these tests act as other operators with sessions of their own.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from hq.accounts import Accounts
from hq.api import HQ_KEY
from hq.setup import now_ms, on_this_machine, open_store
from protocol.entry import decode_entry
from tests.harness import (
    TEST_PASSWORD,
    Chain,
    Server,
    branchline,
    clerk_login,
    hold_feed_reads_briefly,
    hq_rows,
    log_in,
    manager_login,
    sale,
    wait_until,
)


async def request(
    method: str, url: str, token: str | None = None, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """One request with its own session (none of the harness's log-ins)."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers=headers) as response,
    ):
        answer = (
            await response.json() if response.content_type == "application/json" else await response.text()
        )
        return response.status, answer


def refusal(answer: tuple[int, Any]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]


async def synced(chain: Chain, branch: str) -> None:
    """The branch has applied all of its feed HQ holds now."""
    feed = (await chain.hq.app[HQ_KEY].store.feed_after(branch, 0, 1, 1 << 20)).available_seq

    async def caught_up() -> bool:
        return bool((await chain.sync(branch))["feed_cursor"] >= feed)

    await wait_until(caught_up, f"{branch} to apply its feed")


async def actors_at_hq(chain: Chain, origin: str) -> list[tuple[str, str]]:
    """(kind/op, actor) of every entry HQ stored from `origin`, in order."""
    rows = await hq_rows(chain, "SELECT entry FROM log_entries WHERE origin = ? ORDER BY seq", origin)
    return [(f"{e.kind}/{e.op}", e.actor) for e in (decode_entry(bytes(raw)) for (raw,) in rows)]


@pytest.fixture
async def br01(chain: Chain) -> Server:
    node = await chain.add_node("BR01")

    async def catalogue() -> bool:
        return len((await chain.get(node.url + "/api/products"))["products"]) >= 10

    await wait_until(catalogue, "the demo catalogue to reach BR01")
    return node


async def test_a_clerk_sells_and_tops_up_but_cannot_count_stock_or_export(chain: Chain, br01: Server) -> None:
    clerk = await log_in(br01.url, clerk_login("BR01"))
    status, member = await request(
        "POST",
        br01.url + "/api/members",
        clerk,
        {"name": "Li Na", "phone": "13900001111", "cards": ["C-1111"]},
    )
    assert status == 201, member
    assert (await request("POST", br01.url + "/api/cards/C-1111/top-up", clerk, {"amount_fen": 5_000}))[
        0
    ] == 201
    status, receipt = await request("POST", br01.url + "/api/sales", clerk, sale(("CUP-CERAMIC", 1)))
    assert status == 201, receipt
    stocktake = {"lines": [{"sku": "CUP-CERAMIC", "counted_qty": 100}]}
    assert refusal(await request("POST", br01.url + "/api/stocktakes", clerk, stocktake)) == (
        403,
        "forbidden",
    )
    assert refusal(await request("GET", br01.url + "/api/sales/export", clerk)) == (403, "forbidden")
    assert (await chain.get(br01.url + "/api/stocktakes"))["stocktakes"] == []
    # The store manager may export: the clerk's sale is in it, money in fen.
    manager = await log_in(br01.url, manager_login("BR01"))
    status, csv_text = await request("GET", br01.url + "/api/sales/export", manager)
    assert status == 200
    header, *rows = csv_text.splitlines()
    assert header == "sale_id,at_utc,member_id,total_fen,change_fen"
    assert [row.split(",")[0] for row in rows] == [receipt["id"]]
    assert rows[0].split(",")[3] == "2500"
    # HQ learns who did each: the clerk's id is in every entry the clerk's session wrote.
    clerk_id = (await request("GET", br01.url + "/api/me", clerk))[1]["operator"]["id"]
    await wait_until(lambda: chain.drained("BR01"), "BR01 to push its log")
    written = await actors_at_hq(chain, "BR01")
    assert ("sale/checkout", clerk_id) in written
    assert ("member/register", clerk_id) in written
    assert ("ledger/entry", clerk_id) in written


async def test_the_attack_chain_fails_at_its_first_step(chain: Chain, br01: Server) -> None:
    """Look a phone up at HQ, pay with that member's card at a till, return the sale for
    cash: nobody without a session gets past the first step, nor the second."""
    await chain.post(
        br01.url + "/api/members", {"name": "Zhao Lei", "phone": "13900002222", "cards": ["C-2222"]}
    )
    await chain.post(br01.url + "/api/cards/C-2222/top-up", {"amount_fen": 50_000})
    await wait_until(lambda: chain.drained("BR01"), "BR01 to push the member")
    for path in ("/api/members?phone=13900002222", "/api/cards/C-2222"):
        assert refusal(await request("GET", chain.hq.url + path)) == (401, "not_logged_in")
    spend = {
        "lines": [{"sku": "GIFT-BOX", "qty": 1}],
        "tenders": [{"kind": "stored_value", "card": "C-2222", "amount_fen": 29_900}],
    }
    assert refusal(await request("POST", br01.url + "/api/sales", None, spend)) == (401, "not_logged_in")
    card = await chain.get(br01.url + "/api/cards/C-2222")
    assert card["balances"]["stored_value"] == 50_000


async def test_store_data_is_the_stores_own_and_hq_roles_see_by_their_role(
    chain: Chain, br01: Server
) -> None:
    br02 = await chain.add_node("BR02")
    await chain.post(br01.url + "/api/sales", sale(("CUP-CERAMIC", 2)))
    await chain.post(br02.url + "/api/sales", sale(("SOAP-BAR", 1)))
    await wait_until(lambda: chain.drained("BR01"), "BR01 to push")
    await wait_until(lambda: chain.drained("BR02"), "BR02 to push")
    summary = chain.hq.url + "/api/sales/summary"
    manager = await log_in(chain.hq.url, manager_login("BR01"))
    assert refusal(await request("GET", summary + "?branch=BR02", manager)) == (403, "forbidden")
    status, own = await request("GET", summary, manager)  # no branch asked: their own
    assert (status, own["branch"], own["total_fen"]) == (200, "BR01", 5_000)
    assert (await request("GET", summary + "?branch=BR01", manager))[1]["total_fen"] == 5_000
    assert refusal(await request("GET", chain.hq.url + "/api/stock", manager)) == (403, "forbidden")
    # Member data is shared: BR01's manager looks up a member of anyone's.
    assert (await request("GET", chain.hq.url + "/api/members?phone=13900009999", manager))[0] == 200
    finance = await chain.hq_token("fin-zhao", "finance")
    for branch, total in (("BR01", 5_000), ("BR02", 1_200)):
        assert (await request("GET", f"{summary}?branch={branch}", finance))[1]["total_fen"] == total
    assert (await request("GET", summary, finance))[1]["total_fen"] == 6_200
    product = {"sku": "CUP-CERAMIC", "price_fen": 1}
    assert refusal(await request("POST", chain.hq.url + "/api/products", finance, product)) == (
        403,
        "forbidden",
    )
    assert (await chain.get(chain.hq.url + "/api/products"))["products"][2]["price_fen"] != 1


async def test_log_in_at_a_branch_works_with_hq_down_and_its_sales_carry_the_operator(
    chain: Chain, br01: Server
) -> None:
    await chain.hq.stop()
    clerk = await log_in(br01.url, clerk_login("BR01"))
    status, receipt = await request("POST", br01.url + "/api/sales", clerk, sale(("SOAP-BAR", 3)))
    assert status == 201, receipt
    assert (await chain.sync("BR01"))["hq_reachable"] is False
    clerk_id = (await request("GET", br01.url + "/api/me", clerk))[1]["operator"]["id"]
    await chain.hq.start()
    await wait_until(lambda: chain.drained("BR01"), "BR01 to push once HQ is back")
    assert ("sale/checkout", clerk_id) in await actors_at_hq(chain, "BR01")


async def test_a_disable_at_hq_locks_the_operator_out_of_a_branch_once_it_has_synced(
    chain: Chain, br01: Server
) -> None:
    session = await log_in(br01.url, clerk_login("BR01"))
    # HQ is down: the branch cannot hear of the disable, so the clerk can still log in
    # there. A till that must work offline cannot do better; HQ shows the branch offline.
    await chain.hq.stop()
    store = await open_store(chain.root / "hq")  # as `branchline hq operator disable` does
    try:
        await Accounts(store, now_ms).set_disabled(clerk_login("BR01"), True, on_this_machine("test"))
    finally:
        await store.close()
    offline = await log_in(br01.url, clerk_login("BR01"))
    assert (await request("GET", br01.url + "/api/me", offline))[0] == 200
    await chain.hq.start()
    await synced(chain, "BR01")
    attempt = {"login": clerk_login("BR01"), "password": TEST_PASSWORD}
    assert refusal(await request("POST", br01.url + "/api/login", None, attempt)) == (
        403,
        "operator_disabled",
    )
    for token in (session, offline):  # their sessions ended with the disable
        assert refusal(await request("GET", br01.url + "/api/products", token)) == (401, "not_logged_in")
    assert refusal(await request("POST", chain.hq.url + "/api/login", None, attempt)) == (
        403,
        "operator_disabled",
    )


async def test_logging_out_ends_the_session_at_the_branch_and_at_hq(chain: Chain, br01: Server) -> None:
    for url, login in ((br01.url, clerk_login("BR01")), (chain.hq.url, manager_login("BR01"))):
        token = await log_in(url, login)
        assert (await request("GET", url + "/api/me", token))[0] == 200
        assert (await request("POST", url + "/api/logout", token))[0] == 200
        assert refusal(await request("GET", url + "/api/me", token)) == (401, "not_logged_in")


async def test_a_branch_session_survives_a_restart_of_the_node(chain: Chain, br01: Server) -> None:
    token = await log_in(br01.url, clerk_login("BR01"))
    await br01.stop()
    await br01.start()
    assert (await request("GET", br01.url + "/api/me", token))[1]["operator"]["login"] == clerk_login("BR01")


async def test_failed_log_ins_are_slowed_down_per_login(chain: Chain, br01: Server) -> None:
    for url in (br01.url, chain.hq.url):
        wrong = {"login": clerk_login("BR01"), "password": "not-the-password"}
        for _ in range(5):
            assert refusal(await request("POST", url + "/api/login", None, wrong)) == (401, "login_failed")
        # Locked for a minute now: the right password too is refused, untried.
        right = {"login": clerk_login("BR01"), "password": TEST_PASSWORD}
        assert refusal(await request("POST", url + "/api/login", None, right)) == (429, "too_many_attempts")
        # An unknown login gets the same answer as a wrong password.
        stranger = {"login": "nobody-here", "password": TEST_PASSWORD}
        assert refusal(await request("POST", url + "/api/login", None, stranger)) == (401, "login_failed")


async def test_hq_logs_a_browser_in_with_a_strict_http_only_cookie(chain: Chain) -> None:
    await chain.hq_token("mgr-sun", "management")
    # unsafe=True: a browser keeps a cookie from 127.0.0.1; aiohttp's jar does not by default.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(chain.hq.url + "/") as response:  # not logged in: the log-in page
            assert str(response.url).endswith("/login")
            assert 'id="login"' in await response.text()
        async with browser.post(
            chain.hq.url + "/api/login", json={"login": "mgr-sun", "password": TEST_PASSWORD}
        ) as response:
            assert response.status == 200
            cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "branchline_session=" in cookie
        async with browser.get(chain.hq.url + "/api/me") as response:  # the cookie, no bearer
            assert (await response.json())["operator"]["login"] == "mgr-sun"
        async with browser.get(chain.hq.url + "/") as response:
            assert (response.status, str(response.url)) == (200, chain.hq.url + "/")
        async with browser.post(chain.hq.url + "/api/logout", json={}) as response:
            assert response.status == 200
        async with browser.get(chain.hq.url + "/api/me") as response:
            assert response.status == 401


async def test_an_operator_changes_their_own_password_and_the_branch_learns_it(
    chain: Chain, br01: Server
) -> None:
    login = clerk_login("BR01")
    token = await log_in(chain.hq.url, login)
    change = {"old_password": "wrong-old-one", "new_password": "a-new-password"}
    assert refusal(await request("POST", chain.hq.url + "/api/password", token, change)) == (
        401,
        "login_failed",
    )
    weak = {"old_password": TEST_PASSWORD, "new_password": "short"}
    assert refusal(await request("POST", chain.hq.url + "/api/password", token, weak)) == (
        400,
        "weak_password",
    )
    change["old_password"] = TEST_PASSWORD
    assert (await request("POST", chain.hq.url + "/api/password", token, change))[0] == 200
    await synced(chain, "BR01")
    await log_in(br01.url, login, "a-new-password")
    old = {"login": login, "password": TEST_PASSWORD}
    assert refusal(await request("POST", br01.url + "/api/login", None, old)) == (401, "login_failed")


async def test_the_operator_cli_adds_an_operator_before_the_branch_enrolls_and_grants_and_revokes(
    chain: Chain, hq_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hq_backend == "sqlite":
        # The CLI changes HQ's SQLite file behind the running HQ's back, so nothing wakes
        # the branch's held feed read: the change arrives at its next read (see
        # branchline.operators_cli), which HQ holds briefly here. On PostgreSQL HQ hears
        # of the change (LISTEN) and wakes the read, as it does in production.
        hold_feed_reads_briefly(monkeypatch)
    hq_dir = str(chain.root / "hq")
    code, out = await branchline(
        "hq",
        "operator",
        "add",
        "--data",
        hq_dir,
        "--login",
        "br05-wu",
        "--role",
        "clerk",
        "--branch",
        "BR05",
        password="wu-password-1",
    )
    assert code == 0, out
    code, out = await branchline(
        "hq",
        "operator",
        "add",
        "--data",
        hq_dir,
        "--login",
        "BR05-WU",
        "--role",
        "clerk",
        "--branch",
        "BR05",
        password="wu-password-1",
    )
    assert code == 2, out
    assert "is taken" in out  # logins are unique whatever their case
    code, out = await branchline(
        "hq",
        "operator",
        "add",
        "--data",
        hq_dir,
        "--login",
        "x-1",
        "--role",
        "clerk",
        password="x-password-1",
    )
    assert code == 2, out
    assert "belongs to one branch" in out
    node = await chain.add_node("BR05")
    token = await log_in(node.url, "br05-wu", "wu-password-1")  # in its first feed
    count = {"lines": [{"sku": "CUP-CERAMIC", "counted_qty": 0}]}
    assert refusal(await request("POST", node.url + "/api/stocktakes", token, count)) == (403, "forbidden")
    code, out = await branchline(
        "hq", "operator", "grant", "--data", hq_dir, "--login", "br05-wu", "--permission", "stocktake:add"
    )
    assert code == 0, out
    code, out = await branchline(
        "hq", "operator", "grant", "--data", hq_dir, "--login", "br05-wu", "--permission", "stocktake:fly"
    )
    assert code == 2, out
    assert "not a permission" in out
    await synced(chain, "BR05")

    async def counted() -> bool:
        return (await request("POST", node.url + "/api/stocktakes", token, count))[0] == 201

    await wait_until(counted, "the grant to reach BR05")
    code, out = await branchline(
        "hq", "operator", "revoke", "--data", hq_dir, "--login", "br05-wu", "--permission", "sales:add"
    )
    assert code == 0, out
    await synced(chain, "BR05")
    assert refusal(await request("POST", node.url + "/api/sales", token, sale(("CUP-CERAMIC", 1)))) == (
        403,
        "forbidden",
    )
    code, out = await branchline("hq", "operator", "list", "--data", hq_dir, columns=400)
    assert code == 0, out
    line = next(line for line in out.splitlines() if "br05-wu" in line)
    for shown in ("stocktake:add", "sales:add", "clerk", "BR05"):
        assert shown in line


async def test_a_cashier_changes_their_password_at_the_till_while_it_reaches_hq(
    chain: Chain, br01: Server
) -> None:
    login = clerk_login("BR01")
    token = await log_in(br01.url, login)
    wrong = {"old_password": "not-my-password", "new_password": "till-password-2"}
    assert refusal(await request("POST", br01.url + "/api/password", token, wrong)) == (401, "login_failed")
    weak = {"old_password": TEST_PASSWORD, "new_password": login}
    assert refusal(await request("POST", br01.url + "/api/password", token, weak)) == (400, "weak_password")
    change = {"old_password": TEST_PASSWORD, "new_password": "till-password-2"}
    status, answer = await request("POST", br01.url + "/api/password", token, change)
    assert (status, answer["changed"]) == (200, True), answer
    await synced(chain, "BR01")
    await log_in(br01.url, login, "till-password-2")
    await log_in(chain.hq.url, login, "till-password-2")
    # HQ keeps passwords: with HQ away, the till says so and changes nothing.
    await chain.hq.stop()
    again = {"old_password": "till-password-2", "new_password": "till-password-3"}
    assert refusal(await request("POST", br01.url + "/api/password", token, again)) == (504, "hq_unreachable")
    await log_in(br01.url, login, "till-password-2")
