"""A card's life after its sale: renewed, replaced, upgraded, given a password.

Each change is one record filed under its own id and never changed; merging is the
union of records, and what a card is now is computed from all of them:

- A card's *root* is the number it was first issued or registered under. A
  replacement hands the member a new number and blocks the one it replaces; the
  new number stands for the root, so every ledger entry is booked on the root and
  balances, uses and history follow the card to its new number with nothing moved.
  A branch cut off from the replacement still books on the old number, which is the
  root (or, after several replacements, a number whose root it knows): nothing is
  lost, and the old number is refused everywhere once the replacement arrives.
- Renewals, upgrades and passwords are filed under the root.

Rules when branches act on one card while apart:
1. Renewals add up: taken in stamp order, each extends the card from its last day
   (or from the day before the renewal, if it had already expired) by its days. Two
   renewals paid for at two branches give the member both.
2. Two replacements of one number: the earliest stamp's new number is the card; the
   other new number is blocked too (and so is any number a branch then handed over to
   replace that one), and HQ queues the pair for an operator (`double_replacements`).
   A card has exactly one usable number, found from its root along the winning
   replacements (`current_number`). Balances are never split: all book on the root.
3. Upgrades: the latest stamp's terms hold (last writer wins), and the card runs by its
   new type from the upgrade's day: to the later of its own last day and the type's
   (a type that never expires makes the card never expire, and a card that never
   expired runs to the type's last day, so a renewal can extend it). An upgrade that did not
   start from the type in force before it (another upgrade overtook it while apart)
   is queued for an operator as well, since its price difference was reckoned on a
   type the card no longer had (`stale_upgrades`).
4. Passwords: the latest stamp's holds; a spend a branch let through with the password
   it knew stands, since money moved at the till.
5. A returned card stays returned: later renewals and upgrades do not revive it.
6. A renewal, upgrade or replacement stamped after the card's return was made by a
   branch that had not heard of the return (every branch refuses to change a card it
   knows is returned): the member paid for a card that was already settled, so HQ
   queues it for an operator to give the fee back (`paid_after_return`). One stamped
   before the return is ordinary business: a return pays back stored value, never a
   fee, whether or not the returning branch knew of it.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from conflict.card_status import CardEvent
from conflict.cards import CardIssue
from conflict.errors import CardChangeConflict, InvalidRecord, check_int, check_text, union_by_id
from protocol.contract.fields import CARD_CHANGE_FIELDS, CARD_CHANGE_KINDS
from protocol.limits import DATE_PATTERN, MAX_CARD_VALIDITY_DAYS

__all__ = [
    "CHANGE_KINDS",
    "CardChange",
    "blocked_by_replacement",
    "current_number",
    "double_replacements",
    "effective",
    "merge_changes",
    "paid_after_return",
    "password_hash",
    "renewed_until",
    "root_of",
    "stale_upgrades",
    "winning_replacement",
]

# The kinds and the fields each fills are the wire contract's; the rest stay empty.
CHANGE_KINDS = CARD_CHANGE_KINDS
_FIELDS = CARD_CHANGE_FIELDS
_EMPTY = {
    "days": 0,
    "day": "",
    "new_card": "",
    "from_type": "",
    "card_type": "",
    "level": "",
    "discount_rate": 0,
    "password": "",
}
_DATE = re.compile(DATE_PATTERN)

Changes = Mapping[str, "CardChange"]


@dataclass(frozen=True, slots=True)
class CardChange:
    """One change to a card. `card_id` is the number replaced for a replacement and
    the card's root for every other kind."""

    change_id: str
    card_id: str
    kind: str
    hlc: int
    node: str
    days: int = 0  # renew: how many days it adds
    day: str = ""  # renew: the branch's date it was renewed on (YYYY-MM-DD)
    new_card: str = ""  # replace: the number handed over
    from_type: str = ""  # upgrade: the type the branch saw in force
    card_type: str = ""  # upgrade: the type it becomes
    level: str = ""  # upgrade: the level that type gives ("" for none)
    discount_rate: int = 0  # upgrade: that type's discount, percent of list paid
    password: str = ""  # password: the salted hash, "" when cleared
    # upgrade: the card's last day by its new type, counted from the upgrade's day (""
    # never expires); None for an upgrade that set no days (written before they did)
    valid_until: str | None = None

    def __post_init__(self) -> None:
        for name in ("change_id", "card_id", "node"):
            check_text(getattr(self, name), name)
        check_int(self.hlc, "hlc")
        check_int(self.days, "days")
        check_int(self.discount_rate, "discount_rate")
        if self.kind not in CHANGE_KINDS:
            raise InvalidRecord(f"unknown card change {self.kind!r}; expected one of {CHANGE_KINDS}")
        for name, empty in _EMPTY.items():
            value = getattr(self, name)
            if not isinstance(value, type(empty)):
                raise InvalidRecord(f"{name} must be {type(empty).__name__}")
            if name not in _FIELDS[self.kind] and value != empty:
                raise InvalidRecord(f"a {self.kind} has no {name}")
        if self.kind == "renew":
            if not 1 <= self.days <= MAX_CARD_VALIDITY_DAYS:
                raise InvalidRecord(f"a renewal adds 1 to {MAX_CARD_VALIDITY_DAYS} days, not {self.days}")
            if _DATE.fullmatch(self.day) is None:
                raise InvalidRecord(f"a renewal's day must be YYYY-MM-DD, not {self.day!r}")
        elif self.kind == "replace":
            check_text(self.new_card, "new_card")
            if self.new_card == self.card_id:
                raise InvalidRecord(f"card {self.card_id} cannot replace itself")
        elif self.kind == "upgrade":
            check_text(self.from_type, "from_type")
            check_text(self.card_type, "card_type")
            if not 1 <= self.discount_rate <= 100:
                raise InvalidRecord(f"discount_rate must be 1 to 100 percent, not {self.discount_rate}")
        if self.valid_until is not None:
            if self.kind != "upgrade":
                raise InvalidRecord(f"a {self.kind} has no valid_until")
            if not isinstance(self.valid_until, str) or (
                self.valid_until and _DATE.fullmatch(self.valid_until) is None
            ):
                raise InvalidRecord(
                    f"an upgrade's valid_until is YYYY-MM-DD or empty, not {self.valid_until!r}"
                )

    @property
    def stamp(self) -> tuple[int, str, str]:
        return (self.hlc, self.node, self.change_id)


def merge_changes(current: Changes, incoming: Changes) -> dict[str, CardChange]:
    """Union of changes by id; commutative, associative and idempotent."""
    for change_id, change in incoming.items():
        if change_id != change.change_id:
            raise InvalidRecord(f"change filed under {change_id!r} has id {change.change_id!r}")
    return union_by_id(current, incoming, CardChangeConflict)


def _in_order(changes: Iterable[CardChange], kind: str) -> list[CardChange]:
    """The changes of one kind in stamp order, each once however often it was delivered."""
    unique = {c.change_id: c for c in changes if c.kind == kind}
    return sorted(unique.values(), key=lambda c: c.stamp)


def renewed_until(valid_until: str, changes: Iterable[CardChange]) -> str:
    """The card's last day after its renewals (rule 1) and the upgrades that set days
    (rule 3), taken in stamp order; "" is never expires. A renewal of a card that never
    expires changes nothing; an upgrade gives the card its new type's last day, or the
    card's own where that is later."""
    until = _date(valid_until) if valid_until else None  # None: never expires
    timed = [c for c in changes if c.kind == "renew" or (c.kind == "upgrade" and c.valid_until is not None)]
    for change in sorted({c.change_id: c for c in timed}.values(), key=lambda c: c.stamp):
        if change.kind == "upgrade":
            assert change.valid_until is not None
            if not change.valid_until:
                until = None
            else:
                to = _date(change.valid_until)
                until = to if until is None else max(until, to)
        elif until is not None:
            eve = _date(change.day) - 1
            until = min(max(until, eve) + change.days, _LAST_DAY)
    return "" if until is None else datetime.date.fromordinal(until).isoformat()


_LAST_DAY = datetime.date.max.toordinal()


def _date(text: str) -> int:
    """A wire day as a day number. The wire's pattern admits 30 February (days compare
    as text), which means the month's end; year 0 means the first day there is."""
    year, month, day = (int(part) for part in text.split("-"))
    if year == 0:
        return 1
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day, last)).toordinal()


def effective(issue: CardIssue, changes: Iterable[CardChange]) -> CardIssue:
    """The card's terms now: its issue with the last upgrade's type, level and discount
    (rule 3) and its validity after renewals (rule 1). `changes` are the root's."""
    changes = list(changes)
    upgrades = _in_order(changes, "upgrade")
    if upgrades:
        last = upgrades[-1]
        issue = replace(issue, card_type=last.card_type, level=last.level, discount_rate=last.discount_rate)
    return replace(issue, valid_until=renewed_until(issue.valid_until, changes))


def password_hash(changes: Iterable[CardChange]) -> str | None:
    """The card's password hash (rule 4), or None when it has none."""
    passwords = _in_order(changes, "password")
    return passwords[-1].password or None if passwords else None


def winning_replacement(replacements: Iterable[CardChange]) -> CardChange | None:
    """Of the replacements of one number, the one whose new number is the card (rule 2)."""
    ordered = _in_order(replacements, "replace")
    return ordered[0] if ordered else None


def root_of(number: str, changes: Iterable[CardChange]) -> str:
    """The number a card was first issued under: back along the replacements that handed
    each number over (the earliest, if two handed over one number) to one none did."""
    into: dict[str, list[CardChange]] = {}
    for change in changes:
        if change.kind == "replace":
            into.setdefault(change.new_card, []).append(change)
    seen = {number}
    while number in into:
        winner = winning_replacement(into[number])
        if winner is None or winner.card_id in seen:
            break
        number = winner.card_id
        seen.add(number)
    return number


def current_number(root: str, changes: Iterable[CardChange]) -> str:
    """The one number a card may be used under: from its root, along the winning
    replacement of each number (rule 2), to a number not replaced."""
    of: dict[str, list[CardChange]] = {}
    for change in changes:
        if change.kind == "replace":
            of.setdefault(change.card_id, []).append(change)
    number, seen = root, {root}
    while number in of:
        winner = winning_replacement(of[number])
        if winner is None or winner.new_card in seen:
            break
        number = winner.new_card
        seen.add(number)
    return number


def blocked_by_replacement(number: str, changes: Iterable[CardChange]) -> bool:
    """Whether a number is refused because of replacements (rule 2): every number of a
    card but its current one is, including a number handed over by a replacement that
    lost to an earlier one, and any number handed over for that one."""
    changes = list(changes)
    return current_number(root_of(number, changes), changes) != number


def double_replacements(replacements: Iterable[CardChange]) -> list[tuple[CardChange, CardChange]]:
    """(winner, loser) for every replacement of a number beyond the first (rule 2)."""
    ordered = _in_order(replacements, "replace")
    return [(ordered[0], loser) for loser in ordered[1:]]


def paid_after_return(
    events: Iterable[CardEvent], changes: Iterable[CardChange]
) -> list[tuple[CardEvent, CardChange]]:
    """(the card's first return, change) for each paid change stamped after it (rule 6);
    `events` are the card's status events under any of its numbers."""
    returns = sorted((e for e in events if e.kind == "return"), key=lambda e: (e.hlc, e.event_id))
    if not returns:
        return []
    first = returns[0]
    paid = sorted({c.change_id: c for c in changes if c.kind != "password"}.values(), key=lambda c: c.stamp)
    return [(first, change) for change in paid if change.hlc > first.hlc]


def stale_upgrades(issue_type: str, changes: Iterable[CardChange]) -> list[tuple[str, CardChange]]:
    """(the type in force before it, upgrade) for each upgrade that started from another
    type than the one in force just before it in stamp order (rule 3)."""
    stale = []
    in_force = issue_type
    for upgrade in _in_order(changes, "upgrade"):
        if upgrade.from_type != in_force:
            stale.append((in_force, upgrade))
        in_force = upgrade.card_type
    return stale
