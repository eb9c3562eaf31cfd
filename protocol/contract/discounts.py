"""Discounts (FEATURES L11) on the wire: special prices, bundles and purchase rebates as
HQ authors them and every branch receives them through its feed, and what a sale's
entry says of the discounts it got and the rebate it gave. The rules themselves (which
discount wins, how a bundle's price is spread, the rounding) are loyalty.discounts';
the bounds are here, so a branch and HQ refuse the same things."""

from __future__ import annotations

from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import AT_MS, CARD, CODE, MASTER_NAME, SKU
from protocol.limits import (
    MAX_AMOUNT_FEN,
    MAX_NAME_CHARS,
    MAX_SALE_FEN,
    MAX_SALE_LINE_FEN,
    MAX_SALE_LINE_QTY,
    MAX_SALE_LINES,
)
from protocol.schema import Bool, Choice, Integer, ListOf, Map, Text

# A bundle is a few products sold together ("a teapot and four cups"); more lines than
# this is a catalogue, not a bundle, and a till would spend its time matching it.
MAX_BUNDLE_LINES = 20
# Bundles applied to one sale: each takes at least one unit of a line, and a receipt
# with more offers than lines would be read by nobody. Past this, a bundle is skipped.
MAX_BUNDLES_PER_SALE = MAX_SALE_LINES
# A sale's reasons: a special price or a card discount per line at most, a reason per
# bundle applied, and one for the discounts given at the till.
MAX_DISCOUNT_REASONS = MAX_SALE_LINES + MAX_BUNDLES_PER_SALE + 1
# How a rebate is given back. Stored value only: a voucher would need HQ to mint it
# (vouchers are issued by HQ's campaigns, node.services.vouchers only checks them).
REBATE_KINDS = ("stored_value",)
# Why a line paid less: HQ's offers (bundle, special), the member's card, or a discount
# the cashier gave at the till ("manual": its lines and what was taken off them in all).
DISCOUNT_KINDS = ("bundle", "special", "card", "manual")
# A card type's rate: percent of the list price paid (protocol.contract.cards).
DISCOUNT_RATE = Integer(1, 100)

_WINDOW = {"valid_from_ms": AT_MS, "valid_until_ms": AT_MS, "active": Bool()}

SPECIAL_PRICE_UPSERT = EntryType(
    "special_price",
    "upsert",
    Writer.HQ,
    Map(
        {"code": CODE, "name": MASTER_NAME, "sku": SKU, "price_fen": Integer(1, MAX_AMOUNT_FEN)},
        _WINDOW,
    ),
    "a special unit price for a product within a window (from inclusive, until exclusive, 0 open)",
)
BUNDLE_LINE = Map({"sku": SKU, "qty": Integer(1, MAX_SALE_LINE_QTY)}, closed=True)
BUNDLE_UPSERT = EntryType(
    "bundle",
    "upsert",
    Writer.HQ,
    Map(
        {
            "code": CODE,
            "name": MASTER_NAME,
            "lines": ListOf(BUNDLE_LINE, MAX_BUNDLE_LINES, 1),
            "price_fen": Integer(1, MAX_SALE_LINE_FEN),
        },
        _WINDOW,
    ),
    "products sold together for one price a set, within a window",
)
REBATE_RULE_UPSERT = EntryType(
    "rebate_rule",
    "upsert",
    Writer.HQ,
    Map(
        {
            "code": CODE,
            "name": MASTER_NAME,
            "min_spend_fen": Integer(1, MAX_SALE_FEN),
            "back_fen": Integer(1, MAX_SALE_FEN),
        },
        {"kind": Choice(REBATE_KINDS), **_WINDOW},
    ),
    "spend at least min_spend_fen after discounts in one sale, get back_fen back as stored value",
)

# Why a line paid less than its price (loyalty.discounts.DiscountReason), as a sale's
# entry carries it; the words are made where it is shown, in the reader's language.
DISCOUNT_REASON = Map(
    {
        "kind": Choice(DISCOUNT_KINDS),
        "code": Text(MAX_NAME_CHARS),  # the special price's, the bundle's, the card's type; "" for manual
        "target": Text(MAX_NAME_CHARS),  # the special price's sku, the card's number; "" for the others
        "lines": ListOf(Integer(0, MAX_SALE_LINES - 1), MAX_SALE_LINES, 1),
        "discount_fen": Integer(1, MAX_SALE_FEN),
        "price_fen": Integer(0, MAX_SALE_LINE_FEN),  # a special's unit price, a bundle's set price
        "rate": Integer(0, 100),  # a card's percent of list paid; 0 for the others
        "sets": Integer(0, MAX_SALE_LINE_QTY),  # how many sets of a bundle; 0 for the others
    },
    closed=True,
)
DISCOUNT_REASONS = ListOf(DISCOUNT_REASON, MAX_DISCOUNT_REASONS)
# The rebate a sale gave: back_fen onto the member's card, taken back by the return that
# brings what the sale kept below min_spend_fen.
SALE_REBATE = Map(
    {
        "code": CODE,
        "card": CARD,
        "back_fen": Integer(1, MAX_SALE_FEN),
        "min_spend_fen": Integer(1, MAX_SALE_FEN),
        "spend_fen": Integer(0, MAX_SALE_FEN),  # what the sale spent toward it
    },
    closed=True,
)
