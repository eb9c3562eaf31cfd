"""HQ authors master data (products, categories, suppliers, warehouses) and every
branch's catalogue follows: those enrolled through their feeds, a later one through
its first snapshot. Every bad record is refused with its status and code, and
nothing of the request is stored or published."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiohttp
import pytest

from node.routes.context import CONTEXT
from tests.harness import Chain, log_in, wait_until
from tests.hq.operator import author, caught_up, feed_length, url_of

PUER = {
    "sku": "TEA-PUER-357",
    "name": "Pu'er cake 357 g / 普洱茶饼",
    "price_fen": 18_800,
    "unit": "cake",
    "category": "TEA",
    "supplier": "SUP-LI",
    "spec": "357 g",
    "colour": "brown",
    "lower_limit": 5,
    "upper_limit": 50,
    "purchase_price_fen": 9_000,
    "discount_mode": "member",
    "discount_rate": 90,
    "costing_method": "fifo",
}


async def node_catalogue(chain: Chain, branch: str) -> dict[str, dict[str, Any]]:
    listing = await chain.get(chain.nodes[branch].url + "/api/products")
    return {row["sku"]: row for row in listing["products"]}


async def node_warehouses(chain: Chain, branch: str) -> dict[str, str]:
    listing = await chain.get(chain.nodes[branch].url + "/api/warehouses")
    return {row["code"]: row["branch"] for row in listing["warehouses"]}


async def node_rows(chain: Chain, branch: str, query: str) -> list[tuple[Any, ...]]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in conn.execute(query)]

    return await chain.nodes[branch].app[CONTEXT].store.read(read)


async def seed_tea(chain: Chain) -> None:
    await author(chain, "categories", [{"code": "TEA", "name": "Tea / 茶"}])
    await author(chain, "suppliers", {"code": "SUP-LI", "name": "Li Tea Co.", "phone": "+86 139 0000 0001"})
    await author(chain, "products", PUER)


async def test_master_data_reaches_every_branch_and_a_later_branch_by_its_snapshot(chain: Chain) -> None:
    await chain.add_node("BR01")
    await seed_tea(chain)
    await author(chain, "categories", {"code": "TEA-GREEN", "name": "Green tea", "parent": "TEA"})
    await author(chain, "warehouses", {"code": "BR01-BACK", "name": "BR01 back room", "branch": "BR01"})

    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply HQ's master data")
    puer = (await node_catalogue(chain, "BR01"))["TEA-PUER-357"]
    assert {key: puer[key] for key in ("price_fen", "unit", "category", "spec", "colour")} == {
        "price_fen": 18_800,
        "unit": "cake",
        "category": "TEA",
        "spec": "357 g",
        "colour": "brown",
    }
    assert (puer["discount_mode"], puer["discount_rate"], puer["costing_method"]) == ("member", 90, "fifo")
    # The fields a till does not list, as the node's catalogue holds them.
    assert await node_rows(
        chain,
        "BR01",
        "SELECT purchase_price_fen, lower_limit, upper_limit, supplier FROM products"
        " WHERE sku = 'TEA-PUER-357'",
    ) == [(9_000, 5, 50, "SUP-LI")]
    assert await node_rows(chain, "BR01", "SELECT code, parent FROM categories ORDER BY code") == [
        ("TEA", None),
        ("TEA-GREEN", "TEA"),
    ]
    assert await node_rows(chain, "BR01", "SELECT code, name, phone, active FROM suppliers") == [
        ("SUP-LI", "Li Tea Co.", "+86 139 0000 0001", 1)
    ]
    # Its main warehouse came from its enrollment, the back room from the operator.
    assert await node_warehouses(chain, "BR01") == {"BR01-BACK": "BR01", "BR01-MAIN": "BR01"}

    await chain.add_node("BR02")
    await wait_until(lambda: caught_up(chain, "BR02"), "BR02 to apply its first snapshot")
    assert (await node_catalogue(chain, "BR02"))["TEA-PUER-357"]["category"] == "TEA"
    assert len(await node_catalogue(chain, "BR02")) == 11  # the ten demo products and the tea
    assert await node_warehouses(chain, "BR02") == {
        "BR01-BACK": "BR01",
        "BR01-MAIN": "BR01",
        "BR02-MAIN": "BR02",
    }
    assert await node_rows(chain, "BR02", "SELECT code FROM suppliers") == [("SUP-LI",)]
    assert await node_rows(chain, "BR02", "SELECT code, parent FROM categories ORDER BY code") == [
        ("TEA", None),
        ("TEA-GREEN", "TEA"),
    ]
    # BR01 learns the new branch's main warehouse (a transfer there needs its keeper).
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to learn BR02-MAIN")
    assert (await node_warehouses(chain, "BR01"))["BR02-MAIN"] == "BR02"

    hq = chain.hq.url
    assert [w["code"] for w in (await chain.get(hq + "/api/warehouses"))["warehouses"]] == [
        "BR01-BACK",
        "BR01-MAIN",
        "BR02-MAIN",
    ]
    assert (await chain.get(hq + "/api/warehouses"))["warehouses"][2] == {
        "code": "BR02-MAIN",
        "name": "BR02 main warehouse",
        "branch": "BR02",
        "active": True,
    }
    assert [c["code"] for c in (await chain.get(hq + "/api/categories"))["categories"]] == [
        "TEA",
        "TEA-GREEN",
    ]
    assert (await chain.get(hq + "/api/suppliers"))["suppliers"] == [
        {
            "code": "SUP-LI",
            "name": "Li Tea Co.",
            "contact": None,
            "phone": "+86 139 0000 0001",
            "active": True,
        }
    ]


async def test_fields_left_out_keep_their_value_and_a_list_is_stored_whole(chain: Chain) -> None:
    await chain.add_node("BR01")
    await seed_tea(chain)

    (changed,) = await author(chain, "products", {"sku": "TEA-PUER-357", "price_fen": 19_800})
    assert changed == {
        **PUER,
        "price_fen": 19_800,
        "active": True,
        "model": None,
        "specified_cost_fen": None,
        "service": False,
        "points_price": None,
        "barcode": None,
    }
    stored = await author(
        chain,
        "products",
        [
            {"sku": "CUP-CERAMIC", "purchase_price_fen": 1_000, "lower_limit": 4},
            {"sku": "TEA-ROCK-50", "name": "Rock tea 50 g", "price_fen": 6_600, "category": "TEA"},
        ],
    )
    assert [(p["sku"], p["price_fen"], p["purchase_price_fen"]) for p in stored] == [
        ("CUP-CERAMIC", 2_500, 1_000),  # the demo price stays
        ("TEA-ROCK-50", 6_600, 0),
    ]
    assert stored[1]["costing_method"] == "moving_average"  # a new product takes the defaults

    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply the changes")
    catalogue = await node_catalogue(chain, "BR01")
    assert (catalogue["TEA-PUER-357"]["price_fen"], catalogue["TEA-PUER-357"]["category"]) == (19_800, "TEA")
    assert catalogue["TEA-ROCK-50"]["price_fen"] == 6_600
    # Withdrawn at HQ: gone from the till's list.
    await author(chain, "products", {"sku": "TEA-ROCK-50", "active": False})
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply the withdrawal")
    assert "TEA-ROCK-50" not in await node_catalogue(chain, "BR01")


async def test_authoring_needs_a_session_whose_role_may_edit_the_catalogue(chain: Chain) -> None:
    listing = await chain.get(chain.hq.url + "/api/products")
    assert len(listing["products"]) == 10
    await chain.add_operator("fin-li", "finance", None)
    finance = await log_in(chain.hq.url, "fin-li")
    for headers, refusal in (
        ({}, (401, "not_logged_in")),
        ({"Authorization": "Bearer not-a-session"}, (401, "not_logged_in")),
        ({"Authorization": f"Bearer {finance}"}, (403, "forbidden")),  # finance reads, never edits
    ):
        async with (
            aiohttp.ClientSession() as anonymous,
            anonymous.post(
                chain.hq.url + "/api/products",
                json={"sku": "X", "name": "X", "price_fen": 1},
                headers=headers,
            ) as response,
        ):
            assert (response.status, (await response.json())["error"]) == refusal, headers
    assert await chain.get(chain.hq.url + "/api/products") == listing


# -- refusals --------------------------------------------------------------------------------------


async def hq_master_state(chain: Chain) -> dict[str, Any]:
    """Everything an authoring request could change: HQ's master data and BR01's feed."""
    state: dict[str, Any] = {}
    for plural in ("products", "categories", "suppliers", "warehouses", "card_types"):
        state[plural] = await chain.get(chain.hq.url + url_of(plural))
    state["feed"] = await feed_length(chain, "BR01")
    return state


@pytest.fixture
async def authored(chain: Chain) -> Chain:
    """BR01 enrolled (not running), the tea master data, a sub-category, a back room."""
    await chain.add_node("BR01", start=False)
    await seed_tea(chain)
    await author(chain, "categories", {"code": "TEA-GREEN", "name": "Green tea", "parent": "TEA"})
    await author(chain, "warehouses", {"code": "BR01-BACK", "name": "BR01 back room", "branch": "BR01"})
    return chain


def new_product(**fields: Any) -> dict[str, Any]:
    return {"sku": "SNACK-SEEDS", "name": "Melon seeds", "price_fen": 1_500, **fields}


def new_card_type(**fields: Any) -> dict[str, Any]:
    return {"code": "HAIR-10", "name": "Ten haircuts", "price_fen": 70_000, **fields}


INVALID = ("422", "invalid_master_data")
BAD_RECORDS = [
    # money is integer fen: no float, string or bool, never negative
    pytest.param("products", new_product(price_fen=12.5), INVALID, id="price-float"),
    pytest.param("products", new_product(price_fen="1500"), INVALID, id="price-string"),
    pytest.param("products", new_product(price_fen=True), INVALID, id="price-bool"),
    pytest.param("products", new_product(price_fen=-1), INVALID, id="price-negative"),
    pytest.param("products", new_product(price_fen=10**12), INVALID, id="price-beyond-ten-million-yuan"),
    pytest.param("products", new_product(purchase_price_fen=1.0), INVALID, id="purchase-price-float"),
    pytest.param("products", new_product(specified_cost_fen=-5), INVALID, id="specified-cost-negative"),
    # limits
    pytest.param("products", new_product(lower_limit=-1), INVALID, id="lower-limit-negative"),
    pytest.param("products", new_product(upper_limit="5"), INVALID, id="upper-limit-string"),
    pytest.param("products", new_product(lower_limit=10, upper_limit=5), INVALID, id="lower-above-upper"),
    pytest.param("products", {"sku": "TEA-PUER-357", "upper_limit": 4}, INVALID, id="upper-below-held-lower"),
    # discounts and costing
    pytest.param("products", new_product(discount_mode="vip"), INVALID, id="discount-mode-unknown"),
    pytest.param("products", new_product(discount_rate=0), INVALID, id="discount-rate-zero"),
    pytest.param("products", new_product(discount_rate=101), INVALID, id="discount-rate-above-100"),
    pytest.param("products", new_product(costing_method="newest"), INVALID, id="costing-method-unknown"),
    pytest.param("products", new_product(costing_method="specified"), INVALID, id="specified-without-cost"),
    # text fields
    pytest.param("products", new_product(sku=""), INVALID, id="sku-empty"),
    pytest.param("products", new_product(sku=" SNACK "), INVALID, id="sku-padded"),
    pytest.param("products", new_product(sku=42), INVALID, id="sku-number"),
    pytest.param("products", new_product(sku="S" * 65), INVALID, id="sku-too-long"),
    pytest.param("products", new_product(name=42), INVALID, id="name-number"),
    pytest.param("products", {"sku": "SNACK-SEEDS", "price_fen": 1_500}, INVALID, id="new-without-name"),
    pytest.param("products", {"name": "no sku", "price_fen": 1}, INVALID, id="sku-missing"),
    pytest.param("products", new_product(active="yes"), INVALID, id="active-not-bool"),
    pytest.param("products", new_product(colour_code="red"), INVALID, id="unknown-field"),
    # references
    pytest.param(
        "products", new_product(category="NUTS"), ("422", "unknown_reference"), id="unknown-category"
    ),
    pytest.param(
        "products", new_product(supplier="SUP-X"), ("422", "unknown_reference"), id="unknown-supplier"
    ),
    # the request as a whole
    pytest.param("products", [new_product(), new_product(price_fen=-1)], INVALID, id="list-with-one-bad"),
    pytest.param("products", [new_product(), new_product()], INVALID, id="list-with-a-sku-twice"),
    pytest.param("products", [], INVALID, id="empty-list"),
    pytest.param("products", "SNACK-SEEDS", INVALID, id="not-an-object"),
    # categories
    pytest.param(
        "categories",
        {"code": "NUTS", "name": "Nuts", "parent": "SNACKS"},
        ("422", "unknown_reference"),
        id="parent-unknown",
    ),
    pytest.param("categories", {"code": "NUTS", "name": "Nuts", "parent": "NUTS"}, INVALID, id="own-parent"),
    pytest.param("categories", {"code": "TEA", "parent": "TEA-GREEN"}, INVALID, id="parent-cycle"),
    pytest.param(
        "categories", {"code": "GREEN TEA", "name": "Green"}, INVALID, id="category-code-with-space"
    ),
    # suppliers
    pytest.param(
        "suppliers", {"code": "SUP-WU", "name": "Wu", "phone": "call me"}, INVALID, id="phone-not-a-number"
    ),
    pytest.param(
        "suppliers", {"code": "SUP-WU", "name": "Wu", "active": 1}, INVALID, id="supplier-active-int"
    ),
    # warehouses
    pytest.param(
        "warehouses", {"code": "BR01-COLD", "name": "Cold", "branch": "BR 01"}, INVALID, id="branch-invalid"
    ),
    pytest.param("warehouses", {"code": "BR01-COLD", "name": "Cold"}, INVALID, id="branch-missing"),
    pytest.param(
        "warehouses", {"code": "BAD CODE", "name": "Bad", "branch": "BR01"}, INVALID, id="code-invalid"
    ),
    pytest.param(
        "warehouses",
        {"code": "BR01-BACK", "branch": "BR02"},
        ("409", "warehouse_keeper_fixed"),
        id="keeper-changed",
    ),
    pytest.param(
        "warehouses",
        {"code": "BR02-MAIN", "name": "Main", "branch": "BR01"},
        INVALID,
        id="another-branch-main",
    ),
    # card types (the demo catalogue's SVC-* are service items, the rest goods)
    pytest.param("card_types", new_card_type(price_fen=700.0), INVALID, id="card-price-float"),
    pytest.param(
        "card_types", new_card_type(uses=[{"sku": "CUP-CERAMIC", "qty": 10}]), INVALID, id="uses-of-goods"
    ),
    pytest.param(
        "card_types", new_card_type(gifts=[{"sku": "SVC-HAIRCUT", "qty": 1}]), INVALID, id="gift-of-a-service"
    ),
    pytest.param("card_types", new_card_type(services=["SOAP-BAR"]), INVALID, id="time-card-admits-goods"),
    pytest.param(
        "card_types",
        new_card_type(uses=[{"sku": "SVC-NOPE", "qty": 1}]),
        ("422", "unknown_reference"),
        id="uses-of-an-unknown-product",
    ),
    pytest.param(
        "card_types",
        new_card_type(uses=[{"sku": "SVC-HAIRCUT", "qty": 5}, {"sku": "SVC-HAIRCUT", "qty": 5}]),
        INVALID,
        id="uses-sku-twice",
    ),
    pytest.param(
        "card_types", new_card_type(uses=[{"sku": "SVC-HAIRCUT", "qty": 0}]), INVALID, id="uses-zero"
    ),
    pytest.param("card_types", new_card_type(uses=[{"sku": "SVC-HAIRCUT"}]), INVALID, id="uses-without-qty"),
    pytest.param("card_types", new_card_type(uses="SVC-HAIRCUT"), INVALID, id="uses-not-a-list"),
    pytest.param(
        "card_types", new_card_type(validity_days=30, valid_until="2027-01-01"), INVALID, id="two-validities"
    ),
    pytest.param(
        "card_types", new_card_type(valid_until="2027-02-30"), INVALID, id="valid-until-no-such-day"
    ),
    pytest.param("card_types", new_card_type(validity_days=0), INVALID, id="validity-zero-days"),
    pytest.param("card_types", new_card_type(discount_rate=0), INVALID, id="card-discount-zero"),
    pytest.param("card_types", new_card_type(level=5), INVALID, id="level-not-text"),
]


@pytest.mark.parametrize(("plural", "body", "refusal"), BAD_RECORDS)
async def test_a_bad_record_is_refused_and_nothing_of_the_request_is_stored(
    authored: Chain, plural: str, body: Any, refusal: tuple[str, str]
) -> None:
    chain = authored
    before = await hq_master_state(chain)
    async with chain.session.post(chain.hq.url + url_of(plural), json=body) as response:
        answer = await response.json()
        assert (str(response.status), answer["error"]) == refusal, answer
    assert answer["message"]
    assert await hq_master_state(chain) == before


async def test_a_body_that_is_not_json_is_refused_400(authored: Chain) -> None:
    chain = authored
    before = await hq_master_state(chain)
    async with chain.session.post(
        chain.hq.url + "/api/products", data=b"sku=X", headers=json_headers(chain)
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_query"
    assert await hq_master_state(chain) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None],
)
async def test_a_body_not_declared_json_is_refused_415_before_it_is_read(
    authored: Chain, content_type: str | None
) -> None:
    chain = authored
    before = await hq_master_state(chain)
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = b'{"sku": "X", "name": "X", "price_fen": 1}'
    async with chain.session.post(chain.hq.url + "/api/products", data=body, headers=headers) as response:
        assert response.status == 415
        answer = await response.json()
    assert answer["error"] == "unsupported_media_type"
    assert "send Content-Type: application/json" in answer["message"]
    assert await hq_master_state(chain) == before


def json_headers(chain: Chain) -> dict[str, str]:
    return {"Content-Type": "application/json"}


async def test_a_body_nested_too_deep_is_refused_400_not_a_server_error(authored: Chain) -> None:
    chain = authored
    before = await hq_master_state(chain)
    async with chain.session.post(
        chain.hq.url + "/api/products", data=b"[" * 100_000 + b"]" * 100_000, headers=json_headers(chain)
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "nested_too_deep"
    assert await hq_master_state(chain) == before


async def test_a_card_type_reaches_the_branch_whole_and_a_withdrawn_one_is_not_sold(chain: Chain) -> None:
    await chain.add_node("BR01")
    hair = new_card_type(uses=[{"sku": "SVC-HAIRCUT", "qty": 10}], gifts=[{"sku": "SOAP-BAR", "qty": 2}])
    [stored] = await author(chain, "card_types", hair)
    assert stored == {
        **hair,
        "stored_value_fen": 0,
        "discount_rate": 100,
        "validity_days": None,
        "valid_until": None,
        "credit_limit_fen": 0,
        "services": [],
        "level": "",
        "active": True,
        "renew_fen": 0,
        "replace_fen": 0,
    }
    node = chain.nodes["BR01"]

    async def listed() -> list[dict[str, Any]]:
        types = (await chain.get(node.url + "/api/card-types"))["card_types"]
        return [t for t in types if t["code"] == "HAIR-10"]

    async def arrived() -> bool:
        return await listed() == [stored]

    await wait_until(arrived, "the card type to reach BR01 whole")
    await author(chain, "card_types", {"code": "HAIR-10", "active": False})

    async def withdrawn() -> bool:
        return await listed() == []

    await wait_until(withdrawn, "the withdrawal to reach BR01")
    member = (await chain.post(node.url + "/api/members", {"name": "Qian", "phone": "13900008888"}))["id"]
    body = {
        "member_id": member,
        "card_type": "HAIR-10",
        "card": "H-0001",
        "tenders": [{"kind": "cash", "amount_fen": 70_000}],
    }
    async with chain.session.post(node.url + "/api/card-sales", json=body) as response:
        assert (response.status, (await response.json())["error"]) == (404, "unknown_card_type")
