"""The wire contract: every entry type's payloads, drawn from its own schema, pass and
travel through the entry codec; every single-place break is refused at its path; the
bounds take what a node commits; unknown kinds are not ours to read."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict import card_status, duplicates, ledger
from inventory import costing
from protocol import codec, contract, hlc
from protocol.contract import ENTRY_TYPES, EntryType, Writer
from protocol.entry import GENESIS_HASH, Entry, decode_entry, encode_entry
from protocol.errors import MalformedMessage, MessageTooLarge, PayloadInvalid, WrongWriter
from protocol.limits import (
    BRANCH_CODE_PATTERN,
    MAX_AMOUNT_FEN,
    MAX_DOCUMENT_FEN,
    MAX_ENTRY_BYTES,
    MAX_INT64,
    MAX_ORDER_LINES,
    MAX_SALE_FEN,
    MAX_SALE_LINE_QTY,
    MAX_SALE_LINES,
)
from tests.protocol.contract_strategies import largest, mutations, values
from tests.protocol.strategies import EPOCH_MS, FEW, PROPERTY, same_value

ALL = sorted(ENTRY_TYPES.values(), key=lambda t: t.name)


def entry_of(
    entry_type: EntryType, payload: Any, *, origin: str = "BR01", seq: int = 7, actor: str = ""
) -> Entry:
    return encode_entry(
        origin=origin,
        seq=seq,
        hlc=hlc.pack(EPOCH_MS),
        prev_hash=GENESIS_HASH,
        kind=entry_type.kind,
        entity_id="0190c7a2-1b2c-7d3e-8f40-123456789abc",
        op=entry_type.op,
        payload=payload,
        actor=actor,
    )


def a_sale(**changes: Any) -> dict[str, Any]:
    """Two cups at 25.00 and a tea at 68.00, paid 200.00 in cash: 118.00, change 82.00."""
    sale: dict[str, Any] = {
        "member_id": None,
        "warehouse": "BR01-MAIN",
        "lines": [
            {"sku": "CUP-CERAMIC", "qty": 2, "unit_price_fen": 2_500, "amount_fen": 5_000, "cost_fen": 2_200},
            {
                "sku": "TEA-OOLONG-250",
                "qty": 1,
                "unit_price_fen": 6_800,
                "amount_fen": 6_800,
                "cost_fen": 3_900,
            },
        ],
        "tenders": [{"kind": "cash", "amount_fen": 20_000}],
        "total_fen": 11_800,
        "change_fen": 8_200,
        "points_earned": 0,
        "at_ms": EPOCH_MS,
        "moves": [
            {"warehouse": "BR01-MAIN", "sku": "CUP-CERAMIC", "qty": -2, "cost_fen": -2_200, "cause": "sale"},
            {
                "warehouse": "BR01-MAIN",
                "sku": "TEA-OOLONG-250",
                "qty": -1,
                "cost_fen": -3_900,
                "cause": "sale",
            },
        ],
    }
    sale.update(changes)
    return sale


# -- every entry type, from its own schema ------------------------------------------------


@pytest.mark.parametrize("entry_type", ALL, ids=lambda t: t.name)
@FEW
@given(data=st.data())
def test_every_drawn_payload_passes_and_travels_through_an_entry_unchanged(
    entry_type: EntryType, data: st.DataObject
) -> None:
    payload = data.draw(values(entry_type.schema))
    assert contract.check(entry_type, payload) is entry_type
    decoded = decode_entry(entry_of(entry_type, payload).raw)
    assert same_value(decoded.payload, payload)
    assert contract.check_entry(decoded, entry_type.writer) is entry_type


@pytest.mark.parametrize("entry_type", ALL, ids=lambda t: t.name)
@FEW
@given(data=st.data())
def test_every_break_in_one_place_is_refused_naming_that_place(
    entry_type: EntryType, data: st.DataObject
) -> None:
    payload = data.draw(values(entry_type.schema))
    breaks = list(mutations(entry_type.schema, payload))
    assert breaks
    for mutation in breaks:
        broken = mutation.apply(payload)
        with pytest.raises(PayloadInvalid) as refused:
            entry_type.check(broken)
        assert (refused.value.entry_type, refused.value.path) == (entry_type.name, mutation.expected_path), (
            mutation.what
        )


@pytest.mark.parametrize("entry_type", ALL, ids=lambda t: t.name)
def test_the_largest_payload_a_schema_allows_passes_and_is_either_an_entry_or_too_large(
    entry_type: EntryType,
) -> None:
    payload = largest(entry_type.schema)
    entry_type.check(payload)
    try:
        entry = entry_of(entry_type, payload)
    except MessageTooLarge:
        return  # refused by the entry bound, by name, before it reaches a log
    assert len(entry.raw) <= MAX_ENTRY_BYTES


def test_a_drawn_break_reads_as_its_rule() -> None:
    # A worked example of the mutations the property test draws: a float quantity.
    sale = a_sale()
    floated = next(
        m
        for m in mutations(contract.SALE_CHECKOUT.schema, sale)
        if m.at == ("lines", 1, "qty") and m.what == "a float"
    )
    assert (floated.expected_path, floated.replacement) == ("lines[1].qty", 1.0)
    with pytest.raises(PayloadInvalid, match=r"^sale/checkout: lines\[1\]\.qty must be an integer"):
        contract.SALE_CHECKOUT.check(floated.apply(sale))


# -- bounds: what a node commits passes -----------------------------------------------------


def test_a_till_receipt_of_a_million_units_at_ten_million_yuan_keeps_the_contract() -> None:
    # The node commits it (1,000,000 units is its document bound, 1,000,000,000 fen
    # its amount bound): 10**15 fen. HQ's business limit (10**13) is HQ's to flag;
    # the contract must not refuse what the branch has already booked.
    amount_fen = 1_000_000 * 1_000_000_000
    receipt = {
        "id": "r-1",
        "order_id": None,
        "supplier": "SUP-1",
        "warehouse": "BR01-MAIN",
        "lines": [
            {"sku": "GIFT-BOX", "qty": 1_000_000, "unit_cost_fen": 1_000_000_000, "amount_fen": amount_fen}
        ],
        "amount_fen": amount_fen,
        "at_ms": EPOCH_MS,
        "moves": [
            {
                "warehouse": "BR01-MAIN",
                "sku": "GIFT-BOX",
                "qty": 1_000_000,
                "cost_fen": amount_fen,
                "cause": "purchase",
            }
        ],
        "payable": {"id": "p-1", "supplier": "SUP-1", "amount_fen": amount_fen},
    }
    contract.RECEIPT_POST.check(receipt)
    decoded = decode_entry(entry_of(contract.RECEIPT_POST, receipt).raw)
    assert contract.check_entry(decoded, Writer.BRANCH) is contract.RECEIPT_POST


def test_a_sale_at_every_line_and_price_bound_keeps_the_contract_and_one_fen_more_does_not() -> None:
    # 200 lines x 100,000 units x 10,000,000.00 yuan = 2 * 10**16 fen.
    line = {"sku": "GIFT-BOX", "qty": 100_000, "unit_price_fen": 1_000_000_000, "amount_fen": 10**14}
    sale = a_sale(lines=[line] * MAX_SALE_LINES, total_fen=2 * 10**16, moves=[])
    assert MAX_SALE_LINES * MAX_SALE_LINE_QTY * MAX_AMOUNT_FEN == MAX_SALE_FEN == 2 * 10**16
    contract.SALE_CHECKOUT.check(sale)
    with pytest.raises(PayloadInvalid) as refused:
        contract.SALE_CHECKOUT.check(a_sale(lines=[line], total_fen=MAX_SALE_FEN + 1))
    assert refused.value.path == "total_fen"


def test_figures_that_follow_stock_history_are_bounded_by_64_bits_only() -> None:
    # A stocktake of a product oversold far below zero: the count is bounded by the
    # document, the book quantity and the variance's value by nothing but 64 bits.
    stocktake = {
        "id": "st-1",
        "warehouse": "BR01-MAIN",
        "lines": [
            {
                "sku": "SOAP-BAR",
                "book_qty": -(2**40),
                "counted_qty": 0,
                "variance_qty": 2**40,
                "cost_fen": MAX_INT64,
            }
        ],
        "variance_cost_fen": MAX_INT64,
        "at_ms": EPOCH_MS,
        "moves": [
            {
                "warehouse": "BR01-MAIN",
                "sku": "SOAP-BAR",
                "qty": 2**40,
                "cost_fen": MAX_INT64,
                "cause": "stocktake",
            }
        ],
    }
    contract.STOCKTAKE_POST.check(stocktake)
    stocktake["variance_cost_fen"] = MAX_INT64 + 1
    with pytest.raises(PayloadInvalid, match="variance_cost_fen must be an integer from"):
        contract.STOCKTAKE_POST.check(stocktake)


def test_derived_bounds_stay_within_what_64_bits_hold() -> None:
    assert MAX_SALE_FEN < MAX_DOCUMENT_FEN < MAX_INT64


def test_no_entry_within_the_byte_bound_holds_more_order_lines_than_the_contract_allows() -> None:
    smallest_line = codec.pack({"sku": "x", "qty": 1, "unit_cost_fen": 0})
    assert len(smallest_line) == 27
    assert MAX_ORDER_LINES * len(smallest_line) > MAX_ENTRY_BYTES


# -- who writes what, and kinds that are not ours -------------------------------------------


def test_a_kind_the_contract_does_not_define_is_not_ours_to_read() -> None:
    assert contract.entry_type("loyalty", "stamp") is None
    assert contract.check(("loyalty", "stamp"), {"anything": 1.5}) is None
    newer = encode_entry(
        origin="BR01",
        seq=1,
        hlc=hlc.pack(EPOCH_MS),
        prev_hash=GENESIS_HASH,
        kind="loyalty",
        entity_id="l-1",
        op="stamp",
        payload={"card": "C1"},
    )
    assert contract.check_entry(newer, Writer.BRANCH) is None


def test_an_entry_type_is_found_by_its_kind_and_op() -> None:
    assert contract.entry_type("sale", "checkout") is contract.SALE_CHECKOUT
    assert contract.check(("sale", "checkout"), a_sale()) is contract.SALE_CHECKOUT


def test_each_side_writes_only_its_own_entry_types() -> None:
    assert {t.writer for t in contract.BRANCH_ENTRY_TYPES} == {Writer.BRANCH}
    assert {t.writer for t in contract.FEED_ENTRY_TYPES} == {Writer.HQ}
    assert len(ENTRY_TYPES) == 44
    for entry_type in ALL:
        codec.check_name(entry_type.kind, "kind")
        codec.check_name(entry_type.op, "op")


def test_master_data_in_a_branch_log_is_refused_as_the_wrong_writer() -> None:
    product = {"sku": "TEA", "name": "Tea", "price_fen": 6_800}
    forged = entry_of(contract.PRODUCT_UPSERT, product)
    with pytest.raises(WrongWriter, match=r"entry BR01#7 is product/upsert, which only HQ's feed carries"):
        contract.check_entry(forged, Writer.BRANCH)
    assert contract.check_entry(forged, Writer.HQ) is contract.PRODUCT_UPSERT
    assert issubclass(WrongWriter, MalformedMessage)


def test_a_refusal_of_an_entry_names_the_entry() -> None:
    bad = entry_of(contract.SALE_CHECKOUT, a_sale(change_fen=-1), seq=12)
    with pytest.raises(PayloadInvalid) as refused:
        contract.check_entry(bad, Writer.BRANCH)
    assert str(refused.value) == (
        "entry BR01#12 (sale/checkout): change_fen must be an integer from 0 to 8000000000; got -1"
    )
    assert (refused.value.entry, refused.value.path) == ("BR01#12", "change_fen")


# -- the words and bounds agree with the rules that own them ------------------------------------


def test_ledger_words_and_bounds_are_the_ledger_rules() -> None:
    assert set(contract.LEDGERS) == set(ledger.ENTRY_SIGNS)
    assert set(contract.LEDGER_KINDS) == {kind for signs in ledger.ENTRY_SIGNS.values() for kind in signs}
    assert ledger.MAX_ABS_AMOUNT == 10**12 == contract.LEDGER_ENTRY.schema.inner.required["amount"].high  # type: ignore[attr-defined]


def test_card_words_and_directory_bounds_are_the_directory_rules() -> None:
    from protocol import limits

    assert contract.CARD_EVENT_KINDS == card_status.CARD_EVENT_KINDS
    assert limits.MAX_SEEN_EVENTS == card_status.MAX_SEEN_EVENTS
    assert limits.MAX_CARDS_PER_REGISTRATION == duplicates.MAX_CARDS_PER_REGISTRATION


def test_costing_methods_are_the_costing_rules() -> None:
    assert contract.COSTING_METHODS == costing.METHODS


@PROPERTY
@given(
    code=st.text(max_size=40)
    | st.from_regex(BRANCH_CODE_PATTERN, fullmatch=True)
    | st.from_regex(r"[A-Za-z0-9_-]{30,34}", fullmatch=True)
)
def test_the_branch_code_pattern_is_the_codec_rule(code: str) -> None:
    contract_says = validator_accepts(contract.WAREHOUSE_UPSERT, {"code": "W", "name": "W", "branch": code})
    try:
        codec.check_branch_code(code)
        codec_says = True
    except MalformedMessage:
        codec_says = False
    assert contract_says == codec_says


def validator_accepts(entry_type: EntryType, payload: Any) -> bool:
    try:
        entry_type.check(payload)
    except PayloadInvalid:
        return False
    return True
