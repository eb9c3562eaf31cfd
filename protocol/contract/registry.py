"""Every entry type by its (kind, op), and the checks a writer and a reader make."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

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
from protocol.contract.employees import EMPLOYEE_UPSERT
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
from protocol.contract.levels import LEVEL_UPSERT, MEMBER_LEVEL, MEMBER_LEVEL_BUY
from protocol.contract.loyalty import POINTS_RULE_UPSERT, POINTS_SETTINGS_UPSERT
from protocol.contract.members import MEMBER_CONTACT, MEMBER_PHOTO
from protocol.contract.vouchers import VOUCHER_ISSUE, VOUCHER_REINSTATE
from protocol.entry import Entry, KeptEntry
from protocol.errors import PayloadInvalid, WrongWriter, require

# -- lookup and check -----------------------------------------------------------------

BRANCH_ENTRY_TYPES = (
    MEMBER_REGISTER,
    MEMBER_EDIT,
    CARD_EVENT,
    LEDGER_ENTRY,
    VOUCHER_REDEEM,
    SALE_CHECKOUT,
    SALE_RETURN_POST,
    PURCHASE_ORDER_CREATE,
    PURCHASE_ORDER_CLOSE,
    RECEIPT_POST,
    PURCHASE_RETURN_POST,
    STOCKTAKE_POST,
    TRANSFER_SEND,
    TRANSFER_RECEIVE,
    TRANSFER_DISCREPANCY,
    CARD_ISSUE,
    CARD_CHANGE,
    MEMBER_CONTACT,
    MEMBER_PHOTO,
    VOUCHER_REINSTATE,
    MEMBER_LEVEL_BUY,
    BRANCH_BUSINESS_DAY,
    BRANCH_DEVICES,
)
FEED_ENTRY_TYPES = (
    PRODUCT_UPSERT,
    CATEGORY_UPSERT,
    SUPPLIER_UPSERT,
    WAREHOUSE_UPSERT,
    MEMBER_UPSERT,
    TRANSFER_DELIVER,
    TRANSFER_RECEIVED,
    DIRECTORY_RECORD,
    CONFLICT_RESOLVE,
    OPERATOR_UPSERT,
    CARD_TYPE_UPSERT,
    TOP_UP_RULE_UPSERT,
    EMPLOYEE_UPSERT,
    LEVEL_UPSERT,
    MEMBER_LEVEL,
    POINTS_RULE_UPSERT,
    POINTS_SETTINGS_UPSERT,
    VOUCHER_ISSUE,
    SPECIAL_PRICE_UPSERT,
    BUNDLE_UPSERT,
    REBATE_RULE_UPSERT,
)
ENTRY_TYPES: Mapping[tuple[str, str], EntryType] = MappingProxyType(
    {(t.kind, t.op): t for t in (*BRANCH_ENTRY_TYPES, *FEED_ENTRY_TYPES)}
)
require(
    len(ENTRY_TYPES) == len(BRANCH_ENTRY_TYPES) + len(FEED_ENTRY_TYPES),
    "each kind/op is defined once, so it has one writer and one schema",
)
require(
    all(t.writer is Writer.BRANCH for t in BRANCH_ENTRY_TYPES)
    and all(t.writer is Writer.HQ for t in FEED_ENTRY_TYPES),
    "the branch and feed lists each hold their own writer's entry types",
)


def entry_type(kind: str, op: str) -> EntryType | None:
    """The EntryType of (kind, op); None if it is not ours to read (rule 3)."""
    return ENTRY_TYPES.get((kind, op))


def check(kind_op: EntryType | tuple[str, str], payload: Any) -> EntryType | None:
    """Check a payload against its EntryType; PayloadInvalid names the field and the
    rule. Returns the EntryType, or None for a (kind, op) that is not ours to read."""
    found = kind_op if isinstance(kind_op, EntryType) else ENTRY_TYPES.get(kind_op)
    if found is not None:
        found.validate(payload)
    return found


def check_entry(entry: Entry, writer: Writer) -> EntryType | None:
    """Check an entry read from a branch's log (BRANCH) or HQ's feed (HQ): its kind is
    one that writer writes, and its payload keeps the contract. None if not ours to read."""
    found = ENTRY_TYPES.get((entry.kind, entry.op))
    if found is None:
        return None
    where = f"{entry.origin}#{entry.seq}"
    if found.writer is not writer:
        raise WrongWriter(
            f"entry {where} is {found.name}, which only {found.writer.value} carries,"
            f" yet it came in {writer.value}"
        )
    if type(entry) is KeptEntry:
        return found  # its payload was found to keep this contract whole as it was decoded
    try:
        found.validate(entry.payload)
    except PayloadInvalid as refused:
        raise PayloadInvalid(refused.entry_type, refused.path, refused.rule, entry=where) from None
    return found


def payload_kept(kind: str, op: str, payload: Any) -> bool:
    """Whether a payload of (kind, op) keeps its contract whole: every map holds only
    the keys the contract names, and every value is of the type named for it
    (protocol.entry.PayloadKept; what decode_entry needs to skip its walk). A kind this
    build does not read, or a key the contract leaves open, is not kept whole."""
    found = ENTRY_TYPES.get((kind, op))
    return found is not None and found.validate.keeps_whole(payload)
