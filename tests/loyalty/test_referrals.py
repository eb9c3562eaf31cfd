"""Multi-level referral points (loyalty.referrals, FEATURES L5): who earns what up the
chain, never for oneself, a cycle stops the walk, and one referral pays once however
often it is computed, replicated or merged."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.errors import InvalidPointsRecord
from loyalty.referrals import ReferralAward, award_id, one_per_id, referral_awards
from loyalty.rules import PointsSettings
from tests.loyalty.strategies import PROPERTY

TWO_LEVELS = PointsSettings(referral_depth=2, referral_points=(100, 50))


def test_a_refers_b_and_b_refers_c() -> None:
    """B joins, referred by A: A earns level 1 (100). C joins, referred by B: B earns
    level 1 (100), A level 2 (50)."""
    assert referral_awards("B", ["A"], TWO_LEVELS) == (ReferralAward("referral:B:1", "A", "B", 1, 100),)
    assert referral_awards("C", ["B", "A"], TWO_LEVELS) == (
        ReferralAward("referral:C:1", "B", "C", 1, 100),
        ReferralAward("referral:C:2", "A", "C", 2, 50),
    )


def test_the_depth_bounds_the_walk() -> None:
    """Depth 1: D's join pays C only, however long the chain."""
    one = PointsSettings(referral_depth=1, referral_points=(100, 50))
    assert [award.referrer for award in referral_awards("D", ["C", "B", "A"], one)] == ["C"]
    assert [award.referrer for award in referral_awards("D", ["C", "B", "A"], TWO_LEVELS)] == ["C", "B"]


def test_a_level_with_no_points_pays_nothing_and_the_walk_goes_on() -> None:
    """Level 1 at 0 and level 3 not listed: only the level-2 referrer earns."""
    settings = PointsSettings(referral_depth=3, referral_points=(0, 50))
    assert referral_awards("D", ["C", "B", "A"], settings) == (
        ReferralAward("referral:D:2", "B", "D", 2, 50),
    )


def test_nobody_earns_for_referring_themselves() -> None:
    assert referral_awards("A", ["A"], TWO_LEVELS) == ()


def test_a_cycle_stops_at_the_first_repeat() -> None:
    """C was referred by B, B by A, and A (by a data error) by B: the walk pays B and A
    and stops at the repeat of B; a chain back to C itself stops there too."""
    deep = PointsSettings(referral_depth=5, referral_points=(100, 50, 25, 10, 5))
    assert [a.referrer for a in referral_awards("C", ["B", "A", "B", "A"], deep)] == ["B", "A"]
    assert [a.referrer for a in referral_awards("C", ["B", "C", "A"], deep)] == ["B"]


def test_an_awards_id_is_the_referred_member_and_the_level() -> None:
    assert award_id("member-7", 2) == "referral:member-7:2"
    with pytest.raises(InvalidPointsRecord, match="a referral award's id is 'referral:C:1'"):
        ReferralAward("award-1", "B", "C", 1, 100)


def test_the_same_referral_replicated_merged_or_computed_twice_pays_once() -> None:
    """Equal ids are one award: computed at two branches and delivered twice, C's join
    still pays B 100 and A 50, once each."""
    at_branch_1 = referral_awards("C", ["B", "A"], TWO_LEVELS)
    at_branch_2 = referral_awards("C", ["B", "A"], TWO_LEVELS)
    paying = one_per_id([*at_branch_1, *at_branch_2, *at_branch_1])
    assert sorted((a.referrer, a.points) for a in paying.values()) == [("A", 50), ("B", 100)]


def test_two_different_copies_under_one_id_keep_the_larger() -> None:
    """Settings changed between two computations (100 then 120 for level 1): the larger
    award stands, whichever arrived first; never against the member."""
    small = ReferralAward("referral:C:1", "B", "C", 1, 100)
    large = ReferralAward("referral:C:1", "B", "C", 1, 120)
    assert one_per_id([small, large]) == one_per_id([large, small]) == {"referral:C:1": large}


@PROPERTY
@given(
    chain=st.lists(st.sampled_from("ABCDEFG"), max_size=8),
    depth=st.integers(min_value=0, max_value=10),
    points=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
    seed=st.integers(),
)
def test_awards_are_bounded_distinct_and_pay_once_in_any_order(
    chain: list[str], depth: int, points: list[int], seed: int
) -> None:
    settings = PointsSettings(referral_depth=depth, referral_points=tuple(points))
    awards = referral_awards("Z", chain, settings)
    assert len(awards) <= depth
    referrers = [award.referrer for award in awards]
    assert len(set(referrers)) == len(referrers)
    assert "Z" not in referrers
    for award in awards:
        assert award.points == points[award.level - 1] > 0
        assert chain[award.level - 1] == award.referrer
    copies = [*awards, *awards]
    random.Random(seed).shuffle(copies)
    assert one_per_id(copies) == {award.award_id: award for award in awards}
