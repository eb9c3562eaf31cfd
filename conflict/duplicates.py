"""Duplicate members: one phone or one card number registered at two branches while apart.

Registrations linked by a shared phone or card number (directly or through others)
are one person; the survivor is the registration HQ saw first, and every other
becomes its alias. Nothing is deleted: ledgers follow the survivor through
`resolve`. An operator may declare two members NOT the same person
(`separations`); such a pair is never joined, directly or through others.

Why HQ's order and not the registrations' stamps: a branch chooses its own
stamps, so "earliest stamp survives" lets a branch take over a member (and the
cards and balances that follow the survivor) by stamping a copy early. When HQ
first stores a registration it writes a `Sighting`, its own order number for it,
into every branch's feed. The rank (`rank`) is then:

1. registrations HQ has sighted, by HQ's order number;
2. then those not sighted yet (a branch's own, still on their way), by stamp;
3. ties by member id, then node.

Every replica ranks from the same records, so they agree once the sightings have
arrived; until then a branch's own unsighted registration may survive locally
and give way when HQ's order reaches it (its ledgers follow either way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from conflict.errors import (
    InvalidRecord,
    RegistrationConflict,
    SightingConflict,
    check_int,
    check_text,
    union_by_id,
)

__all__ = [
    "MAX_CARDS_PER_REGISTRATION",
    "MAX_REGISTRATIONS_PER_KEY",
    "DuplicateResolution",
    "Rank",
    "Registration",
    "Sighting",
    "find_duplicates",
    "merge_registrations",
    "merge_separations",
    "merge_sightings",
    "rank",
    "resolve",
    "separation",
]

# A member holds a few cards; bound what one registration may claim.
MAX_CARDS_PER_REGISTRATION = 32

# A phone or card number on more registrations than this is a placeholder typed
# at a till ("00000000"), not one person: it is not used to join anybody, and is
# listed in `DuplicateResolution.crowded_keys` for an operator to clean up.
MAX_REGISTRATIONS_PER_KEY = 8

Registrations = Mapping[str, "Registration"]
Sightings = Mapping[str, "Sighting"]
Separation = tuple[str, str]  # (smaller member id, larger member id)
# (0 sighted / 1 not yet, HQ's order number or the stamp, member id, node): smallest survives.
Rank = tuple[int, int, str, str]


@dataclass(frozen=True, slots=True)
class Registration:
    """A member as first registered at a branch: its id, phone, cards and stamp."""

    member_id: str
    phone: str | None
    card_numbers: frozenset[str]
    hlc: int
    node: str

    def __post_init__(self) -> None:
        check_text(self.member_id, "member_id")
        check_text(self.node, "node")
        check_int(self.hlc, "hlc")
        if self.phone is not None:
            check_text(self.phone, "phone")
        if not isinstance(self.card_numbers, frozenset) or not all(
            isinstance(c, str) and c for c in self.card_numbers
        ):
            raise InvalidRecord("card_numbers must be a frozenset of non-empty strings")
        if len(self.card_numbers) > MAX_CARDS_PER_REGISTRATION:
            raise InvalidRecord(f"a registration may carry at most {MAX_CARDS_PER_REGISTRATION} cards")

    @property
    def keys(self) -> list[str]:
        """What identifies the person: phone and card numbers, tagged so they cannot collide."""
        keys = [f"card:{c}" for c in sorted(self.card_numbers)]
        if self.phone is not None:
            keys.insert(0, f"phone:{self.phone}")
        return keys


@dataclass(frozen=True, slots=True)
class Sighting:
    """HQ's note that the registration of `member_id` was the `seq`-th it stored.
    Only HQ writes these; a branch learns them from its feed."""

    member_id: str
    seq: int

    def __post_init__(self) -> None:
        check_text(self.member_id, "member_id")
        if check_int(self.seq, "seq") < 1:
            raise InvalidRecord("a sighting's seq starts at 1")


def rank(registration: Registration, sightings: Sightings) -> Rank:
    """Survivor order (smallest first): sighted by HQ's order, then unsighted by stamp."""
    seen = sightings.get(registration.member_id)
    if seen is not None:
        return (0, seen.seq, registration.member_id, registration.node)
    return (1, registration.hlc, registration.member_id, registration.node)


@dataclass(frozen=True, slots=True)
class DuplicateResolution:
    """Survivors, aliases (alias id -> survivor id) and the groups, all sorted."""

    aliases: dict[str, str] = field(default_factory=dict)
    groups: tuple[tuple[str, ...], ...] = ()  # each group: survivor first, then aliases by rank
    crowded_keys: tuple[str, ...] = ()

    def survivor(self, member_id: str) -> str:
        return resolve(member_id, self.aliases)


def separation(member_a: str, member_b: str) -> Separation:
    """An operator's decision that two members are different people (order-free)."""
    check_text(member_a, "member_a")
    check_text(member_b, "member_b")
    if member_a == member_b:
        raise InvalidRecord("a member cannot be separated from itself")
    return (min(member_a, member_b), max(member_a, member_b))


def merge_registrations(current: Registrations, incoming: Registrations) -> dict[str, Registration]:
    for member_id, registration in incoming.items():
        if member_id != registration.member_id:
            raise InvalidRecord(f"registration filed under {member_id!r} has id {registration.member_id!r}")
    return union_by_id(current, incoming, RegistrationConflict)


def merge_sightings(current: Sightings, incoming: Sightings) -> dict[str, Sighting]:
    for member_id, sighting in incoming.items():
        if member_id != sighting.member_id:
            raise InvalidRecord(f"sighting filed under {member_id!r} names {sighting.member_id!r}")
    return union_by_id(current, incoming, SightingConflict)


def merge_separations(current: Iterable[Separation], incoming: Iterable[Separation]) -> frozenset[Separation]:
    return frozenset(current) | frozenset(separation(a, b) for a, b in incoming)


def find_duplicates(
    registrations: Iterable[Registration],
    separations: Iterable[Separation] = (),
    sightings: Sightings | None = None,
) -> DuplicateResolution:
    """Group registrations that share a phone or card; the result depends only on the
    sets given, never on their order. `sightings` (member id -> HQ's sighting) may
    hold more members than `registrations`; the others are ignored."""
    seen: Sightings = {} if sightings is None else sightings
    by_id: dict[str, Registration] = {}
    for registration in registrations:
        held = by_id.setdefault(registration.member_id, registration)
        if held != registration:
            raise RegistrationConflict(f"member id {registration.member_id!r} names two registrations")
    apart: dict[str, set[str]] = {}
    for a, b in separations:
        a, b = separation(a, b)
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)

    holders: dict[str, list[Registration]] = {}
    for registration in by_id.values():
        for key in registration.keys:
            holders.setdefault(key, []).append(registration)
    crowded = sorted(key for key, regs in holders.items() if len(regs) > MAX_REGISTRATIONS_PER_KEY)

    # Candidate joins, in one canonical order so separations block the same joins
    # on every replica: each later holder of a key tries every earlier one.
    ranks = {m: rank(r, seen) for m, r in by_id.items()}
    candidate_joins: set[tuple[Rank, Rank, str, str]] = set()
    for regs in holders.values():
        if len(regs) > MAX_REGISTRATIONS_PER_KEY:
            continue
        regs.sort(key=lambda r: ranks[r.member_id])
        for i, later in enumerate(regs):
            for earlier in regs[:i]:
                candidate_joins.add(
                    (ranks[later.member_id], ranks[earlier.member_id], later.member_id, earlier.member_id)
                )

    groups = _Groups(by_id)
    for _, _, later_id, earlier_id in sorted(candidate_joins):
        groups.join(later_id, earlier_id, apart)

    aliases: dict[str, str] = {}
    group_list: list[tuple[str, ...]] = []
    for members in groups.all():
        ordered = sorted(members, key=ranks.__getitem__)
        survivor = ordered[0]
        for alias in ordered[1:]:
            aliases[alias] = survivor
        if len(ordered) > 1:
            group_list.append(tuple(ordered))
    group_list.sort()
    return DuplicateResolution(
        aliases=dict(sorted(aliases.items())), groups=tuple(group_list), crowded_keys=tuple(crowded)
    )


def resolve(member_id: str, aliases: Mapping[str, str]) -> str:
    """The survivor a member id stands for (itself if it is no alias); follows chains of
    aliases, so a map built by merging older maps still resolves to one survivor."""
    seen = {member_id}
    while member_id in aliases:
        member_id = aliases[member_id]
        if member_id in seen:
            raise InvalidRecord(f"alias map has a cycle through {member_id!r}")
        seen.add(member_id)
    return member_id


class _Groups:
    """Union-find whose unions refuse to put two separated members in one group."""

    def __init__(self, by_id: Mapping[str, Registration]) -> None:
        self._members: dict[str, set[str]] = {m: {m} for m in by_id}
        self._root: dict[str, str] = {m: m for m in by_id}

    def join(self, a: str, b: str, apart: Mapping[str, set[str]]) -> None:
        root_a, root_b = self._root[a], self._root[b]
        if root_a == root_b:
            return
        group_a, group_b = self._members[root_a], self._members[root_b]
        if any(not apart.get(m, set()).isdisjoint(group_b) for m in group_a):
            return
        if len(group_a) < len(group_b):
            root_a, root_b, group_a, group_b = root_b, root_a, group_b, group_a
        group_a |= group_b
        for m in group_b:
            self._root[m] = root_a
        del self._members[root_b]

    def all(self) -> list[set[str]]:
        return list(self._members.values())
