"""Cards of a type: who holds a card and the terms it was sold on.

A card issued from a card type (HQ's master data) is one record, filed under the
card number and never changed: the member it was handed to, the type, level and
discount it was sold with, and its validity (a time card also names the service
items it admits). What a card holds (stored value, uses per service item, credit)
is in its ledgers (conflict.ledger); what happens to it (lost, suspended,
returned) in its status events (conflict.card_status). Merging is the union of
records by card number; two branches issuing one number on different terms is a
conflict (`CardIssueConflict`), never a silent choice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from conflict.errors import CardIssueConflict, InvalidRecord, check_int, check_text, union_by_id
from protocol.limits import DATE_PATTERN, MAX_TIME_CARD_SERVICES

__all__ = ["CardIssue", "CardIssueConflict", "merge_cards"]

Cards = Mapping[str, "CardIssue"]
_DATE = re.compile(DATE_PATTERN)


@dataclass(frozen=True, slots=True)
class CardIssue:
    """A card of a type handed to a member at a branch."""

    card_id: str
    member_id: str
    card_type: str
    level: str  # the member level the card gives; "" if the type gives none
    discount_rate: int  # percent of the list price a sale on this card pays (100: none)
    valid_from: str  # YYYY-MM-DD
    valid_until: str  # YYYY-MM-DD, the last day it may be used; "" if it never expires
    services: frozenset[str] = field(default_factory=frozenset)  # a time card's service items
    hlc: int = 0
    node: str = ""

    def __post_init__(self) -> None:
        for name in ("card_id", "member_id", "card_type", "node"):
            check_text(getattr(self, name), name)
        check_int(self.hlc, "hlc")
        check_int(self.discount_rate, "discount_rate")
        if not isinstance(self.level, str):
            raise InvalidRecord("level must be text")
        if not 1 <= self.discount_rate <= 100:
            raise InvalidRecord(f"discount_rate must be 1 to 100 percent, not {self.discount_rate}")
        _date(self.valid_from, "valid_from")
        if self.valid_until:
            _date(self.valid_until, "valid_until")
            if self.valid_until < self.valid_from:
                raise InvalidRecord(f"valid_until {self.valid_until} is before valid_from {self.valid_from}")
        if not isinstance(self.services, frozenset) or not all(
            isinstance(s, str) and s for s in self.services
        ):
            raise InvalidRecord("services must be a set of service item codes")
        if len(self.services) > MAX_TIME_CARD_SERVICES:
            raise InvalidRecord(f"a time card admits at most {MAX_TIME_CARD_SERVICES} service items")

    def valid_on(self, day: str) -> bool:
        """Whether the card may be used on `day` (YYYY-MM-DD, the branch's local date)."""
        return self.valid_from <= day and (not self.valid_until or day <= self.valid_until)


def merge_cards(current: Cards, incoming: Cards) -> dict[str, CardIssue]:
    """Union of card records by number; commutative, associative and idempotent."""
    for card_id, card in incoming.items():
        if card_id != card.card_id:
            raise InvalidRecord(f"card filed under {card_id!r} has number {card.card_id!r}")
    return union_by_id(current, incoming, CardIssueConflict)


def _date(value: object, name: str) -> None:
    # The wire's rule for a day (protocol.limits.DATE_PATTERN): days compare as text.
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise InvalidRecord(f"{name} must be a date YYYY-MM-DD, not {value!r}")
