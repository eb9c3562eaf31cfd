"""Points rules and settings as HQ authors them (loyalty.rules): what is in force when,
and every rule or setting that cannot apply as written refused with a message that
says what to fix."""

from __future__ import annotations

import pytest

from loyalty.errors import InvalidPointsSettings, InvalidRule
from loyalty.rules import PointsRule, PointsSettings, in_force


def test_a_rule_is_in_force_from_its_start_until_just_before_its_end() -> None:
    week = PointsRule("WEEK", "holiday", "", 2000, valid_from_ms=1_000, valid_until_ms=2_000)
    assert [in_force(week, at) for at in (999, 1_000, 1_999, 2_000)] == [False, True, True, False]


def test_an_open_ended_rule_is_in_force_from_its_start_on() -> None:
    forever = PointsRule("BASE", "base", "", 1000, valid_from_ms=1_000)
    assert [in_force(forever, at) for at in (999, 1_000, 253_402_300_799_999)] == [False, True, True]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"kind": "holiday", "valid_from_ms": 2_000, "valid_until_ms": 1_000},
            "points rule R: the rule window ends before it starts",
        ),
        (
            {"kind": "holiday", "valid_from_ms": 2_000, "valid_until_ms": 2_000},
            "the rule window ends before it starts",
        ),
        ({"kind": "holiday", "factor_milli": -1000}, "factor_milli cannot be negative"),
        ({"kind": "holiday", "factor_milli": 1.5}, "factor_milli must be an integer, not float"),
        ({"kind": "holiday", "factor_milli": True}, "factor_milli must be an integer, not bool"),
        ({"kind": "holiday", "factor_milli": 10_000_001}, "factor_milli must be 0 to 10,000,000"),
        ({"kind": "bonus"}, "unknown kind 'bonus'"),
        (
            {"kind": "tier", "min_fen": 500_000, "max_fen": 100_000},
            "the tier's top (100,000 fen) is below its bottom",
        ),
        ({"kind": "category"}, "a category rule needs a target (the product category)"),
        ({"kind": "product"}, "a product rule needs a target (the product sku)"),
        ({"kind": "level"}, "a level rule needs a target (the member level)"),
        ({"kind": "tender"}, "a tender rule needs a target (the tender kind)"),
        ({"kind": "extra"}, "an extra rule needs a target (the product sku)"),
        ({"kind": "base", "target": "A"}, "a base rule applies to the whole sale and has no target"),
        ({"kind": "holiday", "min_fen": 100}, "only a tier rule has an amount bracket"),
        ({"kind": "holiday", "code": ""}, "a points rule's code must not be empty"),
        ({"kind": "holiday", "code": "X" * 41}, "a points rule's code must be at most 40 characters"),
        ({"kind": "holiday", "valid_from_ms": -1}, "valid_from_ms must be 0 to"),
    ],
)
def test_a_rule_that_cannot_apply_as_written_is_refused(fields: dict[str, object], message: str) -> None:
    given: dict[str, object] = {"code": "R", "target": "", "factor_milli": 1000, **fields}
    with pytest.raises(InvalidRule, match=message.replace("(", r"\(").replace(")", r"\)")):
        PointsRule(**given)  # type: ignore[arg-type]


def test_a_tier_with_no_upper_bound_and_a_zero_factor_are_allowed() -> None:
    assert PointsRule("TOP", "tier", "", 2000, min_fen=1_000_001).max_fen == 0
    assert PointsRule("POINTS", "tender", "points", 0).factor_milli == 0


def test_a_refused_rule_says_its_http_status_and_code() -> None:
    assert (InvalidRule.http_status, InvalidRule.code) == (422, "invalid_points_rule")


def test_default_settings_multiply_and_never_expire() -> None:
    settings = PointsSettings()
    assert (settings.combine, settings.expiry_days, settings.referral_depth) == ("multiply", 0, 2)
    assert (settings.referral_points, settings.referral_trigger, settings.point_value_fen) == (
        (),
        "register",
        1,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"combine": "sum"}, "unknown combine mode 'sum'"),
        ({"expiry_days": -1}, "expiry_days must be 0 to 36,500"),
        ({"referral_depth": 11}, "referral_depth must be 0 to 10"),
        ({"referral_points": [100]}, "referral_points must be a tuple"),
        ({"referral_points": (100, -5)}, "referral_points for level 2 must be 0 to"),
        ({"referral_points": (1,) * 11}, "referral_points names 11 levels; at most 10"),
        ({"referral_trigger": "visit"}, "unknown referral trigger 'visit'"),
        ({"point_value_fen": 0}, "point_value_fen must be 1 to 10,000"),
    ],
)
def test_settings_out_of_range_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidPointsSettings, match=message):
        PointsSettings(**fields)  # type: ignore[arg-type]
