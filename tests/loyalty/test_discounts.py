"""The discount rules (loyalty.discounts): each rule with a worked example whose figures
can be checked by hand, the refusals, and the property that holds for every sale."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.discounts import (
    Bundle,
    CardDiscount,
    DiscountReason,
    ManualDiscountTooLarge,
    PriceLine,
    RebateRule,
    SpecialPrice,
    at_shelf,
    explain_en,
    explain_zh,
    price,
    rebate_for,
    shown,
    spread,
)
from loyalty.errors import InvalidDiscount

NOW = 1_000_000
GOLD = CardDiscount("G-0001", "GOLD", 85)
TEAPOT = PriceLine("TEAPOT", 1, 10_000, 10_000)  # 100.00 yuan
CUPS = PriceLine("CUP", 4, 1_000, 1_000)  # 10.00 yuan each
TEA_SET = Bundle("TEA-SET", (("TEAPOT", 1), ("CUP", 4)), 12_000)  # 120.00 a set


def test_a_card_pays_its_rate_of_the_list_price_rounded_half_down_per_line() -> None:
    """A gold card (85%) buys 3 pens at 0.99 and a notebook at 12.34. By hand:
    pens 2.97 x 0.85 = 2.5245 -> 2.52 (0.45 off); notebook 12.34 x 0.85 = 10.489 ->
    10.49 (1.85 off). Half a fen goes to the customer: 0.10 x 0.85 x 1 = 0.085 -> 0.08."""
    pens, notebook = PriceLine("PEN", 3, 99, 99), PriceLine("NOTE", 1, 1_234, 1_234)
    priced = price([pens, notebook], NOW, card=GOLD)
    assert priced.amounts == (252, 1_049)
    assert priced.discounts == (45, 185)
    assert priced.reasons == (DiscountReason("card", "GOLD", "G-0001", (0, 1), 230, 0, 85),)
    half = price([PriceLine("GUM", 1, 10, 10)], NOW, card=GOLD)
    assert half.amounts == (8,)  # 8.5 fen: half down, to the customer


def test_the_better_of_special_price_and_card_applies_never_both() -> None:
    """Tea list 50.00, special price 44.00 this week; gold card 85% = 42.50 beats it,
    so the card applies (7.50 off) and the special does not. A silver card (90% = 45.00)
    loses to the special: 44.00 (6.00 off). Never 44.00 x 0.85."""
    tea = PriceLine("TEA", 1, 5_000, 5_000)
    offer = SpecialPrice("TEA-WEEK", "TEA", 4_400, NOW - 1, NOW + 1)
    gold = price([tea], NOW, [offer], card=GOLD)
    assert (gold.amounts, gold.reasons[0].kind) == ((4_250,), "card")
    silver = price([tea], NOW, [offer], card=CardDiscount("S-1", "SILVER", 90))
    assert silver.amounts == (4_400,)
    assert silver.reasons == (DiscountReason("special", "TEA-WEEK", "TEA", (0,), 600, 4_400),)


def test_a_special_price_applies_only_within_its_window_and_never_raises_a_price() -> None:
    tea = PriceLine("TEA", 2, 5_000, 5_000)
    week = SpecialPrice("TEA-WEEK", "TEA", 4_400, NOW, NOW + 100)
    assert price([tea], NOW, [week]).amounts == (8_800,)  # from inclusive
    assert price([tea], NOW + 100, [week]).amounts == (10_000,)  # until exclusive
    assert price([tea], NOW - 1, [week]).amounts == (10_000,)
    dearer = SpecialPrice("TEA-UP", "TEA", 6_000)
    assert price([tea], NOW, [dearer]) == price([tea], NOW)
    cheaper = SpecialPrice("TEA-LOW", "TEA", 4_000)
    assert price([tea], NOW, [week, cheaper]).reasons[0].code == "TEA-LOW"  # the lowest wins


def test_a_card_discount_does_not_stack_on_a_products_own_member_price() -> None:
    """A ring listed 2,000.00 with its own member price 1,800.00 (shelf price): a 95%
    card would make 1,900.00, dearer than the shelf, so no discount; an 85% card makes
    1,700.00 (100.00 off the shelf price, not 1,800 x 0.85)."""
    ring = PriceLine("RING", 1, 180_000, 200_000)
    assert price([ring], NOW, card=CardDiscount("C", "BLUE", 95)).discounts == (0,)
    assert price([ring], NOW, card=GOLD).amounts == (170_000,)


def test_a_bundle_price_is_spread_over_its_lines_by_list_price_with_largest_remainder() -> None:
    """Teapot 100.00 + 4 cups 10.00 = 140.00 listed, bundle 120.00. By hand the shares
    are 120 x 100/140 = 85.714 and 120 x 40/140 = 34.286: floors 85.71 and 34.28, the
    fen left over to the larger remainder (the cups' .6): 85.71 + 34.29 = 120.00."""
    priced = price([TEAPOT, CUPS], NOW, bundles=[TEA_SET])
    assert priced.amounts == (8_571, 3_429)
    assert priced.total_fen == 12_000
    assert priced.reasons == (DiscountReason("bundle", "TEA-SET", "", (0, 1), 2_000, 12_000, 0, 1),)


def test_a_bundle_takes_whole_sets_and_the_rest_pay_their_price() -> None:
    """2 teapots and 9 cups hold 2 sets (2 teapots, 8 cups): 240.00, and the 9th cup
    10.00: 250.00 in all, 40.00 off."""
    priced = price(
        [PriceLine("TEAPOT", 2, 10_000, 10_000), PriceLine("CUP", 9, 1_000, 1_000)], NOW, bundles=[TEA_SET]
    )
    assert priced.total_fen == 25_000
    assert priced.discount_fen == 4_000
    assert priced.reasons[0].sets == 2


def test_a_bundle_applies_only_when_it_is_cheaper_than_the_card() -> None:
    """With a gold card the teapot is 85.00 and 4 cups 34.00: 119.00 beats the bundle's
    120.00, so the card applies to all (21.00 off). A 90% card makes 90.00 + 36.00 =
    126.00: the bundle wins (20.00 off) and the card takes nothing from those units."""
    gold = price([TEAPOT, CUPS], NOW, bundles=[TEA_SET], card=GOLD)
    assert (gold.total_fen, [r.kind for r in gold.reasons]) == (11_900, ["card"])
    silver = price([TEAPOT, CUPS], NOW, bundles=[TEA_SET], card=CardDiscount("S", "SILVER", 90))
    assert (silver.total_fen, [r.kind for r in silver.reasons]) == (12_000, ["bundle"])


def test_overlapping_bundles_go_greedily_to_the_bigger_saving() -> None:
    """A teapot and 4 cups: TEA-SET saves 20.00, POT-CUP (teapot + 1 cup for 105.00)
    saves 5.00. TEA-SET takes the teapot; POT-CUP finds none left."""
    pot_cup = Bundle("POT-CUP", (("TEAPOT", 1), ("CUP", 1)), 10_500)
    priced = price([TEAPOT, CUPS], NOW, bundles=[pot_cup, TEA_SET])
    assert [r.code for r in priced.reasons] == ["TEA-SET"]


def test_a_fixed_line_pays_its_given_price_and_takes_no_part_in_any_discount() -> None:
    """Goods redeemed for points (rule 6). A gold card (85%) buys a teapot and 4 cups, a
    bundle "teapot + 4 cups for 100.00" in force and a special price of 9.00 a cup, and
    redeems a teapot (its points worth 50.00) and 4 cups (3.00 each) beside them. By hand:
    - the paid lines: one set, cheaper than 85.00 + 4 x 8.50 = 119.00, so the bundle
      applies: 100.00 spread over shelf amounts 100.00 and 40.00 by largest remainder,
      71.428... -> 71.43 (the left-over fen to the larger remainder) and 28.57;
    - the fixed lines pay 50.00 and 12.00 as given: they make no second set, take no
      special price and no card rate, and a cup at 3.00 beside cups at 10.00 is no clash
      of prices."""
    special = SpecialPrice("CUP-9", "CUP", 900)
    bundle = Bundle("TEA-SET", (("TEAPOT", 1), ("CUP", 4)), 10_000)
    redeemed = [PriceLine("TEAPOT", 1, 5_000, 5_000, fixed=True), PriceLine("CUP", 4, 300, 300, fixed=True)]
    priced = price([TEAPOT, CUPS, *redeemed], NOW, [special], [bundle], GOLD)
    assert priced.amounts == (7_143, 2_857, 5_000, 1_200)
    assert priced.discounts == (2_857, 1_143, 0, 0)
    assert priced.reasons == (DiscountReason("bundle", "TEA-SET", "", (0, 1), 4_000, 10_000, 0, 1),)
    # Alone, fixed lines pay exactly their given price, whatever is in force.
    assert price(redeemed, NOW, [special], [bundle], GOLD).amounts == (5_000, 1_200)


def test_a_rebate_gives_the_most_back_of_the_rules_met() -> None:
    """Spend 300.00 get 30.00, spend 500.00 get 60.00: a spend of 499.99 gets 30.00, of
    500.00 gets 60.00, of 299.99 nothing; a rule out of its window gives nothing."""
    rules = [RebateRule("R300", 30_000, 3_000), RebateRule("R500", 50_000, 6_000, NOW + 1)]
    assert rebate_for(rules, NOW + 1, 49_999) == rules[0]
    assert rebate_for(rules, NOW + 1, 50_000) == rules[1]
    assert rebate_for(rules, NOW, 50_000) == rules[0]
    assert rebate_for(rules, NOW, 29_999) is None


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: SpecialPrice("S", "TEA", 0), "price_fen must be 1"),
        (lambda: SpecialPrice("S", "TEA", 100, 2_000, 1_000), "ends"),
        (lambda: Bundle("B", (("TEA", 1), ("TEA", 1)), 100), "twice"),
        (lambda: Bundle("B", (("TEA", 1),), 100), "one unit"),
        (lambda: Bundle("B", (), 100), "1 to"),
        (lambda: RebateRule("R", 10_000, 20_000), "at most what was spent"),
        (lambda: RebateRule("R", 10_000, 1_000, 5, 5), "ends"),
        (lambda: PriceLine("TEA", 1, 200, 100), "unit_price_fen"),
        (lambda: CardDiscount("C", "T", 0), "discount rate"),
        (lambda: price([TEAPOT, PriceLine("TEAPOT", 1, 9_000, 10_000)], NOW), "different prices"),
        (
            lambda: price([TEAPOT], NOW, [SpecialPrice("S", "TEAPOT", 1), SpecialPrice("S", "TEAPOT", 2)]),
            "share",
        ),
        (lambda: SpecialPrice("S", "TEA", 1.5), "integer"),  # type: ignore[arg-type]
        (lambda: PriceLine("TEA", 1, 100, 100, manual_fen=-1), "manual_fen"),
        (lambda: PriceLine("TEA", 1, 100, 100, manual_fen=1.5), "manual_fen"),  # type: ignore[arg-type]
        (lambda: PriceLine("TEA", 1, 100, 100, manual_fen=True), "manual_fen"),
    ],
)
def test_what_cannot_apply_as_written_is_refused(make: object, words: str) -> None:
    with pytest.raises(InvalidDiscount, match=words) as refused:
        make()  # type: ignore[operator]
    assert (refused.value.http_status, refused.value.code) == (422, "invalid_discount")


def test_spread_gives_the_left_over_fen_to_the_largest_remainders_ties_to_the_earlier() -> None:
    assert spread(10, [1, 1, 1]) == (4, 3, 3)
    assert spread(100, [3, 3, 3]) == (34, 33, 33)
    assert spread(7, [2, 5]) == (2, 5)
    assert spread(0, [4, 4]) == (0, 0)


def test_reasons_are_explained_in_both_languages_from_their_stored_fields() -> None:
    reason = price([TEAPOT, CUPS], NOW, card=GOLD).reasons[0]
    assert explain_en(reason) == "card G-0001 (GOLD): 85% of list, 21.00 yuan off"
    assert explain_zh(reason) == "会员卡 G-0001（GOLD）：8.5折，优惠 21.00 元"
    [listed] = shown([reason.to_json()])
    assert listed["text"] == explain_en(reason)
    assert listed["discount_fen"] == 2_100
    assert DiscountReason.from_json(reason.to_json()) == reason


# -- rule 7: a discount given at the till ----------------------------------------------


def test_a_till_discount_alone_comes_off_its_line_with_one_reason() -> None:
    """A teapot (100.00) and 4 cups (40.00), nothing on offer; the cashier takes 5.00
    off the teapot: 95.00 + 40.00 = 135.00, 5.00 off, one "manual" reason."""
    priced = price([dataclasses.replace(TEAPOT, manual_fen=500), CUPS], NOW)
    assert priced.amounts == (9_500, 4_000)
    assert priced.discounts == (500, 0)
    assert priced.reasons == (DiscountReason("manual", "", "", (0,), 500),)
    [reason] = priced.reasons
    assert explain_en(reason) == "till discount: 5.00 yuan off"
    assert explain_zh(reason) == "收银折让：优惠 5.00 元"
    assert DiscountReason.from_json(reason.to_json()) == reason
    assert shown([reason.to_json()])[0]["text"] == "till discount: 5.00 yuan off"


def test_a_till_discount_comes_off_what_the_card_left_the_line_to_pay() -> None:
    """A gold card (85%) makes the teapot 85.00 (15.00 off); the cashier takes 5.00
    more: 80.00, 20.00 off in all, the card's reason 15.00 and the till's 5.00. The card
    is worked out on the list price as before, not on 95.00."""
    priced = price([dataclasses.replace(TEAPOT, manual_fen=500)], NOW, card=GOLD)
    assert priced.amounts == (8_000,)
    assert priced.discounts == (2_000,)
    assert priced.reasons == (
        DiscountReason("card", "GOLD", "G-0001", (0,), 1_500, 0, 85),
        DiscountReason("manual", "", "", (0,), 500),
    )


def test_a_till_discount_on_bundled_lines_leaves_the_bundle_as_it_was() -> None:
    """The tea set makes the teapot 85.71 and the cups 34.29 (module docstring's spread).
    The cashier takes 10.00 off the cups and 0.71 off the teapot: 85.00 + 24.29 = 109.29;
    the bundle still took 20.00 off, the till 10.71 over both lines, in one reason."""
    lines = [dataclasses.replace(TEAPOT, manual_fen=71), dataclasses.replace(CUPS, manual_fen=1_000)]
    priced = price(lines, NOW, bundles=[TEA_SET])
    assert priced.amounts == (8_500, 2_429)
    assert priced.discounts == (1_500, 1_571)
    assert priced.reasons == (
        DiscountReason("bundle", "TEA-SET", "", (0, 1), 2_000, 12_000, 0, 1),
        DiscountReason("manual", "", "", (0, 1), 1_071),
    )
    assert sum(r.discount_fen for r in priced.reasons) == priced.discount_fen == 3_071


def test_a_till_discount_may_take_a_line_to_nothing_but_not_below() -> None:
    """With the gold card the teapot pays 85.00: 85.00 off leaves it at nothing; 85.01
    off is refused, naming the line and both amounts (never capped to 85.00)."""
    assert price([dataclasses.replace(TEAPOT, manual_fen=8_500)], NOW, card=GOLD).amounts == (0,)
    with pytest.raises(
        ManualDiscountTooLarge, match=r"line 1 \(TEAPOT\).*85\.01 yuan.*85\.00 yuan"
    ) as refused:
        price([CUPS, dataclasses.replace(TEAPOT, manual_fen=8_501)], NOW, card=GOLD)
    assert (refused.value.line, refused.value.manual_fen, refused.value.amount_fen) == (1, 8_501, 8_500)
    assert (refused.value.http_status, refused.value.code) == (422, "invalid_discount")


def test_a_line_redeemed_for_points_takes_no_till_discount() -> None:
    with pytest.raises(InvalidDiscount, match="redeemed for points"):
        PriceLine("TEAPOT", 1, 5_000, 5_000, fixed=True, manual_fen=100)


# -- the property: for every sale, whatever the offers --------------------------------

SKUS = ("A", "B", "C", "D")


@st.composite
def sales(draw: st.DrawFn) -> tuple[list[PriceLine], list[SpecialPrice], list[Bundle], CardDiscount | None]:
    listed = {sku: draw(st.integers(0, 50_000)) for sku in SKUS}
    shelf = {sku: draw(st.integers(0, listed[sku])) for sku in SKUS}
    lines = [
        PriceLine(sku, draw(st.integers(1, 30)), shelf[sku], listed[sku])
        for sku in draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=6))
    ]
    specials = [
        SpecialPrice(
            f"S{n}", draw(st.sampled_from(SKUS)), draw(st.integers(1, 50_000)), draw(st.integers(0, 2))
        )
        for n in range(draw(st.integers(0, 3)))
    ]
    bundles = [
        Bundle(
            f"B{n}",
            tuple(
                (sku, draw(st.integers(1, 4)))
                for sku in draw(st.lists(st.sampled_from(SKUS), min_size=2, max_size=3, unique=True))
            ),
            draw(st.integers(1, 200_000)),
        )
        for n in range(draw(st.integers(0, 3)))
    ]
    card = draw(st.none() | st.builds(CardDiscount, st.just("C1"), st.just("T"), st.integers(1, 100)))
    return lines, specials, bundles, card


@given(sales())
def test_lines_add_up_to_the_total_after_discounts_never_negative_never_above_their_price(
    sale: tuple[list[PriceLine], list[SpecialPrice], list[Bundle], CardDiscount | None],
) -> None:
    lines, specials, bundles, card = sale
    priced = price(lines, 1, specials, bundles, card)
    assert priced.total_fen == sum(priced.amounts)
    assert sum(priced.discounts) == sum(r.discount_fen for r in priced.reasons) == priced.discount_fen
    for line, amount, off in zip(lines, priced.amounts, priced.discounts, strict=True):
        assert 0 <= amount <= line.qty * line.unit_price_fen
        assert amount + off == line.qty * line.unit_price_fen
    # Never dearer than no discounts at all, whatever the offers.
    assert priced.total_fen <= sum(line.qty * line.unit_price_fen for line in lines)
    # The order HQ sent the offers in does not matter.
    assert price(lines, 1, specials[::-1], bundles[::-1], card) == priced


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**6), min_size=1, max_size=20).filter(any))
def test_a_spread_adds_up_exactly_and_no_part_exceeds_its_weight(total: int, weights: list[int]) -> None:
    total = min(total, sum(weights))
    parts = spread(total, weights)
    assert sum(parts) == total
    assert all(0 <= part <= weight for part, weight in zip(parts, weights, strict=True))


@given(
    lines=st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(1, 50), st.booleans()), min_size=1, max_size=8
    )
)
def test_with_nothing_on_offer_every_line_pays_its_shelf_amount(lines: list[tuple[str, int, bool]]) -> None:
    """The till's shortcut (node.services.discounts.price_sale: no bundle, no special
    price for the sale's products, no card) is what `price` itself gives."""
    shelf = {"A": 1_250, "B": 999, "C": 0}
    facts = [
        PriceLine(sku, qty, 700, 700, fixed=True)
        if fixed
        else PriceLine(sku, qty, shelf[sku], shelf[sku] + 1)
        for sku, qty, fixed in lines
    ]
    amounts = [line.qty * line.unit_price_fen for line in facts]
    assert price(facts, 1_000) == at_shelf(amounts)


@given(sales(), st.data())
def test_a_till_discount_comes_off_what_the_offers_left_and_changes_nothing_else(
    sale: tuple[list[PriceLine], list[SpecialPrice], list[Bundle], CardDiscount | None],
    data: st.DataObject,
) -> None:
    """Rule 7 for any sale: each line pays what the offers left it less the till's
    discount, the offers' reasons are untouched, one "manual" reason holds the till's
    part, and the reasons add up to the sale's discount. A fen more than a line pays
    after the offers is refused."""
    lines, specials, bundles, card = sale
    offered = price(lines, 1, specials, bundles, card)
    manual = [data.draw(st.integers(0, amount)) for amount in offered.amounts]
    given_lines = [dataclasses.replace(line, manual_fen=m) for line, m in zip(lines, manual, strict=True)]
    priced = price(given_lines, 1, specials, bundles, card)
    assert priced.amounts == tuple(a - m for a, m in zip(offered.amounts, manual, strict=True))
    assert priced.discounts == tuple(d + m for d, m in zip(offered.discounts, manual, strict=True))
    taken = tuple(n for n, m in enumerate(manual) if m)
    till = (DiscountReason("manual", "", "", taken, sum(manual)),) if taken else ()
    assert priced.reasons == offered.reasons + till
    assert sum(r.discount_fen for r in priced.reasons) == priced.discount_fen
    assert all(DiscountReason.from_json(r.to_json()) == r for r in priced.reasons)
    over = data.draw(st.integers(0, len(lines) - 1))
    given_lines[over] = dataclasses.replace(lines[over], manual_fen=offered.amounts[over] + 1)
    with pytest.raises(ManualDiscountTooLarge):
        price(given_lines, 1, specials, bundles, card)
