"""A validly signed entry HQ cannot apply never wedges a branch's replication.

The worked example: BR01's till books a direct receipt of 1,000,000 cups at
10,000,000.00 yuan each (1,000,000 x 1,000,000,000 fen = 10^15 fen). The node's
bounds allow it; HQ's do not (it keeps amounts within 10^13 fen, so a year of
such figures still sums within SQLite's integers). The cup sold afterwards must
still reach HQ: HQ stores the receipt verbatim, sets its effect aside where an
operator sees it, acknowledges it, and applies the sale.

Real servers on 127.0.0.1 and real SQLite files; the node is used only through its
HTTP API, and its log is read from its file to compare with HQ's copy.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tests.harness import TEST_PASSWORD, Chain, branchline, hq_login, hq_rows, sale, wait_until
from tests.hq.operator import author, settle

CUP = "CUP-CERAMIC"
CUP_PRICE_FEN = 2_500  # 25.00 yuan in the demo catalogue
QTY = 1_000_000
UNIT_COST_FEN = 1_000_000_000  # the largest unit cost a till accepts


def stored_log(path: Path, query: str) -> list[tuple[int, bytes]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return [(int(seq), bytes(raw)) for seq, raw in conn.execute(query)]


async def test_a_receipt_beyond_hqs_bounds_is_set_aside_and_the_sale_after_it_reaches_hq(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01")
    await author(chain, "suppliers", {"code": "SUP-BIG", "name": "Very Large Supplier"})
    await settle(chain, "BR01")  # BR01 knows the supplier

    receipt = await chain.post(
        br01.url + "/api/receipts",
        {"supplier": "SUP-BIG", "lines": [{"sku": CUP, "qty": QTY, "unit_cost_fen": UNIT_COST_FEN}]},
    )
    assert receipt["amount_fen"] == QTY * UNIT_COST_FEN == 10**15
    sold = await chain.post(br01.url + "/api/sales", sale((CUP, 1)))
    assert sold["total_fen"] == CUP_PRICE_FEN

    async def sale_reached_hq() -> bool:
        summary = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
        return bool((summary["count"], summary["total_fen"]) == (1, CUP_PRICE_FEN))

    await wait_until(sale_reached_hq, "the sale after the receipt to reach HQ")
    await wait_until(lambda: chain.drained("BR01"), "BR01's backlog to drain")

    listing = await chain.get(chain.hq.url + "/api/quarantine")
    (effect,) = listing["quarantined"]
    assert (effect["origin"], effect["kind"], effect["op"], effect["entity_id"]) == (
        "BR01",
        "receipt",
        "post",
        receipt["id"],
    )
    assert effect["code"] == "out_of_bounds"
    assert str(10**15) in effect["message"]

    status = await chain.sync("BR01")
    (branch,) = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    assert (branch["acked_seq"], branch["backlog"], branch["effects_quarantined"]) == (
        status["head_seq"],
        0,
        1,
    )
    assert status["acked_seq"] == status["head_seq"]

    # HQ's copy of BR01's log is BR01's log, byte for byte, the receipt included.
    node_log = stored_log(
        chain.root / "BR01" / "node.sqlite", "SELECT seq, entry FROM change_log ORDER BY seq"
    )
    hq_log = [
        (int(seq), bytes(raw))
        for seq, raw in await hq_rows(
            chain, "SELECT seq, entry FROM log_entries WHERE origin = 'BR01' ORDER BY seq"
        )
    ]
    assert len(node_log) == status["head_seq"]
    assert hq_log == node_log
    assert effect["seq"] in dict(hq_log)

    async with chain.session.get(chain.hq.url + "/status") as response:
        page = await response.text()
    assert "Entries stored but not applied (their effects are quarantined): BR01 1." in page

    code, out = await branchline(
        "hq", "quarantine", "list", "--login", hq_login(), "--hq", chain.hq.url, password=TEST_PASSWORD
    )
    assert code == 0, out
    assert "1 entry stored but not applied" in out
    assert "receipt/post" in out
    assert "out_of_bounds" in out


async def test_the_quarantine_list_is_for_operators_and_names_a_branch_properly(chain: Chain) -> None:
    async with chain.session.get(
        chain.hq.url + "/api/quarantine", headers={"Authorization": "Bearer "}
    ) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "not_logged_in"
    async with chain.session.get(chain.hq.url + "/api/quarantine", params={"branch": "BR 01"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "malformed"
    listing = await chain.get(chain.hq.url + "/api/quarantine", params={"branch": "BR01"})
    assert listing == {"quarantined": []}
