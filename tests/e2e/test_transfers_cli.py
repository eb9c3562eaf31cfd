"""`branchline transfer send|list|show|discrepancy` as an operator types them, against
a running node that sends to another of its own warehouses and one that receives."""

from __future__ import annotations

import json
from functools import partial

from node.routes.context import CONTEXT
from node.services import catalogue
from node.services.transfers import apply_delivery
from node.store.writer import Tx
from tests import harness
from tests.harness import TEST_PASSWORD, Chain, manager_login
from tests.node.stock_fixtures import BRANCH, start_branch, stock_in

CUP = "CUP-CERAMIC"
branchline = partial(harness.branchline, password=TEST_PASSWORD)


async def test_an_operator_sends_lists_shows_and_reports_a_short_delivery(chain: Chain) -> None:
    node = await start_branch(chain)
    at = ["--node", node.url, "--login", manager_login(BRANCH)]

    def back_room(tx: Tx) -> None:
        catalogue.apply_warehouse(tx.conn, {"code": "BR01-BACK", "name": "back room", "branch": "BR01"})

    await node.app[CONTEXT].store.writer.run(back_room)
    await stock_in(node, CUP, 10, 12_000)  # 10 cups at 12.00

    code, out = await branchline("transfer", "send", *at, "--to", "BR01-BACK", f"{CUP}:4", "--key", "t-1")
    assert code == 0, out
    # 4 of 10 cups worth 12,000 at moving average: 4,800 fen, booked at once (same branch).
    assert "BR01-MAIN -> BR01-BACK, 4 units at 4800 fen, received" in out
    code, again = await branchline("transfer", "send", *at, "--to", "BR01-BACK", f"{CUP}:4", "--key", "t-1")
    assert (code, again.split(":")[0]) == (0, out.split(":")[0])  # the same transfer, sent once

    delivery = {
        "id": "T-HQ-1",
        "source_branch": "HQ",
        "from_warehouse": "HQ-MAIN",
        "to_branch": "BR01",
        "to_warehouse": "BR01-MAIN",
        "lines": [{"sku": CUP, "qty": 5, "cost_fen": 5_500}],
        "cost_fen": 5_500,
        "note": None,
        "sent_at_ms": 1_700_000_000_000,
    }
    await node.app[CONTEXT].store.writer.run(lambda tx: apply_delivery(tx, delivery))

    code, out = await branchline("transfer", "list", *at, "--direction", "in")
    assert code == 0, out
    assert "1 transfers" in out
    assert "T-HQ-1" in out
    assert "HQ-MAIN" in out

    code, out = await branchline("transfer", "discrepancy", *at, "T-HQ-1", f"{CUP}:3", "--note", "2 broken")
    assert code == 0, out
    # Two of the five never arrived: they leave at the moving average of 11 cups worth
    # 7,200 + 5,500 = 12,700 fen, 2 x 1,154.5 -> 2,309 fen.
    assert f"{CUP}: sent 5, received 3 (-2309 fen of stock)" in out

    code, out = await branchline("transfer", "show", *at, "T-HQ-1")
    assert code == 0, out
    shown = json.loads(out)
    assert [(d["sku"], d["sent_qty"], d["received_qty"]) for d in shown["discrepancies"]] == [(CUP, 5, 3)]

    code, out = await branchline("transfer", "send", *at, "--to", "BR01-MAIN", f"{CUP}:1")
    assert (code, out.strip()) == (
        2,
        "branchline: the node refused (422 transfer_to_itself): a transfer from BR01-MAIN to BR01-MAIN"
        " moves nothing; name another warehouse",
    )
    code, out = await branchline("transfer", "send", *at, "--to", "BR01-BACK", f"{CUP}:two")
    assert code == 2
    assert "is not a line of goods" in out

    # A wrong password: the node refuses the log-in, in one line, and sends nothing.
    code, out = await branchline(
        "transfer", "send", *at, "--to", "BR01-BACK", f"{CUP}:1", password="not-" + TEST_PASSWORD
    )
    assert (code, out.strip()) == (
        2,
        "branchline: the node refused (401 login_failed): wrong login or password"
        " (operators reach a branch from HQ's feed)",
    )
    code, out = await branchline("transfer", "list", *at, "--direction", "out")
    assert (code, "1 transfers" in out) == (0, True), out  # still only t-1
