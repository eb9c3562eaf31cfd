"""What must hold of points and vouchers after a run, judged from outside: every card's
points ledger adds up, kind by kind, to the balance each replica shows, the same at
every replica once converged and what the tills were told; each sale earned its points
once, and its points are its lines'; and no voucher stands used twice without HQ
queueing the reuse.

The checkers read each replica's SQLite file (HQ's too: a directory is the same tables
at each), HQ's copies of the branches' logs (where a ledger entry still names the sale
it belongs to) and its conflict queue, and what the tills were told (the shop's Ledger
and its LoyaltyLedger, simulations/loyalty_records.py). The laws that hold at any
moment (`replica_problems`) are also checked at checkpoints while branches trade
(simulations/loyalty_ops.py); what those found is reported here with the rest. The
laws themselves, and the lots law's hook, are simulations/points_laws.py's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conflict.directory import decode
from conflict.ledger import LedgerEntry
from hq.conflicts import HQ_NODE
from protocol.contract import LEDGER_ENTRY, SALE_CHECKOUT
from protocol.entry import Entry, decode_entry
from simulations.model import Violation
from simulations.points_laws import (
    POINTS_CONSERVED,
    SALE_POINTS,
    ledger_problems,
    points_books,
    points_entries,
    sale_points_problems,
)

if TYPE_CHECKING:
    from simulations.engine import Simulation

Checker = Callable[["Simulation"], Awaitable[list[Violation]]]

# Violations of one invariant listed one by one before the rest are counted.
MAX_EXAMPLES = 3
# A conflict HQ keeps for a reused voucher: waiting for an operator, or decided.
SURFACED = ("open", "resolved")
EARNED_ONCE = "each sale earns its points once"
VOUCHERS_QUEUED = "no voucher used twice without a conflict"


def _examples(invariant: str, problems: list[str]) -> list[Violation]:
    found = [Violation(invariant, problem) for problem in problems[:MAX_EXAMPLES]]
    if len(problems) > MAX_EXAMPLES:
        found.append(Violation(invariant, f"... and {len(problems) - MAX_EXAMPLES} more like these"))
    return found


@contextlib.contextmanager
def _reading(path: Path) -> Any:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        yield conn


def _replicas(sim: Simulation) -> dict[str, Path]:
    """HQ's SQLite file, and once converged every branch's: HQ first."""
    found = {"HQ": sim.hq.root / "hq.sqlite"}
    if sim.converged_at_ms is not None:
        found |= {code: sim.nodes[code].root / "node.sqlite" for code in sorted(sim.nodes)}
    return found


def _checkpoint_problems(sim: Simulation, invariant: str) -> list[str]:
    return [
        f"at {at_ms} ms: {problem}"
        for at_ms, found, problem in sim.ledger.loyalty.checkpoint_problems
        if found == invariant
    ]


# -- the checkers --------------------------------------------------------------------------


async def points_conserved(sim: Simulation) -> list[Violation]:
    """Per card, at HQ and after convergence at every branch: the points entries add up,
    kind by kind, to the balance the replica shows (earned + referral + refund - redeem -
    expire - return = balance) and the lots law holds; the balance is the same at every
    replica; and at HQ it is what the tills were told moved on the card, with what HQ
    booked itself (referrals, an operator's adjustments) and what expired."""
    problems = _checkpoint_problems(sim, POINTS_CONSERVED)
    balances: dict[str, dict[str, int]] = {}
    at_hq: list[LedgerEntry] = []
    for replica, path in _replicas(sim).items():
        with _reading(path) as conn:
            entries = points_entries(conn)
            books = points_books(conn, entries)
            problems += ledger_problems(replica, conn, books)
        balances[replica] = {card: book.balance for card, book in books.items()}
        at_hq = entries if replica == "HQ" else at_hq
    for replica, held in balances.items():
        for card in sorted(set(held) | set(balances["HQ"])):
            if held.get(card, 0) != balances["HQ"].get(card, 0):
                problems.append(
                    f"card {card} holds {held.get(card, 0)} points at {replica},"
                    f" {balances['HQ'].get(card, 0)} at HQ"
                )
    # What the tills were told moved, on the card HQ holds each movement on (a till is not
    # told which of a member's cards its points are booked on), with HQ's own and expiries.
    held_at_hq = {entry.entry_id: entry for entry in at_hq}
    expected: Counter[str] = Counter()
    for entry_id, told in sorted(sim.ledger.entries.items()):
        if told.ledger != "points":
            continue
        if entry_id not in held_at_hq:
            problems.append(
                f"{entry_id}: a till at {told.branch} was told {told.amount:+d} points;"
                " HQ holds no such entry"
            )
            continue
        expected[told.card_id or held_at_hq[entry_id].card_id] += told.amount
    for entry in at_hq:
        if entry.node == HQ_NODE or entry.kind == "expire":
            expected[entry.card_id] += entry.amount
    shown = balances["HQ"]
    for card in sorted(set(expected) | set(shown)):
        if expected[card] != shown.get(card, 0):
            problems.append(
                f"HQ: card {card} holds {shown.get(card, 0)} points; the tills were told of {expected[card]}"
                " (with HQ's own entries and expiries)"
            )
    return _examples(POINTS_CONSERVED, problems)


async def _logged(sim: Simulation) -> list[Entry]:
    """Every entry of every branch's log, as HQ holds it."""
    found = []
    for code in sorted(sim.nodes):
        found += [decode_entry(raw) for raw in await sim.hq.hq.store.log_entries(code, 1, 10**9)]
    return found


async def points_earned_once(sim: Simulation) -> list[Violation]:
    """Every sale a till was told earned points has exactly one earning in HQ's logs (the
    ledger entries name the sale they belong to), of the points the till was told; and
    HQ's logs hold no earning for a sale that earned nothing, or for none."""
    earnings: dict[str, list[tuple[str, str, int]]] = {}
    problems = []
    for entry in await _logged(sim):
        if (entry.kind, entry.op) != LEDGER_ENTRY.key:
            continue
        payload = entry.payload
        if payload["ledger"] != "points" or payload["kind"] != "earn":
            continue
        sale_id = payload.get("sale_id")
        if sale_id is None:
            problems.append(
                f"{entry.origin}#{entry.seq}: an earning of {payload['amount']} points names no sale"
            )
            continue
        earnings.setdefault(sale_id, []).append((entry.origin, entry.entity_id, payload["amount"]))
    told = sim.ledger.loyalty.sales
    for sale_id, sale in sorted(told.items()):
        booked = earnings.get(sale_id, [])
        if sale.points_earned and len(booked) != 1:
            problems.append(
                f"sale {sale_id} at {sale.branch} earned {sale.points_earned} points, as its till was told;"
                f" HQ's logs hold {len(booked)} earnings for it: {booked}"
            )
        elif booked and booked[0][2] != sale.points_earned:
            problems.append(
                f"sale {sale_id} at {sale.branch} earned {sale.points_earned} points, as its till was told;"
                f" HQ's logs book {booked}"
            )
    for sale_id, booked in sorted(earnings.items()):
        if sale_id not in told or not told[sale_id].points_earned:
            problems.append(
                f"HQ's logs hold earnings {booked} for sale {sale_id}, which no till was told earned any"
            )
    return _examples(EARNED_ONCE, problems)


async def sale_points_add_up(sim: Simulation) -> list[Violation]:
    """Each sale's points are the sum of its lines' points: as its till was told, at its
    branch (checked at checkpoints too), and in the sale's entry in HQ's logs."""
    problems = _checkpoint_problems(sim, SALE_POINTS)
    for sale_id, sale in sorted(sim.ledger.loyalty.sales.items()):
        if sale.points_earned != sale.line_points:
            problems.append(
                f"sale {sale_id} at {sale.branch}: its till was told it earned {sale.points_earned} points,"
                f" its lines {sale.line_points}"
            )
    for code in sorted(sim.nodes):
        with _reading(sim.nodes[code].root / "node.sqlite") as conn:
            problems += sale_points_problems(code, conn)
    for entry in await _logged(sim):
        if (entry.kind, entry.op) == SALE_CHECKOUT.key:
            lines = sum(line.get("points", 0) for line in entry.payload["lines"])
            if entry.payload["points_earned"] != lines:
                problems.append(
                    f"HQ's copy of {entry.origin}#{entry.seq}: sale {entry.entity_id} earned"
                    f" {entry.payload['points_earned']} points, its lines {lines}"
                )
    return _examples(SALE_POINTS, problems)


async def reused_vouchers_queued(sim: Simulation) -> list[Violation]:
    """A voucher whose uses the tills were told of stand more than once (no return gave
    them back) has every use after the first, in stamp order (hlc, branch, redemption
    id), in HQ's queue as a voucher_reused conflict naming it (open, or decided)."""
    ledger = sim.ledger
    standing: dict[str, list[str]] = {}
    for redemption_id, (_, voucher, _) in sorted(ledger.redemptions.items()):
        if redemption_id not in ledger.loyalty.reinstated:
            standing.setdefault(voucher, []).append(redemption_id)
    reused = {voucher: uses for voucher, uses in standing.items() if len(uses) > 1}
    if not reused:
        return []
    directory = decode(await sim.hq.hq.store.directory_bytes())
    queue = {
        conflict.details.get("flagged", {}).get("redemption_id"): conflict
        for conflict in await sim.hq.hq.store.conflicts(None)
        if conflict.kind == "voucher_reused"
    }
    problems = []
    for voucher, uses in sorted(reused.items()):
        held = [directory.redemptions.get(redemption_id) for redemption_id in uses]
        if any(redemption is None for redemption in held):
            missing = [rid for rid, redemption in zip(uses, held, strict=True) if redemption is None]
            problems.append(f"voucher {voucher}: HQ holds no use {missing}, which tills were told of")
            continue
        later = sorted((r for r in held if r is not None), key=lambda r: r.stamp)[1:]
        for redemption in later:
            conflict = queue.get(redemption.redemption_id)
            what = (
                f"voucher {voucher} used at {redemption.node} ({redemption.redemption_id})"
                " after an earlier use"
            )
            if conflict is None:
                problems.append(f"{what}; HQ's queue has no voucher_reused conflict naming it")
            elif conflict.state not in SURFACED or conflict.subject != voucher:
                problems.append(f"{what}; HQ's queue holds it {conflict.state} on {conflict.subject}")
    return _examples(VOUCHERS_QUEUED, problems)


LOYALTY_INVARIANTS: tuple[Checker, ...] = (
    points_conserved,
    points_earned_once,
    sale_points_add_up,
    reused_vouchers_queued,
)
