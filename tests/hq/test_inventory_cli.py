"""`branchline hq products|warehouses|suppliers|categories|stock|transfers|payables`
against a running HQ, as an operator types them."""

from __future__ import annotations

import json
from functools import partial

from tests import harness
from tests.harness import TEST_PASSWORD, Chain, hq_login, sale, wait_until
from tests.hq.operator import caught_up, settle

branchline = partial(harness.branchline, password=TEST_PASSWORD)


async def test_an_operator_authors_master_data_and_reads_stock_transfers_and_payables(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    hq = ["--hq", chain.hq.url, "--login", hq_login()]

    async def authoring(*args: str) -> tuple[int, str]:
        """`branchline hq ARGS` against this HQ, as its general manager authors master data."""
        return await branchline("hq", *args, *hq)

    code, out = await authoring("categories", "add", "--code", "TEA", "--name", "Tea")
    assert (code, "1 categories stored and sent to every branch: TEA" in out) == (0, True), out
    code, out = await authoring(
        "suppliers", "add", "--code", "SUP-LI", "--name", "Li Tea Co.", "--phone", "13900000001"
    )
    assert code == 0, out
    code, out = await authoring(
        "products",
        "add",
        "--sku",
        "TEA-PUER-357",
        "--name",
        "Puer cake",
        "--price-fen",
        "18800",
        "--purchase-price-fen",
        "9000",
        "--category",
        "TEA",
        "--supplier",
        "SUP-LI",
        "--lower-limit",
        "5",
    )
    assert code == 0, out
    products_file = chain.root / "products.json"
    products_file.write_text(json.dumps([{"sku": "CUP-CERAMIC", "purchase_price_fen": 1000}]))
    code, out = await authoring("products", "add", "--file", str(products_file))
    assert (code, "CUP-CERAMIC" in out) == (0, True), out
    code, out = await authoring(
        "warehouses", "add", "--code", "BR01-BACK", "--name", "Back room", "--branch", "BR01"
    )
    assert code == 0, out

    code, out = await branchline("hq", "products", "list", *hq)
    assert code == 0, out
    assert "11 products" in out
    assert "TEA-PUER-357" in out
    assert "188.00" in out
    assert "90.00" in out
    code, out = await branchline("hq", "warehouses", "list", *hq)
    assert ("BR01-BACK" in out, "BR01-MAIN" in out) == (True, True), out
    code, out = await branchline("hq", "suppliers", "list", *hq)
    assert "Li Tea Co." in out
    code, out = await branchline("hq", "categories", "list", *hq)
    assert "TEA" in out

    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to learn the tea")
    await chain.post(
        br01.url + "/api/receipts",
        {"supplier": "SUP-LI", "lines": [{"sku": "TEA-PUER-357", "qty": 6, "unit_cost_fen": 9000}]},
    )
    await chain.post(br01.url + "/api/sales", sale(("TEA-PUER-357", 2)))
    await settle(chain, "BR01")

    code, out = await branchline("hq", "stock", *hq)
    assert code == 0, out
    assert "BR01-MAIN" in out
    assert "360.00" in out  # 4 cakes at 90.00 on hand
    code, out = await branchline("hq", "stock", "--alerts", *hq)
    assert "under" in out  # 4 cakes at BR01-MAIN and none in the back room, both under 5
    assert "BR01-BACK" in out
    code, out = await branchline("hq", "payables", *hq)
    assert code == 0, out
    assert "SUP-LI" in out
    assert "540.00" in out  # 6 cakes at 90.00 owed
    code, out = await branchline("hq", "transfers", "--state", "all", *hq)
    assert (code, "0 transfers" in out) == (0, True), out

    # Refusals: one line, exit 2, HQ's reason.
    code, out = await authoring("products", "add", "--sku", "X-1", "--name", "X", "--price-fen", "-5")
    assert code == 2
    assert "HQ refused (422 invalid_master_data)" in out
    assert "price_fen must be between 0 and" in out
    code, out = await authoring("products", "add", "--name", "no sku")
    assert (code, "give --sku" in out) == (2, True), out
    code, out = await branchline(
        "hq", "products", "add", "--sku", "X-1", "--name", "X", *hq, password="not-" + TEST_PASSWORD
    )
    refused = "branchline: HQ refused (401 login_failed): wrong login or password"
    assert (code, out.strip()) == (2, refused), out
    code, out = await branchline("hq", "products", "list", *hq)
    assert (code, "X-1" in out) == (0, False), out  # the refused log-in stored nothing

    await chain.hq.stop()
    code, out = await branchline("hq", "stock", *hq)
    assert code == 2
    assert "did not answer" in out
