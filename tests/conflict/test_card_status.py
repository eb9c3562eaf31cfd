"""Card status: a loss wins over concurrent activity; an unlock clears only the losses it saw."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.card_status import CardEvent, merge_events, status
from conflict.errors import CardEventConflict, InvalidRecord
from tests.conflict.strategies import PROPERTY, card_event_sets


def ev(event_id: str, kind: str, hlc: int, node: str, seen: set[str] | None = None) -> CardEvent:
    return CardEvent(event_id, "card-1", kind, hlc, node, frozenset(seen or ()))


def test_a_loss_reported_while_another_branch_unlocks_an_older_loss_stays_in_force() -> None:
    # Loss L1 at A (hlc 1), seen by B. Partitioned: B unlocks L1 (hlc 5); A reports L2 (hlc 4).
    l1, l2 = ev("L1", "report_lost", 1, "A"), ev("L2", "report_lost", 4, "A")
    unlock = ev("U1", "unlock", 5, "B", {"L1"})
    at_a = merge_events({"L1": l1}, {"L2": l2})
    at_b = merge_events({"L1": l1}, {"U1": unlock})
    assert status(merge_events(at_a, at_b).values()) == "lost"
    assert status(at_b.values()) == "active"


def test_later_unrelated_activity_at_another_branch_does_not_clear_a_loss() -> None:
    # A reports the card lost (hlc 3); B, unaware, suspends and resumes it (hlc 8, 9).
    events = [ev("L", "report_lost", 3, "A"), ev("S", "suspend", 8, "B"), ev("R", "resume", 9, "B", {"S"})]
    assert status(events) == "lost"


def test_an_unlock_that_saw_the_loss_clears_it() -> None:
    assert status([ev("L", "report_lost", 3, "A"), ev("U", "unlock", 4, "B", {"L"})]) == "active"


def test_a_resume_clears_only_the_suspensions_it_saw() -> None:
    events = [ev("S1", "suspend", 1, "A"), ev("S2", "suspend", 2, "C"), ev("R", "resume", 3, "B", {"S1"})]
    assert status(events) == "suspended"
    assert status([*events, ev("R2", "resume", 4, "C", {"S2"})]) == "active"


def test_returned_is_terminal() -> None:
    events = [ev("L", "report_lost", 1, "A"), ev("X", "return", 2, "A"), ev("U", "unlock", 3, "B", {"L"})]
    assert status(events) == "returned"


def test_lost_takes_precedence_over_suspended() -> None:
    assert status([ev("S", "suspend", 1, "A"), ev("L", "report_lost", 2, "B")]) == "lost"


def test_only_unlock_and_resume_carry_seen_ids() -> None:
    with pytest.raises(InvalidRecord):
        ev("L", "report_lost", 1, "A", {"X"})
    with pytest.raises(InvalidRecord):
        ev("Q", "freeze", 1, "A")


def test_two_different_events_under_one_id_are_refused() -> None:
    with pytest.raises(CardEventConflict):
        merge_events({"E": ev("E", "suspend", 1, "A")}, {"E": ev("E", "report_lost", 1, "A")})


@PROPERTY
@given(card_event_sets(), st.data())
def test_status_is_the_same_for_any_split_and_delivery_order(
    events: dict[str, CardEvent], data: st.DataObject
) -> None:
    items = list(events.values())
    part = data.draw(st.lists(st.sampled_from(items), unique=True) if items else st.just([]))
    a = {e.event_id: e for e in part}
    b = {e.event_id: e for e in items if e.event_id not in a or data.draw(st.booleans())}
    c = {e.event_id: e for e in part[: len(part) // 2]}
    ab = merge_events(a, b)
    assert ab == merge_events(b, a) == merge_events(ab, a)
    assert merge_events(merge_events(a, b), c) == merge_events(a, merge_events(b, c))
    assert status(ab.values()) == status(items) == status(reversed(items))


@PROPERTY
@given(card_event_sets())
def test_a_loss_no_unlock_has_seen_always_keeps_the_card_lost_or_returned(
    events: dict[str, CardEvent],
) -> None:
    cleared = {s for e in events.values() if e.kind == "unlock" for s in e.seen}
    if any(e.kind == "report_lost" and e.event_id not in cleared for e in events.values()):
        assert status(events.values()) in ("lost", "returned")
