"""Card status (active, suspended, lost, returned) as a set of stamped events.

Shop rule: a loss report at any branch wins over concurrent activity; an unlock
clears only the loss reports it has seen, so a loss reported while the unlocking
branch was cut off stays in force. Suspend and resume work the same way (a resume
clears the suspensions it has seen). Returned is terminal. Precedence when several
hold: returned > lost > suspended > active. Merge is the union of events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from conflict.errors import CardEventConflict, InvalidRecord, check_int, check_text, union_by_id
from protocol.contract.fields import CARD_EVENT_CLEARS
from protocol.contract.fields import CARD_EVENT_KINDS as CONTRACT_CARD_EVENT_KINDS
from protocol.limits import MAX_SEEN_EVENTS as CONTRACT_MAX_SEEN_EVENTS

__all__ = [
    "CARD_EVENT_KINDS",
    "CLEARS",
    "MAX_SEEN_EVENTS",
    "STATUSES",
    "CardEvent",
    "add_event",
    "in_force",
    "merge_events",
    "status",
    "status_by_card",
]

STATUSES = ("active", "suspended", "lost", "returned")

# The words and the table of the rule are the wire contract's: a branch writes by
# them, every replica merges by them.
CARD_EVENT_KINDS = CONTRACT_CARD_EVENT_KINDS

# Which kind of event each clearing kind may name in `seen`: the table of the rule.
CLEARS: Mapping[str, str] = CARD_EVENT_CLEARS

# An unlock names the open reports its branch saw; a card has a handful at most.
MAX_SEEN_EVENTS = CONTRACT_MAX_SEEN_EVENTS

CardEvents = Mapping[str, "CardEvent"]


@dataclass(frozen=True, slots=True)
class CardEvent:
    """One status event on one card. `seen` (unlock and resume only) holds the ids of
    the loss reports or suspensions the writing branch had seen, which it clears."""

    event_id: str
    card_id: str
    kind: str
    hlc: int
    node: str
    seen: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        check_text(self.event_id, "event_id")
        check_text(self.card_id, "card_id")
        check_text(self.node, "node")
        check_int(self.hlc, "hlc")
        if self.kind not in CARD_EVENT_KINDS:
            raise InvalidRecord(f"unknown card event {self.kind!r}; expected one of {CARD_EVENT_KINDS}")
        if not isinstance(self.seen, frozenset) or not all(isinstance(s, str) for s in self.seen):
            raise InvalidRecord("seen must be a frozenset of event ids")
        if self.seen and self.kind not in CLEARS:
            raise InvalidRecord(f"a {self.kind} event clears nothing; only {sorted(CLEARS)} carry seen ids")
        if len(self.seen) > MAX_SEEN_EVENTS:
            raise InvalidRecord(f"an event may clear at most {MAX_SEEN_EVENTS} others")

    @property
    def stamp(self) -> tuple[int, str, str]:
        return (self.hlc, self.node, self.event_id)


def add_event(events: CardEvents, event: CardEvent) -> dict[str, CardEvent]:
    return merge_events(events, {event.event_id: event})


def merge_events(current: CardEvents, incoming: CardEvents) -> dict[str, CardEvent]:
    """Union of events by id; commutative, associative and idempotent."""
    for event_id, event in incoming.items():
        if event_id != event.event_id:
            raise InvalidRecord(f"event filed under {event_id!r} has id {event.event_id!r}")
    return union_by_id(current, incoming, CardEventConflict)


def in_force(events: Iterable[CardEvent], kind: str) -> list[CardEvent]:
    """The `report_lost` or `suspend` events no unlock or resume has cleared, by stamp."""
    if kind not in CLEARS.values():
        raise InvalidRecord(f"only {sorted(CLEARS.values())} can be in force")
    events = list(events)
    clearing_kind = next(k for k, cleared in CLEARS.items() if cleared == kind)
    cleared: set[str] = set()
    for event in events:
        if event.kind == clearing_kind:
            cleared |= event.seen
    return sorted((e for e in events if e.kind == kind and e.event_id not in cleared), key=lambda e: e.stamp)


def status(events: Iterable[CardEvent]) -> str:
    """The card's status from all its events (events of other cards are ignored by
    `status_by_card`; here every event is taken to be about the one card)."""
    events = list(events)
    if any(e.kind == "return" for e in events):
        return "returned"
    if in_force(events, "report_lost"):
        return "lost"
    if in_force(events, "suspend"):
        return "suspended"
    return "active"


def status_by_card(events: Iterable[CardEvent]) -> dict[str, str]:
    """The status of every card that has events (a card with none is active)."""
    by_card: dict[str, list[CardEvent]] = {}
    for event in events:
        by_card.setdefault(event.card_id, []).append(event)
    return {card_id: status(card_events) for card_id, card_events in by_card.items()}
