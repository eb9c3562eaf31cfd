"""Loyalty rules that need no I/O: points earned under HQ's rules, referrals, and points
held as lots that are spent, returned and expired (FEATURES L1-L9). Pure, like
protocol/, conflict/ and inventory/: values in, values out, time an argument."""

from __future__ import annotations

from loyalty.errors import (
    InvalidPointsRecord,
    InvalidPointsSettings,
    InvalidReturn,
    InvalidRule,
    InvalidSaleFacts,
    PointsShort,
)
from loyalty.lots import (
    Allocation,
    EarningReturn,
    Expiry,
    Lot,
    PointsAccount,
    SpendReturn,
    account,
    allocate,
    available,
    expire,
    lot_earned,
    open_debts,
    points_covering,
    points_value_fen,
    remaining,
    return_spend,
    reverse_earning,
    settle_debt,
)
from loyalty.points import Earned, LineFacts, SaleFacts, TenderFacts, earn, points_to_reverse
from loyalty.reasons import Reason, explain_zh, shown
from loyalty.referrals import ReferralAward, one_per_id, referral_awards
from loyalty.rules import COMBINE_MODES, REFERRAL_TRIGGERS, RULE_KINDS, PointsRule, PointsSettings, in_force

__all__ = [
    "COMBINE_MODES",
    "REFERRAL_TRIGGERS",
    "RULE_KINDS",
    "Allocation",
    "Earned",
    "EarningReturn",
    "Expiry",
    "InvalidPointsRecord",
    "InvalidPointsSettings",
    "InvalidReturn",
    "InvalidRule",
    "InvalidSaleFacts",
    "LineFacts",
    "Lot",
    "PointsAccount",
    "PointsRule",
    "PointsSettings",
    "PointsShort",
    "Reason",
    "ReferralAward",
    "SaleFacts",
    "SpendReturn",
    "TenderFacts",
    "account",
    "allocate",
    "available",
    "earn",
    "expire",
    "explain_zh",
    "in_force",
    "lot_earned",
    "one_per_id",
    "open_debts",
    "points_covering",
    "points_to_reverse",
    "points_value_fen",
    "referral_awards",
    "remaining",
    "return_spend",
    "reverse_earning",
    "settle_debt",
    "shown",
]
