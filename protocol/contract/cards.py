"""Cards of a type on the wire: the types HQ authors, a branch's sale of one, and the
card record HQ forwards to the other branches (conflict.cards)."""

from __future__ import annotations

from typing import Any

from protocol.contract.employees import EMPLOYEE_CODE
from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import (
    AT_MS,
    CARD,
    CARD_CHANGE_FIELDS,
    CARD_CHANGE_KINDS,
    CODE,
    HLC,
    ID,
    INT64,
    MASTER_NAME,
    NODE,
    PRICE_FEN,
    SKU,
    TENDER_FEN,
    moves_of,
)
from protocol.limits import (
    DATE_PATTERN,
    MAX_AMOUNT_FEN,
    MAX_CARD_BUNDLE_LINES,
    MAX_CARD_USES,
    MAX_CARD_VALIDITY_DAYS,
    MAX_NAME_CHARS,
    MAX_SALE_LINE_QTY,
    MAX_TENDERED_FEN,
    MAX_TENDERS,
    MAX_TIME_CARD_SERVICES,
)
from protocol.passwords import MAX_HASH_CHARS
from protocol.schema import Bool, Choice, Integer, ListOf, Map, Nullable, OneOf, Text, Tuple, Where

DATE = Text(10, 10, DATE_PATTERN)
LEVEL = Text(MAX_NAME_CHARS)  # "" when a card type gives no level
DISCOUNT_RATE = Integer(1, 100)  # percent of the list price paid: 100 is no discount
VALIDITY_DAYS = Integer(1, MAX_CARD_VALIDITY_DAYS)
CARD_TENDER_KINDS = ("cash",)
# What a card of a type carries, as HQ authors it: the uses of service items it grants
# and the goods given with it.
_USES = ListOf(Map({"sku": SKU, "qty": Integer(1, MAX_CARD_USES)}, closed=True), MAX_CARD_BUNDLE_LINES)
_GIFTS = ListOf(Map({"sku": SKU, "qty": Integer(1, MAX_SALE_LINE_QTY)}, closed=True), MAX_CARD_BUNDLE_LINES)
_SERVICES = ListOf(SKU, MAX_TIME_CARD_SERVICES)


def one_validity(card_type: Any) -> tuple[str, str] | None:
    """A card type runs for a number of days from its sale, or to a fixed last day, or
    for ever; never both."""
    if card_type.get("validity_days") is not None and card_type.get("valid_until") is not None:
        return "valid_until", "give validity_days or valid_until, not both"
    return None


CARD_TYPE_UPSERT = EntryType(
    "card_type",
    "upsert",
    Writer.HQ,
    Where(
        Map(
            {"code": CODE, "name": MASTER_NAME, "price_fen": PRICE_FEN},
            {
                "stored_value_fen": PRICE_FEN,
                "discount_rate": DISCOUNT_RATE,
                "validity_days": Nullable(VALIDITY_DAYS),
                "valid_until": Nullable(DATE),
                "credit_limit_fen": PRICE_FEN,
                "uses": _USES,
                "gifts": _GIFTS,
                "services": _SERVICES,
                "level": LEVEL,
                "active": Bool(),
                # A renewal by validity_days, and a replacement card (conflict.card_life).
                "renew_fen": PRICE_FEN,
                "replace_fen": PRICE_FEN,
            },
        ),
        one_validity,
        "a card type runs for validity_days or to valid_until, not both",
    ),
    "a card type as HQ sells it: price, stored value, discount, validity, credit, bundle, level",
)

TOP_UP_RULE_UPSERT = EntryType(
    "top_up_rule",
    "upsert",
    Writer.HQ,
    Map(
        {"code": CODE, "name": MASTER_NAME, "paid_fen": Integer(1, MAX_AMOUNT_FEN), "bonus_fen": PRICE_FEN},
        {
            "card_type": Nullable(CODE),
            "valid_from": Nullable(DATE),
            "valid_until": Nullable(DATE),
            "active": Bool(),
        },
    ),
    "a top-up bonus: pay at least paid_fen onto a card (of card_type, if named), get bonus_fen more",
)

# The card record itself (conflict.cards.CardIssue), as HQ's feed forwards it.
CARD_RECORD = Tuple(
    (
        CARD,
        ID,
        CODE,
        LEVEL,
        DISCOUNT_RATE,
        DATE,
        Text(10, 0, f"({DATE_PATTERN})?"),
        _SERVICES,
        HLC,
        NODE,
    )
)


def in_order(card: Any) -> tuple[str, str] | None:
    """A card's last day is not before its first (every replica's card rule, conflict.cards)."""
    if card["valid_until"] is not None and card["valid_until"] < card["valid_from"]:
        return "valid_until", f"must not be before valid_from {card['valid_from']}"
    return None


CARD_ISSUE = EntryType(
    "card",
    "issue",
    Writer.BRANCH,
    Where(
        Map(
            {
                "card_id": CARD,
                "member_id": ID,
                "card_type": CODE,
                "level": LEVEL,
                "discount_rate": DISCOUNT_RATE,
                "valid_from": DATE,
                "valid_until": Nullable(DATE),
                "services": _SERVICES,
                "price_fen": PRICE_FEN,
                "stored_value_fen": PRICE_FEN,
                "credit_limit_fen": PRICE_FEN,
                "uses": _USES,
                "gifts": ListOf(
                    Map({"sku": SKU, "qty": Integer(1, MAX_SALE_LINE_QTY), "cost_fen": INT64}, closed=True),
                    MAX_CARD_BUNDLE_LINES,
                ),
                "tenders": ListOf(
                    Map({"kind": Choice(CARD_TENDER_KINDS), "amount_fen": TENDER_FEN}, closed=True),
                    MAX_TENDERS,
                    1,
                ),
                "change_fen": Integer(0, MAX_TENDERED_FEN),
                "moves": moves_of("sale", MAX_CARD_BUNDLE_LINES),
                "at_ms": AT_MS,
            },
            {"salesperson": EMPLOYEE_CODE},  # the employee who sold the card, if the till named one
        ),
        in_order,
        "a card's last day is not before its first",
    ),
    "a card of a type sold to a member: its price, stored value, uses, credit and gifts in one",
)


# A card password's salted hash (protocol.passwords' encoding), made by the branch that
# set it; "" when the password was cleared.
CARD_PASSWORD_HASH = Text(MAX_HASH_CHARS, 0, r"(\$argon2id\$[A-Za-z0-9$=,+/]+)?")
_CHANGE_DETAIL = {
    "days": VALIDITY_DAYS,
    "day": DATE,
    "new_card": CARD,
    "from_type": CODE,
    "card_type": CODE,
    "level": LEVEL,
    "discount_rate": DISCOUNT_RATE,
    "password": CARD_PASSWORD_HASH,
}

# A card change (conflict.card_life.CardChange) as HQ's feed forwards it: every field
# in a fixed place, the ones its kind does not fill empty.
CARD_CHANGE_RECORD = Tuple(
    (
        ID,
        CARD,
        Choice(CARD_CHANGE_KINDS),
        HLC,
        NODE,
        Integer(0, MAX_CARD_VALIDITY_DAYS),
        Text(10, 0, f"({DATE_PATTERN})?"),
        Text(MAX_NAME_CHARS),
        Text(MAX_NAME_CHARS),
        Text(MAX_NAME_CHARS),
        LEVEL,
        Integer(0, 100),
        CARD_PASSWORD_HASH,
    ),
    # An upgrade's last day by its new type ("": never expires), when it set one.
    (Text(10, 0, f"({DATE_PATTERN})?"),),
)


# What every card change carries: what the member paid for it (a renewal, a replacement,
# an upgrade's difference), in cash, and the stored value and credit an upgrade adds.
_CHANGE_COMMON = {
    "card_id": CARD,
    "fee_fen": PRICE_FEN,
    "tenders": ListOf(
        Map({"kind": Choice(CARD_TENDER_KINDS), "amount_fen": TENDER_FEN}, closed=True),
        MAX_TENDERS,
    ),
    "change_fen": Integer(0, MAX_TENDERED_FEN),
    "stored_value_fen": PRICE_FEN,
    "credit_limit_fen": PRICE_FEN,
    "at_ms": AT_MS,
}


# What an upgrade written since upgrades take the dearer type's terms also carries
# (conflict.card_life rule 3): the card's last day by that type, counted from the
# upgrade's day (null: it never expires), and the uses of service items that type
# bundles beyond the old type's. An upgrade without them keeps the card's days.
_CHANGE_OPTIONAL = {"upgrade": {"valid_until": Nullable(DATE), "uses": _USES}}


def another_number(change: Any) -> tuple[str, str] | None:
    """A replacement hands over a number other than the one it replaces (every replica's
    card rule, conflict.card_life)."""
    if change["kind"] == "replace" and change["new_card"] == change["card_id"]:
        return "new_card", "must differ from card_id: a card cannot replace itself"
    return None


CARD_CHANGE = EntryType(
    "card",
    "change",
    Writer.BRANCH,
    Where(
        OneOf(
            "kind",
            {
                kind: Map(
                    {**_CHANGE_COMMON, **{name: _CHANGE_DETAIL[name] for name in names}},
                    _CHANGE_OPTIONAL.get(kind, {}),
                    closed=True,
                )
                for kind, names in CARD_CHANGE_FIELDS.items()
            },
        ),
        another_number,
        "a replacement hands over another number",
    ),
    "a card renewed, replaced by a new number, upgraded to another type, or its password set",
)
