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


movements = st.lists(
    st.one_of(
        st.tuples(st.just("in"), st.integers(1, 50), st.integers(0, 100_000)),
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
        if direction == "in":
            received = receive(state, qty, cost)
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
