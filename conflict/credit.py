"""A card's credit line (FEATURES M8): what it may still draw, what is owed, and since when.

The credit ledger (conflict.ledger) holds what the card may still draw: a grant
(the card type's line, or more given by a store manager) adds, a charge (a credit
tender) takes, a repayment or a sale returned onto the line gives back. What is
owed is what was charged less what came back; repayments settle the oldest
charges first, so the oldest charge not yet settled says since when the member
owes, and a member owing past the credit term is overdue. Pure: the same at every
replica, whatever order the entries arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conflict.ledger import LedgerEntry

__all__ = ["CreditPosition", "credit_position"]


@dataclass(frozen=True, slots=True)
class CreditPosition:
    granted: int  # the line: every grant and adjustment
    owed: int  # charged and not yet given back
    owed_since_hlc: int | None  # the stamp of the oldest charge not yet settled

    @property
    def available(self) -> int:
        """What the card may still draw (below zero: drawn beyond the line, an overdraft)."""
        return self.granted - self.owed


def credit_position(entries: Iterable[LedgerEntry], card_id: str) -> CreditPosition:
    granted = 0
    charges: list[list[int]] = []  # [hlc, amount left], oldest first
    returned = 0
    for entry in sorted(
        (e for e in entries if e.card_id == card_id and e.ledger == "credit"), key=lambda e: e.stamp
    ):
        if entry.kind in ("grant", "adjust"):
            granted += entry.amount
        elif entry.kind == "charge":
            charges.append([entry.hlc, -entry.amount])
        else:  # repay, refund
            returned += entry.amount
    # Whatever came back settles the oldest charges first.
    for charge in charges:
        settled = min(returned, charge[1])
        charge[1] -= settled
        returned -= settled
    open_charges = [charge for charge in charges if charge[1] > 0]
    owed = sum(charge[1] for charge in open_charges) - returned  # an overpayment owes less than nothing
    return CreditPosition(granted, owed, open_charges[0][0] if open_charges else None)
