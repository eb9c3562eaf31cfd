"""Employees at the till (FEATURES B4): the branch lists its own active staff, and a
sale, a registration or a card sale may be credited to one of them. A code that is not
an active employee of this branch is refused, saying which it is not, with nothing
written; a sale naming nobody is booked, and logged, as before.

HQ's demo employees: BR01-S01 and BR01-S02 at BR01, BR02-S01 and BR02-S02 at BR02.
Added here: BR01-S03, who has left BR01 (inactive). A ceramic cup is 25.00 yuan; a
card of HQ's demo type STORED-1000 sells for 100,000 fen.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import pytest

from protocol.entry import decode_entry
from tests.harness import Chain, sale, wait_until
from tests.hq.operator import author

CUP = "CUP-CERAMIC"
LEFT = {"code": "BR01-S03", "name": "Ma Li / 马丽", "branch": "BR01", "title": "Cashier", "active": False}


async def listed(chain: Chain, url: str, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await chain.get(url + "/api/employees", params=query))["employees"]
    return found


@pytest.fixture
async def till(chain: Chain) -> str:
    await author(chain, "employees", LEFT)
    node = await chain.add_node("BR01")

    async def arrived() -> bool:
        codes = [row["code"] for row in await listed(chain, node.url, include_inactive="true")]
        products = (await chain.get(node.url + "/api/products"))["products"]
        return codes == ["BR01-S01", "BR01-S02", "BR01-S03"] and len(products) == 10

    await wait_until(arrived, "BR01's employees and the catalogue to arrive")
    return node.url


async def state(chain: Chain, url: str) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the log's head, the sales, the
    member and the card it would have made."""
    sync = await chain.get(url + "/api/sync")
    summary = await chain.get(url + "/api/sales/summary")
    members = await chain.get(url + "/api/members", params={"phone": "13900008888"})
    async with chain.session.get(url + "/api/cards/SV-0009") as card:
        return sync["head_seq"], summary["count"], summary["total_fen"], members["members"], card.status


def last_entry_payload(chain: Chain) -> dict[str, Any]:
    def read(conn: sqlite3.Connection) -> bytes:
        return bytes(conn.execute("SELECT entry FROM change_log ORDER BY seq DESC LIMIT 1").fetchone()[0])

    path = chain.root / "BR01" / "node.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        payload: dict[str, Any] = decode_entry(read(conn)).payload
    return payload


async def test_the_till_lists_its_own_active_employees_and_those_who_left_on_request(
    chain: Chain, till: str
) -> None:
    assert await listed(chain, till) == [
        {
            "code": "BR01-S01",
            "name": "Zhang Min / 张敏",
            "branch": "BR01",
            "title": "Sales associate / 导购",
            "active": True,
        },
        {
            "code": "BR01-S02",
            "name": "Liu Yang / 刘洋",
            "branch": "BR01",
            "title": "Beautician / 美容师",
            "active": True,
        },
    ]
    everyone = await listed(chain, till, include_inactive="true")
    assert [(row["code"], row["active"]) for row in everyone] == [
        ("BR01-S01", True),
        ("BR01-S02", True),
        ("BR01-S03", False),
    ]
    async with chain.session.get(till + "/api/employees", params={"include_inactive": "yes"}) as response:
        assert response.status == 422
        assert "include_inactive must be true or false" in (await response.json())["message"]


async def test_a_sale_credited_to_an_employee_carries_the_code_in_its_entry_and_one_without_does_not(
    chain: Chain, till: str
) -> None:
    headers = {"Idempotency-Key": "till-1-0001"}
    credited = await chain.post(
        till + "/api/sales", {**sale((CUP, 2), cash_fen=5_000), "salesperson": "BR01-S02"}, headers=headers
    )
    assert (credited["total_fen"], credited["salesperson"]) == (5_000, "BR01-S02")
    assert last_entry_payload(chain)["salesperson"] == "BR01-S02"
    again = await chain.post(
        till + "/api/sales",
        {**sale((CUP, 2), cash_fen=5_000), "salesperson": "BR01-S02"},
        status=200,
        headers=headers,
    )
    assert (again["id"], again["replayed"], again["salesperson"]) == (credited["id"], True, "BR01-S02")

    plain = await chain.post(till + "/api/sales", sale((CUP, 1), cash_fen=2_500))
    assert plain["salesperson"] is None
    assert (await chain.get(f"{till}/api/sales/{plain['id']}"))["salesperson"] is None
    # An older reader sees the entry it always saw: no salesperson key at all.
    assert "salesperson" not in last_entry_payload(chain)
    summary = await chain.get(till + "/api/sales/summary")
    assert (summary["count"], summary["total_fen"]) == (2, 7_500)


REQUESTS = {
    "sale": ("/api/sales", sale((CUP, 1), cash_fen=2_500)),
    "registration": ("/api/members", {"name": "Zhao Yun", "phone": "13900008888"}),
    "card sale": (
        "/api/card-sales",
        {"card_type": "STORED-1000", "card": "SV-0009", "tenders": [{"kind": "cash", "amount_fen": 100_000}]},
    ),
}
REFUSALS = [
    pytest.param(
        "NOBODY-1",
        400,
        "unknown_salesperson",
        "salesperson NOBODY-1 is no employee HQ has published",
        id="unknown",
    ),
    pytest.param(
        "BR01-S03",
        400,
        "unknown_salesperson",
        "salesperson BR01-S03 is no longer an active employee",
        id="left",
    ),
    pytest.param(
        "BR02-S01",
        400,
        "unknown_salesperson",
        "salesperson BR02-S01 works at BR02, not at this branch (BR01)",
        id="another branch's",
    ),
    pytest.param("br01 s01", 422, "invalid", "salesperson must be an employee code", id="not a code"),
    pytest.param(17, 422, "invalid", "salesperson must be an employee code", id="a number"),
]


@pytest.mark.parametrize(("salesperson", "status", "code", "message"), REFUSALS)
async def test_a_salesperson_who_is_not_an_active_employee_here_is_refused_and_nothing_is_written(
    chain: Chain, till: str, salesperson: Any, status: int, code: str, message: str
) -> None:
    member = await chain.post(till + "/api/members", {"name": "Li Na", "phone": "13900007777"})
    before = await state(chain, till)
    for what, (path, body) in REQUESTS.items():
        if what == "card sale":
            body = {**body, "member_id": member["id"]}
        refused = await chain.post(till + path, {**body, "salesperson": salesperson}, status=status)
        assert (refused["error"], what) == (code, what)
        assert message in refused["message"], (what, refused)
        assert await state(chain, till) == before, what


async def test_an_employee_hq_deactivates_after_crediting_a_sale_is_refused_on_the_next(
    chain: Chain, till: str
) -> None:
    """The writer keeps employees it has read in memory (node.store.row_cache): HQ's
    change, arriving through the feed, must reach the next sale all the same."""
    await chain.post(till + "/api/sales", {**sale((CUP, 1), cash_fen=2_500), "salesperson": "BR01-S01"})
    await author(chain, "employees", {"code": "BR01-S01", "active": False})

    async def left() -> bool:
        return [row["code"] for row in await listed(chain, till)] == ["BR01-S02"]

    await wait_until(left, "BR01-S01's departure to reach BR01")
    refused = await chain.post(
        till + "/api/sales", {**sale((CUP, 1), cash_fen=2_500), "salesperson": "BR01-S01"}, status=400
    )
    assert "no longer an active employee" in refused["message"]

    # Back again, and credited again.
    await author(chain, "employees", {"code": "BR01-S01", "active": True})

    async def back() -> bool:
        return [row["code"] for row in await listed(chain, till)] == ["BR01-S01", "BR01-S02"]

    await wait_until(back, "BR01-S01's return to reach BR01")
    back_again = await chain.post(
        till + "/api/sales", {**sale((CUP, 1), cash_fen=2_500), "salesperson": "BR01-S01"}
    )
    assert back_again["salesperson"] == "BR01-S01"
