"""The simulated shop as its tills know it: the catalogue they sell from, the members they
have registered, the goods its warehouses stock, and the ledger of everything a till or a
storekeeper was told (acknowledged), which the invariant checkers compare with what the
replicas hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hq.setup import DEMO_CATALOGUE
from simulations.loyalty_records import LoyaltyLedger

SKUS = ("TEA-OOLONG-250", "CUP-CERAMIC", "SNACK-NUTS", "SOAP-BAR", "SVC-HAIRCUT", "GIFT-BOX")
PRICES_FEN = {product.sku: product.price_fen for product in DEMO_CATALOGUE}


@dataclass(frozen=True)
class StockedProduct:
    """How HQ's master data costs a product the tills sell (inventory.costing's methods)."""

    sku: str
    costing_method: str
    purchase_price_fen: int
    supplier: str
    specified_cost_fen: int | None = None


# Every costing method, each on goods the tills sell; the haircut is a service item, so it
# is sold but never stocked: never received, counted or transferred, and no sale moves it.
STOCKED = (
    StockedProduct("TEA-OOLONG-250", "fifo", 4_100, "SUP-TEA"),
    StockedProduct("CUP-CERAMIC", "lifo", 1_300, "SUP-HOME"),
    StockedProduct("SNACK-NUTS", "moving_average", 2_450, "SUP-FOOD"),
    StockedProduct("SOAP-BAR", "specified", 700, "SUP-HOME", specified_cost_fen=650),
    StockedProduct("GIFT-BOX", "fifo", 18_000, "SUP-FOOD"),
    StockedProduct("SVC-HAIRCUT", "moving_average", 0, "SUP-HOME"),
)
SERVICES = frozenset(p.sku for p in DEMO_CATALOGUE if p.service)
GOODS = tuple(p.sku for p in STOCKED if p.sku not in SERVICES)
SUPPLIERS = {"SUP-TEA": "Anxi Tea Co.", "SUP-HOME": "Yiwu Homeware", "SUP-FOOD": "Xinjiang Dried Fruit"}


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
    item: str = ""  # the service item a uses movement counts; empty on every other ledger


@dataclass(frozen=True)
class CardSold:
    """A card of a type a till was told it sold, with what its receipt showed the card holding."""

    branch: str
    card_id: str
    member_id: str  # the member it went to (the survivor, if the till named an alias)
    card_type: str
    price_fen: int  # takings
    stored_value_fen: int  # on the card as a liability
    uses: tuple[tuple[str, int], ...]  # (service sku, uses granted), in the type's order
    services: tuple[str, ...]  # what it admits as a time card
    gifts: tuple[tuple[str, int], ...]  # (sku, qty) handed over from the branch's stock


def issue_entries(sale_id: str, sold: CardSold) -> dict[str, Booked]:
    """The ledger movements a card's sale books, under the ids the wire contract gives them
    (conflict.wire.card_issue_records): the sale's id with -sv for its stored value and
    -u<n> for the n-th line of its uses, in the type's order. They travel in the sale's
    one card/issue entry, not in entries of their own."""
    entries = {}
    if sold.stored_value_fen:
        entries[f"{sale_id}-sv"] = Booked(sold.branch, sold.card_id, "stored_value", sold.stored_value_fen)
    for number, (sku, qty) in enumerate(sold.uses):
        entries[f"{sale_id}-u{number}"] = Booked(sold.branch, sold.card_id, "uses", qty, sku)
    return entries


@dataclass(frozen=True)
class Received:
    """Goods from a supplier a storekeeper was told are booked in: (sku, qty, cost_fen) lines."""

    branch: str
    warehouse: str
    lines: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Counted:
    """A stocktake's variances a storekeeper was told were booked: (sku, variance_qty) lines."""

    branch: str
    warehouse: str
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Sent:
    """A transfer the source was told left its warehouse: (sku, qty, cost_fen) lines."""

    source_branch: str
    from_warehouse: str
    to_branch: str
    to_warehouse: str
    lines: tuple[tuple[str, int, int], ...]
    sent_at_ms: int  # simulated time


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
    # Stock. Sale id -> (branch, (sku, qty) sold): the goods each acknowledged sale took.
    sold: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = field(default_factory=dict)
    receipts: dict[str, Received] = field(default_factory=dict)  # receipt id -> goods in
    stocktakes: dict[str, Counted] = field(default_factory=dict)  # stocktake id -> variances
    # Sale return id -> (branch, (sku, qty) brought back).
    returns: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = field(default_factory=dict)
    transfers: dict[str, Sent] = field(default_factory=dict)  # transfer id -> goods sent
    # Cards of a type. Sale id -> the card sold; the stored value and uses its sale
    # booked, and every use spent, are movements in `entries`.
    card_sales: dict[str, CardSold] = field(default_factory=dict)
    # Time-card tender id -> (branch, card, sku, qty): visits a time card paid for.
    card_visits: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)
    # A card's life (conflict.card_life). Change id -> (branch, number replaced, new
    # number), and renewal id -> (branch, card, days); every number a till handed over,
    # with the number the card was sold under (its root, where its movements are kept);
    # and per card sold, the newest number a till handed over (what the member presents).
    replacements: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    renewals: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    card_fees: dict[str, tuple[str, int]] = field(default_factory=dict)  # change id -> (branch, fee)
    # Movement id -> the card/change entry that carries it (an upgrade's uses), not an
    # entry of its own.
    carried_by_change: dict[str, str] = field(default_factory=dict)
    presented: dict[str, str] = field(default_factory=dict)
    # Points and vouchers beyond their movements: sales' points, conversions, returns.
    loyalty: LoyaltyLedger = field(default_factory=LoyaltyLedger)

    def root(self, number: str) -> str:
        return self.roots.get(number, number)

    def card_holders(self) -> dict[str, Member]:
        return {card: member for member in self.members for card in member.cards}

    def uses_told(self) -> dict[tuple[str, str], int]:
        """(card, service item) -> uses granted less uses spent, as the tills were told."""
        told: dict[tuple[str, str], int] = {}
        for booked in self.entries.values():
            if booked.ledger == "uses" and booked.card_id is not None:
                key = (booked.card_id, booked.item)
                told[key] = told.get(key, 0) + booked.amount
        return told


def pick_member(rng: random.Random, branch: str, roaming_share: float, pool: list[Member]) -> Member | None:
    """A member from `pool` at the branch's till: one registered elsewhere with
    probability `roaming_share` (if there is one), else one of its own."""
    roaming = [m for m in pool if m.branch != branch]
    local = [m for m in pool if m.branch == branch]
    chosen = roaming if roaming and rng.random() < roaming_share else local
    return rng.choice(chosen) if chosen else None
