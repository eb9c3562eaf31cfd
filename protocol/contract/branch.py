"""What a branch writes into its own log: the members and cards it touches, its sales,
and its stock documents (DESIGN 2: a branch owns what happened there)."""

from __future__ import annotations

from typing import Any

from protocol.business_day import MAX_ZONE_CHARS
from protocol.contract.discounts import DISCOUNT_REASONS, SALE_REBATE
from protocol.contract.employees import EMPLOYEE_CODE
from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import (
    AT_MS,
    BRANCH,
    CARD,
    CARD_EVENT_CLEARS,
    CARD_EVENT_KINDS,
    CODE,
    HOLD,
    ID,
    INT64,
    ITEM_LEDGERS,
    LEDGER_AMOUNT,
    LEDGER_KINDS,
    LEDGER_SIGNS,
    LEDGERS,
    LOT_PART,
    MEMBER_PROFILE,
    NAME,
    NOTE,
    ORDER_KINDS,
    PAYMENT_MODES,
    PHONE,
    PRICE_FEN,
    RECORD_ID,
    SKU,
    TENDER_FEN,
    TENDER_KINDS,
    TRANSFER_FIELDS,
    moves_of,
)
from protocol.contract.loyalty import POINTS_REASONS
from protocol.errors import require
from protocol.limits import (
    MAX_AT_MS,
    MAX_CARDS_PER_REGISTRATION,
    MAX_DOCUMENT_LINE_QTY,
    MAX_DOCUMENT_LINES,
    MAX_INT64,
    MAX_LEDGER_AMOUNT,
    MAX_ORDER_LINES,
    MAX_POINTS_LOT_PARTS,
    MAX_SALE_FEN,
    MAX_SALE_LINE_FEN,
    MAX_SALE_LINE_QTY,
    MAX_SALE_LINES,
    MAX_SEEN_EVENTS,
    MAX_TENDERED_FEN,
    MAX_TENDERS,
)
from protocol.schema import Choice, Integer, ListOf, Map, Nullable, OneOf, Text, Where

# -- what a branch writes into its log ------------------------------------------------

MEMBER_REGISTER = EntryType(
    "member",
    "register",
    Writer.BRANCH,
    Map(
        {"home_branch": BRANCH, "name": NAME, "phone": PHONE},
        # The rest of the profile only as given (a registration before gender and the
        # rest carries a birthday at most).
        {
            **{field: schema for field, schema in MEMBER_PROFILE.items() if field not in ("name", "phone")},
            "cards": ListOf(CARD, MAX_CARDS_PER_REGISTRATION, 1),
        },
    ),
    "a member registered at this branch, with the cards handed over (or a virtual one)",
)
MEMBER_EDIT = EntryType(
    "member",
    "edit",
    Writer.BRANCH,
    Map({}, dict(MEMBER_PROFILE), closed=True, at_least_one=True),
    "profile fields changed at this branch, merged per field by their stamp",
)


def card_event_seen(event: Any) -> tuple[str, str] | None:
    """Only a clearing event (CARD_EVENT_CLEARS) names the events it clears, as every
    replica's card-status rule (conflict.card_status) requires."""
    if event["seen"] and event["kind"] not in CARD_EVENT_CLEARS:
        return (
            "seen",
            f"must be empty for a {event['kind']}: only {', '.join(CARD_EVENT_CLEARS)} clear events",
        )
    return None


CARD_EVENT = EntryType(
    "card",
    "event",
    Writer.BRANCH,
    Where(
        Map({"card_id": CARD, "kind": Choice(CARD_EVENT_KINDS), "seen": ListOf(ID, MAX_SEEN_EVENTS)}),
        card_event_seen,
        "only an unlock or a resume names events it clears",
    ),
    "a card's status changed; an unlock or resume names the events it clears",
)


def ledger_sign(movement: Any) -> tuple[str, str] | None:
    """A ledger movement's kind belongs to its ledger and its amount has the kind's sign
    (LEDGER_SIGNS): what every replica's merge (conflict.ledger) requires of it."""
    signs = LEDGER_SIGNS[movement["ledger"]]
    sign = signs.get(movement["kind"])
    if sign is None:
        return "kind", f"must be an entry kind of the {movement['ledger']} ledger: {', '.join(signs)}"
    if "item" in movement and movement["ledger"] not in ITEM_LEDGERS:
        return "item", f"only the {', '.join(ITEM_LEDGERS)} ledger counts per item"
    amount = movement["amount"]
    if amount == 0:
        return "amount", "must not be zero"
    if sign * amount < 0:
        return "amount", f"must be {'above' if sign > 0 else 'below'} zero for a {movement['kind']}"
    return None


LEDGER_ENTRY = EntryType(
    "ledger",
    "entry",
    Writer.BRANCH,
    Where(
        Map(
            {
                "card_id": CARD,
                "ledger": Choice(LEDGERS),
                "kind": Choice(LEDGER_KINDS),
                "amount": LEDGER_AMOUNT,
            },
            # What HQ needs beside the record: how a top-up was paid, the sale a spend
            # or an award belongs to, and the hold an online spend captures.
            {
                "paid_by": Choice(("cash",)),  # a top-up, uses bought, a payout
                "sale_id": ID,
                "mode": Choice(PAYMENT_MODES),
                "hold": Nullable(HOLD),
                "item": SKU,  # the service item a uses movement counts (conflict.ledger)
                # A top-up's bonus names HQ's rule; uses bought name what was paid for them.
                "rule": CODE,
                "paid_fen": PRICE_FEN,
                # A points movement's lots (conflict.ledger, loyalty.lot_ledger).
                "lots": ListOf(LOT_PART, MAX_POINTS_LOT_PARTS, 1),
                "of": RECORD_ID,
                "expires_at_ms": Integer(1, MAX_AT_MS),
                # What a spend of points bought (a level, goods, stored value, a sale's tender).
                "to_card": CARD,
                "points": Integer(1, MAX_LEDGER_AMOUNT),
            },
        ),
        ledger_sign,
        "the kind is one of its ledger's and the amount, never zero, has that kind's sign",
    ),
    "one movement on a card's ledger (top-up, spend, points earned), signed",
)
VOUCHER_REDEEM = EntryType(
    "voucher",
    "redeem",
    Writer.BRANCH,
    Map({"voucher_id": CARD, "amount_fen": TENDER_FEN, "sale_id": ID}),
    "a single-use voucher taken as a tender",
)

_SALE_LINE = Map(
    {
        "sku": SKU,
        "qty": Integer(1, MAX_SALE_LINE_QTY),
        "unit_price_fen": PRICE_FEN,
        "amount_fen": Integer(0, MAX_SALE_LINE_FEN),
    },
    # points: what the line earned the member (loyalty.points), on a member's sale;
    # discount_fen: what discounts took off unit_price_fen x qty (loyalty.discounts, the
    # till's own included), when any did, so amount_fen = unit_price_fen x qty -
    # discount_fen; redeem_points: the points each unit took, on goods redeemed for
    # points (FEATURES L7), whose unit_price_fen is what those points are worth and whose
    # points tender names the sku.
    {
        "cost_fen": INT64,
        "gross_profit_fen": INT64,
        "points": Integer(0, MAX_LEDGER_AMOUNT),
        "discount_fen": Integer(1, MAX_SALE_LINE_FEN),
        "redeem_points": Integer(1, MAX_LEDGER_AMOUNT),
    },
)
# What a count card's uses or a time card's admission paid for: `qty` of service item
# `sku`, worth `amount_fen` at the sale's price (nothing, for a free service).
_CARD_ITEM_TENDER = Map(
    {
        "amount_fen": Integer(0, MAX_SALE_LINE_FEN),
        "card": CARD,
        "sku": SKU,
        "qty": Integer(1, MAX_SALE_LINE_QTY),
    },
    closed=True,
)
_TENDER = OneOf(
    "kind",
    {
        "cash": Map({"amount_fen": TENDER_FEN}, closed=True),
        "stored_value": Map(
            {"amount_fen": TENDER_FEN, "card": CARD, "mode": Choice(PAYMENT_MODES), "hold": Nullable(HOLD)},
            closed=True,
        ),
        "voucher": Map({"amount_fen": TENDER_FEN, "voucher": CARD}, closed=True),
        "uses": _CARD_ITEM_TENDER,
        "time_card": _CARD_ITEM_TENDER,
        # Drawn on the card's credit line, repaid later (conflict.credit).
        "credit": Map({"amount_fen": TENDER_FEN, "card": CARD}, closed=True),
        # The member's points, worth amount_fen at the chain's worth per point; a
        # redemption's names the goods (sku) its points bought (FEATURES L7).
        "points": Map(
            {"amount_fen": TENDER_FEN, "card": CARD, "points": Integer(1, MAX_LEDGER_AMOUNT)},
            {"sku": SKU},
            closed=True,
        ),
    },
)
require(tuple(_TENDER.variants) == TENDER_KINDS, "a sale takes every tender kind and only those")
SALE_CHECKOUT = EntryType(
    "sale",
    "checkout",
    Writer.BRANCH,
    Map(
        {
            "member_id": Nullable(ID),
            "warehouse": CODE,
            "lines": ListOf(_SALE_LINE, MAX_SALE_LINES, 1),
            "tenders": ListOf(_TENDER, MAX_TENDERS, 1),
            "total_fen": Integer(0, MAX_SALE_FEN),
            "change_fen": Integer(0, MAX_TENDERED_FEN),
            "at_ms": AT_MS,
        },
        {
            "points_earned": Integer(0, MAX_LEDGER_AMOUNT),
            "moves": moves_of("sale", MAX_SALE_LINES),
            "salesperson": EMPLOYEE_CODE,  # the employee the sale is credited to, if the till named one
            "points_reasons": POINTS_REASONS,  # why it earned its points, when it earned any
            "discounts": DISCOUNT_REASONS,  # why its lines paid less than their prices, if they did
            "rebate": SALE_REBATE,  # the stored value it gave back to the member, if any
        },
    ),
    "a sale at a till: its lines at their prices and costs, its tenders, its stock moves",
)
SALE_RETURN_POST = EntryType(
    "sale_return",
    "post",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "sale_id": ID,
            "warehouse": CODE,
            "lines": ListOf(
                Map(
                    {
                        "line_no": Integer(0, MAX_SALE_LINES - 1),
                        "sku": SKU,
                        "qty": Integer(1, MAX_SALE_LINE_QTY),
                        "amount_fen": Integer(0, MAX_SALE_LINE_FEN),
                        "cost_fen": INT64,
                    }
                ),
                MAX_SALE_LINES,
                1,
            ),
            "refund_fen": Integer(0, MAX_SALE_FEN),
            "cost_fen": INT64,
            "at_ms": AT_MS,
            "moves": moves_of("sale_return", MAX_SALE_LINES),
        },
        # Where the refund went, tender by tender (returns booked before this was
        # recorded refunded cash only, and carry no list).
        {
            "refunds": ListOf(
                Map(
                    {
                        "tender_no": Integer(0, MAX_TENDERS - 1),
                        "kind": Choice(TENDER_KINDS),
                        "amount_fen": Integer(1, MAX_SALE_FEN),
                    },
                    # A card item's refund names the item and the units given back; a
                    # points tender's the points.
                    {
                        "card": CARD,
                        "sku": SKU,
                        "qty": Integer(1, MAX_SALE_LINE_QTY),
                        "points": Integer(1, MAX_LEDGER_AMOUNT),
                    },
                ),
                MAX_TENDERS,
            )
        },
    ),
    "goods a customer brought back: refunded to the tenders that paid, restocked at cost",
)

# Lines of an order, and so of a receipt against one: a replenishment orders
# whatever tops stock up to its limit, so only 64 bits bound the quantity.
_ORDER_QTY = Integer(1, MAX_INT64)
PURCHASE_ORDER_CREATE = EntryType(
    "purchase_order",
    "create",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "kind": Choice(ORDER_KINDS),
            "supplier": CODE,
            "warehouse": CODE,
            "lines": ListOf(
                Map({"sku": SKU, "qty": _ORDER_QTY, "unit_cost_fen": PRICE_FEN}), MAX_ORDER_LINES, 1
            ),
            "total_fen": Integer(0, MAX_INT64),
            "note": Nullable(NOTE),
            "at_ms": AT_MS,
        }
    ),
    "an order placed with a supplier (by a person, or replenishing to the limits)",
)
BRANCH_BUSINESS_DAY = EntryType(
    "branch",
    "business_day",
    Writer.BRANCH,
    Map(
        {
            # An IANA zone (HQ checks it names one) and the local time the day starts at.
            "timezone": Text(MAX_ZONE_CHARS, 1),
            "starts_at": Text(5, 5, "([01][0-9]|2[0-3]):[0-5][0-9]"),
            "at_ms": AT_MS,
        }
    ),
    "the branch's business day from this entry on (protocol.business_day): its zone and the"
    " hour its day starts, where its sales, returns and takings count",
)
# A device's state as devices.reader and devices.printer name it (ready, reconnecting,
# offline, cover_open, paper_out, unknown, closed); text so a newer driver's state
# still flows to HQ, which shows it as it came.
DEVICE_STATE = Nullable(Text(32, 1))
BRANCH_DEVICES = EntryType(
    "branch",
    "devices",
    Writer.BRANCH,
    Map(
        {
            "reader": DEVICE_STATE,  # null: the branch has none
            "printer": DEVICE_STATE,
            "receipts_waiting": Integer(0, MAX_INT64),
            "at_ms": AT_MS,
        }
    ),
    "the branch's card reader and receipt printer as they changed: each one's state and"
    " the receipts waiting for the printer, for HQ's view of the branch's health",
)
PURCHASE_ORDER_CLOSE = EntryType(
    "purchase_order",
    "close",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "cancelled": ListOf(Map({"sku": SKU, "qty": _ORDER_QTY}), MAX_ORDER_LINES),
            "at_ms": AT_MS,
        }
    ),
    "an order closed; what it still expected is cancelled",
)
RECEIPT_POST = EntryType(
    "receipt",
    "post",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "order_id": Nullable(ID),
            "supplier": CODE,
            "warehouse": CODE,
            "lines": ListOf(
                Map(
                    {
                        "sku": SKU,
                        "qty": _ORDER_QTY,
                        "unit_cost_fen": PRICE_FEN,
                        "amount_fen": Integer(0, MAX_INT64),
                    }
                ),
                MAX_ORDER_LINES,
                1,
            ),
            "amount_fen": Integer(0, MAX_INT64),
            "at_ms": AT_MS,
            "moves": moves_of("purchase", MAX_ORDER_LINES),
            "payable": Map({"id": ID, "supplier": CODE, "amount_fen": Integer(0, MAX_INT64)}),
        }
    ),
    "goods received from a supplier, against an order or direct, and what is owed for them",
)
PURCHASE_RETURN_POST = EntryType(
    "purchase_return",
    "post",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "supplier": CODE,
            "warehouse": CODE,
            "receipt_id": Nullable(ID),
            "lines": ListOf(
                Map(
                    {
                        "sku": SKU,
                        "qty": Integer(1, MAX_DOCUMENT_LINE_QTY),
                        # The receipt's price, one agreed, or the last unit cost in stock.
                        "unit_cost_fen": Integer(0, MAX_INT64),
                        "amount_fen": Integer(0, MAX_INT64),
                        "cost_fen": INT64,
                    }
                ),
                MAX_DOCUMENT_LINES,
                1,
            ),
            "amount_fen": Integer(0, MAX_INT64),
            "cost_fen": INT64,
            "at_ms": AT_MS,
            "moves": moves_of("purchase_return", MAX_DOCUMENT_LINES),
            "payable": Map({"id": ID, "supplier": CODE, "amount_fen": Integer(-MAX_INT64, 0)}),
        }
    ),
    "goods sent back to a supplier: a credit on what is owed, the stock out at its cost",
)
STOCKTAKE_POST = EntryType(
    "stocktake",
    "post",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "warehouse": CODE,
            "lines": ListOf(
                Map(
                    {
                        "sku": SKU,
                        "book_qty": INT64,
                        "counted_qty": Integer(0, MAX_DOCUMENT_LINE_QTY),
                        "variance_qty": INT64,
                        "cost_fen": INT64,
                    }
                ),
                MAX_DOCUMENT_LINES,
                1,
            ),
            "variance_cost_fen": INT64,
            "at_ms": AT_MS,
            "moves": moves_of("stocktake", MAX_DOCUMENT_LINES),
        }
    ),
    "a count posted: each line's variance from the books, at its cost",
)

TRANSFER_SEND = EntryType(
    "transfer",
    "send",
    Writer.BRANCH,
    Map(
        {
            **TRANSFER_FIELDS,
            "note": Nullable(NOTE),
            "sent_at_ms": AT_MS,
            "moves": moves_of("transfer_out", MAX_DOCUMENT_LINES),
        }
    ),
    "goods out of a warehouse into transit, at their cost",
)
TRANSFER_RECEIVE = EntryType(
    "transfer",
    "receive",
    Writer.BRANCH,
    Map({**TRANSFER_FIELDS, "received_at_ms": AT_MS, "moves": moves_of("transfer_in", MAX_DOCUMENT_LINES)}),
    "a transfer booked in at its destination, at the transferred cost",
)
TRANSFER_DISCREPANCY = EntryType(
    "transfer",
    "discrepancy",
    Writer.BRANCH,
    Map(
        {
            "id": ID,
            "transfer_id": ID,
            "branch": BRANCH,
            "warehouse": CODE,
            "lines": ListOf(
                Map(
                    {
                        "line_no": Integer(0, MAX_DOCUMENT_LINES - 1),
                        "sku": SKU,
                        "sent_qty": Integer(1, MAX_DOCUMENT_LINE_QTY),
                        "received_qty": Integer(0, MAX_DOCUMENT_LINE_QTY),
                        "cost_fen": INT64,
                    }
                ),
                MAX_DOCUMENT_LINES,
                1,
            ),
            "note": Nullable(NOTE),
            "at_ms": AT_MS,
            "moves": moves_of("transfer_discrepancy", MAX_DOCUMENT_LINES),
        }
    ),
    "the destination counted other quantities than were sent: the difference, as its own record",
)
