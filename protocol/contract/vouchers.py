"""Vouchers on the wire (FEATURES L10): each voucher HQ issues to a member, which every
branch's feed carries so a till knows it offline, and a branch's return giving a used
voucher back (conflict.voucher_use). A voucher's use is `voucher/redeem` (branch.py)."""

from __future__ import annotations

from typing import Any

from protocol.contract.cards import DATE
from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import CARD, CODE, ID, MASTER_NAME, TENDER_FEN
from protocol.limits import MAX_SALE_FEN
from protocol.schema import Integer, Map, Where


def in_order(voucher: Any) -> tuple[str, str] | None:
    """A voucher's last day is not before its first (conflict.voucher_use.IssuedVoucher)."""
    if voucher["valid_until"] < voucher["valid_from"]:
        return "valid_until", f"must not be before valid_from {voucher['valid_from']}"
    return None


VOUCHER_ISSUE = EntryType(
    "voucher",
    "issue",
    Writer.HQ,
    Where(
        Map(
            {
                "voucher_id": CARD,  # typed at a till like a card number
                "campaign": CODE,
                "member_id": ID,
                "value_fen": TENDER_FEN,
                "min_spend_fen": Integer(0, MAX_SALE_FEN),
                "valid_from": DATE,
                "valid_until": DATE,
            },
            {"name": MASTER_NAME},  # the campaign's name, for a person reading the list
        ),
        in_order,
        "a voucher's last day is not before its first",
    ),
    "a voucher HQ issued to a member: its value, the least sale it pays on, its days",
)
VOUCHER_REINSTATE = EntryType(
    "voucher",
    "reinstate",
    Writer.BRANCH,
    Map({"voucher_id": CARD, "redemption_id": ID, "sale_id": ID, "return_id": ID}),
    "a return gave a sale's whole voucher share back: the voucher's use there is undone",
)
