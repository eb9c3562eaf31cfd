"""`branchline stock levels|alerts|moves|count|return` against a running node, as an operator types it."""

from __future__ import annotations

from functools import partial

from tests import harness
from tests.harness import TEST_PASSWORD, Chain, clerk_login, manager_login, sale, wait_until
from tests.node.stock_fixtures import BRANCH, level, product, seed, start_branch, stock_in

branchline = partial(harness.branchline, columns=250, password=TEST_PASSWORD)


async def test_an_operator_counts_stock_books_a_return_and_reads_the_ledger_from_the_terminal(
    chain: Chain,
) -> None:
    node = await start_branch(chain)
    at = ["--node", node.url, "--login", manager_login(BRANCH)]
    await seed(
        node,
        product("JAR", "fifo", price_fen=2_500, lower_limit=5, upper_limit=30),
        product("LID", "moving_average", price_fen=300, lower_limit=2),
    )
    await stock_in(node, "JAR", 10, 10_000)  # 10 at 10.00
    await stock_in(node, "JAR", 10, 12_000)  # 10 at 12.00

    code, out = await branchline("stock", "levels", *at, "--warehouse", "BR01-MAIN")
    assert code == 0, out
    assert "JAR" in out
    assert "22000" in out  # 20 jars worth 220.00

    code, out = await branchline("stock", "alerts", *at)
    assert code == 0, out
    assert "LID" in out  # never received: 0 on hand, under 2
    assert "LOW" in out
    assert "JAR" not in out

    code, out = await branchline("stock", "count", *at, "--preview", "JAR:15")
    assert code == 0, out
    assert "preview only: nothing booked; variance -5000 fen" in out
    assert await level(node, "JAR") == (20, 22_000)
    code, out = await branchline("stock", "count", *at, "--key", "aisle-3", "JAR:15", "LID:4")
    assert code == 0, out
    # JAR: 5 missing at the oldest 10.00; LID: 4 found, never received, preset cost 0.
    assert "posted in BR01-MAIN; variance -5000 fen" in out
    code, out = await branchline("stock", "count", *at, "--key", "aisle-3", "JAR:15", "LID:4")
    assert (code, "already posted with this key" in out) == (0, True), out
    assert await level(node, "JAR") == (15, 17_000)

    sold = await chain.post(node.url + "/api/sales", sale(("JAR", 6)))  # 5 x 10.00 + 1 x 12.00
    code, out = await branchline("stock", "return", sold["id"], "0:2", *at)
    assert code == 0, out
    # 2 of 6 back at 6_200 x 2 / 6 = 2_066.67 -> 2_067 fen; 2 x 25.00 refunded in cash.
    assert "refund 5000 fen in cash; 2067 fen of stock back in BR01-MAIN" in out
    code, out = await branchline("stock", "return", sold["id"], "0:5", *at)
    assert code == 2
    assert "refused (409 document_state)" in out
    assert "4 left to return of 6 sold" in out
    code, out = await branchline("stock", "return", sold["id"], "zero:1", *at)
    assert (code, "write LINE:QTY" in out) == (2, True), out

    code, out = await branchline("stock", "moves", *at, "--warehouse", "BR01-MAIN", "--sku", "JAR")
    assert code == 0, out
    for cause in ("sale_return", "sale", "stocktake", "purchase"):
        assert cause in out
    assert "balance" in out

    code, out = await branchline("stock", "count", *at, "NO-SUCH-SKU:1")
    assert code == 2
    assert "refused (404 unknown_product)" in out
    assert "NO-SUCH-SKU is not in this branch's catalogue" in out
    code, out = await branchline("stock", "levels", *at, "--warehouse", "BR02-MAIN")
    assert (code, "refused (409 warehouse_elsewhere)" in out) == (2, True), out

    # A wrong password: the node refuses the log-in, in one line.
    code, out = await branchline("stock", "levels", *at, password="not-" + TEST_PASSWORD)
    assert (code, out.strip()) == (
        2,
        "branchline: the node refused (401 login_failed): wrong login or password"
        " (operators reach a branch from HQ's feed)",
    )

    # A clerk logs in and may read stock, but a stocktake is a store manager's: 403, nothing booked.
    as_clerk = ["--node", node.url, "--login", clerk_login(BRANCH)]

    async def clerk_reads_stock() -> bool:
        code, out = await branchline("stock", "levels", *as_clerk, "--warehouse", "BR01-MAIN")
        return code == 0 and "JAR" in out

    await wait_until(clerk_reads_stock, "the clerk to reach BR01 and read its stock")
    before = await level(node, "JAR")
    code, out = await branchline("stock", "count", *as_clerk, "JAR:1")
    assert code == 2, out
    assert len(out.strip().splitlines()) == 1, out
    assert out.startswith("branchline: the node refused (403 forbidden): br01-clerk (clerk) may not"), out
    assert await level(node, "JAR") == before

    await node.stop()
    code, out = await branchline("stock", "levels", *at)
    assert code == 2
    assert "did not answer" in out
