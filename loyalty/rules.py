"""Points rules and settings as HQ authors them (FEATURES L1-L3, L5, L6, L8).

Rules:
1. A rule is in force from `valid_from_ms` (inclusive) until `valid_until_ms`
   (exclusive); 0 for the end means open-ended. A window that ends before or when it
   starts is refused, as is every other rule that cannot apply as written.
2. `factor_milli` is in thousandths. For `base` and `extra` it is points per yuan
   (1000 = 1 point per yuan); for every other kind it is a multiplier (1500 = 1.5x,
   0 = no points).
3. What each kind applies to (`RULE_KINDS`):
   - base: every line, points per yuan. With no base rule in force, 1 point per yuan.
   - category / product: lines of category / of sku `target`. For a line, a product
     rule replaces the category rule: the most specific wins.
   - level: every line of a sale to a member of level `target`.
   - tier: every line, when the sale's amount (its lines' paid fen) is within
     [min_fen, max_fen], both inclusive, in fen; max_fen 0 means no upper bound. So
     L3's "1,001 to 5,000 yuan" is written min_fen 100_001, max_fen 500_000.
   - holiday: every line while in force (double points in a festival week).
   - tender: the share of the sale paid with tender kind `target` (`points` at 0:
     no points on what points paid). A tender kind with no rule counts 1x.
   - extra: extra points per yuan on product `target`, added to the base, not
     multiplied.
4. When several rules of one kind (and for category, product, level, tender and
   extra the same target; for tiers, brackets that overlap) apply to one line, the
   one with the largest factor applies, ties to the smallest code. This is
   deterministic (the order HQ sent them in does not matter) and never against the
   member.
5. The multipliers of different dimensions (item = product or category, level,
   tier, holiday) combine per `PointsSettings.combine`: `multiply` takes their
   product; `add` takes 1 + the sum of (m - 1), never below 0; `best` takes the
   largest. With none of them, the multiplier is 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.errors import InvalidPointsSettings, InvalidRule, check_int, check_text
from protocol.contract.fields import POINTS_COMBINE_MODES, POINTS_RULE_KINDS
from protocol.contract.fields import REFERRAL_TRIGGERS as CONTRACT_REFERRAL_TRIGGERS
from protocol.limits import (
    MAX_AT_MS,
    MAX_LEDGER_AMOUNT,
    MAX_NAME_CHARS,
    MAX_POINT_VALUE_FEN,
    MAX_POINTS_EXPIRY_DAYS,
    MAX_POINTS_FACTOR_MILLI,
    MAX_POINTS_RULE_CODE_CHARS,
    MAX_REFERRAL_DEPTH,
    MAX_SALE_FEN,
)

__all__ = [
    "COMBINE_MODES",
    "KINDS_WITH_TARGET",
    "MAX_FACTOR_MILLI",
    "MAX_POINT_VALUE_FEN",
    "MAX_REFERRAL_DEPTH",
    "MAX_RULE_CODE_CHARS",
    "REFERRAL_TRIGGERS",
    "RULE_KINDS",
    "PointsRule",
    "PointsSettings",
    "in_force",
]

# The words are the wire contract's (a branch and HQ read rules by them); the kinds
# that name what they apply to; the others apply to the whole sale.
RULE_KINDS = POINTS_RULE_KINDS
KINDS_WITH_TARGET = ("category", "product", "level", "tender", "extra")
COMBINE_MODES = POINTS_COMBINE_MODES
# Referral points are awarded when the referred member registers, or on their first
# purchase (so a sign-up that never buys earns the referrer nothing).
REFERRAL_TRIGGERS = CONTRACT_REFERRAL_TRIGGERS

# The bounds are protocol.limits', where each is explained.
MAX_RULE_CODE_CHARS = MAX_POINTS_RULE_CODE_CHARS
MAX_FACTOR_MILLI = MAX_POINTS_FACTOR_MILLI
MAX_EXPIRY_DAYS = MAX_POINTS_EXPIRY_DAYS


@dataclass(frozen=True, slots=True)
class PointsRule:
    """One points rule (module docstring, rules 1 to 4)."""

    code: str  # HQ's id
    kind: str
    target: str  # the category, sku, level or tender kind; "" for base, tier, holiday
    factor_milli: int  # thousandths: 1500 = 1.5x, or 1.5 points per yuan for base/extra
    min_fen: int = 0  # tier only: the bracket of the sale's amount, both ends inclusive
    max_fen: int = 0  # tier only: 0 = no upper bound
    valid_from_ms: int = 0
    valid_until_ms: int = 0  # exclusive; 0 = open-ended

    def __post_init__(self) -> None:
        check_text(self.code, "a points rule's code", MAX_RULE_CODE_CHARS, InvalidRule)
        where = f"points rule {self.code}"
        if self.kind not in RULE_KINDS:
            raise InvalidRule(f"{where}: unknown kind {self.kind!r}; expected one of {RULE_KINDS}")
        check_text(self.target, f"{where}: target", MAX_NAME_CHARS, InvalidRule, empty=True)
        if self.kind in KINDS_WITH_TARGET and not self.target:
            article = "an" if self.kind[0] in "aeiou" else "a"
            needs = f"{article} {self.kind} rule needs a target (the {_TARGET_WORD[self.kind]})"
            raise InvalidRule(f"{where}: {needs}")
        if self.kind not in KINDS_WITH_TARGET and self.target:
            raise InvalidRule(f"{where}: a {self.kind} rule applies to the whole sale and has no target")
        if isinstance(self.factor_milli, int) and self.factor_milli < 0:
            raise InvalidRule(
                f"{where}: factor_milli cannot be negative ({self.factor_milli}); 0 gives no points"
            )
        check_int(self.factor_milli, f"{where}: factor_milli", 0, MAX_FACTOR_MILLI, InvalidRule)
        check_int(self.min_fen, f"{where}: min_fen", 0, MAX_SALE_FEN, InvalidRule)
        check_int(self.max_fen, f"{where}: max_fen", 0, MAX_SALE_FEN, InvalidRule)
        if self.kind != "tier" and (self.min_fen or self.max_fen):
            raise InvalidRule(f"{where}: only a tier rule has an amount bracket (min_fen, max_fen)")
        if self.max_fen and self.max_fen < self.min_fen:
            raise InvalidRule(
                f"{where}: the tier's top ({self.max_fen:,} fen) is below its bottom ({self.min_fen:,} fen);"
                " use max_fen 0 for no upper bound"
            )
        check_int(self.valid_from_ms, f"{where}: valid_from_ms", 0, MAX_AT_MS, InvalidRule)
        check_int(self.valid_until_ms, f"{where}: valid_until_ms", 0, MAX_AT_MS, InvalidRule)
        if self.valid_until_ms and self.valid_until_ms <= self.valid_from_ms:
            raise InvalidRule(
                f"{where}: the rule window ends before it starts (valid_until_ms {self.valid_until_ms} is not"
                f" after valid_from_ms {self.valid_from_ms}); use valid_until_ms 0 for open-ended"
            )


_TARGET_WORD = {
    "category": "product category",
    "product": "product sku",
    "level": "member level",
    "tender": "tender kind",
    "extra": "product sku",
}


def in_force(rule: PointsRule, at_ms: int) -> bool:
    """Whether the rule applies at `at_ms` (rule 1: from inclusive, until exclusive)."""
    return rule.valid_from_ms <= at_ms and (rule.valid_until_ms == 0 or at_ms < rule.valid_until_ms)


@dataclass(frozen=True, slots=True)
class PointsSettings:
    """HQ's settings for points: how multipliers combine (rule 5), when points expire,
    what referrals pay, and what a point is worth at checkout."""

    combine: str = "multiply"
    expiry_days: int = 0  # a lot expires this many days after it was earned; 0 = never
    referral_depth: int = 2  # how many referrers up the chain earn
    referral_points: tuple[int, ...] = ()  # points for level 1 (the direct referrer), 2, ...
    referral_trigger: str = "register"
    point_value_fen: int = 1  # what one point pays at checkout: 1 fen = 100 points per yuan

    def __post_init__(self) -> None:
        if self.combine not in COMBINE_MODES:
            raise InvalidPointsSettings(
                f"unknown combine mode {self.combine!r}; expected one of {COMBINE_MODES}"
            )
        check_int(self.expiry_days, "expiry_days", 0, MAX_EXPIRY_DAYS, InvalidPointsSettings)
        check_int(self.referral_depth, "referral_depth", 0, MAX_REFERRAL_DEPTH, InvalidPointsSettings)
        if not isinstance(self.referral_points, tuple):
            raise InvalidPointsSettings("referral_points must be a tuple of points per level")
        if len(self.referral_points) > MAX_REFERRAL_DEPTH:
            raise InvalidPointsSettings(
                f"referral_points names {len(self.referral_points)} levels; at most {MAX_REFERRAL_DEPTH}"
            )
        for level, points in enumerate(self.referral_points, start=1):
            check_int(
                points, f"referral_points for level {level}", 0, MAX_LEDGER_AMOUNT, InvalidPointsSettings
            )
        if self.referral_trigger not in REFERRAL_TRIGGERS:
            raise InvalidPointsSettings(
                f"unknown referral trigger {self.referral_trigger!r}; expected one of {REFERRAL_TRIGGERS}"
            )
        check_int(self.point_value_fen, "point_value_fen", 1, MAX_POINT_VALUE_FEN, InvalidPointsSettings)
