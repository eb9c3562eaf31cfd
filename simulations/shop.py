"""The simulated shop as its tills know it: the catalogue they sell from, the members they
have registered, and the ledger of everything a till was told (acknowledged), which the
invariant checkers compare with what the replicas hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hq.setup import DEMO_CATALOGUE

SKUS = ("TEA-OOLONG-250", "CUP-CERAMIC", "SNACK-NUTS", "SOAP-BAR", "SVC-HAIRCUT", "GIFT-BOX")
PRICES_FEN = {product.sku: product.price_fen for product in DEMO_CATALOGUE}


@dataclass
class Member:
    member_id: str
    phone: str
    branch: str
    cards: tuple[str, ...] = ()


@dataclass(frozen=True)
class Booked:
    """One ledger movement a till was told about (a top-up, a spend, points earned)."""

    branch: str
    card_id: str | None  # None for points: the node books them on the member's first card
    ledger: str
    amount: int


@dataclass
class Ledger:
    """What the tills were told: every acknowledged sale, registration and directory write."""

    sales: dict[str, tuple[str, int]] = field(default_factory=dict)  # sale id -> (branch, total_fen)
    members: list[Member] = field(default_factory=list)
    entries: dict[str, Booked] = field(default_factory=dict)  # ledger entry id -> movement
    # Card status event id -> (branch, card, action).
    card_events: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # Voucher redemption id -> (branch, voucher, amount_fen).
    redemptions: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    # Card -> top-ups acknowledged on it: the cards worth paying with.
    topped_up: dict[str, int] = field(default_factory=dict)

    def card_holders(self) -> dict[str, Member]:
        return {card: member for member in self.members for card in member.cards}


def pick_member(rng: random.Random, branch: str, roaming_share: float, pool: list[Member]) -> Member | None:
    """A member from `pool` at the branch's till: one registered elsewhere with
    probability `roaming_share` (if there is one), else one of its own."""
    roaming = [m for m in pool if m.branch != branch]
    local = [m for m in pool if m.branch == branch]
    chosen = roaming if roaming and rng.random() < roaming_share else local
    return rng.choice(chosen) if chosen else None
