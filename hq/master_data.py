"""Master data as operators author it at HQ: the rules every record must keep.

HQ is the only writer of products, categories, suppliers and warehouses; the
branches take its latest version as is, so a wrong value would reach every
till. Everything here is pure: the body's fields are checked one by one, merged
onto the record HQ holds (a field left out keeps its value; a new record takes
the defaults), and the merged record is checked as a whole. What needs the
store (does the category exist, who keeps the warehouse) the store checks in
its own transaction through `references` and `check_update`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, fields
from typing import Any

from hq.errors import InvalidMasterData, UnknownReference, WarehouseKeeperFixed
from hq.storage.base import (
    MASTER_KINDS,
    Bundle,
    CardType,
    Category,
    Level,
    MasterRecord,
    PointsRule,
    PointsSettings,
    Product,
    RebateRule,
    SpecialPrice,
    TopUpRule,
    Warehouse,
    points_settings,
)
from inventory.costing import METHODS
from loyalty import discounts as loyalty_discounts
from loyalty import rules as loyalty_rules
from loyalty.errors import InvalidDiscount, InvalidPointsSettings, InvalidRule
from protocol.codec import check_branch_code
from protocol.contract.discounts import MAX_BUNDLE_LINES, REBATE_KINDS
from protocol.contract.employees import EMPLOYEE_CODE_PATTERN
from protocol.contract.fields import POINTS_COMBINE_MODES, POINTS_RULE_KINDS, REFERRAL_TRIGGERS, TENDER_KINDS
from protocol.errors import MalformedMessage
from protocol.limits import (
    BARCODE_PATTERN,
    MAX_AT_MS,
    MAX_BARCODE_CHARS,
    MAX_CARD_BUNDLE_LINES,
    MAX_CARD_USES,
    MAX_CARD_VALIDITY_DAYS,
    MAX_EMPLOYEE_CODE_CHARS,
    MAX_LEDGER_AMOUNT,
    MAX_LEVEL_PERIOD_DAYS,
    MAX_LEVEL_RANK,
    MAX_LEVEL_VISITS,
    MAX_POINT_VALUE_FEN,
    MAX_POINTS_EXPIRY_DAYS,
    MAX_POINTS_FACTOR_MILLI,
    MAX_POINTS_RULE_CODE_CHARS,
    MAX_REFERRAL_DEPTH,
    MAX_SALE_FEN,
    MAX_SALE_LINE_QTY,
    MAX_TIME_CARD_SERVICES,
)

MAX_RECORDS = 1000  # records per request: a whole catalogue import, a runaway client beyond
# Ten million yuan: no price or cost in a shop comes near it; larger is a typo.
MAX_FEN = 1_000_000_000
MAX_LIMIT_QTY = 1_000_000_000
MAX_CODE_CHARS = 64
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 64
# A category tree deeper than this is a mistake (or a cycle being built).
MAX_CATEGORY_DEPTH = 32
# Gifts handed over with one card: as many as one sale line may carry.
MAX_GIFT_QTY = MAX_SALE_LINE_QTY
DISCOUNT_MODES = ("none", "member", "all")
PLURALS = {
    "product": "products",
    "category": "categories",
    "supplier": "suppliers",
    "warehouse": "warehouses",
    "card_type": "card_types",
    "top_up_rule": "top_up_rules",
    "employee": "employees",
    "level": "levels",
    "points_rule": "points_rules",
    "points_settings": "points_settings",
    "special_price": "special_prices",
    "bundle": "bundles",
    "rebate_rule": "rebate_rules",
}


def path_of(kind: str) -> str:
    """Where a kind of master data is authored and listed: /api/products, /api/card-types."""
    return "/api/" + PLURALS[kind].replace("_", "-")


_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PHONE = re.compile(r"\+?[0-9][0-9 -]{2,31}")

Check = Callable[[Any, str], Any]


def _text(max_chars: int) -> Check:
    def check(value: Any, where: str) -> str:
        if (
            not isinstance(value, str)
            or not value
            or value != value.strip()
            or len(value) > max_chars
            or not value.isprintable()
        ):
            raise InvalidMasterData(
                f"{where} must be text of 1 to {max_chars} printable characters, without spaces at either end"
            )
        return value

    return check


def _optional(check: Check) -> Check:
    return lambda value, where: None if value is None else check(value, where)


def _code(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_CODE_CHARS or not _CODE.fullmatch(value):
        raise InvalidMasterData(
            f"{where} must be 1 to {MAX_CODE_CHARS} letters, digits, '.', '-' or '_',"
            " starting with a letter or digit"
        )
    return value


_BARCODE = re.compile(BARCODE_PATTERN)


def _barcode(value: Any, where: str) -> str:
    """What a scanner types (protocol.limits.BARCODE_PATTERN): the branches' feed
    contract takes nothing else, so nothing else is stored."""
    if not isinstance(value, str) or not _BARCODE.fullmatch(value):
        raise InvalidMasterData(
            f"{where} must be 1 to {MAX_BARCODE_CHARS} printable ASCII characters without spaces,"
            f" as a scanner types it (6901234567892), not {value!r:.40}"
        )
    return value


_EMPLOYEE_CODE = re.compile(EMPLOYEE_CODE_PATTERN)


def _employee_code(value: Any, where: str) -> str:
    """What a clerk types at the till to credit a sale (protocol.contract.employees)."""
    if not isinstance(value, str) or not _EMPLOYEE_CODE.fullmatch(value):
        raise InvalidMasterData(
            f"{where} must be 1 to {MAX_EMPLOYEE_CODE_CHARS} letters, digits, '.', '-' or '_',"
            " starting with a letter or digit"
        )
    return value


def _integer(low: int, high: int, what: str = "an integer") -> Check:
    def check(value: Any, where: str) -> int:
        # bool is an int in Python, and a float or a string is not money.
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidMasterData(f"{where} must be {what}, not {type(value).__name__}")
        if not low <= value <= high:
            raise InvalidMasterData(f"{where} must be between {low} and {high}, not {value}")
        return value

    return check


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidMasterData(f"{where} must be true or false")
    return value


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any, where: str) -> str:
        if value not in choices or not isinstance(value, str):
            raise InvalidMasterData(f"{where} must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def _branch(value: Any, where: str) -> str:
    try:
        return check_branch_code(value, where)
    except MalformedMessage as exc:
        raise InvalidMasterData(str(exc)) from None


def _phone(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise InvalidMasterData(f"{where} must be 3 to 32 digits, spaces or '-', optionally starting with +")
    return value


_FEN = _integer(0, MAX_FEN, "an integer number of fen")


def _date(value: Any, where: str) -> str:
    try:
        if isinstance(value, str) and len(value) == 10:
            return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise InvalidMasterData(f"{where} must be a date YYYY-MM-DD, not {value!r}")


def _level(value: Any, where: str) -> str:
    return "" if value == "" else _text(MAX_TEXT_CHARS)(value, where)


def _bundle(max_qty: int) -> Check:
    """A card type's bundle: a list of {"sku", "qty"}, each product once; kept as
    (sku, qty) pairs in the product's order of first mention."""
    qty_check = _integer(1, max_qty)

    def check(value: Any, where: str) -> tuple[tuple[str, int], ...]:
        if not isinstance(value, list) or len(value) > MAX_CARD_BUNDLE_LINES:
            raise InvalidMasterData(f"{where} must be a list of at most {MAX_CARD_BUNDLE_LINES} lines")
        lines: list[tuple[str, int]] = []
        for number, line in enumerate(value):
            at = f"{where}[{number}]"
            if not isinstance(line, dict) or set(line) != {"sku", "qty"}:
                raise InvalidMasterData(f"{at} must be an object with exactly sku and qty")
            sku = _text(MAX_CODE_CHARS)(line["sku"], f"{at}.sku")
            if any(sku == held for held, _ in lines):
                raise InvalidMasterData(f"{at}.sku {sku} appears twice; give each product once")
            lines.append((sku, qty_check(line["qty"], f"{at}.qty")))
        return tuple(lines)

    return check


def _codes(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TIME_CARD_SERVICES:
        raise InvalidMasterData(f"{where} must be a list of at most {MAX_TIME_CARD_SERVICES} skus")
    skus = tuple(_text(MAX_CODE_CHARS)(sku, f"{where}[{n}]") for n, sku in enumerate(value))
    if len(set(skus)) < len(skus):
        raise InvalidMasterData(f"{where} names a sku twice")
    return skus


_LIMIT = _optional(_integer(0, MAX_LIMIT_QTY))


def _instant(value: Any, where: str) -> int:
    """A moment as milliseconds since 1970 UTC: given as such, or as an ISO 8601 time
    with its offset ("2026-10-01T00:00:00+08:00"). A time without an offset is refused:
    HQ serves branches in more than one time zone and will not guess which was meant."""
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise InvalidMasterData(
                f"{where} must be milliseconds or a time with its offset, like 2026-10-01T00:00:00+08:00;"
                f" not {value!r}"
            )
        value = int(moment.timestamp() * 1000) if moment.microsecond == 0 else None
        if value is None:
            raise InvalidMasterData(f"{where} must be a whole second")
    return int(_integer(0, MAX_AT_MS, "milliseconds since 1970 UTC or an ISO time")(value, where))


def _points(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_REFERRAL_DEPTH:
        raise InvalidMasterData(f"{where} must be a list of at most {MAX_REFERRAL_DEPTH} point amounts")
    check = _integer(0, MAX_LEDGER_AMOUNT)
    return tuple(check(points, f"{where}[{n}]") for n, points in enumerate(value))


def _bundle_lines(value: Any, where: str) -> tuple[tuple[str, int], ...]:
    """A bundle's products: a list of {"sku", "qty"}, each product once."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BUNDLE_LINES:
        raise InvalidMasterData(f"{where} must be a list of 1 to {MAX_BUNDLE_LINES} lines of sku and qty")
    return _bundle(MAX_SALE_LINE_QTY)(value, where)  # type: ignore[no-any-return]


def _rebate_kind(value: Any, where: str) -> str:
    if value not in REBATE_KINDS:
        raise InvalidMasterData(
            f"{where} must be {' or '.join(REBATE_KINDS)}, not {value!r}: a rebate is given back as"
            " stored value on the member's card (rebates as vouchers are not built)"
        )
    return str(value)


_PRICE = _integer(1, MAX_FEN, "an integer number of fen above 0")
_DISCOUNT_WINDOW: dict[str, Check] = {"valid_from_ms": _instant, "valid_until_ms": _instant, "active": _flag}

# Each kind's fields and how each is checked. The key field and the fields
# without a default in the record's dataclass are required for a new record.
CHECKS: dict[str, dict[str, Check]] = {
    "product": {
        "sku": _text(MAX_CODE_CHARS),
        "name": _text(MAX_NAME_CHARS),
        "price_fen": _FEN,
        "unit": _text(16),
        "active": _flag,
        "category": _optional(_code),
        "spec": _optional(_text(MAX_TEXT_CHARS)),
        "model": _optional(_text(MAX_TEXT_CHARS)),
        "colour": _optional(_text(MAX_TEXT_CHARS)),
        "lower_limit": _LIMIT,
        "upper_limit": _LIMIT,
        "purchase_price_fen": _FEN,
        "discount_mode": _one_of(DISCOUNT_MODES),
        "discount_rate": _integer(1, 100),
        "costing_method": _one_of(METHODS),
        "specified_cost_fen": _optional(_FEN),
        "supplier": _optional(_code),
        "service": _flag,
        # Points per unit to redeem it for (null: not redeemable); a price of none or
        # below would give the goods away.
        "points_price": _optional(_integer(1, MAX_LEDGER_AMOUNT, "a whole number of points")),
        # What a scanner types for it (null: none); no other product's (check_codes_free).
        "barcode": _optional(_barcode),
    },
    "category": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "parent": _optional(_code),
    },
    "supplier": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "contact": _optional(_text(MAX_TEXT_CHARS)),
        "phone": _optional(_phone),
        "active": _flag,
    },
    "warehouse": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "branch": _branch,
        "active": _flag,
    },
    "card_type": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "price_fen": _FEN,
        "stored_value_fen": _FEN,
        "discount_rate": _integer(1, 100),
        "validity_days": _optional(_integer(1, MAX_CARD_VALIDITY_DAYS)),
        "valid_until": _optional(_date),
        "credit_limit_fen": _FEN,
        "uses": _bundle(MAX_CARD_USES),
        "gifts": _bundle(MAX_GIFT_QTY),
        "services": _codes,
        "level": _level,
        "active": _flag,
        "renew_fen": _FEN,
        "replace_fen": _FEN,
    },
    "top_up_rule": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "paid_fen": _integer(1, MAX_FEN, "an integer number of fen"),
        "bonus_fen": _FEN,
        "card_type": _optional(_code),
        "valid_from": _optional(_date),
        "valid_until": _optional(_date),
        "active": _flag,
    },
    "level": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "rank": _integer(1, MAX_LEVEL_RANK),
        "min_spend_fen": _optional(_FEN),
        "min_visits": _optional(_integer(1, MAX_LEVEL_VISITS)),
        "period_days": _integer(1, MAX_LEVEL_PERIOD_DAYS),
        "active": _flag,
        # Points to buy it from the level just below (null: not sold); a price of none
        # or below would give the level away.
        "points_price": _optional(_integer(1, MAX_LEDGER_AMOUNT, "a whole number of points")),
    },
    "points_rule": {
        "code": _text(MAX_POINTS_RULE_CODE_CHARS),
        "name": _text(MAX_NAME_CHARS),
        "kind": _one_of(POINTS_RULE_KINDS),
        "factor_milli": _integer(0, MAX_POINTS_FACTOR_MILLI),
        "target": lambda value, where: "" if value == "" else _text(MAX_NAME_CHARS)(value, where),
        "min_fen": _integer(0, MAX_SALE_FEN, "an integer number of fen"),
        "max_fen": _integer(0, MAX_SALE_FEN, "an integer number of fen"),
        "valid_from_ms": _instant,
        "valid_until_ms": _instant,
        "active": _flag,
    },
    "points_settings": {
        "code": _one_of(("chain",)),
        "combine": _one_of(POINTS_COMBINE_MODES),
        "expiry_days": _integer(0, MAX_POINTS_EXPIRY_DAYS),
        "referral_depth": _integer(0, MAX_REFERRAL_DEPTH),
        "referral_points": _points,
        "referral_trigger": _one_of(REFERRAL_TRIGGERS),
        "point_value_fen": _integer(1, MAX_POINT_VALUE_FEN),
    },
    "special_price": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "sku": _text(MAX_CODE_CHARS),
        "price_fen": _PRICE,
        **_DISCOUNT_WINDOW,
    },
    "bundle": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "lines": _bundle_lines,
        "price_fen": _PRICE,
        **_DISCOUNT_WINDOW,
    },
    "rebate_rule": {
        "code": _code,
        "name": _text(MAX_NAME_CHARS),
        "min_spend_fen": _integer(1, MAX_SALE_FEN, "an integer number of fen above 0"),
        "back_fen": _integer(1, MAX_SALE_FEN, "an integer number of fen above 0"),
        "kind": _rebate_kind,
        **_DISCOUNT_WINDOW,
    },
    "employee": {
        "code": _employee_code,
        "name": _text(MAX_NAME_CHARS),
        "branch": _branch,
        "title": _optional(_text(MAX_TEXT_CHARS)),
        "active": _flag,
    },
}


def key_of(record: MasterRecord) -> str:
    value: str = getattr(record, record.KEY)
    return value


def parse(kind: str, body: Any) -> list[dict[str, Any]]:
    """The records a request body gives (one object or a list), each field checked;
    only the fields given, for merging onto what HQ holds."""
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_RECORDS:
        raise InvalidMasterData(f"send one {kind} or a list of 1 to {MAX_RECORDS}")
    checks = CHECKS[kind]
    key = MASTER_KINDS[kind].KEY
    given: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in enumerate(items):
        where = f"{PLURALS[kind]}[{number}]" if isinstance(body, list) else kind
        if not isinstance(item, dict):
            raise InvalidMasterData(f"{where} must be a JSON object")
        unknown = set(item) - set(checks)
        if unknown:
            raise InvalidMasterData(
                f"{where} has unknown fields {', '.join(sorted(unknown))}; a {kind} has {', '.join(checks)}"
            )
        if key not in item:
            raise InvalidMasterData(f"{where}.{key} is required")
        fields_given = {name: checks[name](value, f"{where}.{name}") for name, value in item.items()}
        if fields_given[key] in seen:
            raise InvalidMasterData(f"{key} {fields_given[key]} appears twice; send each {kind} once")
        seen.add(fields_given[key])
        given.append(fields_given)
    return given


def merge(kind: str, held: MasterRecord | None, given: dict[str, Any]) -> MasterRecord:
    """The record after this change: `given` over what HQ holds, or over the
    defaults for a new record; then the rules that span fields."""
    cls = MASTER_KINDS[kind]
    key = given[cls.KEY]
    if held is None:
        missing = [f.name for f in fields(cls) if f.name not in given and f.default is MISSING]
        if missing:
            raise InvalidMasterData(f"{kind} {key} is new: {', '.join(missing)} required")
        record: MasterRecord = cls(**given)
    else:
        record = cls(**{**asdict(held), **given})
    if isinstance(record, Product):
        _check_product(record)
    if isinstance(record, Category) and record.parent == record.code:
        raise InvalidMasterData(f"category {record.code} cannot be its own parent")
    if isinstance(record, Warehouse):
        _check_main_warehouse(record)
    if (
        isinstance(record, TopUpRule)
        and record.valid_from is not None
        and record.valid_until is not None
        and record.valid_until < record.valid_from
    ):
        raise InvalidMasterData(
            f"top-up rule {record.code}: valid_until {record.valid_until} is before"
            f" valid_from {record.valid_from}"
        )
    if isinstance(record, CardType) and record.validity_days is not None and record.valid_until is not None:
        raise InvalidMasterData(
            f"card type {record.code}: give validity_days or valid_until, not both (send null to clear one)"
        )
    if isinstance(record, PointsRule):
        _check_points_rule(record)
    if isinstance(record, PointsSettings):
        _check_points_settings(record)
    if isinstance(record, SpecialPrice | Bundle | RebateRule):
        _check_discount(record)
    return record


def _check_discount(record: SpecialPrice | Bundle | RebateRule) -> None:
    """The record as loyalty.discounts reads it: a window that ends before it starts, a
    bundle of one unit, a rebate giving back more than its spend are refused here, not
    at a till."""
    window = (record.valid_from_ms, record.valid_until_ms)
    try:
        if isinstance(record, SpecialPrice):
            loyalty_discounts.SpecialPrice(record.code, record.sku, record.price_fen, *window)
        elif isinstance(record, Bundle):
            loyalty_discounts.Bundle(record.code, record.lines, record.price_fen, *window)
        else:
            loyalty_discounts.RebateRule(record.code, record.min_spend_fen, record.back_fen, *window)
    except InvalidDiscount as refused:
        raise InvalidMasterData(str(refused)) from None


def check_discount_prices(record: MasterRecord, list_price_fen: Callable[[str], int]) -> None:
    """A special price below its product's list price, a bundle below its products' list
    prices together, as HQ holds them now: otherwise it is a typo (the till never charges
    more for an offer, so it would silently do nothing)."""
    if isinstance(record, SpecialPrice):
        listed = list_price_fen(record.sku)
        if record.price_fen >= listed:
            raise InvalidMasterData(
                f"special price {record.code}: {record.price_fen} fen is not below {record.sku}'s"
                f" list price of {listed} fen; a special price must be lower"
            )
    elif isinstance(record, Bundle):
        listed = sum(qty * list_price_fen(sku) for sku, qty in record.lines)
        if record.price_fen >= listed:
            raise InvalidMasterData(
                f"bundle {record.code}: {record.price_fen} fen is not below its products' list prices"
                f" together ({listed} fen); a bundle must cost less than buying them apart"
            )


def _check_points_rule(rule: PointsRule) -> None:
    """The rule as loyalty.rules reads it: a window that ends before it starts, a tier
    upside down, a kind without what it applies to are refused here, not at a till."""
    try:
        loyalty_rules.PointsRule(
            rule.code,
            rule.kind,
            rule.target,
            rule.factor_milli,
            rule.min_fen,
            rule.max_fen,
            rule.valid_from_ms,
            rule.valid_until_ms,
        )
    except InvalidRule as refused:
        raise InvalidMasterData(str(refused)) from None
    if rule.kind == "tender" and rule.target not in TENDER_KINDS:
        raise InvalidMasterData(
            f"points rule {rule.code}: tender kind {rule.target!r} is not one of {', '.join(TENDER_KINDS)}"
        )


def _check_points_settings(settings: PointsSettings) -> None:
    try:
        points_settings(settings)
    except InvalidPointsSettings as refused:
        raise InvalidMasterData(str(refused)) from None


def _check_product(product: Product) -> None:
    if (
        product.lower_limit is not None
        and product.upper_limit is not None
        and product.lower_limit > product.upper_limit
    ):
        raise InvalidMasterData(
            f"product {product.sku}: lower_limit {product.lower_limit} is above"
            f" upper_limit {product.upper_limit}"
        )
    if product.costing_method == "specified" and product.specified_cost_fen is None:
        raise InvalidMasterData(
            f"product {product.sku} is costed at a specified cost: give specified_cost_fen"
        )


def check_codes_free(
    product: Product, others_with: Callable[[str], Sequence[tuple[str, str | None]]]
) -> None:
    """A code a scanner types or a cashier keys in at the till names one product: the
    barcode is no other product's barcode nor sku, and the sku no other product's
    barcode. Withdrawn products keep theirs, so a label still on a shelf never finds a
    stranger. `others_with(code)`: (sku, barcode) of the other products HQ holds whose
    sku or barcode is `code`, read in the write's transaction."""
    if product.barcode is not None:
        for sku, barcode in others_with(product.barcode):
            if barcode == product.barcode:
                raise InvalidMasterData(
                    f"product {product.sku}: barcode {product.barcode} is already product {sku}'s;"
                    f" check the label, or first take it off {sku} (barcode: null)"
                )
            raise InvalidMasterData(
                f"product {product.sku}: barcode {product.barcode} is product {sku}'s sku,"
                " so a scan would find both; check the label"
            )
    for sku, _ in others_with(product.sku):
        raise InvalidMasterData(
            f"product {product.sku}: its sku is product {sku}'s barcode, so a scan would find both;"
            f" choose another sku, or first take the barcode off {sku} (barcode: null)"
        )


def _check_main_warehouse(warehouse: Warehouse) -> None:
    """`X-MAIN` is branch X's default warehouse (its node books there before any
    master data arrives); another branch keeping it would split its stock."""
    owner = warehouse.code.removesuffix("-MAIN")
    if owner != warehouse.code and owner != warehouse.branch:
        try:
            check_branch_code(owner)
        except MalformedMessage:
            return
        raise InvalidMasterData(
            f"warehouse {warehouse.code} is branch {owner}'s main warehouse;"
            f" it cannot be kept by {warehouse.branch}"
        )


def references(record: MasterRecord) -> list[tuple[str, str]]:
    """(kind, code) of the records this one names, which must exist at HQ."""
    if isinstance(record, Product):
        named = [("category", record.category), ("supplier", record.supplier)]
    elif isinstance(record, Category):
        named = [("category", record.parent)]
    elif isinstance(record, CardType):
        named = [("product", sku) for sku, _ in (*record.uses, *record.gifts)]
        named += [("product", sku) for sku in record.services]
    elif isinstance(record, TopUpRule):
        named = [("card_type", record.card_type)]
    elif isinstance(record, SpecialPrice):
        named = [("product", record.sku)]
    elif isinstance(record, Bundle):
        named = [("product", sku) for sku, _ in record.lines]
    elif isinstance(record, PointsRule) and record.kind in ("category", "product", "extra"):
        named = [("category" if record.kind == "category" else "product", record.target)]
    else:
        named = []
    return [(kind, code) for kind, code in named if code is not None]


def missing_reference(record: MasterRecord, kind: str, code: str) -> UnknownReference:
    return UnknownReference(
        f"{record.KIND} {key_of(record)} names {kind} {code}, which HQ does not hold;"
        f" add it first (POST {path_of(kind)})"
    )


def check_update(held: MasterRecord | None, record: MasterRecord) -> None:
    """Rules between what HQ holds and the change, checked in the store's transaction."""
    if isinstance(held, Warehouse) and isinstance(record, Warehouse) and held.branch != record.branch:
        raise WarehouseKeeperFixed(
            f"warehouse {record.code} is kept by {held.branch}; its stock is in that branch's log,"
            f" so it cannot move to {record.branch}. Create a new warehouse for {record.branch}"
        )


def check_level(level: Level) -> None:
    """A level is earned by spend, by visits, or by either: it names at least one."""
    if level.min_spend_fen is None and level.min_visits is None:
        raise InvalidMasterData(f"level {level.code} needs min_spend_fen, min_visits or both: what earns it")


def check_card_type(card_type: CardType, is_service: Callable[[str], bool]) -> None:
    """Uses and a time card's admissions are of service items; gifts are goods that
    leave stock (a service cannot be handed over)."""
    for sku, _ in card_type.uses:
        if not is_service(sku):
            raise InvalidMasterData(
                f"card type {card_type.code} grants uses of {sku}, which is not a service item;"
                " mark the product service: true, or give it as a gift"
            )
    for sku in card_type.services:
        if not is_service(sku):
            raise InvalidMasterData(f"card type {card_type.code} admits {sku}, which is not a service item")
    for sku, _ in card_type.gifts:
        if is_service(sku):
            raise InvalidMasterData(
                f"card type {card_type.code} gives {sku} as a gift, but it is a service item;"
                " grant uses of it instead"
            )


def check_category_parent(category: Category, parent_of: Callable[[str], str | None]) -> None:
    """The parent chain ends within MAX_CATEGORY_DEPTH steps and never returns to `category`."""
    current = category.parent
    for _ in range(MAX_CATEGORY_DEPTH):
        if current is None:
            return
        if current == category.code:
            raise InvalidMasterData(
                f"category {category.code} under {category.parent} would make a cycle of parents"
            )
        current = parent_of(current)
    raise InvalidMasterData(f"category {category.code} would be more than {MAX_CATEGORY_DEPTH} levels deep")
