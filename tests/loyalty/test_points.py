"""The points engine (loyalty.points): worked examples with figures by hand, the one
rounding rule, the reasons a cashier reads, and properties over any rules and sale."""

from __future__ import annotations

import ast
import dataclasses
import random
import time
from fractions import Fraction
from math import floor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.errors import InvalidPointsRecord, InvalidReturn, InvalidRule, InvalidSaleFacts
from loyalty.points import (
    Earned,
    LineFacts,
    RuleBook,
    SaleFacts,
    TenderFacts,
    earn,
    explain_zh,
    points_to_reverse,
)
from loyalty.reasons import Reason, shown
from loyalty.rules import COMBINE_MODES, PointsRule, PointsSettings, in_force
from tests.loyalty.strategies import PROPERTY, rule_sets, sales

# National Day golden week 2025, Beijing time: 1 October 00:00 to 8 October 00:00.
GOLDEN_WEEK_FROM_MS = 1_759_248_000_000
GOLDEN_WEEK_UNTIL_MS = 1_759_852_800_000
OCT_3_MS = 1_759_420_800_000

CATEGORY_A = PointsRule("CAT-A", "category", "A", 1000)
CATEGORY_B = PointsRule("CAT-B", "category", "B", 2000)
SILVER = PointsRule("LVL-SILVER", "level", "silver", 1000)
GOLD = PointsRule("LVL-GOLD", "level", "gold", 1500)
DIAMOND = PointsRule("LVL-DIAMOND", "level", "diamond", 2000)
GOLDEN_WEEK = PointsRule(
    "GOLDEN-WEEK", "holiday", "", 2000, valid_from_ms=GOLDEN_WEEK_FROM_MS, valid_until_ms=GOLDEN_WEEK_UNTIL_MS
)
# L3's brackets in fen, both ends inclusive: 0-1,000 yuan, 1,000.01-5,000, 5,000.01-10,000.
TIER_1 = PointsRule("TIER-1", "tier", "", 1000, min_fen=0, max_fen=100_000)
TIER_2 = PointsRule("TIER-2", "tier", "", 1500, min_fen=100_001, max_fen=500_000)
TIER_3 = PointsRule("TIER-3", "tier", "", 2000, min_fen=500_001, max_fen=1_000_000)
NO_POINTS_ON_POINTS = PointsRule("TENDER-POINTS", "tender", "points", 0)

SEED_RULES = (CATEGORY_A, CATEGORY_B, SILVER, GOLD, DIAMOND, GOLDEN_WEEK)
MULTIPLY, ADD, BEST = (PointsSettings(combine=mode) for mode in ("multiply", "add", "best"))


def sale(
    *lines: LineFacts, level: str = "", at_ms: int = OCT_3_MS, tenders: tuple[TenderFacts, ...] = ()
) -> SaleFacts:
    return SaleFacts(at_ms, level, lines, tenders)


TWO_THOUSAND_OF_B = LineFacts("SKU-B1", "B", 4, 200_000)


# -- the seeds' worked example -------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "points"),
    [(MULTIPLY, 12_000), (ADD, 7_000), (BEST, 4_000)],
    ids=["multiply", "add", "best"],
)
def test_a_gold_member_buying_2000_yuan_of_b_in_golden_week(settings: PointsSettings, points: int) -> None:
    """Gold 1.5x, category B 2x, golden week 2x; base 1 point per yuan (no base rule).

    multiply: 2,000 x 2 x 1.5 x 2       = 2,000 x 6   = 12,000 points
    add:      2,000 x (1 + 1 + 0.5 + 1) = 2,000 x 3.5 =  7,000 points
    best:     2,000 x max(2, 1.5, 2)    = 2,000 x 2   =  4,000 points
    """
    earned = earn(SEED_RULES, settings, sale(TWO_THOUSAND_OF_B, level="gold"))
    assert (earned.points, earned.line_points) == (points, (points,))


@pytest.mark.parametrize(
    ("settings", "points"),
    [(MULTIPLY, 18_000), (ADD, 8_000), (BEST, 4_000)],
    ids=["multiply", "add", "best"],
)
def test_the_same_sale_with_l3_tiers(settings: PointsSettings, points: int) -> None:
    """2,000 yuan is in the 1,000.01-5,000 bracket: tier 1.5x joins the three.

    multiply: 2,000 x 2 x 1.5 x 1.5 x 2       = 2,000 x 9 = 18,000 points
    add:      2,000 x (1 + 1 + 0.5 + 0.5 + 1) = 2,000 x 4 =  8,000 points
    best:     2,000 x max(2, 1.5, 1.5, 2)     = 2,000 x 2 =  4,000 points
    """
    rules = (*SEED_RULES, TIER_1, TIER_2, TIER_3)
    assert earn(rules, settings, sale(TWO_THOUSAND_OF_B, level="gold")).points == points


def test_what_points_paid_earns_no_points() -> None:
    """The same sale (multiply, no tiers) paid 1,500 yuan cash and 500 yuan with points,
    under the tender rule points 0x.

    tender factor = (150,000 x 1 + 50,000 x 0) / 200,000 = 0.75
    points        = 2,000 x 0.75 x 6 = 9,000 (the 12,000 of the whole sale, less a quarter)
    """
    tenders = (TenderFacts("cash", 150_000), TenderFacts("points", 50_000))
    rules = (*SEED_RULES, NO_POINTS_ON_POINTS)
    earned = earn(rules, MULTIPLY, sale(TWO_THOUSAND_OF_B, level="gold", tenders=tenders))
    assert earned.points == 9_000
    tender = next(reason for reason in earned.reasons if reason.kind == "tender")
    assert tender.text == "paid with points: 0x on 500.00 yuan"
    assert explain_zh(tender) == "积分支付：0倍，金额 500.00 元"


def test_the_worked_example_says_why_in_english_and_chinese() -> None:
    earned = earn(SEED_RULES, MULTIPLY, sale(TWO_THOUSAND_OF_B, level="gold"))
    assert [reason.text for reason in earned.reasons] == [
        "base: 1 point per yuan on 2,000.00 yuan (no base rule in force)",
        "category B: 2x on 2,000.00 yuan",
        "gold member: 1.5x on 2,000.00 yuan",
        "holiday GOLDEN-WEEK: 2x on 2,000.00 yuan",
        "multipliers multiplied: 6x on 2,000.00 yuan",
    ]
    assert [explain_zh(reason) for reason in earned.reasons] == [
        "基础积分：每元 1 积分（无基础规则），金额 2,000.00 元",
        "品类 B：2倍，金额 2,000.00 元",
        "会员等级 gold：1.5倍，金额 2,000.00 元",
        "节日活动 GOLDEN-WEEK：2倍，金额 2,000.00 元",
        "倍数相乘：6倍，金额 2,000.00 元",
    ]
    category = earned.reasons[1]
    assert (category.code, category.kind, category.target, category.factor_milli) == (
        "CAT-B",
        "category",
        "B",
        2000,
    )
    assert (category.lines, category.applied_fen) == ((0,), 200_000)


def test_the_combination_is_named_by_its_mode() -> None:
    added = earn(SEED_RULES, ADD, sale(TWO_THOUSAND_OF_B, level="gold")).reasons[-1]
    best = earn(SEED_RULES, BEST, sale(TWO_THOUSAND_OF_B, level="gold")).reasons[-1]
    assert added.text == "multipliers added: 3.5x on 2,000.00 yuan"
    assert best.text == "best multiplier only: 2x on 2,000.00 yuan"
    assert explain_zh(added) == "倍数相加：3.5倍，金额 2,000.00 元"


def test_the_explanation_is_stored_as_json_and_read_back() -> None:
    earned = earn(
        SEED_RULES, MULTIPLY, sale(TWO_THOUSAND_OF_B, LineFacts("SKU-A1", "A", 1, 1_050), level="gold")
    )
    data = earned.to_json()
    # 10.50 yuan of A: 10.5 x 1 (A) x 1.5 (gold) x 2 (golden week) = 31.5 -> 31.
    assert (data["points"], data["line_points"]) == (12_031, [12_000, 31])
    assert Earned.from_json(data) == earned


# -- L1-L3, L6 one at a time -----------------------------------------------------------------


def test_l1_category_a_earns_one_point_per_yuan_and_b_two() -> None:
    """A: 123.45 yuan x 1 = 123.45 -> 123. B: 67.89 yuan x 2 = 135.78 -> 135. Sale: 258."""
    earned = earn(
        (CATEGORY_A, CATEGORY_B),
        MULTIPLY,
        sale(LineFacts("A1", "A", 1, 12_345), LineFacts("B1", "B", 3, 6_789)),
    )
    assert (earned.points, earned.line_points) == (258, (123, 135))


def test_a_product_rule_replaces_its_category_rule() -> None:
    """B-STAR is in category B (2x) and has a product rule of 3x: 100 yuan x 3 = 300,
    not 100 x 2 x 3 = 600."""
    star = PointsRule("STAR", "product", "B-STAR", 3000)
    earned = earn((CATEGORY_B, star), MULTIPLY, sale(LineFacts("B-STAR", "B", 1, 10_000)))
    assert earned.points == 300
    assert [reason.kind for reason in earned.reasons] == ["base", "product"]


@pytest.mark.parametrize(
    ("level", "points"), [("silver", 100), ("gold", 150), ("diamond", 200), ("", 100), ("bronze", 100)]
)
def test_l2_member_levels_multiply(level: str, points: int) -> None:
    """100 yuan of a product with no category rule: silver 1x, gold 1.5x, diamond 2x;
    no level, or a level without a rule, 1x."""
    assert (
        earn((SILVER, GOLD, DIAMOND), MULTIPLY, sale(LineFacts("X", "", 1, 10_000), level=level)).points
        == points
    )


@pytest.mark.parametrize(
    ("amount_fen", "points"),
    [
        (100_000, 1_000),  # 1,000.00 yuan: top of the first bracket, 1x
        (100_001, 1_500),  # 1,000.01 yuan x 1.5 = 1,500.015 -> 1,500
        (500_000, 7_500),  # 5,000.00 yuan x 1.5
        (500_001, 10_000),  # 5,000.01 yuan x 2 = 10,000.02 -> 10,000
        (1_000_000, 20_000),  # 10,000.00 yuan x 2
        (1_000_100, 10_001),  # 10,001.00 yuan: beyond every bracket, 1x
    ],
)
def test_l3_tiers_are_inclusive_brackets_in_fen(amount_fen: int, points: int) -> None:
    rules = (TIER_1, TIER_2, TIER_3)
    assert earn(rules, MULTIPLY, sale(LineFacts("X", "", 1, amount_fen))).points == points


def test_l3_the_tier_is_chosen_on_the_whole_sale_and_applies_to_every_line() -> None:
    """Two lines of 600 yuan: the sale is 1,200 yuan, in the 1.5x bracket; each line
    600 x 1.5 = 900."""
    earned = earn(
        (TIER_1, TIER_2), MULTIPLY, sale(LineFacts("X", "", 1, 60_000), LineFacts("Y", "", 1, 60_000))
    )
    assert earned.line_points == (900, 900)
    tier = next(reason for reason in earned.reasons if reason.kind == "tier")
    assert (tier.code, tier.lines, tier.applied_fen) == ("TIER-2", (0, 1), 120_000)
    assert tier.text == "purchase tier TIER-2: 1.5x on 1,200.00 yuan"


def test_l6_extra_points_are_added_not_multiplied() -> None:
    """1,000 extra points per yuan on PROMO, gold 1.5x: 10 yuan x (1 x 1.5 + 1,000) = 10,015."""
    extra = PointsRule("PROMO-1000", "extra", "PROMO", 1_000_000)
    earned = earn((extra, GOLD), MULTIPLY, sale(LineFacts("PROMO", "", 1, 1_000), level="gold"))
    assert earned.points == 10_015
    reason = next(reason for reason in earned.reasons if reason.kind == "extra")
    assert reason.text == "product PROMO: 1,000 extra points per yuan on 10.00 yuan"
    assert explain_zh(reason) == "商品 PROMO：每元额外 1,000 积分，金额 10.00 元"


def test_l6_a_holiday_applies_only_within_its_window() -> None:
    """The window is from inclusive, until exclusive: 100 yuan earns 200 on 1 October at
    00:00 and on 7 October at 23:59:59.999, 100 on 8 October at 00:00."""
    line = LineFacts("X", "", 1, 10_000)
    at = (GOLDEN_WEEK_FROM_MS - 1, GOLDEN_WEEK_FROM_MS, GOLDEN_WEEK_UNTIL_MS - 1, GOLDEN_WEEK_UNTIL_MS)
    assert [earn((GOLDEN_WEEK,), MULTIPLY, sale(line, at_ms=ms)).points for ms in at] == [100, 200, 200, 100]


def test_a_base_rule_sets_points_per_yuan() -> None:
    """1.5 points per yuan; 99.99 yuan x 1.5 = 149.985 -> 149."""
    base = PointsRule("BASE", "base", "", 1500)
    earned = earn((base,), MULTIPLY, sale(LineFacts("X", "", 1, 9_999)))
    assert earned.points == 149
    assert earned.reasons[0].text == "base rule BASE: 1.5 points per yuan on 99.99 yuan"


def test_of_two_rules_of_one_kind_the_larger_factor_applies() -> None:
    """Two holidays at once, 2x and 3x: 3x (never against the member), whichever came first."""
    triple = PointsRule("TRIPLE", "holiday", "", 3000)
    line = LineFacts("X", "", 1, 10_000)
    for rules in ((GOLDEN_WEEK, triple), (triple, GOLDEN_WEEK)):
        earned = earn(rules, MULTIPLY, sale(line))
        assert earned.points == 300
        assert [reason.code for reason in earned.reasons if reason.kind == "holiday"] == ["TRIPLE"]


def test_added_multipliers_below_one_never_go_below_zero() -> None:
    """add: 1 + (0.2 - 1) + (0.1 - 1) = -0.7, taken as 0: no points, never negative."""
    rules = (PointsRule("LOW-CAT", "category", "C", 200), PointsRule("LOW-HOL", "holiday", "", 100))
    assert earn(rules, ADD, sale(LineFacts("X", "C", 1, 10_000))).points == 0


# -- the one rounding rule ------------------------------------------------------------------


def test_each_line_is_rounded_down_once_and_never_up() -> None:
    """Two lines of 0.60 yuan at 1 point per yuan: 0.6 -> 0 each, so the sale earns 0
    (rounding the sale, or rounding half up, would give 1 or 2)."""
    earned = earn((), MULTIPLY, sale(LineFacts("X", "", 1, 60), LineFacts("Y", "", 1, 60)))
    assert (earned.points, earned.line_points) == (0, (0, 0))


def test_a_line_is_computed_exactly_before_it_is_rounded() -> None:
    """33.33 yuan x 1.5 (gold) x 1.5 (category C) = 74.9925 -> 74. Rounding down on the
    way would give floor(floor(49.995) x 1.5) = floor(73.5) = 73; rounding to the
    nearest point, 75."""
    rules = (GOLD, PointsRule("CAT-C", "category", "C", 1500))
    assert earn(rules, MULTIPLY, sale(LineFacts("X", "C", 1, 3_333), level="gold")).points == 74


def test_the_tender_factor_is_exact_too() -> None:
    """6.66 of 10.00 yuan paid in cash, 3.34 with points at 0x: the tender factor is
    666/1,000, so 10 yuan x 0.666 = 6.66 -> 6 (rounding to the nearest would give 7)."""
    tenders = (TenderFacts("cash", 666), TenderFacts("points", 334))
    earned = earn((NO_POINTS_ON_POINTS,), MULTIPLY, sale(LineFacts("X", "", 1, 1_000), tenders=tenders))
    assert earned.points == 6


# -- returns ----------------------------------------------------------------------------------


def test_partial_returns_telescope_to_the_lines_points() -> None:
    """10 points on 3 units, returned one at a time: floor(10/3) = 3, floor(20/3) - 3 = 3,
    10 - 6 = 4; 3 + 3 + 4 = 10."""
    assert [points_to_reverse(10, 3, before, 1) for before in (0, 1, 2)] == [3, 3, 4]
    assert points_to_reverse(10, 3, 0, 3) == 10


def test_returning_more_than_the_line_sold_is_refused() -> None:
    with pytest.raises(InvalidReturn, match="at most 1 remain to return"):
        points_to_reverse(10, 3, 2, 2)


# -- refusals ---------------------------------------------------------------------------------


def test_two_different_rules_under_one_code_are_refused_and_a_copy_is_one() -> None:
    line = LineFacts("X", "B", 1, 10_000)
    assert earn((CATEGORY_B, CATEGORY_B), MULTIPLY, sale(line)).points == 200
    with pytest.raises(InvalidRule, match="two different points rules share the code 'CAT-B'"):
        earn((CATEGORY_B, PointsRule("CAT-B", "category", "B", 3000)), MULTIPLY, sale(line))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LineFacts("X", "", 0, 100), "line X: qty must be 1 to"),
        (lambda: LineFacts("X", "", 1, -1), "line X: paid_fen must be 0 to"),
        (
            lambda: LineFacts("X", "", 1, 1.5),  # type: ignore[arg-type]
            "line X: paid_fen must be an integer, not float",
        ),
        (lambda: LineFacts("", "", 1, 100), "a line's sku must not be empty"),
        (lambda: TenderFacts("cash", -100), "tender cash: amount_fen must be 0 to"),
        (lambda: SaleFacts(-1, "", ()), "a sale's at_ms must be 0 to"),
        (
            lambda: SaleFacts(0, "", [LineFacts("X", "", 1, 1)]),  # type: ignore[arg-type]
            "a sale's lines must be a tuple of LineFacts",
        ),
    ],
)
def test_malformed_sale_facts_are_refused(make: object, message: str) -> None:
    with pytest.raises(InvalidSaleFacts, match=message):
        make()  # type: ignore[operator]


# -- properties --------------------------------------------------------------------------------


@PROPERTY
@given(
    rules=rule_sets(), the_sale=sales(), mode=st.sampled_from(("multiply", "add", "best")), seed=st.integers()
)
def test_the_engine_is_deterministic_whatever_the_order_of_the_rules(
    rules: list[PointsRule], the_sale: SaleFacts, mode: str, seed: int
) -> None:
    settings = PointsSettings(combine=mode)
    earned = earn(rules, settings, the_sale)
    shuffled = list(rules)
    random.Random(seed).shuffle(shuffled)
    assert earn(shuffled, settings, the_sale) == earned
    assert earn(iter(rules), settings, the_sale) == earned  # any iterable, read once


@PROPERTY
@given(rules=rule_sets(), the_sale=sales(), mode=st.sampled_from(("multiply", "add", "best")))
def test_points_are_never_negative_and_the_sale_is_the_sum_of_its_lines(
    rules: list[PointsRule], the_sale: SaleFacts, mode: str
) -> None:
    earned = earn(rules, PointsSettings(combine=mode), the_sale)
    assert len(earned.line_points) == len(the_sale.lines)
    assert all(points >= 0 for points in earned.line_points)
    assert earned.points == sum(earned.line_points)
    assert Earned.from_json(earned.to_json()) == earned
    for reason in earned.reasons:
        assert reason.check() is reason  # what the engine makes passes the reader's checks
        assert reason.text
        assert explain_zh(reason)
        assert all(index < len(the_sale.lines) for index in reason.lines)


@PROPERTY
@given(
    rules=rule_sets(),
    the_sale=sales(),
    times=st.lists(st.integers(min_value=0, max_value=150), min_size=1, max_size=30),
)
def test_a_rule_book_kept_across_sales_earns_what_the_rules_earn_afresh(
    rules: list[PointsRule], the_sale: SaleFacts, times: list[int]
) -> None:
    """A till keeps one RuleBook for thousands of sales, at times in any order (a sale
    booked offline is earned at its own time): each earns what the rules give afresh,
    right at and either side of every window's edge."""
    book = RuleBook(rules)
    edges = [edge for rule in rules for edge in (rule.valid_from_ms, rule.valid_until_ms)]
    for at_ms in [*times, *(edge + step for edge in edges for step in (-1, 0, 1) if edge + step >= 0)]:
        at_time = dataclasses.replace(the_sale, at_ms=at_ms)
        assert earn(book, MULTIPLY, at_time) == earn(rules, MULTIPLY, at_time)


@PROPERTY
@given(the_sale=sales())
def test_with_no_rules_a_line_earns_its_whole_yuan(the_sale: SaleFacts) -> None:
    earned = earn((), PointsSettings(), the_sale)
    assert earned.line_points == tuple(line.paid_fen // 100 for line in the_sale.lines)


@PROPERTY
@given(rules=rule_sets(), the_sale=sales(), mode=st.sampled_from(("multiply", "add", "best")))
def test_only_the_rules_in_force_at_the_sales_time_apply(
    rules: list[PointsRule], the_sale: SaleFacts, mode: str
) -> None:
    from loyalty.rules import in_force

    settings = PointsSettings(combine=mode)
    in_force_now = [rule for rule in rules if in_force(rule, the_sale.at_ms)]
    assert earn(in_force_now, settings, the_sale) == earn(rules, settings, the_sale)


@PROPERTY
@given(
    line_points=st.integers(min_value=0, max_value=10**9),
    splits=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=12),
)
def test_a_full_return_in_any_split_takes_back_exactly_the_lines_points(
    line_points: int, splits: list[int]
) -> None:
    line_qty = sum(splits)
    returned = taken = 0
    for returning in splits:
        step = points_to_reverse(line_points, line_qty, returned, returning)
        assert 0 <= step <= line_points
        taken += step
        returned += returning
    assert taken == line_points


def test_the_engine_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time is an argument: the package imports no clock, and earning works with the
    clock gone."""
    for path in Path("loyalty").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not {name.split(".")[0] for name in names} & {"time", "datetime", "calendar"}, path

    def no_clock() -> float:
        raise AssertionError("the points engine read the clock")

    for name in ("time", "time_ns", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, no_clock)
    assert earn(SEED_RULES, MULTIPLY, sale(TWO_THOUSAND_OF_B, level="gold")).points == 12_000


def test_a_reason_is_stored_without_words_and_shown_with_them() -> None:
    """A sale stores the six fields (the wire contract's); the words are made where the
    reason is shown, in English and Chinese."""
    reason = Reason("CAT-B", "category", "B", 2000, (0,), 200_000)
    stored = reason.to_json()
    assert stored == {
        "applied_fen": 200_000,
        "code": "CAT-B",
        "factor_milli": 2000,
        "kind": "category",
        "lines": [0],
        "target": "B",
    }
    assert Reason.from_json(stored) == reason
    assert reason.text == "category B: 2x on 2,000.00 yuan"
    assert shown([stored]) == [
        {**stored, "text": "category B: 2x on 2,000.00 yuan", "text_zh": "品类 B：2倍，金额 2,000.00 元"}
    ]
    with pytest.raises(InvalidPointsRecord, match="a stored reason lacks 'kind'"):
        Reason.from_json({key: value for key, value in stored.items() if key != "kind"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "bonus"}, "unknown reason kind 'bonus'"),
        ({"kind": "combine", "target": "sum"}, "a combination's target is its mode"),
        ({"applied_fen": -1}, "applied_fen must be a non-negative integer, not -1"),
        ({"factor_milli": True}, "factor_milli must be a non-negative integer, not True"),
        ({"lines": [0, -2]}, "a reason's lines must be a tuple of line indices"),
        ({"lines": 3}, "a stored reason lacks"),
    ],
)
def test_a_reason_read_back_that_no_rule_could_give_is_refused(
    change: dict[str, object], message: str
) -> None:
    """The engine's own reasons are right by construction; a reason read back from a
    stored sale or a peer's entry is checked field by field."""
    stored = Reason("CAT-B", "category", "B", 2000, (0,), 200_000).to_json() | change
    with pytest.raises(InvalidPointsRecord, match=message):
        Reason.from_json(stored)


def _oracle(rules: list[PointsRule], settings: PointsSettings, sale: SaleFacts) -> list[int]:
    """The rounding rule read literally, in fractions, rule by rule: what each line
    earns. The engine computes it in integers; they must agree to the point."""
    live = [rule for rule in rules if in_force(rule, sale.at_ms)]
    amount = sale.amount_fen

    def best(kind: str, target: str | None = None) -> PointsRule | None:
        found = [
            rule
            for rule in live
            if rule.kind == kind
            and (target is None or rule.target == target)
            and (kind != "tier" or (rule.min_fen <= amount and (rule.max_fen == 0 or amount <= rule.max_fen)))
        ]
        return min(found, key=lambda rule: (-rule.factor_milli, rule.code), default=None)

    def factor(rule: PointsRule | None, default: int) -> Fraction:
        return Fraction(default if rule is None else rule.factor_milli, 1000)

    total = sum(tender.amount_fen for tender in sale.tenders)
    share = Fraction(1)
    if total:
        weighted = [tender.amount_fen * factor(best("tender", tender.kind), 1000) for tender in sale.tenders]
        share = sum(weighted, Fraction(0)) / total
    tier, holiday = best("tier"), best("holiday")
    level = best("level", sale.member_level) if sale.member_level else None
    base = factor(best("base"), 1000)
    earned = []
    for line in sale.lines:
        item = best("product", line.sku) or best("category", line.category)
        found = [factor(rule, 1000) for rule in (item, level, tier, holiday) if rule is not None]
        multiplier = Fraction(1)
        if found and settings.combine == "multiply":
            for each in found:
                multiplier *= each
        elif found and settings.combine == "add":
            multiplier = max(Fraction(0), 1 + sum((each - 1 for each in found), Fraction(0)))
        elif found:
            multiplier = max(found)
        extra = factor(best("extra", line.sku), 0)
        earned.append(floor(Fraction(line.paid_fen, 100) * share * (base * multiplier + extra)))
    return earned


@PROPERTY
@given(rule_sets(), sales(), st.sampled_from(COMBINE_MODES))
def test_the_engine_agrees_with_the_rounding_rule_read_literally(
    rules: list[PointsRule], the_sale: SaleFacts, combine: str
) -> None:
    settings = PointsSettings(combine=combine)
    assert list(earn(rules, settings, the_sale).line_points) == _oracle(rules, settings, the_sale)
