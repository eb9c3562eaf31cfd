"""The wire contract: every change-log entry kind and operation, with its payload's
schema and bounds, defined once for the side that writes it and the side that reads it.

Modules: `fields` (the words and field schemas), `entry_type`, `branch` (what a
branch writes into its log, with `cards`, `members` and `vouchers`), `feed` (what HQ
writes into a branch's feed) and `registry` (lookup and the checks); everything
public is re-exported here.

Rules:
1. One definition. A node checks a payload against its EntryType before it
   records it; HQ checks what it reads from a branch's log through the same
   EntryType, and a node what it reads from HQ's feed. Each EntryType says who
   writes it: a branch's log or HQ's feed, never both.
2. Bounds are structural: the loosest value a legitimate writer can commit,
   derived from the writer's own validation (each constant in
   protocol/limits.py with its reason). A figure that follows from a
   document's own input is bounded by that input (a sale line's amount is at
   most its quantity times the largest price); a figure that depends on the
   stock's history (a cost of goods, a stock level, a revaluation) only by what
   a signed 64-bit integer holds. What a reader is willing to count (HQ's
   business limits) it checks itself, apart, and never by refusing the entry.
3. A (kind, op) not defined here is not ours to read: a newer writer's. It is
   stored as it came and has no effect; `check` answers None for it.
4. Maps are open: a newer writer may add a field, which an older reader
   ignores. A map is closed only where its key set is the data and an unknown
   key would be misread: a tender (every fen of a sale is in fields both sides
   know), a member's edit and the profile HQ forwards (every key is a profile
   field that readers stamp and merge, so an edit the reader could apply only
   in part must be seen, not half-applied), and a directory record (positional,
   versioned by its type).
5. A field some earlier writer did not write is optional, because HQ keeps every
   log verbatim and may read any entry again: sales from before costing carry
   no costs or moves, registrations from before cards carry no cards.
6. Words are closed sets (tender kinds, move causes, ledger kinds): a new word
   changes the contract, and the reader is upgraded before the writer.
"""

from __future__ import annotations

from protocol.contract.branch import (
    BRANCH_BUSINESS_DAY,
    BRANCH_DEVICES,
    CARD_EVENT,
    LEDGER_ENTRY,
    MEMBER_EDIT,
    MEMBER_REGISTER,
    PURCHASE_ORDER_CLOSE,
    PURCHASE_ORDER_CREATE,
    PURCHASE_RETURN_POST,
    RECEIPT_POST,
    SALE_CHECKOUT,
    SALE_RETURN_POST,
    STOCKTAKE_POST,
    TRANSFER_DISCREPANCY,
    TRANSFER_RECEIVE,
    TRANSFER_SEND,
    VOUCHER_REDEEM,
)
from protocol.contract.cards import CARD_CHANGE, CARD_ISSUE, CARD_TYPE_UPSERT, TOP_UP_RULE_UPSERT
from protocol.contract.discounts import BUNDLE_UPSERT, REBATE_RULE_UPSERT, SPECIAL_PRICE_UPSERT
from protocol.contract.employees import EMPLOYEE_CODE, EMPLOYEE_UPSERT
from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.feed import (
    CATEGORY_UPSERT,
    CONFLICT_RESOLVE,
    DIRECTORY_RECORD,
    MEMBER_UPSERT,
    OPERATOR_UPSERT,
    PRODUCT_UPSERT,
    SUPPLIER_UPSERT,
    TRANSFER_DELIVER,
    TRANSFER_RECEIVED,
    WAREHOUSE_UPSERT,
)
from protocol.contract.fields import (
    CARD_EVENT_KINDS,
    CONFLICT_KINDS,
    COSTING_METHODS,
    DISCOUNT_MODES,
    LEDGER_KINDS,
    LEDGERS,
    MOVE_CAUSES,
    ORDER_KINDS,
    PAYMENT_MODES,
    RESOLUTION_ACTIONS,
    TENDER_KINDS,
)
from protocol.contract.levels import LEVEL_UPSERT, MEMBER_LEVEL, MEMBER_LEVEL_BUY
from protocol.contract.loyalty import POINTS_RULE_UPSERT, POINTS_SETTINGS_UPSERT
from protocol.contract.members import CONTACT_RECORD, MEMBER_CONTACT, MEMBER_PHOTO
from protocol.contract.registry import (
    BRANCH_ENTRY_TYPES,
    ENTRY_TYPES,
    FEED_ENTRY_TYPES,
    check,
    check_entry,
    entry_type,
)
from protocol.contract.vouchers import VOUCHER_ISSUE, VOUCHER_REINSTATE

__all__ = [
    "BRANCH_BUSINESS_DAY",
    "BRANCH_DEVICES",
    "BRANCH_ENTRY_TYPES",
    "BUNDLE_UPSERT",
    "CARD_CHANGE",
    "CARD_EVENT",
    "CARD_EVENT_KINDS",
    "CARD_ISSUE",
    "CARD_TYPE_UPSERT",
    "CATEGORY_UPSERT",
    "CONFLICT_KINDS",
    "CONFLICT_RESOLVE",
    "CONTACT_RECORD",
    "COSTING_METHODS",
    "DIRECTORY_RECORD",
    "DISCOUNT_MODES",
    "EMPLOYEE_CODE",
    "EMPLOYEE_UPSERT",
    "ENTRY_TYPES",
    "FEED_ENTRY_TYPES",
    "LEDGERS",
    "LEDGER_ENTRY",
    "LEDGER_KINDS",
    "LEVEL_UPSERT",
    "MEMBER_CONTACT",
    "MEMBER_EDIT",
    "MEMBER_LEVEL",
    "MEMBER_LEVEL_BUY",
    "MEMBER_PHOTO",
    "MEMBER_REGISTER",
    "MEMBER_UPSERT",
    "MOVE_CAUSES",
    "OPERATOR_UPSERT",
    "ORDER_KINDS",
    "PAYMENT_MODES",
    "POINTS_RULE_UPSERT",
    "POINTS_SETTINGS_UPSERT",
    "PRODUCT_UPSERT",
    "PURCHASE_ORDER_CLOSE",
    "PURCHASE_ORDER_CREATE",
    "PURCHASE_RETURN_POST",
    "REBATE_RULE_UPSERT",
    "RECEIPT_POST",
    "RESOLUTION_ACTIONS",
    "SALE_CHECKOUT",
    "SALE_RETURN_POST",
    "SPECIAL_PRICE_UPSERT",
    "STOCKTAKE_POST",
    "SUPPLIER_UPSERT",
    "TENDER_KINDS",
    "TOP_UP_RULE_UPSERT",
    "TRANSFER_DELIVER",
    "TRANSFER_DISCREPANCY",
    "TRANSFER_RECEIVE",
    "TRANSFER_RECEIVED",
    "TRANSFER_SEND",
    "VOUCHER_ISSUE",
    "VOUCHER_REDEEM",
    "VOUCHER_REINSTATE",
    "WAREHOUSE_UPSERT",
    "EntryType",
    "Writer",
    "check",
    "check_entry",
    "entry_type",
]
