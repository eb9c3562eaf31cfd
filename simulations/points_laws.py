"""The laws of points that hold at one replica at any moment, read from its SQLite file:
each card's points entries add up, kind by kind, to the balance the replica shows (a
till's reading), the points lots hold what the balance and the debts say, and each sale's
points are its lines'. simulations/loyalty_invariants.py judges a run's end by them, and
simulations/loyalty_ops.py's checkpoints judge the branches by them while they trade.

The points ledger is judged over its kinds as the wire contract lists them
(protocol.contract's LEDGER_SIGNS: earned, referral and refunds add; redeemed, expired
and returned take; an adjustment either way), so a kind the contract gains (an expiry
job's `expire`) is counted without a change here. The points lots law (what the lots
still hold = balance + debts) is one function, `points_lots_law`, which judges a card
by the replicas' own lots reader once it exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

from conflict.ledger import ENTRY_SIGNS, LedgerEntry
from conflict.wire import from_payload
from loyalty.errors import InvalidPointsRecord
from protocol import codec
from protocol.errors import InvariantBroken
from shared_tables import directory_store

# The invariants these laws are reported under (simulations/loyalty_invariants.py).
POINTS_CONSERVED = "points conserved per card"
SALE_POINTS = "a sale's points are its lines' points"
# The points ledger's kinds, each with the sign it carries (+1 adds, -1 takes, 0 either).
POINTS_KINDS = ENTRY_SIGNS["points"]
# Where the replicas read a card's points lots, once the lots are live (see points_lots_law).
POINTS_LOTS_READER = "shared_tables.points_lots"


@dataclass(frozen=True)
class PointsBook:
    """One card's points at one replica: its entries' amounts summed by kind (as the
    entries' records say), and the balance the replica shows (what a till reads)."""

    by_kind: Counter[str]
    balance: int

    def formula(self) -> str:
        """'earn 300 + referral 500 - redeem 120 = 680': the kinds the card has, in the
        contract's order, adding first and taking after."""
        adds = [kind for kind, sign in POINTS_KINDS.items() if sign >= 0 and self.by_kind[kind]]
        takes = [kind for kind, sign in POINTS_KINDS.items() if sign < 0 and self.by_kind[kind]]
        added = " + ".join(f"{kind} {self.by_kind[kind]}" for kind in adds) or "0"
        return " ".join([added, *(f"- {kind} {-self.by_kind[kind]}" for kind in takes)])

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def points_entries(conn: sqlite3.Connection) -> list[LedgerEntry]:
    """Every points entry a replica holds, as its record says (kind and all)."""
    rows = conn.execute("SELECT record FROM dir_ledger WHERE ledger = 'points' ORDER BY entry_id")
    found = []
    for (blob,) in rows:
        entry = from_payload(codec.unpack(bytes(blob)))
        if isinstance(entry, LedgerEntry):
            found.append(entry)
    return found


def points_books(conn: sqlite3.Connection, entries: list[LedgerEntry]) -> dict[str, PointsBook]:
    """Every card with points entries at the replica (by the card they are filed under),
    with the balance the replica shows for it."""
    by_card: dict[str, Counter[str]] = {}
    for entry in entries:
        by_card.setdefault(entry.card_id, Counter())[entry.kind] += entry.amount
    return {
        card: PointsBook(by_kind, directory_store.card_balance(conn, card, "points"))
        for card, by_kind in sorted(by_card.items())
    }


def _points_lots() -> Any | None:
    """The replicas' reader of a card's points lots (shared_tables.points_lots), once the
    lots are live; None before (the law has nothing to judge yet)."""
    if importlib.util.find_spec(POINTS_LOTS_READER) is None:
        return None
    return importlib.import_module(POINTS_LOTS_READER)


def points_lots_law(replica: str, conn: sqlite3.Connection, card: str, balance: int) -> list[str]:
    """The lots law: what the card's lots still hold (with what the replica could not
    place in a lot) is its points balance plus the debts returns left it owing."""
    lots = _points_lots()
    if lots is None:
        return []
    try:
        book = lots.book(conn, card)
        account = book.account
    except (InvariantBroken, InvalidPointsRecord) as broken:
        return [f"{replica}: card {card}'s points lots cannot be read: {broken}"]
    held = account.outstanding + book.unlotted
    if held != balance + account.owed:
        return [
            f"{replica}: card {card}'s lots hold {account.outstanding}"
            + (f" (+ {book.unlotted} unplaced)" if book.unlotted else "")
            + f" points; its balance {balance} + debts {account.owed} = {balance + account.owed}"
        ]
    return []


def ledger_problems(replica: str, conn: sqlite3.Connection, books: dict[str, PointsBook]) -> list[str]:
    """At one replica: each card's points entries, kind by kind, add up to the balance it
    shows, every entry is of a kind the contract knows, and the lots law holds."""
    problems = []
    for card, book in books.items():
        unknown = sorted(kind for kind in book.by_kind if kind not in POINTS_KINDS)
        if unknown:
            problems.append(
                f"{replica}: card {card} holds points entries of kinds {unknown} the contract lacks"
            )
        if book.total != book.balance:
            problems.append(
                f"{replica}: card {card}: {book.formula()} = {book.total},"
                f" yet its balance there is {book.balance}"
            )
        problems += points_lots_law(replica, conn, card, book.balance)
    return problems


# Per sale at a branch: the points it earned and the sum of its lines' points.
SALE_POINTS_QUERY = (
    "SELECT s.id, s.points_earned, COALESCE(SUM(l.points), 0) FROM sales s"
    " LEFT JOIN sale_lines l ON l.sale_id = s.id GROUP BY s.id"
    " HAVING s.points_earned != COALESCE(SUM(l.points), 0)"
)


def sale_points_problems(branch: str, conn: sqlite3.Connection) -> list[str]:
    """At one branch: each sale's points are the sum of its lines' points."""
    return [
        f"{branch}: sale {sale_id} earned {earned} points; its lines' points add up to {lines}"
        for sale_id, earned, lines in conn.execute(SALE_POINTS_QUERY)
    ]


def replica_problems(branch: str, conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """The laws that hold at a branch at any moment, as (invariant, problem): for the
    checkpoints while branches trade."""
    books = points_books(conn, points_entries(conn))
    found = [(POINTS_CONSERVED, problem) for problem in ledger_problems(branch, conn, books)]
    return found + [(SALE_POINTS, problem) for problem in sale_points_problems(branch, conn)]
