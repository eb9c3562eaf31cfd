"""Points rules and the chain's points settings (FEATURES L1-L3, L5, L6, L8), as HQ
authors them and every branch receives them through its feed. The rules themselves
(what each kind applies to, how they combine, what they are worth) are loyalty.rules';
the bounds are here, so a branch and HQ refuse the same things."""

from __future__ import annotations

from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import (
    AT_MS,
    MASTER_NAME,
    POINTS_COMBINE_MODES,
    POINTS_RULE_KINDS,
    REFERRAL_TRIGGERS,
)
from protocol.limits import (
    MAX_INT64,
    MAX_LEDGER_AMOUNT,
    MAX_NAME_CHARS,
    MAX_POINT_VALUE_FEN,
    MAX_POINTS_EXPIRY_DAYS,
    MAX_POINTS_FACTOR_MILLI,
    MAX_POINTS_REASONS,
    MAX_POINTS_RULE_CODE_CHARS,
    MAX_REFERRAL_DEPTH,
    MAX_SALE_FEN,
    MAX_SALE_LINES,
)
from protocol.schema import Bool, Choice, Integer, ListOf, Map, Text

# Why a sale earned its points (loyalty.reasons.Reason), as the sale's entry carries
# them: which rule, on which lines, on how much; the words a person reads are made
# from these where they are shown, in the reader's language.
POINTS_REASON = Map(
    {
        "code": Text(MAX_POINTS_RULE_CODE_CHARS),
        "kind": Choice((*POINTS_RULE_KINDS, "combine")),
        "target": Text(MAX_NAME_CHARS),
        "factor_milli": Integer(0, MAX_INT64),
        "lines": ListOf(Integer(0, MAX_SALE_LINES - 1), MAX_SALE_LINES),
        "applied_fen": Integer(0, MAX_INT64),
    },
    closed=True,
)
POINTS_REASONS = ListOf(POINTS_REASON, MAX_POINTS_REASONS)

POINTS_RULE_UPSERT = EntryType(
    "points_rule",
    "upsert",
    Writer.HQ,
    Map(
        {
            "code": Text(MAX_POINTS_RULE_CODE_CHARS, 1),
            "name": MASTER_NAME,
            "kind": Choice(POINTS_RULE_KINDS),
            "factor_milli": Integer(0, MAX_POINTS_FACTOR_MILLI),
        },
        {
            "target": Text(MAX_NAME_CHARS),
            "min_fen": Integer(0, MAX_SALE_FEN),
            "max_fen": Integer(0, MAX_SALE_FEN),
            "valid_from_ms": AT_MS,
            "valid_until_ms": AT_MS,
            "active": Bool(),
        },
    ),
    "a points rule: a multiplier or points per yuan on what it names, within its window",
)
POINTS_SETTINGS_UPSERT = EntryType(
    "points_settings",
    "upsert",
    Writer.HQ,
    Map(
        {"code": Choice(("chain",))},
        {
            "combine": Choice(POINTS_COMBINE_MODES),
            "expiry_days": Integer(0, MAX_POINTS_EXPIRY_DAYS),
            "referral_depth": Integer(0, MAX_REFERRAL_DEPTH),
            "referral_points": ListOf(Integer(0, MAX_LEDGER_AMOUNT), MAX_REFERRAL_DEPTH),
            "referral_trigger": Choice(REFERRAL_TRIGGERS),
            "point_value_fen": Integer(1, MAX_POINT_VALUE_FEN),
        },
    ),
    "the chain's points settings: how multipliers combine, expiry, referral points, a point's worth",
)
