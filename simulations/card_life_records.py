"""What the tills were told of a card's later life in a simulated run: upgrades (the type
the till showed and the type it sold), passwords set, every spend a password guarded,
and returns of sales a card paid for. simulations/card_ops.py keeps it beside the
shop's Ledger; simulations/card_invariants.py judges the run against it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Item = tuple[str, str]  # (card, service sku)
# A change's place in stamp order (conflict.card_life): (hlc, branch, change id).
Stamp = tuple[int, str, str]
# What stands for a password hash at a branch that no till set (so nobody can key it in).
NO_TILL_SET_IT = "<a hash no till set>"


@dataclass(frozen=True)
class Upgraded:
    """An upgrade a till was told it booked: the type it showed the card as (what the fee
    was reckoned from) and the dearer type the card became for the difference."""

    branch: str
    card_id: str  # the card's root, where its changes are filed
    from_type: str
    to_type: str
    fee_fen: int


@dataclass(frozen=True)
class PasswordSet:
    branch: str
    card_id: str  # root
    password: str  # as the member keyed it in (the run hashes each password once)


@dataclass(frozen=True)
class Guarded:
    """An operation on a card that asks for its password (a spend, a payout, a password
    change), as its till saw it: the password keyed in, the one the branch held for the
    card just before (None: none; NO_TILL_SET_IT: a hash no till set), and whether it was
    booked. When the branch held a password other than the one keyed in, the card as the
    till showed it just before and just after (it must be refused and change nothing)."""

    branch: str
    card_id: str  # root
    what: str  # uses, time_card, stored_value, credit, payout or password
    given: str | None
    held: str | None
    booked: bool
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    @property
    def must_be_refused(self) -> bool:
        return self.held is not None and self.given != self.held


@dataclass(frozen=True)
class PaidBy:
    """A tender of a sale, as its receipt showed it."""

    kind: str
    card_id: str | None  # the card's root, for a card tender
    sku: str | None  # a uses or time_card tender's service item
    qty: int
    amount_fen: int


@dataclass(frozen=True)
class CardPaid:
    """A sale a card paid for (in part): its lines (sku, qty, amount_fen) and tenders."""

    branch: str
    lines: tuple[tuple[str, int, int], ...]
    tenders: tuple[PaidBy, ...]


@dataclass(frozen=True)
class CardReturn:
    """A return of a card-paid sale a till was told it booked: the lines (line no, sku,
    qty) brought back, and the refunds it was told of, each as a PaidBy (its card's root)."""

    branch: str
    sale_id: str
    lines: tuple[tuple[int, str, int], ...]
    refunds: tuple[PaidBy, ...]


@dataclass
class CardLifeLedger:
    """What the tills were told of cards after their sale, beyond the shop's Ledger (whose
    `entries` hold the money and uses these moved, and `card_fees` the upgrades' fees)."""

    upgrades: dict[str, Upgraded] = field(default_factory=dict)  # change id ->
    passwords: dict[str, PasswordSet] = field(default_factory=dict)  # change id ->
    guarded: dict[str, Guarded] = field(default_factory=dict)  # sale, payout or change id ->
    paid_by_card: dict[str, CardPaid] = field(default_factory=dict)  # sale id ->
    returns: dict[str, CardReturn] = field(default_factory=dict)  # return id ->
    # Each password the run keyed in, with the one hash of it that it stores (Argon2 takes
    # tens of ms a hash: the run hashes each distinct password once, as few as it uses).
    hashes: dict[str, str] = field(default_factory=dict)

    def card_type(self, card_id: str, sold_type: str) -> str:
        """The card's type as the tills were last told it (their latest upgrade of it)."""
        told = [u.to_type for u in self.upgrades.values() if u.card_id == card_id]
        return told[-1] if told else sold_type

    def password(self, card_id: str) -> str | None:
        """The password the member last set on the card at any till (what they key in)."""
        told = [p.password for p in self.passwords.values() if p.card_id == card_id]
        return told[-1] if told else None

    def password_of_hash(self, password_hash: str | None) -> str | None:
        if password_hash is None:
            return None
        return next((p for p, h in self.hashes.items() if h == password_hash), NO_TILL_SET_IT)
