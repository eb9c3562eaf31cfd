"""A card's stored value by where it came from, and what of it may be paid back.

Paid in: top-ups, the stored value a card type was sold with (the member paid for
both), and sale returns refunded onto the card (they give back what a spend took).
Bonus: what HQ's top-up rules gave beside a payment, and what the member's points
were turned into; never paid out (the seed's rule: only what was paid is refunded).
Spends, payouts, forfeits and transfers out take from the balance, and they take
paid money first: the bonus is what is left last. So what may be paid back is what
was paid in less everything taken, never more than the balance itself.

The law, for every card and so in total: paid in + bonus + adjustments = spent +
paid out + forfeited + transferred out + outstanding (the balance, a liability).
Pure: a function of the card's entries, the same at every replica.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conflict.ledger import LedgerEntry

__all__ = ["GIVEN", "PAID_IN", "StoredValue", "stored_value"]

# Kinds that bring paid money onto the card; GIVEN what was not paid for, "adjust" an
# operator's correction.
PAID_IN = ("top_up", "issue", "refund", "transfer_in")
# A rebate taken back (rebate_return, negative) takes from what was given, not from
# what was paid: it never lessens what may be paid back.
GIVEN = ("bonus", "from_points", "rebate", "rebate_return")


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One card's stored value in fen, split by origin; `taken` is every debit."""

    paid_in: int
    bonus: int
    adjusted: int
    taken: int  # spends, payouts, forfeits, transfers out (a positive figure)

    @property
    def balance(self) -> int:
        return self.paid_in + self.bonus + self.adjusted - self.taken

    @property
    def refundable(self) -> int:
        """What may be paid back in cash: paid in less everything taken, within the balance."""
        return max(0, min(self.balance, self.paid_in - self.taken))

    @property
    def bonus_left(self) -> int:
        """What the balance holds beyond what may be paid back: forfeited when the card
        is returned."""
        return max(0, self.balance - self.refundable)


def stored_value(entries: Iterable[LedgerEntry], card_id: str) -> StoredValue:
    paid_in = bonus = adjusted = taken = 0
    for entry in entries:
        if entry.card_id != card_id or entry.ledger != "stored_value":
            continue
        if entry.kind in PAID_IN:
            paid_in += entry.amount
        elif entry.kind in GIVEN:
            bonus += entry.amount
        elif entry.kind == "adjust":
            adjusted += entry.amount
        else:
            taken -= entry.amount  # every other kind takes (conflict.ledger's signs)
    return StoredValue(paid_in, bonus, adjusted, taken)
