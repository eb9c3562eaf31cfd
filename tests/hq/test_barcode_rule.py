"""HQ takes a product's barcode exactly when the branches' feed contract does: a
barcode HQ stored but a branch refused would stop that branch's feed, and one HQ
refused but the contract allows is a scanner's code the chain cannot sell by. Both
read protocol.limits.BARCODE_PATTERN; this holds them to it for any text."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hq import master_data
from hq.errors import InvalidMasterData
from hq.setup import DEMO_CATALOGUE
from protocol.contract import PRODUCT_UPSERT
from protocol.errors import PayloadInvalid
from protocol.limits import BARCODE_PATTERN

TEA: dict[str, Any] = {"sku": "TEA", "name": "Tea", "price_fen": 6_800}

# Any text; what a scanner types (printable ASCII, near the length bound); and the
# near misses: a space, a tab, a full-width digit among scanner characters.
barcodes = st.one_of(
    st.text(max_size=40),
    st.from_regex(BARCODE_PATTERN, fullmatch=True),
    st.text(alphabet=string.printable + "６", min_size=0, max_size=34),
)


def hq_takes(barcode: str) -> bool:
    try:
        master_data.parse("product", {**TEA, "barcode": barcode})
    except InvalidMasterData:
        return False
    return True


def feed_takes(barcode: str) -> bool:
    try:
        PRODUCT_UPSERT.check({**TEA, "barcode": barcode})
    except PayloadInvalid:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(barcode=barcodes)
def test_hq_takes_a_barcode_exactly_when_the_feed_contract_does(barcode: str) -> None:
    assert hq_takes(barcode) == feed_takes(barcode)


@pytest.mark.parametrize(
    ("barcode", "taken"),
    [
        ("6901234567892", True),  # EAN-13
        ("69012341", True),  # EAN-8
        ("036000291452", True),  # UPC-A
        ("A-1/b+%!~", True),  # Code 128 carries punctuation
        ("9" * 32, True),
        ("9" * 33, False),
        ("", False),
        ("6901234 567892", False),
        ("６９０１２３４５６７８９２", False),  # full-width digits, as an input method types them
        ("690123456789\n", False),
    ],
)
def test_the_codes_a_scanner_types_are_taken_and_nothing_else(barcode: str, taken: bool) -> None:
    assert (hq_takes(barcode), feed_takes(barcode)) == (taken, taken)


def test_the_demo_products_keep_the_feed_contract_as_hq_publishes_them() -> None:
    for product in DEMO_CATALOGUE:
        change = product.as_change()
        PRODUCT_UPSERT.check(change.payload)  # PayloadInvalid, naming the field, if not
        assert change.payload["barcode"] == product.barcode
