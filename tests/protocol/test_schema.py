"""The schema language: each rule with a worked example, and the path a refusal names."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.errors import MalformedMessage, PayloadInvalid, Refused
from protocol.schema import (
    MAX_QUOTED_CHARS,
    Bool,
    Bytes,
    Choice,
    Integer,
    ListOf,
    Map,
    Nullable,
    OneOf,
    Text,
    Tuple,
    validator,
)

LINE = Map({"sku": Text(64, 1), "qty": Integer(1, 100_000)}, {"note": Nullable(Text(20, 1))})
TENDER = OneOf(
    "kind",
    {
        "cash": Map({"amount_fen": Integer(1, 1_000)}, closed=True),
        "voucher": Map({"amount_fen": Integer(1, 1_000), "voucher": Text(40, 1)}, closed=True),
    },
)
SALE = validator(
    "sale/checkout",
    Map({"lines": ListOf(LINE, 200, 1), "tenders": ListOf(TENDER, 8, 1), "at_ms": Integer(0, 10**15)}),
)


def a_sale(**changes: Any) -> dict[str, Any]:
    sale: dict[str, Any] = {
        "lines": [{"sku": "TEA", "qty": 2}, {"sku": "CUP", "qty": 1}],
        "tenders": [{"kind": "cash", "amount_fen": 900}],
        "at_ms": 1_700_000_000_000,
    }
    sale.update(changes)
    return sale


def refusal(check: Any, value: Any) -> PayloadInvalid:
    with pytest.raises(PayloadInvalid) as refused:
        check(value)
    return refused.value


def test_a_valid_payload_passes() -> None:
    SALE(a_sale())


def test_a_refusal_names_the_entry_type_the_path_and_the_rule() -> None:
    lines = [{"sku": "TEA", "qty": 1}] * 3 + [{"sku": "BIG", "qty": 100_001}]
    refused = refusal(SALE, a_sale(lines=lines))
    assert str(refused) == "sale/checkout: lines[3].qty must be an integer from 1 to 100000; got 100001"
    assert (refused.entry_type, refused.path) == ("sale/checkout", "lines[3].qty")
    assert refused.rule == "must be an integer from 1 to 100000; got 100001"


def test_the_refusal_is_a_protocol_refusal_with_its_code_and_status() -> None:
    refused = refusal(SALE, [])
    assert isinstance(refused, MalformedMessage)
    assert isinstance(refused, Refused)
    assert (refused.code, refused.http_status) == ("payload_invalid", 422)
    assert str(refused) == "sale/checkout: the payload must be a map; got list []"


@pytest.mark.parametrize(
    ("qty", "rule"),
    [
        (2.0, "must be an integer from 1 to 100000; got float 2.0"),
        (True, "must be an integer from 1 to 100000; got bool True"),
        ("2", "must be an integer from 1 to 100000; got str '2'"),
        (None, "must be an integer from 1 to 100000; got null"),
        (0, "must be an integer from 1 to 100000; got 0"),
    ],
)
def test_an_integer_is_an_int_within_its_bounds_never_a_float_a_bool_or_text(qty: Any, rule: str) -> None:
    refused = refusal(SALE, a_sale(lines=[{"sku": "TEA", "qty": qty}]))
    assert (refused.path, refused.rule) == ("lines[0].qty", rule)


def test_a_missing_required_field_is_named() -> None:
    refused = refusal(SALE, a_sale(lines=[{"sku": "TEA"}]))
    assert (refused.path, refused.rule) == ("lines[0].qty", "is required")


def test_an_optional_field_may_be_absent_and_a_nullable_one_null() -> None:
    SALE(a_sale(lines=[{"sku": "TEA", "qty": 1, "note": None}]))
    refused = refusal(SALE, a_sale(lines=[{"sku": "TEA", "qty": 1, "note": "x" * 21}]))
    assert (refused.path, refused.rule) == ("lines[0].note", "must be text of 1 to 20 characters; got 21")


def test_an_open_map_takes_a_field_it_does_not_name_and_a_closed_one_refuses_it() -> None:
    SALE(a_sale(lines=[{"sku": "TEA", "qty": 1, "colour": "red"}]))
    refused = refusal(SALE, a_sale(tenders=[{"kind": "cash", "amount_fen": 900, "card": "C1"}]))
    assert (refused.path, refused.rule) == (
        "tenders[0].card",
        "is not a field here; the fields are amount_fen, kind",
    )


def test_one_of_picks_the_variant_by_its_tag() -> None:
    SALE(a_sale(tenders=[{"kind": "voucher", "amount_fen": 500, "voucher": "V-1"}]))
    missing = refusal(SALE, a_sale(tenders=[{"kind": "voucher", "amount_fen": 500}]))
    assert (missing.path, missing.rule) == ("tenders[0].voucher", "is required")
    unknown = refusal(SALE, a_sale(tenders=[{"kind": "cheque", "amount_fen": 500}]))
    assert (unknown.path, unknown.rule) == (
        "tenders[0].kind",
        "must be one of cash, voucher; got str 'cheque'",
    )
    untagged = refusal(SALE, a_sale(tenders=[{"amount_fen": 500}]))
    assert (untagged.path, untagged.rule) == ("tenders[0].kind", "is required")


def test_a_list_has_its_bounds_and_may_arrive_as_a_tuple() -> None:
    SALE(a_sale(lines=({"sku": "TEA", "qty": 1},)))
    empty = refusal(SALE, a_sale(lines=[]))
    assert (empty.path, empty.rule) == ("lines", "must be a list of 1 to 200 items; got 0")
    too_many = refusal(SALE, a_sale(tenders=[{"kind": "cash", "amount_fen": 1}] * 9))
    assert (too_many.path, too_many.rule) == ("tenders", "must be a list of 1 to 8 items; got 9")


def test_text_has_its_bounds_and_its_pattern() -> None:
    branch = validator("t/t", Text(32, 1, r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"))
    branch("BR01")
    assert (
        refusal(branch, "-BR01").rule == r"must be text matching [A-Za-z0-9][A-Za-z0-9_-]{0,31}; got '-BR01'"
    )
    assert refusal(branch, b"BR01").rule.endswith("got bytes b'BR01'")
    assert refusal(validator("t/t", Text(3)), "four").rule == "must be text of 0 to 3 characters; got 4"


def test_a_word_is_one_of_a_closed_set() -> None:
    mode = validator("t/t", Choice(("online", "offline")))
    mode("offline")
    assert refusal(mode, "Online").rule == "must be one of online, offline; got str 'Online'"
    assert refusal(mode, ["online"]).rule == "must be one of online, offline; got list ['online']"


def test_a_tuple_has_exactly_its_positions() -> None:
    stamped = validator(
        "member/upsert", Map({"name": Tuple((Text(64, 1), Integer(0, 2**63 - 1), Text(64, 1)))})
    )
    stamped({"name": ["Li Lei", 5, "BR01"]})
    short = refusal(stamped, {"name": ["Li Lei", 5]})
    assert (short.path, short.rule) == ("name", "must be a list of exactly 3 items; got list ['Li Lei', 5]")
    long = refusal(stamped, {"name": ["Li Lei", 5, "BR01", "extra"]})
    assert (long.path, long.rule) == (
        "name",
        "must be a list of exactly 3 items; got list ['Li Lei', 5, 'BR01', 'extra']",
    )
    wrong = refusal(stamped, {"name": ["Li Lei", -1, "BR01"]})
    assert wrong.path == "name[1]"


def test_bool_and_bytes() -> None:
    flags = validator("t/t", Map({"active": Bool(), "hash": Bytes(32, 32)}))
    flags({"active": False, "hash": bytes(32)})
    assert refusal(flags, {"active": 1, "hash": bytes(32)}).rule == "must be true or false; got int 1"
    assert refusal(flags, {"active": True, "hash": bytes(31)}).rule == "must be 32 bytes; got 31"


def test_a_map_that_must_change_something_refuses_an_empty_one() -> None:
    edit = validator(
        "member/edit", Map({}, {"name": Text(64, 1), "phone": Text(21, 1)}, closed=True, at_least_one=True)
    )
    edit({"phone": "13800138000"})
    assert refusal(edit, {}).rule == "must name at least one of name, phone"


def test_a_hostile_value_is_quoted_short() -> None:
    refused = refusal(SALE, a_sale(lines=[{"sku": "TEA", "qty": "9" * 1_000_000}]))
    quoted = refused.rule.split("got str ")[1]
    assert len(quoted) == MAX_QUOTED_CHARS
    assert quoted.endswith("...")


def test_a_schema_describes_itself_for_people() -> None:
    assert Integer(1, 8).describe() == "integer 1..8"
    assert Nullable(Text(20, 1)).describe() == "text 1..20 chars or null"
    assert ListOf(Choice(("a", "b")), 3).describe() == "list of 0..3 x (a|b)"
    assert TENDER.describe() == "one of cash, voucher by kind"
