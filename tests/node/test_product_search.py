"""The till's product search at a branch (GET /api/products): ?code= is what a scanner
types, or a cashier keys in, and finds the one active product whose sku or barcode it
is, exactly; ?q= finds active products whose name, sku or barcode holds the words, in
any case, at most 50, by sku; neither lists the whole active catalogue. A branch whose
store or HQ predates barcodes sells on: its products have none.

The branch has HQ's ten demo products; CUP-CERAMIC's barcode is 6902468000032."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from node.services import catalogue
from node.store import schema
from tests.harness import Chain, Server, wait_until
from tests.hq.operator import author, caught_up

CUP_BARCODE = "6902468000032"
DEMO_SKUS = sorted(
    [
        "CUP-CERAMIC",
        "GIFT-BOX",
        "SHAMPOO-500",
        "SNACK-DATES",
        "SNACK-NUTS",
        "SOAP-BAR",
        "SVC-HAIRCUT",
        "SVC-MASSAGE",
        "TEA-GREEN-100",
        "TEA-OOLONG-250",
    ]
)


async def skus_found(chain: Chain, node: Server, **query: str) -> list[str]:
    listing = await chain.get(node.url + "/api/products", params=query)
    return [product["sku"] for product in listing["products"]]


async def test_a_code_finds_the_product_whose_sku_or_barcode_it_is_exactly(
    chain: Chain, node: Server
) -> None:
    listing = await chain.get(node.url + "/api/products", params={"code": CUP_BARCODE})
    assert listing["warehouse"] == "BR01-MAIN"
    (cup,) = listing["products"]
    assert (cup["sku"], cup["barcode"], cup["price_fen"], cup["stock_qty"]) == (
        "CUP-CERAMIC",
        CUP_BARCODE,
        2_500,
        0,
    )
    assert await skus_found(chain, node, code="CUP-CERAMIC") == ["CUP-CERAMIC"]
    assert await skus_found(chain, node, code=f"{CUP_BARCODE}\r\n") == ["CUP-CERAMIC"]  # the scanner's Enter
    # Exactly: not a part, not another case (words are what ?q= is for).
    assert await skus_found(chain, node, code=CUP_BARCODE[:-1]) == []
    assert await skus_found(chain, node, code="cup-ceramic") == []
    assert await skus_found(chain, node, code="CUP") == []


async def test_words_find_names_skus_and_barcodes_in_any_case(chain: Chain, node: Server) -> None:
    assert await skus_found(chain, node, q="CUP") == ["CUP-CERAMIC"]  # "Ceramic cup", CUP-CERAMIC
    assert await skus_found(chain, node, q="tea") == ["TEA-GREEN-100", "TEA-OOLONG-250"]
    assert await skus_found(chain, node, q="Massage") == ["SVC-MASSAGE"]
    assert await skus_found(chain, node, q="红枣") == ["SNACK-DATES"]
    assert await skus_found(chain, node, q="00032") == ["CUP-CERAMIC"]  # part of its barcode
    assert await skus_found(chain, node, q="6902468") == DEMO_SKUS
    # A % or _ is looked for as itself, never as a wildcard.
    assert await skus_found(chain, node, q="%") == []
    assert await skus_found(chain, node, q="_") == []
    assert await skus_found(chain, node, q="nothing like it") == []
    # No query: the whole active catalogue, each with its barcode.
    listing = (await chain.get(node.url + "/api/products"))["products"]
    assert [(p["sku"], p["barcode"][:7]) for p in listing] == [(sku, "6902468") for sku in DEMO_SKUS]


async def test_words_answer_at_most_fifty_products_by_sku_and_withdrawn_ones_never(
    chain: Chain, node: Server
) -> None:
    bulk = [
        {"sku": f"BULK-{n:03}", "name": f"Bulk tea no. {n}", "price_fen": 100 * n, "barcode": f"BK{n:03}"}
        for n in range(1, 61)
    ]
    await author(chain, "products", bulk)
    await author(chain, "products", {"sku": "CUP-CERAMIC", "active": False})
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply the bulk teas")

    assert await skus_found(chain, node, q="bulk") == [f"BULK-{n:03}" for n in range(1, 51)]
    assert await skus_found(chain, node, q="bk06") == ["BULK-060"]
    assert await skus_found(chain, node, code="BK060") == ["BULK-060"]
    # Withdrawn at HQ: the till finds it by nothing.
    assert await skus_found(chain, node, code=CUP_BARCODE) == []
    assert await skus_found(chain, node, code="CUP-CERAMIC") == []
    assert await skus_found(chain, node, q="ceramic") == []


@pytest.mark.parametrize(
    ("query", "said"),
    [
        pytest.param({"code": CUP_BARCODE, "q": "cup"}, "not both", id="both"),
        pytest.param({"code": ""}, "?code= must be 1 to 64 characters, not 0", id="code-empty"),
        pytest.param({"code": "   "}, "?code= must be 1 to 64 characters, not 0", id="code-spaces"),
        pytest.param({"code": "6" * 65}, "?code= must be 1 to 64 characters, not 65", id="code-too-long"),
        pytest.param({"q": ""}, "?q= must be 1 to 200 characters, not 0", id="words-empty"),
        pytest.param({"q": "茶" * 201}, "?q= must be 1 to 200 characters, not 201", id="words-too-long"),
    ],
)
async def test_a_search_that_asks_for_nothing_or_too_much_is_refused(
    chain: Chain, node: Server, query: dict[str, str], said: str
) -> None:
    async with chain.session.get(node.url + "/api/products", params=query) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (422, "invalid"), answer
    assert said in answer["message"]


def _product_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT sku, barcode FROM products ORDER BY sku").fetchall()


def test_a_store_and_an_hq_from_before_barcodes_sell_on_without_them(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "node.sqlite"), synchronous="OFF")
    try:
        # A store at schema 25 held the cup; schema 26 gives it no barcode.
        assert schema.migrate(conn, schema.MIGRATIONS[:25]) == 25
        conn.execute("INSERT INTO products (sku, name, price_fen, unit) VALUES ('CUP', 'Cup', 2500, 'pcs')")
        assert schema.migrate(conn) == len(schema.MIGRATIONS)
        # An older HQ's product entry has no barcode field: the branch takes none.
        catalogue.apply_product(conn, {"sku": "TEA", "name": "Tea", "price_fen": 6_800})
        assert _product_rows(conn) == [("CUP", None), ("TEA", None)]
        found = catalogue.products_at(conn, "BR01-MAIN", catalogue.ProductSearch("code", "TEA"))
        assert [(p["sku"], p["barcode"]) for p in found] == [("TEA", None)]
        # A newer HQ's entry gives one; the next entry without it (null) takes it away.
        catalogue.apply_product(conn, {"sku": "TEA", "name": "Tea", "price_fen": 6_800, "barcode": "T-1"})
        assert (
            catalogue.products_at(conn, "BR01-MAIN", catalogue.ProductSearch("code", "T-1"))[0]["sku"]
            == "TEA"
        )
        catalogue.apply_product(conn, {"sku": "TEA", "name": "Tea", "price_fen": 6_800, "barcode": None})
        assert catalogue.products_at(conn, "BR01-MAIN", catalogue.ProductSearch("code", "T-1")) == []
    finally:
        conn.close()
