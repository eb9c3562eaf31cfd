"""`branchline purchase ...` against a running node, as an operator types it."""

from __future__ import annotations

from functools import partial

from tests import harness
from tests.harness import TEST_PASSWORD, Chain, manager_login
from tests.node.test_purchasing import BRANCH, GRAIN, check_ledger, start_purchasing_node

branchline = partial(harness.branchline, columns=250, password=TEST_PASSWORD)


async def test_an_operator_orders_receives_returns_and_replenishes_from_the_terminal(chain: Chain) -> None:
    node = await start_purchasing_node(chain)
    at = ["--node", node.url, "--login", manager_login(BRANCH)]

    code, out = await branchline(
        "purchase", "order", *at, "--supplier", GRAIN, "--note", "weekly", "RICE-5KG:20", "OIL-1L:30@1450"
    )
    assert code == 0, out
    assert "0 of 123500 fen received" in out
    (order,) = (await chain.get(node.url + "/api/purchase-orders"))["orders"]
    code, out = await branchline("purchase", "orders", *at, "--state", "open")
    assert (code, order["id"] in out) == (0, True), out

    code, out = await branchline("purchase", "receive", order["id"], "RICE-5KG:8", *at)
    assert code == 0, out
    assert "32000 fen owed" in out
    assert "now partial" in out
    code, out = await branchline("purchase", "receive", order["id"], "RICE-5KG:13", *at)
    assert code == 2
    assert "refused (409 over_receipt)" in out
    assert "expects 12 more (ordered 20, received 8)" in out
    code, out = await branchline("purchase", "receive", order["id"], *at, "--key", "delivery-2")
    assert code == 0, out
    assert "91500 fen owed" in out
    assert "now received" in out
    code, out = await branchline("purchase", "receive", order["id"], *at, "--key", "delivery-2")
    assert (code, "(replayed)" in out) == (0, True), out
    code, out = await branchline("purchase", "show", order["id"], *at)
    assert (code, "received, 123500 of 123500 fen received" in out) == (0, True), out

    code, out = await branchline("purchase", "direct", *at, "--supplier", GRAIN, "OIL-1L:10@1600")
    assert (code, "16000 fen owed" in out) == (0, True), out
    code, out = await branchline("purchase", "direct", *at, "--supplier", GRAIN, "OIL-1L:10")
    assert code == 2
    assert "unit_cost_fen is required" in out

    shown = await chain.get(f"{node.url}/api/purchase-orders/{order['id']}")
    code, out = await branchline(
        "purchase", "return", *at, "--supplier", GRAIN, "--receipt", shown["receipts"][1], "OIL-1L:5"
    )
    assert code == 0, out
    # Credited at the receipt's 14.50; FIFO takes the oldest lot, that same receipt's.
    assert "7250 fen credited, 7250 fen of stock out" in out
    code, out = await branchline("purchase", "payables", *at)
    assert code == 0, out
    assert "owed to suppliers: 132250 fen" in out  # 123500 + 16000 - 7250

    # Salt (lower limit 20, upper 40) has none on hand; noodles have no supplier.
    code, out = await branchline("purchase", "propose", *at)
    assert code == 0, out
    assert "order from SUP-SPICE for HQ-MAIN: 32000 fen" in out
    assert "NOODLE-1KG: 0 on hand" in out
    code, out = await branchline("purchase", "replenish", *at)
    assert (code, "from SUP-SPICE" in out) == (0, True), out
    code, out = await branchline("purchase", "replenish", *at)
    assert code == 2
    assert "nothing to order for HQ-MAIN" in out

    code, out = await branchline("purchase", "order", *at, "--supplier", GRAIN, "RICE-5KG")
    assert code == 2
    assert "is not a line of goods" in out

    # A wrong password: the node refuses the log-in, in one line, and orders nothing.
    orders = (await chain.get(node.url + "/api/purchase-orders"))["orders"]
    code, out = await branchline(
        "purchase", "order", *at, "--supplier", GRAIN, "RICE-5KG:1", password="not-" + TEST_PASSWORD
    )
    assert (code, out.strip()) == (
        2,
        "branchline: the node refused (401 login_failed): wrong login or password"
        " (operators reach a branch from HQ's feed)",
    )
    assert (await chain.get(node.url + "/api/purchase-orders"))["orders"] == orders

    await check_ledger(node)
    await node.stop()
    code, out = await branchline("purchase", "orders", *at)
    assert code == 2
    assert "did not answer" in out
