"""Hypothesis strategies for the loyalty rules: small pools of skus, categories, levels
and tender kinds, so rules meet the lines they target often."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from loyalty.points import LineFacts, SaleFacts, TenderFacts
from loyalty.rules import KINDS_WITH_TARGET, RULE_KINDS, PointsRule

# Enough examples to find a one-in-a-hundred case, few enough to keep the package fast.
PROPERTY = settings(max_examples=150, deadline=None)

SKUS = ("S1", "S2", "S3")
CATEGORIES = ("A", "B", "")
LEVELS = ("silver", "gold", "")
TENDERS = ("cash", "stored_value", "points")
TARGETS = {
    "category": ("A", "B"),
    "product": SKUS,
    "level": ("silver", "gold"),
    "tender": TENDERS,
    "extra": SKUS,
}
# Rules in force over part of [0, 100], sales anywhere in it.
TIMES = st.integers(min_value=0, max_value=100)


@st.composite
def points_rules(draw: st.DrawFn, code: str) -> PointsRule:
    kind = draw(st.sampled_from(RULE_KINDS))
    target = draw(st.sampled_from(TARGETS[kind])) if kind in KINDS_WITH_TARGET else ""
    factor = draw(st.sampled_from((0, 500, 1000, 1333, 1500, 2000, 3000)))
    low = high = 0
    if kind == "tier":
        low = draw(st.integers(min_value=0, max_value=50_000))
        high = draw(st.sampled_from((0, low, low + 1, low + 30_000)))
    start = draw(TIMES)
    end = draw(st.sampled_from((0, start + 1, start + 40)))
    return PointsRule(code, kind, target, factor, low, high, start, end)


@st.composite
def rule_sets(draw: st.DrawFn) -> list[PointsRule]:
    size = draw(st.integers(min_value=0, max_value=10))
    return [draw(points_rules(f"R{i}")) for i in range(size)]


line_facts = st.builds(
    LineFacts,
    st.sampled_from(SKUS),
    st.sampled_from(CATEGORIES),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=0, max_value=60_000),
)
tender_facts = st.builds(TenderFacts, st.sampled_from(TENDERS), st.integers(min_value=0, max_value=60_000))


@st.composite
def sales(draw: st.DrawFn) -> SaleFacts:
    return SaleFacts(
        draw(TIMES),
        draw(st.sampled_from(LEVELS)),
        tuple(draw(st.lists(line_facts, max_size=5))),
        tuple(draw(st.lists(tender_facts, max_size=3))),
    )
