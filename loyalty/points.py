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

from bisect import bisect_right
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
    one_per_code,
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
    "RuleBook",
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


class RuleBook:
    """HQ's rules checked once, and which of them apply at a time, worked out once per
    stretch of time in which no rule's window opens or closes.

    A till reads the same rules for thousands of sales; checking them and picking the
    best per (kind, target) for every sale was a fifth of a member's checkout. Which
    rules are in force changes only at a window's edge (rule 1: from inclusive, until
    exclusive), so the pick holds from one edge up to the next and is kept for that
    stretch. A book is immutable apart from that memo, which any caller may share.
    """

    __slots__ = ("_edges", "_held", "rules")

    def __init__(self, rules: Iterable[PointsRule]) -> None:
        by_code = one_per_code(rules, PointsRule, "points rule", InvalidRule)
        self.rules = tuple(by_code.values())
        self._edges = sorted(
            {edge for rule in self.rules for edge in (rule.valid_from_ms, rule.valid_until_ms) if edge}
        )
        # The stretch [from_ms, until_ms) the last pick holds for, and the pick.
        self._held: tuple[int, int, _InForce] = (0, -1, _InForce({}))

    def in_force(self, at_ms: int) -> dict[tuple[str, str], PointsRule]:
        """The rule that applies for each (kind, target) at `at_ms` (rule 4); tier rules
        are kept one per code, since which applies depends on the sale's amount. The
        caller must not change the dict: it is shared by every sale in the stretch."""
        return self._pick(at_ms).best

    def _pick(self, at_ms: int) -> _InForce:
        start, end, pick = self._held
        if start <= at_ms < end:
            return pick
        after = bisect_right(self._edges, at_ms)
        start = self._edges[after - 1] if after else 0
        end = self._edges[after] if after < len(self._edges) else MAX_AT_MS + 1
        pick = _InForce(_best_in_force(self.rules, at_ms))
        self._held = (start, end, pick)
        return pick


class _InForce:
    """The rules in force over one stretch, laid out as `earn` reads them."""

    __slots__ = ("base", "best", "holiday", "tiers")

    def __init__(self, best: dict[tuple[str, str], PointsRule]) -> None:
        self.best = best
        self.base = best.get(("base", ""))
        self.holiday = best.get(("holiday", ""))
        # Tiers are chosen by bracket, not target: every tier rule in force is a
        # candidate, best first (rule 4), so the first whose bracket holds wins.
        tiers = [rule for (kind, _), rule in best.items() if kind == "tier"]
        self.tiers = tuple(sorted(tiers, key=lambda rule: (-rule.factor_milli, rule.code)))


def earn(rules: Iterable[PointsRule] | RuleBook, settings: PointsSettings, sale: SaleFacts) -> Earned:
    """The points `sale` earns under `rules` (those in force at its time) and `settings`.
    A caller that earns many sales under the same rules passes them as one RuleBook."""
    book = rules if isinstance(rules, RuleBook) else RuleBook(rules)
    now = book._pick(sale.at_ms)
    best, base, holiday = now.best, now.base, now.holiday
    lines = sale.lines
    amount = sum([line.paid_fen for line in lines])
    level = best.get(("level", sale.member_level)) if sale.member_level else None
    tier = next(
        (
            rule
            for rule in now.tiers
            if rule.min_fen <= amount and (rule.max_fen == 0 or amount <= rule.max_fen)
        ),
        None,
    )
    (tender_num, tender_den), tender_rules = _tender_factor(best, sale)
    base_milli = base.factor_milli if base is not None else 1000
    line_divisor = 100 * tender_den * 1000

    # code -> [rule, its lines, the fen they were paid]; (num, den) -> [lines, fen]
    applied: dict[str, list[Any]] = {}
    combined: dict[tuple[int, int], list[Any]] = {}
    line_points = []
    for index, line in enumerate(lines):
        paid = line.paid_fen
        item = best.get(("product", line.sku)) or best.get(("category", line.category))
        multipliers = [rule for rule in (item, level, tier, holiday) if rule is not None]
        mult_num, mult_den = _combine(settings.combine, [rule.factor_milli for rule in multipliers])
        extra = best.get(("extra", line.sku))
        extra_milli = extra.factor_milli if extra is not None else 0
        # The rounding rule in integers: paid/100 x tender x (base x multiplier + extra),
        # base and extra in thousandths of a point per yuan, rounded down once.
        numerator = paid * tender_num * (base_milli * mult_num + extra_milli * mult_den)
        points = numerator // (line_divisor * mult_den)
        require(points >= 0, "a line's exact points are never negative")
        line_points.append(points)
        for rule in (base, *multipliers, extra):
            if rule is not None:
                held = applied.get(rule.code)
                if held is None:
                    applied[rule.code] = [rule, [index], paid]
                else:
                    held[1].append(index)
                    held[2] += paid
        if len(multipliers) > 1:
            divisor = gcd(mult_num, mult_den)
            key = (mult_num // divisor, mult_den // divisor)
            together = combined.get(key)
            if together is None:
                combined[key] = [[index], paid]
            else:
                together[0].append(index)
                together[1] += paid

    reasons = [
        Reason(rule.code, rule.kind, rule.target, rule.factor_milli, tuple(on), paid)
        for rule, on, paid in applied.values()
    ]
    if lines:
        if base is None:
            reasons.append(Reason("", "base", "", 1000, tuple(range(len(lines))), amount))
        for rule in tender_rules:
            paid = sum([tender.amount_fen for tender in sale.tenders if tender.kind == rule.target])
            reasons.append(
                Reason(rule.code, rule.kind, rule.target, rule.factor_milli, tuple(range(len(lines))), paid)
            )
    for (mult_num, mult_den), (on, paid) in combined.items():
        milli = mult_num * 1000 // mult_den
        reasons.append(Reason("", "combine", settings.combine, milli, tuple(on), paid))
    reasons.sort(key=_reason_order)
    return Earned(sum(line_points), tuple(line_points), tuple(reasons))


def _reason_order(reason: Reason) -> tuple[int, str, str, int, tuple[int, ...]]:
    return (_KIND_ORDER[reason.kind], reason.target, reason.code, reason.factor_milli, reason.lines)


_KIND_ORDER = {kind: number for number, kind in enumerate(REASON_KINDS)}


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


def _best_in_force(rules: tuple[PointsRule, ...], at_ms: int) -> dict[tuple[str, str], PointsRule]:
    """RuleBook.in_force worked out afresh, over rules with distinct codes."""
    best: dict[tuple[str, str], PointsRule] = {}
    for rule in rules:
        if not in_force(rule, at_ms):
            continue
        key = (rule.kind, rule.code if rule.kind == "tier" else rule.target)
        held = best.get(key)
        if held is None or (-rule.factor_milli, rule.code) < (-held.factor_milli, held.code):
            best[key] = rule
    return best


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
