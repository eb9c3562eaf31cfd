"""HQ reads every entry's stock moves on a fast path; it must take exactly what the
field-by-field reading takes and leave every fault to it, so refusals name the field."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hq import inventory_plan
from hq.inventory_plan import MAX_FEN, MAX_QTY, InventoryPlan
from hq.payload import MAX_ID_CHARS
from protocol.entry import GENESIS_HASH, Entry
from protocol.errors import Refused

good_text = st.text(min_size=1, max_size=4)
good_qty = st.integers(-MAX_QTY, MAX_QTY)
good_fen = st.integers(-MAX_FEN, MAX_FEN)
valid_moves = st.fixed_dictionaries(
    {"warehouse": good_text, "sku": good_text, "cause": good_text, "qty": good_qty, "cost_fen": good_fen},
    optional={
        "correction_fen": st.one_of(good_fen, st.none()),
        "variance_fen": st.one_of(good_fen, st.none()),
    },
)
# What each field may be broken into: each bound just crossed, the wrong type.
_TEXT_FAULTS = ["", "x" * (MAX_ID_CHARS + 1), None, 7]
BREAKS: dict[str, list[Any]] = {
    "warehouse": _TEXT_FAULTS,
    "sku": _TEXT_FAULTS,
    "cause": _TEXT_FAULTS,
    "qty": [-MAX_QTY - 1, MAX_QTY + 1, True, None, "7", 1.5],
    "cost_fen": [-MAX_FEN - 1, MAX_FEN + 1, False, None, "7"],
    "correction_fen": [-MAX_FEN - 1, MAX_FEN + 1, True, "7"],
    "variance_fen": [-MAX_FEN - 1, MAX_FEN + 1, True, "7"],
}


@st.composite
def moves(draw: st.DrawFn) -> Any:
    """A valid move, or one with a single field broken or left out."""
    move = dict(draw(valid_moves))
    if draw(st.booleans()):
        field = draw(st.sampled_from(sorted(BREAKS)))
        if draw(st.integers(0, 3)):
            move[field] = draw(st.sampled_from(BREAKS[field]))
        else:
            move.pop(field, None)
    return move


payloads = st.one_of(
    st.fixed_dictionaries({"moves": st.lists(moves(), max_size=3)}),
    st.fixed_dictionaries({"moves": st.lists(st.one_of(moves(), st.integers()), max_size=3)}),
    st.fixed_dictionaries({"moves": st.one_of(st.none(), st.integers(), st.text(max_size=2))}),
    st.just({}),
)


def _entry(payload: Any) -> Entry:
    return Entry("BR01", 1, 1, GENESIS_HASH, "sale", "s-1", "checkout", payload, b"", b"")


def _outcome(plan_moves: Any, payload: Any) -> tuple[str, Any]:
    plan = InventoryPlan()
    try:
        plan_moves(plan, _entry(payload))
    except Refused as refusal:
        return "refused", str(refusal)
    return "planned", plan.moves


@settings(max_examples=1000)
@given(payload=payloads)
def test_the_fast_reading_of_moves_agrees_with_the_field_by_field_one(payload: Any) -> None:
    assert _outcome(inventory_plan.plan_moves, payload) == _outcome(
        inventory_plan._plan_moves_naming_faults, payload
    )
