"""The contract's vocabulary: the closed sets of words, and the field schemas every
entry type builds from, each bounded by a constant of protocol/limits.py."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from protocol.errors import require
from protocol.limits import (
    BIRTHDAY_CHARS,
    BRANCH_CODE_PATTERN,
    MAX_ADDRESS_CHARS,
    MAX_AMOUNT_FEN,
    MAX_AT_MS,
    MAX_BRANCH_CODE_CHARS,
    MAX_CAR_PLATE_CHARS,
    MAX_CONTACT_NOTE_CHARS,
    MAX_DOCUMENT_LINE_QTY,
    MAX_DOCUMENT_LINES,
    MAX_EMPLOYEE_CODE_CHARS,
    MAX_FAMILY_NOTES_CHARS,
    MAX_HOLD_ID_CHARS,
    MAX_INT64,
    MAX_LEDGER_AMOUNT,
    MAX_MASTER_NAME_CHARS,
    MAX_MASTER_TEXT_CHARS,
    MAX_MEMBER_NAME_CHARS,
    MAX_MEMBER_NOTES_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_PHONE_CHARS,
    MAX_RECORD_ID_CHARS,
    MAX_REGION_CHARS,
    MIN_INT64,
)
from protocol.schema import Choice, Integer, ListOf, Map, Nullable, Schema, Text, Tuple

# -- the words ------------------------------------------------------------------------

# A count card pays for a service line in uses of that item, a time card admits it
# while valid: both tenders carry the line's value in fen beside the card and item.
# points: the member's points spent at HQ's worth per point (loyalty.rules, L8).
TENDER_KINDS = ("cash", "stored_value", "voucher", "uses", "time_card", "credit", "points")
# Points rules as HQ authors them (loyalty.rules): what each kind applies to, how the
# multipliers of a line combine, and when a referral pays.
POINTS_RULE_KINDS = ("base", "category", "product", "level", "tier", "holiday", "tender", "extra")
POINTS_COMBINE_MODES = ("multiply", "add", "best")
REFERRAL_TRIGGERS = ("register", "first_purchase")
PAYMENT_MODES = ("online", "offline")  # a stored-value spend held at HQ, or within the offline limit
MOVE_CAUSES = (
    "sale",
    "sale_return",
    "purchase",
    "purchase_return",
    "stocktake",
    "transfer_out",
    "transfer_in",
    "transfer_discrepancy",
)
# The sign each entry kind must carry in each ledger: +1 adds, -1 takes, 0 either
# way (a correction by an operator). A kind not listed for a ledger is refused.
# Defined here, on the wire, because a branch writes it and every replica merges by
# it (conflict.ledger reads this table).
LEDGER_SIGNS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "stored_value": {
            "top_up": 1,
            "issue": 1,  # the stored value a card type puts on a card it sells
            "bonus": 1,  # given with a top-up by HQ's rule: never paid out (conflict.stored_value)
            "from_points": 1,  # the member's points turned into stored value: never paid out either
            # A purchase rebate (loyalty.discounts), given and never paid out either, and
            # its taking back by the return that brought the sale below its threshold.
            "rebate": 1,
            "rebate_return": -1,
            "refund": 1,
            "spend": -1,
            "payout": -1,  # unused stored value paid back to the member
            "forfeit": -1,  # what a returned card held beyond what may be paid back
            "transfer_in": 1,
            "transfer_out": -1,
            "adjust": 0,
        },
        # return: what a returned line had earned, taken back (below zero, a debt).
        # referral: paid by HQ to the referrers up a new member's chain (loyalty.referrals).
        "points": {
            "earn": 1,
            "referral": 1,
            "refund": 1,
            "redeem": -1,
            "expire": -1,
            "return": -1,
            "adjust": 0,
        },
        "uses": {"grant": 1, "refund": 1, "use": -1, "expire": -1, "adjust": 0},
        "credit": {"grant": 1, "repay": 1, "refund": 1, "charge": -1, "adjust": 0},
    }
)
LEDGERS = tuple(LEDGER_SIGNS)
# The ledgers whose movements name an item, each item a balance of its own.
ITEM_LEDGERS = ("uses",)
LEDGER_KINDS = tuple(dict.fromkeys(kind for kinds in LEDGER_SIGNS.values() for kind in kinds))
CARD_EVENT_KINDS = ("report_lost", "unlock", "suspend", "resume", "return")
# Which kind of event each clearing kind may name in `seen` (the card-status rule of
# conflict.card_status, which reads this table): only these carry seen ids.
CARD_EVENT_CLEARS: Mapping[str, str] = MappingProxyType({"unlock": "report_lost", "resume": "suspend"})
# A card's changes after its sale (conflict.card_life) and the fields each one fills.
CARD_CHANGE_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "renew": ("days", "day"),
        "replace": ("new_card",),
        "upgrade": ("from_type", "card_type", "level", "discount_rate"),
        "password": ("password",),
    }
)
CARD_CHANGE_KINDS = tuple(CARD_CHANGE_FIELDS)
ORDER_KINDS = ("normal", "urgent", "plan", "replenishment")
COSTING_METHODS = ("fifo", "lifo", "moving_average", "specified")
DISCOUNT_MODES = ("none", "member", "all")
CONFLICT_KINDS = (
    "duplicate_member",
    "overdraft",
    "voucher_reused",
    "card_replaced_twice",
    "stale_upgrade",
    "paid_after_return",
    "card_sold_twice",
)
RESOLUTION_ACTIONS = ("confirm", "separate", "write_off", "collect", "acknowledge")
GENDERS = ("female", "male", "other")  # as a member gives it, or null when not given
# How a member was contacted (conflict.contacts): a call, a text, a WeChat message, a
# visit to the store, an e-mail, or anything else (the note says what).
CONTACT_CHANNELS = ("phone", "sms", "wechat", "visit", "email", "other")
# The images a member's photo may be, as a till uploads them (checked by their first bytes).
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")

# A resolution writes one directory record at most today (a separation or an
# adjusting ledger entry); a few more leave room for a decision that settles several.
MAX_RESOLUTION_RECORDS = 16

# -- the fields -----------------------------------------------------------------------

ID = Text(MAX_NAME_CHARS, 1)  # an id a node mints (a UUIDv7), an entry's entity id
SKU = Text(MAX_NAME_CHARS, 1)
CODE = Text(MAX_NAME_CHARS, 1)  # a warehouse, supplier or category as HQ codes it
# A card number a till takes (up to 40 characters), or a member's id for the
# virtual card a member registered without one gets; vouchers are numbered alike.
CARD = Text(MAX_NAME_CHARS, 1)
BRANCH = Text(MAX_BRANCH_CODE_CHARS, 1, BRANCH_CODE_PATTERN)
NODE = Text(MAX_NAME_CHARS, 1)  # who stamped a directory record: a branch, or "hq"
RECORD_ID = Text(MAX_RECORD_ID_CHARS, 1)
# One part of a points movement's lots (conflict.ledger, loyalty.lot_ledger): a lot
# and the points the movement took from it or put back.
LOT_PART = Tuple((RECORD_ID, Integer(1, MAX_LEDGER_AMOUNT)))
HOLD = Text(MAX_HOLD_ID_CHARS, 1)
AT_MS = Integer(0, MAX_AT_MS)
HLC = Integer(0, MAX_INT64)
INT64 = Integer(MIN_INT64, MAX_INT64)
PRICE_FEN = Integer(0, MAX_AMOUNT_FEN)  # a price or a unit cost
TENDER_FEN = Integer(1, MAX_AMOUNT_FEN)  # a tender, a top-up, a voucher's value
LEDGER_AMOUNT = Integer(-MAX_LEDGER_AMOUNT, MAX_LEDGER_AMOUNT)
NOTE = Text(MAX_NOTE_CHARS, 1)
CONTACT_NOTE = Text(MAX_CONTACT_NOTE_CHARS, 1)
# A member's photo as the profile names it: the SHA-256 of its bytes, which travel in
# an entry of their own (member/photo) and are kept by that hash.
PHOTO_REF = Text(71, 71, "sha256:[0-9a-f]{64}")
NAME = Text(MAX_MEMBER_NAME_CHARS, 1)
PHONE = Text(MAX_PHONE_CHARS, 1)
BIRTHDAY = Nullable(Text(BIRTHDAY_CHARS, BIRTHDAY_CHARS))
# A member's profile: every field a till sets, as a branch writes it (a registration,
# an edit) and HQ forwards it stamped (member/upsert); conflict.profile merges each
# field on its own. All but the name and the phone may be null: a till cleared it.
MEMBER_PROFILE: Mapping[str, Schema] = MappingProxyType(
    {
        "name": NAME,
        "phone": PHONE,
        "birthday": BIRTHDAY,
        "gender": Nullable(Choice(GENDERS)),
        "address": Nullable(Text(MAX_ADDRESS_CHARS, 1)),
        "region": Nullable(Text(MAX_REGION_CHARS, 1)),
        "car_plate": Nullable(Text(MAX_CAR_PLATE_CHARS, 1)),
        "family_notes": Nullable(Text(MAX_FAMILY_NOTES_CHARS, 1)),
        "salesperson": Nullable(Text(MAX_EMPLOYEE_CODE_CHARS, 1)),  # an employee's code
        "referrer": Nullable(ID),  # the member who referred this one
        "notes": Nullable(Text(MAX_MEMBER_NOTES_CHARS, 1)),
        "photo": Nullable(PHOTO_REF),  # the SHA-256 of the photo's bytes (member/photo)
    }
)
MASTER_NAME = Text(MAX_MASTER_NAME_CHARS, 1)
MASTER_TEXT = Nullable(Text(MAX_MASTER_TEXT_CHARS, 1))

# What a transfer's send, its receive and HQ's delivery of it all say about it.
TRANSFER_FIELDS: Mapping[str, Schema] = MappingProxyType(
    {
        "id": ID,
        "source_branch": BRANCH,
        "from_warehouse": CODE,
        "to_branch": BRANCH,
        "to_warehouse": CODE,
        "lines": ListOf(
            Map({"sku": SKU, "qty": Integer(1, MAX_DOCUMENT_LINE_QTY), "cost_fen": INT64}),
            MAX_DOCUMENT_LINES,
            1,
        ),
        "cost_fen": INT64,
    }
)


def moves_of(cause: str, max_items: int) -> ListOf:
    """The stock movements a document made: each quantity signed (in positive, out
    negative) with the change of the value on hand; what went to cost of goods or to
    variance rides beside it."""
    require(cause in MOVE_CAUSES, f"{cause!r} is one of the causes a stock move names")
    move = Map(
        {"warehouse": CODE, "sku": SKU, "qty": INT64, "cost_fen": INT64, "cause": Choice((cause,))},
        {"correction_fen": INT64, "variance_fen": INT64},
    )
    return ListOf(move, max_items)
