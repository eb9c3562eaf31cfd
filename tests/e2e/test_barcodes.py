"""A product's barcode is authored at HQ like its other fields, reaches every branch
through the feed (a later branch through its first snapshot), and the till's search
finds the product there by what the scanner types. HQ refuses a barcode a scanner
could not have typed, and one that would find two products, and then stores and
publishes nothing of the request.

The figures: HQ's demo catalogue gives each of its ten products an EAN-13 under the
made-up company prefix 6902468 (CUP-CERAMIC's is 6902468000032); the Pu'er cake added
here is 6901234567892. A check digit tops up the first twelve digits, weighted 1, 3,
1, 3..., to a multiple of ten: for the cake 6+0+2+4+6+8 + 3*(9+1+3+5+7+9) = 26 + 102
= 128, so 2."""

from __future__ import annotations

from typing import Any

from hq.setup import DEMO_CATALOGUE
from tests.harness import Chain, wait_until
from tests.hq.operator import author, caught_up, feed_length

PUER_BARCODE = "6901234567892"
PUER = {
    "sku": "TEA-PUER-357",
    "name": "Pu'er cake 357 g / 普洱茶饼",
    "price_fen": 18_800,
    "unit": "cake",
    "barcode": PUER_BARCODE,
}
CUP_BARCODE = "6902468000032"  # the demo CUP-CERAMIC's
GIFT_BARCODE = "6902468000100"  # the demo GIFT-BOX's
INVALID = (422, "invalid_master_data")


async def found(chain: Chain, branch: str, **query: str) -> list[dict[str, Any]]:
    """The branch's catalogue search: what a till shows for ?code= or ?q=."""
    listing = await chain.get(chain.nodes[branch].url + "/api/products", params=query)
    products: list[dict[str, Any]] = listing["products"]
    return products


async def skus_found(chain: Chain, branch: str, **query: str) -> list[str]:
    return [product["sku"] for product in await found(chain, branch, **query)]


async def hq_state(chain: Chain) -> tuple[Any, int]:
    """Everything a product request could change: HQ's products and BR01's feed."""
    return await chain.get(chain.hq.url + "/api/products"), await feed_length(chain, "BR01")


async def refused(chain: Chain, body: Any) -> str:
    """POST products that HQ must refuse as invalid master data; its message."""
    async with chain.session.post(chain.hq.url + "/api/products", json=body) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == INVALID, answer
    message: str = answer["message"]
    return message


def ean13_check_digit(first_twelve: str) -> str:
    """GS1's check digit: digits weighted 1, 3, 1, 3... from the left; what tops the sum
    up to a multiple of ten."""
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(first_twelve))
    return str(-total % 10)


def test_the_demo_barcodes_are_distinct_ean13_codes_with_their_check_digits() -> None:
    barcodes = [product.barcode for product in DEMO_CATALOGUE]
    assert len(set(barcodes)) == len(DEMO_CATALOGUE)
    for code in barcodes:
        assert code is not None
        assert (len(code), code.isdigit(), code[:3]) == (13, True, "690"), code
        assert code[-1] == ean13_check_digit(code[:12]), code
    # By hand for the cup: 6+0+4+8+0+0 + 3*(9+2+6+0+0+3) = 18 + 60 = 78; 80 - 78 = 2.
    assert ean13_check_digit(CUP_BARCODE[:12]) == "2"
    assert ean13_check_digit(PUER_BARCODE[:12]) == "2"


async def test_a_barcode_authored_at_hq_reaches_every_branch_and_finds_its_product(chain: Chain) -> None:
    await chain.add_node("BR01")
    (stored,) = await author(chain, "products", PUER)
    assert stored["barcode"] == PUER_BARCODE
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply the Pu'er cake")

    (by_barcode,) = await found(chain, "BR01", code=PUER_BARCODE)
    assert {key: by_barcode[key] for key in ("sku", "name", "price_fen", "unit", "barcode", "stock_qty")} == {
        "sku": "TEA-PUER-357",
        "name": "Pu'er cake 357 g / 普洱茶饼",
        "price_fen": 18_800,
        "unit": "cake",
        "barcode": PUER_BARCODE,
        "stock_qty": 0,
    }
    assert await found(chain, "BR01", code="TEA-PUER-357") == [by_barcode]
    assert await found(chain, "BR01", code=f" {PUER_BARCODE} ") == [by_barcode]  # a stray space typed
    # Part of its name, in any case, or in Chinese.
    assert await skus_found(chain, "BR01", q="PU'ER") == ["TEA-PUER-357"]
    assert await skus_found(chain, "BR01", q="普洱") == ["TEA-PUER-357"]
    # A code no product has: an empty answer, not an error (the till says "not found").
    assert await found(chain, "BR01", code="6901234567899") == []
    assert await found(chain, "BR01", code=PUER_BARCODE[:12]) == []  # a code is matched whole
    # The demo catalogue's barcodes came with the demo products.
    assert await skus_found(chain, "BR01", code=CUP_BARCODE) == ["CUP-CERAMIC"]
    whole = await found(chain, "BR01")
    assert len(whole) == 11
    assert {product["sku"]: product["barcode"] for product in whole}["SOAP-BAR"] == "6902468000070"

    # A branch enrolled later has it from its first snapshot.
    await chain.add_node("BR02")
    await wait_until(lambda: caught_up(chain, "BR02"), "BR02 to apply its first snapshot")
    assert await skus_found(chain, "BR02", code=PUER_BARCODE) == ["TEA-PUER-357"]


async def test_a_malformed_barcode_is_refused_and_nothing_of_the_request_is_stored(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)
    before = await hq_state(chain)
    for barcode in (
        "",
        " 6901234567892",  # padded
        "6901234 567892",  # a space inside
        "6" * 33,  # beyond 32 characters
        "６９０１２３４５６７８９２",  # full-width digits, as a Chinese input method types them
        "条码6901234567892",
        "690123456789\t",
        6901234567892,  # a number, not the text a scanner types
    ):
        message = await refused(chain, {**PUER, "barcode": barcode})
        assert "product.barcode must be 1 to 32 printable ASCII characters without spaces" in message, barcode
    # One bad record in a list: the good one is not stored either.
    await refused(chain, [{**PUER, "sku": "TEA-PUER-200"}, {**PUER, "barcode": "690 1"}])
    assert await hq_state(chain) == before
    # The longest and the most varied a scanner types are taken (Code 128 carries punctuation).
    await author(
        chain, "products", [{**PUER, "barcode": "9" * 32}, {**PUER, "sku": "X", "barcode": "A-1/b+%!~"}]
    )


async def test_a_barcode_names_one_product_and_a_taken_one_is_refused_naming_its_holder(chain: Chain) -> None:
    await chain.add_node("BR01")
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply the demo catalogue")
    before = await hq_state(chain)

    message = await refused(chain, {**PUER, "barcode": CUP_BARCODE})
    assert message == (
        f"product TEA-PUER-357: barcode {CUP_BARCODE} is already product CUP-CERAMIC's;"
        " check the label, or first take it off CUP-CERAMIC (barcode: null)"
    )
    # Two new products in one request with one barcode: the second is refused, and the
    # first is not stored either.
    message = await refused(chain, [PUER, {**PUER, "sku": "TEA-PUER-200"}])
    assert f"barcode {PUER_BARCODE} is already product TEA-PUER-357's" in message
    # A barcode that is another product's sku, or a sku that is another's barcode: a
    # scan or a typed code would find both.
    assert "is product SOAP-BAR's sku" in await refused(chain, {**PUER, "barcode": "SOAP-BAR"})
    assert "its sku is product CUP-CERAMIC's barcode" in await refused(
        chain, {"sku": CUP_BARCODE, "name": "Cup, by its code", "price_fen": 2_500}
    )
    assert await hq_state(chain) == before

    # A withdrawn product keeps its barcode: a label still on a shelf finds no stranger.
    await author(chain, "products", {"sku": "GIFT-BOX", "active": False})
    assert "already product GIFT-BOX's" in await refused(chain, {**PUER, "barcode": GIFT_BARCODE})
    # The holder itself may be sent again with its own barcode.
    await author(chain, "products", {"sku": "CUP-CERAMIC", "price_fen": 2_600, "barcode": CUP_BARCODE})

    # Moved: taken off the cup first, then given to the cake; the branch follows.
    await author(chain, "products", {"sku": "CUP-CERAMIC", "barcode": None})
    await author(chain, "products", {**PUER, "barcode": CUP_BARCODE})
    await wait_until(lambda: caught_up(chain, "BR01"), "BR01 to apply the moved barcode")
    assert await skus_found(chain, "BR01", code=CUP_BARCODE) == ["TEA-PUER-357"]
    assert await skus_found(chain, "BR01", code="CUP-CERAMIC") == ["CUP-CERAMIC"]
    assert (await found(chain, "BR01", code="CUP-CERAMIC"))[0]["barcode"] is None
    assert await found(chain, "BR01", code=GIFT_BARCODE) == []  # withdrawn: not sold
