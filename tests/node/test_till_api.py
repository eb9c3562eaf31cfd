"""The till API: worked examples, and every bad input refused with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Chain, sale, wait_until

CUP, TEA = "CUP-CERAMIC", "TEA-OOLONG-250"  # 25.00 and 68.00 yuan in the demo catalogue


@pytest.fixture
async def till(chain: Chain) -> str:
    node = await chain.add_node("BR01")

    async def catalogue_arrived() -> bool:
        return len((await chain.get(node.url + "/api/products"))["products"]) == 10

    await wait_until(catalogue_arrived, "the catalogue to reach BR01")
    return node.url


async def state(chain: Chain, url: str) -> tuple[Any, ...]:
    sync = await chain.get(url + "/api/sync")
    summary = await chain.get(url + "/api/sales/summary")
    products = await chain.get(url + "/api/products")
    return sync["head_seq"], summary["count"], summary["total_fen"], str(products)


async def test_a_cash_sale_totals_its_lines_gives_change_and_moves_stock(chain: Chain, till: str) -> None:
    receipt = await chain.post(till + "/api/sales", sale((CUP, 2), (TEA, 1), cash_fen=20_000))
    # 2 x 25.00 + 1 x 68.00 = 118.00 yuan; 200.00 tendered gives 82.00 change.
    assert receipt["total_fen"] == 2 * 2500 + 6800 == 11_800
    assert receipt["change_fen"] == 8_200
    assert [line["amount_fen"] for line in receipt["lines"]] == [5000, 6800]
    stock = {p["sku"]: p["stock_qty"] for p in (await chain.get(till + "/api/products"))["products"]}
    # No goods were received yet: the branch sells into negative stock rather than refuse a customer.
    assert (stock[CUP], stock[TEA]) == (-2, -1)
    shown = await chain.get(f"{till}/api/sales/{receipt['id']}")
    assert shown["total_fen"] == 11_800
    assert len(shown["lines"]) == 2


async def test_a_retried_sale_with_the_same_idempotency_key_is_booked_once(chain: Chain, till: str) -> None:
    headers = {"Idempotency-Key": "till-1-0042"}
    first = await chain.post(till + "/api/sales", sale((CUP, 1)), headers=headers)
    again = await chain.post(till + "/api/sales", sale((CUP, 1)), status=200, headers=headers)
    assert again["id"] == first["id"]
    assert again["replayed"] is True
    summary = await chain.get(till + "/api/sales/summary")
    assert (summary["count"], summary["total_fen"]) == (1, 2500)


async def test_a_member_is_registered_and_found_by_phone(chain: Chain, till: str) -> None:
    member = await chain.post(
        till + "/api/members", {"name": "Zhang Wei", "phone": "13811112222", "birthday": "1985-10-01"}
    )
    found = await chain.get(till + "/api/members", params={"phone": "13811112222"})
    assert found["members"] == [member]
    receipt = await chain.post(till + "/api/sales", sale((TEA, 1), member_id=member["id"]))
    assert receipt["member_id"] == member["id"]


BAD_SALES = [
    pytest.param(sale(("NO-SUCH-SKU", 1)), 404, "unknown_product", id="unknown sku"),
    pytest.param(
        {"lines": [{"sku": CUP, "qty": 1.5}], "tenders": [{"kind": "cash", "amount_fen": 9999}]},
        422,
        "invalid",
        id="fractional qty",
    ),
    pytest.param(sale((CUP, 0)), 422, "invalid", id="zero qty"),
    pytest.param(
        {"lines": [{"sku": CUP, "qty": 1}], "tenders": [{"kind": "cash", "amount_fen": 25.0}]},
        422,
        "invalid",
        id="float money",
    ),
    pytest.param(
        {"lines": [{"sku": CUP, "qty": 1}], "tenders": [{"kind": "cash", "amount_fen": True}]},
        422,
        "invalid",
        id="bool money",
    ),
    pytest.param(
        {"lines": [{"sku": CUP, "qty": 1}], "tenders": [{"kind": "cash", "amount_fen": -1}]},
        422,
        "invalid",
        id="negative money",
    ),
    pytest.param(sale((CUP, 1), cash_fen=2499), 422, "tender_short", id="one fen short"),
    pytest.param(
        {"lines": [{"sku": CUP, "qty": 1}], "tenders": [{"kind": "bitcoin", "amount_fen": 9999}]},
        422,
        "unsupported_tender",
        id="unknown tender",
    ),
    pytest.param(
        sale((CUP, 1), member_id="01a20823-0000-7000-8000-000000000000"),
        404,
        "unknown_member",
        id="unknown member",
    ),
    pytest.param(
        {"lines": [], "tenders": [{"kind": "cash", "amount_fen": 1}]}, 422, "invalid", id="no lines"
    ),
    pytest.param(sale(*[(CUP, 1)] * 201), 422, "invalid", id="201 lines"),
    pytest.param({**sale((CUP, 1)), "discount": 100}, 422, "invalid", id="unknown field"),
    pytest.param([1, 2, 3], 400, "malformed", id="json array"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_SALES)
async def test_a_bad_sale_is_refused_and_changes_nothing(
    chain: Chain, till: str, body: Any, status: int, code: str
) -> None:
    before = await state(chain, till)
    refused = await chain.post(till + "/api/sales", body, status=status)
    assert refused["error"] == code
    assert refused["message"]
    assert await state(chain, till) == before


BAD_MEMBERS = [
    pytest.param({"phone": "13800000000"}, "name is required", id="no name"),
    pytest.param({"name": "A", "phone": "12-34"}, "phone must be", id="bad phone"),
    # "$" in a pattern lets a trailing newline through: a second member beside 13800000000.
    pytest.param({"name": "A", "phone": "13800000000\n"}, "phone must be", id="phone and a newline"),
    pytest.param({"name": "A", "phone": "13800000000", "cards": ["C-1001\n"]}, "cards[]", id="card+newline"),
    pytest.param({"name": "A", "phone": "13800000000", "birthday": "1990-02-30"}, "birthday", id="bad date"),
    pytest.param({"name": "A", "phone": "13800000000", "birthday": "2999-01-01"}, "birthday", id="future"),
    pytest.param({"name": "x" * 65, "phone": "13800000000"}, "at most 64", id="long name"),
    pytest.param({"name": "A", "phone": "13800000000", "vip": True}, "unknown member fields", id="extra"),
]


@pytest.mark.parametrize(("body", "message"), BAD_MEMBERS)
async def test_a_bad_registration_is_refused_with_the_field_named(
    chain: Chain, till: str, body: Any, message: str
) -> None:
    before = await state(chain, till)
    refused = await chain.post(till + "/api/members", body, status=422)
    assert refused["error"] == "invalid"
    assert message in refused["message"]
    assert await state(chain, till) == before


async def test_a_phone_already_registered_here_is_refused_409(chain: Chain, till: str) -> None:
    await chain.post(till + "/api/members", {"name": "A", "phone": "13822223333"})
    before = await state(chain, till)
    refused = await chain.post(till + "/api/members", {"name": "B", "phone": "13822223333"}, status=409)
    assert refused["error"] == "phone_taken"
    assert await state(chain, till) == before


@pytest.mark.parametrize("path", ["/api/sales", "/api/members", "/api/cards/C-1001/top-up"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_not_declared_json_is_refused_415(
    chain: Chain, till: str, path: str, content_type: str | None
) -> None:
    """What a web page elsewhere could post to the till without asking: refused unread."""
    before = await state(chain, till)
    body = b'{"name": "A", "phone": "13800000000", "amount_fen": 100}'
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with chain.session.post(till + path, data=body, headers=headers) as response:
        assert response.status == 415
        assert (await response.json())["error"] == "unsupported_media_type"
    assert await state(chain, till) == before


async def test_a_body_nested_too_deep_is_refused_400_not_a_server_error(chain: Chain, till: str) -> None:
    before = await state(chain, till)
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"lines": ' + b"[" * 40 + b"]" * 40 + b"}"):
        async with chain.session.post(
            till + "/api/sales", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400
            answer = await response.json()
            assert answer["error"] == "nested_too_deep"
            assert "levels deep" in answer["message"]
    assert await state(chain, till) == before


JSON = {"Content-Type": "application/json"}


async def test_garbage_and_oversized_bodies_are_refused(chain: Chain, till: str) -> None:
    before = await state(chain, till)
    async with chain.session.post(till + "/api/sales", data=b"\xff\xfe garbage", headers=JSON) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "malformed"
    async with chain.session.post(
        till + "/api/sales", data=b"{" + b" " * 300_000 + b"}", headers=JSON
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"] == "too_large"
    async with chain.session.get(till + "/api/members", params={"phone": "x"}) as response:
        assert response.status == 422
    assert await state(chain, till) == before
