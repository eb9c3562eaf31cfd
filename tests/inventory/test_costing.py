"""Costing worked examples (figures by hand, in fen) and the conservation property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory.costing import METHODS, CostingError, CostState, issue, receive


def test_fifo_takes_the_oldest_layers_first_and_a_return_comes_back_at_its_cost() -> None:
    # 10 at 10.00 and 10 at 12.00; selling 15 costs 10 x 10.00 + 5 x 12.00.
    state = receive(receive(CostState("fifo"), 10, 10_000).state, 10, 12_000).state
    sold = issue(state, 15)
    assert (sold.cost_fen, sold.state.qty, sold.state.cost_fen) == (16_000, 5, 6_000)
    # A customer returns 2 of the 12.00 units: they come back at what they cost.
    back = receive(sold.state, 2, 2_400).state
    again = issue(back, 7)
    assert (again.cost_fen, again.state.qty) == (6_000 + 2_400, 0)


def test_lifo_takes_the_newest_layers_first() -> None:
    state = receive(receive(CostState("lifo"), 10, 10_000).state, 10, 12_000).state
    sold = issue(state, 15)
    # 10 x 12.00 + 5 x 10.00.
    assert (sold.cost_fen, sold.state.qty, sold.state.cost_fen) == (17_000, 5, 5_000)


def test_moving_average_reprices_on_each_receipt() -> None:
    state = receive(CostState("moving_average"), 10, 10_000).state
    first = issue(state, 4)
    assert first.cost_fen == 4_000
    # 6 left at 10.00 plus 6 at 15.00: 12 at 12.50.
    mixed = receive(first.state, 6, 9_000).state
    assert (mixed.qty, mixed.cost_fen, mixed.last_unit_fen) == (12, 15_000, 1_250)
    assert issue(mixed, 12).cost_fen == 15_000


def test_a_third_of_a_fen_is_never_lost() -> None:
    state = receive(CostState("moving_average"), 3, 1_000).state
    one = issue(state, 1)  # 333.33 rounds to 333; the 667 left are exactly what remains
    rest = issue(one.state, 2)
    assert (one.cost_fen, rest.cost_fen, rest.state.cost_fen) == (333, 667, 0)


@pytest.mark.parametrize(
    ("received_fen", "issued_fen"),
    [
        (301, 151),  # 150.5: half up gives 151; rounding down or to even would give 150
        (303, 152),  # 151.5: half up gives 152, as rounding to even would; down gives 151
        (299, 150),  # 149.5: half up gives 150; down gives 149
    ],
)
def test_half_a_fen_rounds_up(received_fen: int, issued_fen: int) -> None:
    """The one rounding rule (inventory.costing): to the nearest fen, a half fen up."""
    state = receive(CostState("moving_average"), 2, received_fen).state
    one = issue(state, 1)
    assert (one.cost_fen, one.state.cost_fen) == (issued_fen, received_fen - issued_fen)


def test_specified_cost_carries_stock_at_that_cost_and_books_the_difference_as_variance() -> None:
    state = CostState("specified", specified_unit_fen=1_000)
    received = receive(state, 10, 11_000)  # bought at 11.00 against a specified 10.00
    assert (received.variance_fen, received.state.cost_fen) == (1_000, 10_000)
    assert issue(received.state, 3).cost_fen == 3_000


def test_selling_into_negative_stock_is_costed_provisionally_and_corrected_by_the_receipt() -> None:
    # Policy: a branch is never stopped from selling. Last known cost 10.00.
    state = issue(receive(CostState("fifo"), 2, 2_000).state, 2).state
    oversold = issue(state, 3)
    assert (oversold.cost_fen, oversold.provisional_qty, oversold.state.qty) == (3_000, 3, -3)
    # The receipt arrives: 5 at 12.00 each. The 3 oversold cost 2.00 each more than
    # booked: 3 x 12.00 - 3 x 10.00 = 6.00 corrects cost of goods; 2 go on the shelf.
    received = receive(oversold.state, 5, 6_000)
    assert (received.correction_fen, received.state.qty, received.state.cost_fen) == (600, 2, 2_400)


def test_lifo_a_return_is_the_newest_layer_and_oversold_units_are_corrected_by_the_receipt() -> None:
    state = receive(receive(CostState("lifo"), 10, 10_000).state, 10, 12_000).state
    sold = issue(state, 15)  # 10 x 12.00 + 5 x 10.00
    assert (sold.cost_fen, sold.state.cost_fen) == (17_000, 5_000)
    # 2 of the 12.00 units come back at their sale cost and are now the newest layer.
    back = receive(sold.state, 2, 2_400).state
    again = issue(back, 4)  # the 2 returned at 12.00, then 2 of the 10.00 ones
    assert (again.cost_fen, again.state.qty, again.state.cost_fen) == (4_400, 3, 3_000)
    # 5 more sold with 3 on hand: 3 x 10.00 and 2 provisionally at the last unit cost, 12.00.
    oversold = issue(again.state, 5)
    assert (oversold.cost_fen, oversold.provisional_qty, oversold.state.qty) == (5_400, 2, -2)
    # 4 arrive at 13.00: the 2 oversold cost 2 x 1.00 more; 2 go on the shelf at 13.00.
    received = receive(oversold.state, 4, 5_200)
    assert (received.correction_fen, received.state.qty, received.state.cost_fen) == (200, 2, 2_600)


def test_moving_average_a_return_reaverages_and_oversold_units_are_corrected_by_the_receipt() -> None:
    state = receive(CostState("moving_average"), 10, 10_000).state
    sold = issue(state, 4)
    assert (sold.cost_fen, sold.state.cost_fen) == (4_000, 6_000)
    # 2 sold earlier at 12.00 come back at that cost: 8 units worth 84.00, 10.50 each.
    back = receive(sold.state, 2, 2_400).state
    assert (back.qty, back.cost_fen, back.last_unit_fen) == (8, 8_400, 1_050)
    # 10 sold with 8 on hand: 84.00 for the 8, and 2 x 10.50 provisionally.
    oversold = issue(back, 10)
    assert (oversold.cost_fen, oversold.provisional_qty, oversold.state.cost_fen) == (10_500, 2, -2_100)
    # 10 arrive at 11.00: the 2 oversold cost 2 x 0.50 more; 8 stay at 11.00.
    received = receive(oversold.state, 10, 11_000)
    assert (received.correction_fen, received.state.qty, received.state.cost_fen) == (100, 8, 8_800)
    assert received.state.last_unit_fen == 1_100
    # Conservation by hand: 100.00 + 24.00 + 110.00 in = 40.00 + 105.00 + 1.00 out + 88.00 on hand.
    assert 10_000 + 2_400 + 11_000 == 4_000 + 10_500 + 100 + 8_800


def test_specified_cost_a_return_and_oversold_units_stay_at_that_cost_and_prices_go_to_variance() -> None:
    state = CostState("specified", specified_unit_fen=1_000)
    bought = receive(state, 5, 5_500)  # 5 at 11.00 against 10.00: 5.00 of variance
    assert (bought.variance_fen, bought.state.cost_fen) == (500, 5_000)
    oversold = issue(bought.state, 7)  # 5 on hand and 2 beyond, all at 10.00
    assert (oversold.cost_fen, oversold.provisional_qty, oversold.state.cost_fen) == (7_000, 2, -2_000)
    # One comes back at its sale cost, 10.00: it covers one oversold unit, nothing to correct.
    back = receive(oversold.state, 1, 1_000)
    assert (back.correction_fen, back.variance_fen, back.state.qty, back.state.cost_fen) == (0, 0, -1, -1_000)
    # 4 arrive at 12.00: 8.00 over the specified cost is variance, not a correction.
    received = receive(back.state, 4, 4_800)
    assert (received.correction_fen, received.variance_fen) == (0, 800)
    assert (received.state.qty, received.state.cost_fen) == (3, 3_000)
    # Conservation by hand: 55.00 + 10.00 + 48.00 in = 70.00 + 5.00 + 8.00 out + 30.00 on hand.
    assert 5_500 + 1_000 + 4_800 == 7_000 + 500 + 800 + 3_000


def test_a_product_never_received_is_costed_at_its_preset_purchase_price() -> None:
    state = CostState("moving_average", last_unit_fen=850)
    assert issue(state, 2).cost_fen == 1_700


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: CostState("average"), "unknown costing method"),
        (lambda: CostState("specified"), "specified_unit_fen"),
        (lambda: receive(CostState("fifo"), 0, 100), "qty must be positive"),
        (lambda: receive(CostState("fifo"), 1, -1), "cannot be negative"),
        (lambda: receive(CostState("fifo"), 1, 1.5), "must be an integer"),  # type: ignore[arg-type]
        (lambda: issue(CostState("fifo"), -2), "qty must be positive"),
    ],
)
def test_impossible_calls_are_refused(call: object, message: str) -> None:
    with pytest.raises(CostingError, match=message):
        call()  # type: ignore[operator]


def test_a_return_fills_the_short_its_sale_left_at_the_cost_it_was_issued_at() -> None:
    """FIFO: 1 at 1.00 and 1 at 50.00 on hand (51.00). A sale of 3 takes both and one
    unit ahead of stock at the last unit cost, 50.00: cost 101.00, stock (-1, -50.00).
    The full return brings 3 back at 101.00: the short is filled at its 50.00 (no
    correction) and 2 are on hand at the 51.00 left, as before the sale. A purchase
    receipt of the same 3 at 101.00 fills it at a third, 33.67, and corrects -16.33."""
    state = receive(receive(CostState("fifo"), 1, 100).state, 1, 5_000).state
    sold = issue(state, 3)
    assert (sold.cost_fen, sold.provisional_qty, sold.state.qty, sold.state.cost_fen) == (
        10_100,
        1,
        -1,
        -5_000,
    )
    back = receive(sold.state, 3, 10_100, returned=True)
    assert (back.correction_fen, back.state.qty, back.state.cost_fen) == (0, 2, 5_100)
    bought = receive(sold.state, 3, 10_100)
    assert (bought.correction_fen, bought.state.qty, bought.state.cost_fen) == (-1_633, 2, 6_733)


def test_a_return_that_cannot_fill_the_short_at_its_cost_corrects_the_difference() -> None:
    """3 sold ahead of stock at 10.00 (short -3, -30.00). One comes back at 4.00: it fills
    one unit of the short, whose 10.00 never happened; 6.00 comes off cost of goods.
    Three come back at 40.00: they fill the short at its 30.00 and nothing is left to
    carry the other 10.00, which goes to cost of goods too."""
    short = issue(CostState("fifo", last_unit_fen=1_000), 3).state
    one = receive(short, 1, 400, returned=True)
    assert (one.correction_fen, one.state.qty, one.state.cost_fen) == (-600, -2, -2_000)
    three = receive(short, 3, 4_000, returned=True)
    assert (three.correction_fen, three.state.qty, three.state.cost_fen) == (1_000, 0, 0)


receipts = st.lists(st.tuples(st.integers(1, 20), st.integers(0, 50_000)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(("fifo", "lifo", "moving_average")), st.integers(0, 5_000), receipts, st.integers(1, 60)
)
def test_a_sale_and_its_full_return_leave_stock_and_its_cost_as_they_were(
    method: str, preset: int, bought: list[tuple[int, int]], sold_qty: int
) -> None:
    """Whatever was on hand (never short) and however far the sale ran past it."""
    state = CostState(method, last_unit_fen=preset)
    for qty, cost in bought:
        state = receive(state, qty, cost).state
    sold = issue(state, sold_qty)
    back = receive(sold.state, sold_qty, sold.cost_fen, returned=True)
    assert back.correction_fen == 0
    assert (back.state.qty, back.state.cost_fen) == (state.qty, state.cost_fen)


movements = st.lists(
    st.one_of(
        st.tuples(st.just("in"), st.integers(1, 50), st.integers(0, 100_000)),
        st.tuples(st.just("back"), st.integers(1, 50), st.integers(0, 100_000)),
        st.tuples(st.just("out"), st.integers(1, 50), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(METHODS), st.integers(0, 5_000), movements)
def test_any_movements_conserve_stock_and_cost(
    method: str, preset: int, moves: list[tuple[str, int, int]]
) -> None:
    state = CostState(
        method, last_unit_fen=preset, specified_unit_fen=preset if method == "specified" else None
    )
    qty_in = qty_out = cost_in = cost_out = 0
    for direction, qty, cost in moves:
        if direction in ("in", "back"):
            received = receive(state, qty, cost, returned=direction == "back")
            state = received.state
            qty_in += qty
            cost_in += cost
            cost_out += received.correction_fen + received.variance_fen
        else:
            issued = issue(state, qty)
            state = issued.state
            qty_out += qty
            cost_out += issued.cost_fen
        assert state.qty == qty_in - qty_out
        assert cost_in == cost_out + state.cost_fen
        # Never positive and negative layers at once, and never a layer of nothing.
        assert all(layer.qty > 0 for layer in state.layers) or (
            len(state.layers) == 1 and state.layers[0].qty < 0
        )
