"""Overdraft: offline spends that together exceed a balance are all kept.

Walking a card's entries in stamp order, every entry that takes the balance below
its floor (zero, or minus the card's credit limit) yields a record of the shortfall
it caused; the shortfall is debt on the card and a conflict for HQ to review.
A pure function of the entry set, so every replica reports the same records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conflict.errors import InvalidRecord, check_int
from conflict.ledger import LEDGER_UNITS, LedgerEntry

__all__ = ["MAX_EARLIER_DEBITS", "OverdraftRecord", "find_overdrafts"]

# A reviewer needs the spends that competed for the balance, not a card's whole
# history: a record names at most this many of them (the latest).
MAX_EARLIER_DEBITS = 20


@dataclass(frozen=True, slots=True)
class OverdraftRecord:
    """One entry that drew the balance below the floor, and by how much.

    `shortfall` is in the ledger's unit (fen for stored value and credit): the part
    of this entry that the balance could not cover, never more than the entry itself.
    `earlier_debits` lists the debits since the last credit (by stamp) that the balance
    served first: with this entry, the spends that together exceeded it.
    """

    card_id: str
    ledger: str
    entry_id: str
    node: str
    hlc: int
    shortfall: int
    balance_after: int
    earlier_debits: tuple[str, ...]


def find_overdrafts(
    entries: Iterable[LedgerEntry],
    card_id: str,
    ledger: str = "stored_value",
    credit_limit: int = 0,
    item: str = "",
) -> list[OverdraftRecord]:
    """The overdraft records of one card's ledger (one item's balance on it), in stamp order.

    `credit_limit` (in the ledger's unit, >= 0) lowers the floor to -credit_limit.
    """
    if ledger not in LEDGER_UNITS:
        raise InvalidRecord(f"unknown ledger {ledger!r}")
    check_int(credit_limit, "credit_limit")
    if credit_limit < 0:
        raise InvalidRecord("credit_limit must not be negative")
    floor = -credit_limit
    mine = sorted(
        (e for e in entries if e.card_id == card_id and e.ledger == ledger and e.item == item),
        key=lambda e: e.stamp,
    )
    running = 0
    debits_since_credit: list[str] = []
    records: list[OverdraftRecord] = []
    for entry in mine:
        running += entry.amount
        if entry.amount < 0 and running < floor:
            # Only the part below the floor is short; if the balance was already
            # below, the whole entry is.
            shortfall = min(-entry.amount, floor - running)
            records.append(
                OverdraftRecord(
                    card_id=card_id,
                    ledger=ledger,
                    entry_id=entry.entry_id,
                    node=entry.node,
                    hlc=entry.hlc,
                    shortfall=shortfall,
                    balance_after=running,
                    earlier_debits=tuple(debits_since_credit[-MAX_EARLIER_DEBITS:]),
                )
            )
        if entry.amount < 0:
            debits_since_credit.append(entry.entry_id)
        else:
            # A credit starts a fresh stretch of cover for later debits.
            debits_since_credit = []
    return records
