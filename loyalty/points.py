"""The points a sale earns under HQ's rules, each line with its reasons (FEATURES L1-L3, L6).

The one rounding rule. Each line is computed exactly and rounded down once:

    line_points = floor(paid_fen / 100 * tender_factor * (base * multiplier + extra))

- paid_fen: what the line costs after every discount, without what a count card or
  time card covered (the caller passes only value paid with money).
- base and extra: points per yuan (the base rule in force, or 1; the extra rule on
  the line's product, or 0).
- multiplier: the line's item (product, else category), level, tier and holiday
  multipliers combined per the settings (loyalty.rules, rules 4 and 5).
- tender_factor: sum(amount_fen * m_kind) / sum(amount_fen) over the sale's
  tenders, m_kind being the tender rule's multiplier for that kind (1 without
  one); 1 when the sale has no tenders or they total 0.

It is computed in integers (every factor is in thousandths), so it is exact. A
line's points are rounded down, never up, and never below 0; the sale's points
are the sum of its lines' points. Only rules in force at `sale.at_ms` apply: time
is an argument, never read here. The result does not depend on the order of the
rules (rule 4 picks the largest factor, ties to the smallest code).

A return takes back, for each line, `points_to_reverse`: the floor of the line's
points times the units returned so far over the units sold, less what earlier
returns took. Partial returns telescope, so returning every unit takes back exactly
the line's points, however the returns were split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import gcd, prod
from typing import Any

from loyalty.errors import (
    InvalidPointsRecord,
    InvalidReturn,
    InvalidRule,
    InvalidSaleFacts,
    check_int,
    check_text,
)
from loyalty.reasons import REASON_KINDS, Reason, explain_zh
from loyalty.rules import PointsRule, PointsSettings, in_force
from protocol.errors import require
from protocol.limits import (
    MAX_AT_MS,
    MAX_INT64,
    MAX_NAME_CHARS,
    MAX_SALE_LINE_FEN,
    MAX_SALE_LINE_QTY,
    MAX_SALE_LINES,
    MAX_TENDERED_FEN,
    MAX_TENDERS,
)

__all__ = [
    "Earned",
    "LineFacts",
    "SaleFacts",
    "TenderFacts",
    "earn",
    "explain_zh",
    "points_to_reverse",
]


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One line of a sale as the points engine sees it."""

    sku: str
    category: str  # "" when the product has none
    qty: int
    paid_fen: int  # after every discount, without what a count or time card covered

    def __post_init__(self) -> None:
        check_text(self.sku, "a line's sku", MAX_NAME_CHARS, InvalidSaleFacts)
        check_text(self.category, f"line {self.sku}: category", MAX_NAME_CHARS, InvalidSaleFacts, empty=True)
        check_int(self.qty, f"line {self.sku}: qty", 1, MAX_SALE_LINE_QTY, InvalidSaleFacts)
        check_int(self.paid_fen, f"line {self.sku}: paid_fen", 0, MAX_SALE_LINE_FEN, InvalidSaleFacts)


@dataclass(frozen=True, slots=True)
class TenderFacts:
    """One tender of a sale: its kind and what it paid, net of change."""

    kind: str
    amount_fen: int

    def __post_init__(self) -> None:
        check_text(self.kind, "a tender's kind", MAX_NAME_CHARS, InvalidSaleFacts)
        check_int(self.amount_fen, f"tender {self.kind}: amount_fen", 0, MAX_TENDERED_FEN, InvalidSaleFacts)


@dataclass(frozen=True, slots=True)
class SaleFacts:
    """What the points engine needs of a sale: when, to whom, what was paid and how."""

    at_ms: int
    member_level: str  # "" when the member has no level
    lines: tuple[LineFacts, ...]
    tenders: tuple[TenderFacts, ...] = ()

    def __post_init__(self) -> None:
        check_int(self.at_ms, "a sale's at_ms", 0, MAX_AT_MS, InvalidSaleFacts)
        check_text(self.member_level, "member_level", MAX_NAME_CHARS, InvalidSaleFacts, empty=True)
        for name, items, kind, bound in (
            ("lines", self.lines, LineFacts, MAX_SALE_LINES),
            ("tenders", self.tenders, TenderFacts, MAX_TENDERS),
        ):
            if not isinstance(items, tuple) or not all(isinstance(item, kind) for item in items):
                raise InvalidSaleFacts(f"a sale's {name} must be a tuple of {kind.__name__}")
            if len(items) > bound:
                raise InvalidSaleFacts(f"a sale has at most {bound} {name}, not {len(items)}")

    @property
    def amount_fen(self) -> int:
        """The sale's amount as tiers see it: its lines' paid fen."""
        return sum(line.paid_fen for line in self.lines)


@dataclass(frozen=True, slots=True)
class Earned:
    """A sale's points, per line in the sale's order, and the reasons for them."""

    points: int
    line_points: tuple[int, ...]
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        require(all(points >= 0 for points in self.line_points), "a line never earns negative points")
        require(self.points == sum(self.line_points), "a sale's points are the sum of its lines' points")

    def to_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "line_points": list(self.line_points),
            "reasons": [reason.to_json() for reason in self.reasons],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Earned:
        try:
            points, line_points, reasons = data["points"], data["line_points"], data["reasons"]
        except KeyError as missing:
            raise InvalidPointsRecord(f"a stored points explanation lacks {missing}") from None
        return cls(points, tuple(line_points), tuple(Reason.from_json(reason) for reason in reasons))


def earn(rules: Iterable[PointsRule], settings: PointsSettings, sale: SaleFacts) -> Earned:
    """The points `sale` earns under `rules` (those in force at its time) and `settings`."""
    best = _best_in_force(rules, sale.at_ms)
    amount = sale.amount_fen
    base = best.get(("base", ""))
    holiday = best.get(("holiday", ""))
    level = best.get(("level", sale.member_level)) if sale.member_level else None
    # Tiers are chosen by bracket, not target, so every tier rule in force is a candidate.
    tier = _best(
        rule
        for (kind, _), rule in best.items()
        if kind == "tier" and rule.min_fen <= amount and (rule.max_fen == 0 or amount <= rule.max_fen)
    )
    (tender_num, tender_den), tender_rules = _tender_factor(best, sale)
    base_milli = base.factor_milli if base is not None else 1000

    applied: dict[str, tuple[PointsRule, list[int]]] = {}
    combined_lines: dict[tuple[int, int], list[int]] = {}
    line_points = []
    for index, line in enumerate(sale.lines):
        item = best.get(("product", line.sku)) or best.get(("category", line.category))
        multipliers = [rule for rule in (item, level, tier, holiday) if rule is not None]
        mult_num, mult_den = _combine(settings.combine, [rule.factor_milli for rule in multipliers])
        extra = best.get(("extra", line.sku))
        extra_milli = extra.factor_milli if extra is not None else 0
        # The rounding rule in integers: paid/100 x tender x (base x multiplier + extra),
        # base and extra in thousandths of a point per yuan, rounded down once.
        numerator = line.paid_fen * tender_num * (base_milli * mult_num + extra_milli * mult_den)
        points = numerator // (100 * tender_den * 1000 * mult_den)
        require(points >= 0, "a line's exact points are never negative")
        line_points.append(points)
        for rule in (base, *multipliers, extra):
            if rule is not None:
                applied.setdefault(rule.code, (rule, []))[1].append(index)
        if len(multipliers) > 1:
            divisor = gcd(mult_num, mult_den)
            combined_lines.setdefault((mult_num // divisor, mult_den // divisor), []).append(index)

    reasons = [
        Reason(rule.code, rule.kind, rule.target, rule.factor_milli, tuple(lines), _paid(sale, lines))
        for rule, lines in applied.values()
    ]
    every_line = tuple(range(len(sale.lines)))
    if sale.lines:
        if base is None:
            reasons.append(Reason("", "base", "", 1000, every_line, amount))
        for rule in tender_rules:
            paid = sum(tender.amount_fen for tender in sale.tenders if tender.kind == rule.target)
            reasons.append(Reason(rule.code, rule.kind, rule.target, rule.factor_milli, every_line, paid))
    for (mult_num, mult_den), lines in combined_lines.items():
        milli = mult_num * 1000 // mult_den
        reasons.append(Reason("", "combine", settings.combine, milli, tuple(lines), _paid(sale, lines)))
    reasons.sort(key=lambda r: (REASON_KINDS.index(r.kind), r.target, r.code, r.factor_milli, r.lines))
    return Earned(sum(line_points), tuple(line_points), tuple(reasons))


def points_to_reverse(line_points: int, line_qty: int, returned_before: int, returning: int) -> int:
    """The points a return of `returning` units of a line takes back, after
    `returned_before` units were returned already (module docstring)."""
    check_int(line_points, "the line's points", 0, MAX_INT64, InvalidReturn)
    check_int(line_qty, "the line's qty", 1, MAX_SALE_LINE_QTY, InvalidReturn)
    check_int(returned_before, "the units returned before", 0, line_qty, InvalidReturn)
    check_int(returning, "the units returning", 0, line_qty, InvalidReturn)
    if returned_before + returning > line_qty:
        raise InvalidReturn(
            f"cannot return {returning} more of a line of {line_qty} of which {returned_before} were "
            f"returned before: at most {line_qty - returned_before} remain to return"
        )
    after = line_points * (returned_before + returning) // line_qty
    return after - line_points * returned_before // line_qty


def _best_in_force(rules: Iterable[PointsRule], at_ms: int) -> dict[tuple[str, str], PointsRule]:
    """The rule that applies for each (kind, target) in force at `at_ms` (rule 4); tier
    rules are kept one per code, since which applies depends on the sale's amount."""
    by_code: dict[str, PointsRule] = {}
    for rule in rules:
        if not isinstance(rule, PointsRule):
            raise InvalidRule(f"a points rule must be a PointsRule, not {type(rule).__name__}")
        known = by_code.setdefault(rule.code, rule)
        if known != rule:
            raise InvalidRule(f"two different points rules share the code {rule.code!r}: {known} and {rule}")
    best: dict[tuple[str, str], PointsRule] = {}
    for rule in by_code.values():
        if not in_force(rule, at_ms):
            continue
        key = (rule.kind, rule.code if rule.kind == "tier" else rule.target)
        held = best.get(key)
        if held is None or (-rule.factor_milli, rule.code) < (-held.factor_milli, held.code):
            best[key] = rule
    return best


def _best(rules: Iterable[PointsRule]) -> PointsRule | None:
    """The largest factor, ties to the smallest code (rule 4)."""
    return min(rules, key=lambda rule: (-rule.factor_milli, rule.code), default=None)


def _combine(mode: str, millis: list[int]) -> tuple[int, int]:
    """loyalty.rules, rule 5, on factors in thousandths: the combined multiplier as a
    (numerator, denominator) pair of integers, exact."""
    if not millis:
        return 1, 1
    if mode == "multiply":
        return prod(millis), 1000 ** len(millis)
    if mode == "add":
        return max(0, 1000 + sum(milli - 1000 for milli in millis)), 1000
    require(mode == "best", f"combine mode {mode!r} is one of the settings' modes")
    return max(millis), 1000


def _tender_factor(
    best: dict[tuple[str, str], PointsRule], sale: SaleFacts
) -> tuple[tuple[int, int], list[PointsRule]]:
    """The share-weighted tender multiplier as (numerator, denominator), and the tender
    rules that met a tender."""
    total = sum(tender.amount_fen for tender in sale.tenders)
    if total == 0:
        return (1, 1), []
    weighted = 0  # in fen x thousandths
    used: dict[str, PointsRule] = {}
    for tender in sale.tenders:
        rule = best.get(("tender", tender.kind))
        weighted += tender.amount_fen * (rule.factor_milli if rule is not None else 1000)
        if rule is not None and tender.amount_fen:
            used[rule.code] = rule
    return (weighted, total * 1000), list(used.values())


def _paid(sale: SaleFacts, lines: Iterable[int]) -> int:
    return sum(sale.lines[index].paid_fen for index in lines)
