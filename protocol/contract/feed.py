"""What HQ writes into a branch's feed: master data it authors, the directory as
other branches wrote it, transfers routed to the branch, and operators' decisions."""

from __future__ import annotations

from protocol.access import ROLES
from protocol.contract.cards import CARD_CHANGE_RECORD, CARD_RECORD
from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import (
    AT_MS,
    BRANCH,
    CARD,
    CARD_EVENT_KINDS,
    CODE,
    CONFLICT_KINDS,
    COSTING_METHODS,
    DISCOUNT_MODES,
    HLC,
    ID,
    LEDGER_AMOUNT,
    LEDGER_KINDS,
    LEDGERS,
    LOT_PART,
    MASTER_NAME,
    MASTER_TEXT,
    MAX_RESOLUTION_RECORDS,
    MEMBER_PROFILE,
    NODE,
    NOTE,
    PHONE,
    PRICE_FEN,
    RECORD_ID,
    RESOLUTION_ACTIONS,
    SKU,
    TENDER_FEN,
    TRANSFER_FIELDS,
)
from protocol.contract.members import CONTACT_RECORD
from protocol.limits import (
    BARCODE_PATTERN,
    LOGIN_PATTERN,
    MAX_AT_MS,
    MAX_BARCODE_CHARS,
    MAX_CARDS_PER_REGISTRATION,
    MAX_INT64,
    MAX_LEDGER_AMOUNT,
    MAX_LIMIT_QTY,
    MAX_LOGIN_CHARS,
    MAX_NAME_CHARS,
    MAX_OPERATOR_CHARS,
    MAX_PERMISSIONS,
    MAX_POINTS_LOT_PARTS,
    MAX_RECORD_ID_CHARS,
    MAX_RESOLUTION_NOTE_CHARS,
    MAX_SEEN_EVENTS,
    MAX_SUPPLIER_PHONE_CHARS,
    MAX_UNIT_CHARS,
)
from protocol.passwords import MAX_HASH_CHARS
from protocol.schema import Bool, Choice, Integer, ListOf, Map, Nullable, OneOf, Text, Tuple

# -- what HQ writes into a branch's feed ----------------------------------------------

_LIMIT = Nullable(Integer(0, MAX_LIMIT_QTY))
PRODUCT_UPSERT = EntryType(
    "product",
    "upsert",
    Writer.HQ,
    Map(
        {"sku": SKU, "name": MASTER_NAME, "price_fen": PRICE_FEN},
        # Fields an older HQ did not send; the branch takes their defaults.
        {
            "unit": Text(MAX_UNIT_CHARS, 1),
            "active": Bool(),
            "category": Nullable(CODE),
            "spec": MASTER_TEXT,
            "model": MASTER_TEXT,
            "colour": MASTER_TEXT,
            "lower_limit": _LIMIT,
            "upper_limit": _LIMIT,
            "purchase_price_fen": PRICE_FEN,
            "discount_mode": Choice(DISCOUNT_MODES),
            "discount_rate": Integer(1, 100),  # percent of the price paid
            "costing_method": Choice(COSTING_METHODS),
            "specified_cost_fen": Nullable(PRICE_FEN),
            "supplier": Nullable(CODE),
            "service": Bool(),  # a service item: no stock is kept of it
            # Points per unit to redeem it for (FEATURES L7); null: not redeemable.
            "points_price": Nullable(Integer(1, MAX_LEDGER_AMOUNT)),
            # What a scanner types for it (EAN-13, UPC-A, Code 128...); null: none.
            "barcode": Nullable(Text(MAX_BARCODE_CHARS, 1, BARCODE_PATTERN)),
        },
    ),
    "a product of HQ's catalogue as it now is",
)
CATEGORY_UPSERT = EntryType(
    "category",
    "upsert",
    Writer.HQ,
    Map({"code": CODE, "name": MASTER_NAME}, {"parent": Nullable(CODE)}),
    "a product category as it now is",
)
SUPPLIER_UPSERT = EntryType(
    "supplier",
    "upsert",
    Writer.HQ,
    Map(
        {"code": CODE, "name": MASTER_NAME},
        {"contact": MASTER_TEXT, "phone": Nullable(Text(MAX_SUPPLIER_PHONE_CHARS, 1)), "active": Bool()},
    ),
    "a supplier as it now is",
)
WAREHOUSE_UPSERT = EntryType(
    "warehouse",
    "upsert",
    Writer.HQ,
    Map({"code": CODE, "name": MASTER_NAME, "branch": BRANCH}, {"active": Bool()}),
    "a warehouse and the branch whose node keeps its stock",
)
MEMBER_UPSERT = EntryType(
    "member",
    "upsert",
    Writer.HQ,
    Map(
        {
            "id": ID,
            "home_branch": Text(MAX_NAME_CHARS, 1),  # "?" for a member HQ knows only from an edit
            "profile": Map(
                {},
                {field: Tuple((schema, HLC, NODE)) for field, schema in MEMBER_PROFILE.items()},
                closed=True,
            ),
        }
    ),
    "a member's profile as HQ's directory holds it, each field with its stamp",
)
TRANSFER_DELIVER = EntryType(
    "transfer",
    "deliver",
    Writer.HQ,
    Map({**TRANSFER_FIELDS, "note": Nullable(NOTE), "sent_at_ms": AT_MS}),
    "a transfer addressed to this branch: the source's send, less its moves",
)
TRANSFER_RECEIVED = EntryType(
    "transfer",
    "received",
    Writer.HQ,
    Map({"id": ID, "to_branch": BRANCH, "received_at_ms": AT_MS}),
    "the destination booked this branch's transfer: no longer in transit",
)
_DIRECTORY_RECORD = OneOf(
    "type",
    {
        "registration": Map(
            {"record": Tuple((ID, Nullable(PHONE), ListOf(CARD, MAX_CARDS_PER_REGISTRATION), HLC, NODE))},
            closed=True,
        ),
        "card_event": Map(
            {"record": Tuple((ID, CARD, Choice(CARD_EVENT_KINDS), HLC, NODE, ListOf(ID, MAX_SEEN_EVENTS)))},
            closed=True,
        ),
        "ledger": Map(
            {
                "record": Tuple(
                    (RECORD_ID, CARD, Choice(LEDGERS), Choice(LEDGER_KINDS), LEDGER_AMOUNT, HLC, NODE),
                    # The item of a uses entry; then a points movement's lot facts:
                    # its lots, the movement it reverses, when it expires (conflict.ledger).
                    optional=(
                        Text(MAX_NAME_CHARS),
                        ListOf(LOT_PART, MAX_POINTS_LOT_PARTS),
                        Text(MAX_RECORD_ID_CHARS),
                        Integer(0, MAX_AT_MS),
                    ),
                )
            },
            closed=True,
        ),
        "redemption": Map({"record": Tuple((ID, CARD, TENDER_FEN, HLC, NODE))}, closed=True),
        "separation": Map({"record": Tuple((ID, ID))}, closed=True),
        # HQ's order number for a registration: who survives among duplicates.
        "sighting": Map({"record": Tuple((ID, Integer(1, MAX_INT64)))}, closed=True),
        "card": Map({"record": CARD_RECORD}, closed=True),
        "card_change": Map({"record": CARD_CHANGE_RECORD}, closed=True),
        "contact": Map({"record": CONTACT_RECORD}, closed=True),
        # A return gave a voucher's use back (conflict.voucher_use): the redemption undone.
        "reinstatement": Map({"record": Tuple((ID, ID, CARD, HLC, NODE))}, closed=True),
    },
)
DIRECTORY_RECORD = EntryType(
    "directory",
    "record",
    Writer.HQ,
    _DIRECTORY_RECORD,
    "a record of the shared member directory another branch (or HQ) wrote, with its stamp",
)
CONFLICT_RESOLVE = EntryType(
    "conflict",
    "resolve",
    Writer.HQ,
    Map(
        {
            "id": RECORD_ID,
            "kind": Choice(CONFLICT_KINDS),
            "action": Choice(RESOLUTION_ACTIONS),
            "note": Text(MAX_RESOLUTION_NOTE_CHARS),
            "by": Text(MAX_OPERATOR_CHARS),
            "at_ms": AT_MS,
            "records": ListOf(_DIRECTORY_RECORD, MAX_RESOLUTION_RECORDS),
        }
    ),
    "an operator's decision on a conflict, with the directory records it writes",
)
OPERATOR_UPSERT = EntryType(
    "operator",
    "upsert",
    Writer.HQ,
    Map(
        {
            "id": ID,
            "login": Text(MAX_LOGIN_CHARS, 1, LOGIN_PATTERN),
            "name": MASTER_NAME,
            "role": Choice(ROLES),
            "branch": BRANCH,
            "password_hash": Text(MAX_HASH_CHARS, 1, r"\$argon2id\$[A-Za-z0-9$=,+/]+"),
            # What the operator may do, as HQ computed it (protocol.access.effective):
            # a branch takes HQ's word rather than its own build's role table.
            "permissions": ListOf(Text(40, 3, r"[a-z]+:[a-z]+"), MAX_PERMISSIONS),
            "disabled": Bool(),
            "version": Integer(1, 2**62),
        },
    ),
    "an operator who may log in at this branch, as HQ now holds them; disabled ones cannot",
)
