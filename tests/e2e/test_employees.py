"""Employees end to end (FEATURES B4), on real servers and both HQ backends: an
employee authored at HQ reaches their branch through the feed, and a sale, a card sale
and a registration credited to them there are credited to them at HQ too; HQ keeps a
salesperson it does not know rather than refuse a signed sale; bad employee records are
refused at HQ with nothing stored or published.

The figures: two ceramic cups (CUP-CERAMIC, 25.00 yuan) are 5,000 fen, one more cup
2,500 fen; a stored-value card of HQ's demo type STORED-1000 sells for 100,000 fen.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hq.api import HQ_KEY
from node.routes.context import CONTEXT
from node.services import employees
from tests.harness import Chain, Server, hq_rows, sale, wait_until
from tests.hq.operator import author, feed_length

CUP = "CUP-CERAMIC"
WU = {"code": "BR01-S09", "name": "Wu Hua / 吴华", "branch": "BR01", "title": "Sales associate / 导购"}


async def listed(chain: Chain, node: Server, **query: str) -> list[str]:
    found = await chain.get(node.url + "/api/employees", params=query)
    return [employee["code"] for employee in found["employees"]]


async def hq_sales(chain: Chain, branch: str) -> dict[str, tuple[int, str | None]]:
    rows = await hq_rows(chain, "SELECT sale_id, total_fen, salesperson FROM sales WHERE origin = ?", branch)
    return {sale_id: (total_fen, salesperson) for sale_id, total_fen, salesperson in rows}


async def test_an_employee_authored_at_hq_is_credited_with_sales_at_their_branch_and_at_hq(
    chain: Chain,
) -> None:
    node = await chain.add_node("BR01")
    (stored,) = await author(chain, "employees", WU)
    assert stored == {**WU, "active": True}
    at_hq = (await chain.get(chain.hq.url + "/api/employees"))["employees"]
    assert {**WU, "active": True} in at_hq

    # The branch lists its own staff only: HQ's two demo salespeople for BR01 and Wu.
    async def wu_arrived() -> bool:
        return await listed(chain, node) == ["BR01-S01", "BR01-S02", "BR01-S09"]

    await wait_until(wu_arrived, "Wu to reach BR01")
    shown = (await chain.get(node.url + "/api/employees"))["employees"]
    assert shown[-1] == {**WU, "active": True}

    member = await chain.post(
        node.url + "/api/members", {"name": "Li Na", "phone": "13900007777", "salesperson": "BR01-S09"}
    )
    assert member["salesperson"] == "BR01-S09"
    credited = await chain.post(
        node.url + "/api/sales", {**sale((CUP, 2), cash_fen=10_000), "salesperson": "BR01-S09"}
    )
    assert (credited["total_fen"], credited["salesperson"]) == (5_000, "BR01-S09")
    assert (await chain.get(f"{node.url}/api/sales/{credited['id']}"))["salesperson"] == "BR01-S09"
    card_sale = await chain.post(
        node.url + "/api/card-sales",
        {
            "member_id": member["id"],
            "card_type": "STORED-1000",
            "card": "SV-0001",
            "tenders": [{"kind": "cash", "amount_fen": 100_000}],
            "salesperson": "BR01-S01",
        },
    )
    assert (card_sale["price_fen"], card_sale["salesperson"]) == (100_000, "BR01-S01")
    uncredited = await chain.post(node.url + "/api/sales", sale((CUP, 1)))
    assert uncredited["salesperson"] is None

    await wait_until(lambda: chain.drained("BR01"), "BR01 to push its sales")
    assert await hq_sales(chain, "BR01") == {
        credited["id"]: (5_000, "BR01-S09"),
        card_sale["id"]: (100_000, "BR01-S01"),
        uncredited["id"]: (2_500, None),
    }
    at_hq_member = await chain.get(f"{chain.hq.url}/api/members/{member['id']}")
    assert at_hq_member["salesperson"] == "BR01-S09"


async def test_hq_keeps_a_sale_credited_to_an_employee_it_does_not_know(chain: Chain) -> None:
    """The branch holds an employee HQ has no record of (a restored HQ, a record since
    lost): its signed sale is stored and counted at HQ with the code as written, and
    nothing is set aside."""
    node = await chain.add_node("BR01")

    def put_ghost(conn: sqlite3.Connection) -> None:
        employees.apply_employee(conn, {"code": "GHOST-7", "name": "Ghost", "branch": "BR01"})

    await node.app[CONTEXT].store.writer.run(lambda tx: put_ghost(tx.conn))
    credited = await chain.post(node.url + "/api/sales", {**sale((CUP, 1)), "salesperson": "GHOST-7"})
    await wait_until(lambda: chain.drained("BR01"), "BR01 to push its sale")
    assert await hq_sales(chain, "BR01") == {credited["id"]: (2_500, "GHOST-7")}
    (branch,) = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    assert (branch["acked_seq"], branch["effects_quarantined"]) == (credited["seq"], 0)
    assert not await hq_rows(chain, "SELECT code FROM employees WHERE code = 'GHOST-7'")


# Each bad employee record, the field its message names.
BAD_EMPLOYEES: list[tuple[Any, str]] = [
    ({**WU, "code": "BR01 S09"}, "employee.code must be 1 to 32 letters, digits"),
    ({**WU, "code": "-S09"}, "employee.code must be 1 to 32 letters, digits"),
    ({**WU, "code": "S" * 33}, "employee.code must be 1 to 32 letters, digits"),
    ({**WU, "code": 9}, "employee.code must be 1 to 32 letters, digits"),
    ({key: value for key, value in WU.items() if key != "code"}, "employee.code is required"),
    ({key: value for key, value in WU.items() if key != "name"}, "employee BR01-S09 is new: name required"),
    (
        {key: value for key, value in WU.items() if key != "branch"},
        "employee BR01-S09 is new: branch required",
    ),
    ({**WU, "name": " Wu Hua"}, "employee.name must be text of 1 to 200 printable characters"),
    ({**WU, "branch": "BR 01"}, "employee.branch"),
    ({**WU, "title": "T" * 65}, "employee.title must be text of 1 to 64 printable characters"),
    ({**WU, "active": "yes"}, "employee.active must be true or false"),
    ({**WU, "role": "clerk"}, "employee has unknown fields role"),
    ([WU, {**WU, "name": "Wu Hua again"}], "code BR01-S09 appears twice"),
    ([{**WU, "code": "BR01-S10"}, {**WU, "active": 1}], "employees[1].active must be true or false"),
]


async def test_a_bad_employee_is_refused_at_hq_and_nothing_is_stored_or_published(chain: Chain) -> None:
    await chain.add_node("BR01")
    hq = chain.hq.app[HQ_KEY]
    before = (await hq.store.master_records("employee"), await feed_length(chain, "BR01"))
    for body, message in BAD_EMPLOYEES:
        async with chain.session.post(chain.hq.url + "/api/employees", json=body) as response:
            answer = await response.json()
        assert (response.status, answer.get("error")) == (422, "invalid_master_data"), (body, answer)
        assert message in answer["message"], (body, answer)
    assert (await hq.store.master_records("employee"), await feed_length(chain, "BR01")) == before
