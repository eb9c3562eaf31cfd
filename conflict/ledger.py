"""Shared balances as ledgers: stored value (fen), points, count-card uses and credit (fen).

Count-card uses are counted per service item: a uses entry names the item (its
sku) and a card's uses of one item are the sum of the entries naming it, so the
16,800-yuan card's ten uses of service A and ten of service B never mix.

A balance is never a register: every top-up, spend, earn or redemption is an entry
with its own id, and a balance is the sum of a card's entries. Merging is the union
of entries, so concurrent spends at two branches are never lost; one id carrying
two different entries is refused (`LedgerEntryConflict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conflict.errors import InvalidRecord, LedgerEntryConflict, check_int, check_text, union_by_id
from protocol.contract.fields import ITEM_LEDGERS as CONTRACT_ITEM_LEDGERS
from protocol.contract.fields import LEDGER_SIGNS
from protocol.limits import MAX_LEDGER_AMOUNT, MAX_POINTS_LOT_PARTS

__all__ = [
    "ENTRY_SIGNS",
    "ITEM_LEDGERS",
    "LEDGER_UNITS",
    "MAX_ABS_AMOUNT",
    "LedgerEntry",
    "LedgerEntryConflict",
    "add_entry",
    "balance",
    "balances",
    "merge_ledgers",
]

# What each ledger counts. Credit is money the card may still draw on: a charge
# takes from it, a repayment gives back.
LEDGER_UNITS: Mapping[str, str] = {
    "stored_value": "fen",
    "points": "points",
    "uses": "uses",
    "credit": "fen",
}

# The ledgers whose entries may name an item: each item's balance is its own.
ITEM_LEDGERS = CONTRACT_ITEM_LEDGERS

# The sign each entry kind must carry in each ledger (+1 adds, -1 takes, 0 either
# way), as the wire contract states it: a branch writes by it, every replica merges by it.
ENTRY_SIGNS: Mapping[str, Mapping[str, int]] = LEDGER_SIGNS

# 10^12 fen is ten billion yuan: far above any card, far below msgpack's int64,
# so a sum of a million entries cannot overflow a signed 64-bit column either.
MAX_ABS_AMOUNT = MAX_LEDGER_AMOUNT
MAX_LOT_PARTS = MAX_POINTS_LOT_PARTS

Ledger = Mapping[str, "LedgerEntry"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement on one card's ledger; `amount` is signed, in the ledger's unit."""

    entry_id: str
    card_id: str
    ledger: str  # stored_value | points | uses | credit
    kind: str
    amount: int
    hlc: int
    node: str
    item: str = ""  # the service item a uses entry counts; empty on every other ledger
    # The points ledger keeps its points as lots (loyalty.lot_ledger): an earning is a
    # lot expiring at `expires_at_ms` (0: never); a spend, an expiry or a return names
    # the (lot, points) it took or put back in `lots`, and a return the movement it
    # reverses in `of`. Empty on every other ledger.
    lots: tuple[tuple[str, int], ...] = ()
    of: str = ""
    expires_at_ms: int = 0

    def __post_init__(self) -> None:
        check_text(self.entry_id, "entry_id")
        check_text(self.card_id, "card_id")
        check_text(self.node, "node")
        check_int(self.amount, "amount")
        check_int(self.hlc, "hlc")
        # Text before the lookups: a list or map from a signed payload is unhashable.
        check_text(self.ledger, "ledger")
        check_text(self.kind, "kind")
        signs = ENTRY_SIGNS.get(self.ledger)
        if signs is None:
            raise InvalidRecord(f"unknown ledger {self.ledger!r}; expected one of {sorted(ENTRY_SIGNS)}")
        sign = signs.get(self.kind)
        if sign is None:
            raise InvalidRecord(f"{self.kind!r} is not an entry kind of the {self.ledger} ledger")
        if not isinstance(self.item, str):
            raise InvalidRecord("item must be text")
        if self.item and self.ledger not in ITEM_LEDGERS:
            raise InvalidRecord(
                f"only the {', '.join(ITEM_LEDGERS)} ledger counts per item, not {self.ledger}"
            )
        if self.item:
            check_text(self.item, "item")
        if self.amount == 0 or abs(self.amount) > MAX_ABS_AMOUNT:
            raise InvalidRecord(f"amount must be non-zero and at most {MAX_ABS_AMOUNT} in size")
        if sign * self.amount < 0:
            raise InvalidRecord(
                f"a {self.kind} on the {self.ledger} ledger must be {'+' if sign > 0 else '-'}"
            )
        if self.has_lot_facts:
            self._check_lot_facts()

    @property
    def has_lot_facts(self) -> bool:
        return bool(self.lots or self.of or self.expires_at_ms)

    def _check_lot_facts(self) -> None:
        # Shapes only: what the facts mean (a spend's lots within its amount, an expiry
        # on an earning) is loyalty.lot_ledger's to judge, which sets aside what does not
        # add up, so a validly signed entry is always stored and never wedges replication.
        if not isinstance(self.lots, tuple) or len(self.lots) > MAX_LOT_PARTS:
            raise InvalidRecord(f"lots must be at most {MAX_LOT_PARTS} (lot, points) pairs")
        for part in self.lots:
            if not isinstance(part, tuple) or len(part) != 2:
                raise InvalidRecord("each of lots is a (lot id, points) pair")
            check_text(part[0], "a lot id")
            check_int(part[1], "a lot's points")
            if not 0 < part[1] <= MAX_ABS_AMOUNT:
                raise InvalidRecord("a lot's points must be above zero")
        if not isinstance(self.of, str):
            raise InvalidRecord("of must be text")
        check_int(self.expires_at_ms, "expires_at_ms")
        if self.expires_at_ms < 0:
            raise InvalidRecord("expires_at_ms is a time in ms (0: never)")

    @property
    def stamp(self) -> tuple[int, str, str]:
        """Total order of entries: hlc, then node, then entry id (never two equal)."""
        return (self.hlc, self.node, self.entry_id)


def add_entry(entries: Ledger, entry: LedgerEntry) -> dict[str, LedgerEntry]:
    return merge_ledgers(entries, {entry.entry_id: entry})


def merge_ledgers(current: Ledger, incoming: Ledger) -> dict[str, LedgerEntry]:
    """Union of entries by id; commutative, associative and idempotent."""
    for entry_id, entry in incoming.items():
        if entry_id != entry.entry_id:
            raise InvalidRecord(f"entry filed under {entry_id!r} has id {entry.entry_id!r}")
    return union_by_id(current, incoming, LedgerEntryConflict)


def balance(entries: Iterable[LedgerEntry], card_id: str, ledger: str, item: str | None = None) -> int:
    """The card's balance on one ledger (of one item, if given): the sum of its entries there."""
    if ledger not in ENTRY_SIGNS:
        raise InvalidRecord(f"unknown ledger {ledger!r}")
    return sum(
        e.amount
        for e in entries
        if e.card_id == card_id and e.ledger == ledger and (item is None or e.item == item)
    )


def balances(entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], int]:
    """Every (card_id, ledger) balance at once."""
    totals: dict[tuple[str, str], int] = {}
    for e in entries:
        key = (e.card_id, e.ledger)
        totals[key] = totals.get(key, 0) + e.amount
    return totals
