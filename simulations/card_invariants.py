"""What must hold of cards of a type after a run, judged from outside: each card's uses of
each service item are what the tills were told, every use that took an item below zero is
an overdraft in HQ's queue, and every card sold is in HQ's takings once with its type's
stored value on it.

The checkers read each node's SQLite file, HQ's copy of the directory, its sales and its
conflict queue, and what the tills were told (the shop's Ledger); a card's terms come from
HQ's master data as the simulation published it (hq.setup.DEMO_CARD_TYPES). A replaced
card's numbers are judged after the sync: the old one refused everywhere, the new one
standing for the card. TODO as the shop gains them (simulations/card_ops.py): a top-up's
bonus and refunds in the money per card, and credit drawn within its limit.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conflict.directory import Directory, decode
from hq.conflicts import HQ_NODE
from hq.setup import DEMO_CARD_TYPES
from protocol.contract import CARD_ISSUE
from protocol.entry import decode_entry
from shared_tables import directory_store
from simulations.model import Violation

if TYPE_CHECKING:
    from simulations.engine import Simulation

Checker = Callable[["Simulation"], Awaitable[list[Violation]]]

# Violations of one invariant listed one by one before the rest are counted.
MAX_EXAMPLES = 3
# A conflict HQ keeps for an overdraft: waiting for an operator, or decided.
SURFACED = ("open", "resolved")
# HQ's card types, by code: the terms a card of each is sold on.
CARD_TYPES = {card_type.code: card_type for card_type in DEMO_CARD_TYPES}

Item = tuple[str, str]  # (card, service sku)


def _examples(invariant: str, problems: list[str]) -> list[Violation]:
    found = [Violation(invariant, problem) for problem in problems[:MAX_EXAMPLES]]
    if len(problems) > MAX_EXAMPLES:
        found.append(Violation(invariant, f"... and {len(problems) - MAX_EXAMPLES} more like these"))
    return found


def _read(path: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return list(conn.execute(query))


def _sums(rows: list[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
    return {(str(key), str(sub)): int(total) for key, sub, total in rows}


# Per (card, item): the uses a replica holds, and its uses entries naming no item.
USES_QUERY = "SELECT card_id, item, SUM(amount) FROM dir_ledger WHERE ledger = 'uses' GROUP BY card_id, item"
# HQ's takings, one row per sale or card sold (hq.plan's SaleRow).
HQ_SALES_QUERY = "SELECT origin, sale_id, total_fen FROM sales"
# Per (card, ledger): a replica's money on the cards.
MONEY_QUERY = (
    "SELECT card_id, ledger, SUM(amount) FROM dir_ledger"
    " WHERE ledger IN ('stored_value', 'credit') GROUP BY card_id, ledger"
)


def _replicas(sim: Simulation) -> dict[str, Path]:
    """Every replica's SQLite file, HQ's first: a directory is the same tables at each."""
    found = {"HQ": sim.hq.root / "hq.sqlite"}
    found |= {code: sim.nodes[code].root / "node.sqlite" for code in sorted(sim.nodes)}
    return found


async def _hq_directory(sim: Simulation) -> Directory:
    return decode(await sim.hq.hq.store.directory_bytes())


async def uses_conserved(sim: Simulation) -> list[Violation]:
    """After convergence, at HQ and at every branch: each card's uses of each service item
    are the uses granted less those spent, as the tills were told (plus what HQ's operator
    wrote off on that item), so no acknowledged use is lost or doubled; every use a till
    was told of is at HQ on its card and item; and no uses movement names no item (uses
    are only ever counted per service item)."""
    if sim.converged_at_ms is None:
        return []  # judged by "converges within budget"
    granted: Counter[Item] = Counter()
    spent: Counter[Item] = Counter()
    for booked in sim.ledger.entries.values():
        if booked.ledger == "uses" and booked.card_id is not None:
            (granted if booked.amount > 0 else spent)[(booked.card_id, booked.item)] += abs(booked.amount)
    directory = await _hq_directory(sim)
    written_off: Counter[Item] = Counter()
    for entry in directory.ledger.values():
        if entry.ledger == "uses" and entry.node == HQ_NODE:
            written_off[(entry.card_id, entry.item)] += entry.amount
    expected = {key: granted[key] - spent[key] + written_off[key] for key in granted | spent | written_off}
    problems = []
    for replica, path in _replicas(sim).items():
        held_uses = _sums(_read(path, USES_QUERY))
        for (card, item), uses in sorted(held_uses.items()):
            if not item:
                problems.append(f"{replica}: card {card} holds {uses} uses of no service item")
        for key in sorted(set(held_uses) | {key for key, uses in expected.items() if uses}):
            if key[1] and held_uses.get(key, 0) != expected.get(key, 0):
                card, item = key
                problems.append(
                    f"{replica}: card {card} holds {held_uses.get(key, 0)} uses of {item}; the tills were"
                    f" told {granted[key]} granted - {spent[key]} spent"
                    + (f" + {written_off[key]} written off" if written_off[key] else "")
                    + f" = {expected.get(key, 0)}"
                )
    for entry_id, booked in sorted(sim.ledger.entries.items()):
        if booked.ledger != "uses":
            continue
        held = directory.ledger.get(entry_id)
        told = f"{booked.amount:+d} uses of {booked.item} on card {booked.card_id}"
        if held is None:
            problems.append(f"{entry_id}: a till at {booked.branch} was told {told}; HQ does not hold it")
        elif (held.card_id, held.item, held.amount) != (booked.card_id, booked.item, booked.amount):
            problems.append(
                f"{entry_id}: a till at {booked.branch} was told {told};"
                f" HQ holds {held.amount:+d} uses of {held.item or 'no item'} on card {held.card_id}"
            )
    return _examples("uses conserved per card and item", problems)


async def overspent_uses_are_conflicts(sim: Simulation) -> list[Violation]:
    """Whenever a card's uses of a service item at HQ go below zero, HQ's queue holds an
    overdraft conflict for that card (open, or decided by the operator) naming the use that
    took it below: walking the item's movements in stamp order (hlc, node, entry id),
    every use that leaves the balance under zero is one. So no use is spent twice without
    a conflict record."""
    directory = await _hq_directory(sim)
    queue = {conflict.id: conflict for conflict in await sim.hq.hq.store.conflicts(None)}
    movements: dict[Item, list[tuple[int, str, str, int]]] = {}
    for entry in directory.ledger.values():
        if entry.ledger == "uses":
            movements.setdefault((entry.card_id, entry.item), []).append(
                (entry.hlc, entry.node, entry.entry_id, entry.amount)
            )
    problems = []
    for (card, item), moved in sorted(movements.items()):
        balance = 0
        for _, node, entry_id, amount in sorted(moved):
            balance += amount
            if amount >= 0 or balance >= 0:
                continue
            held = queue.get(f"overdraft:{entry_id}")
            what = f"card {card}: the use {entry_id} at {node} took its {item} uses to {balance}"
            if held is None:
                problems.append(f"{what}, and HQ's queue has no overdraft naming it")
            elif (
                held.kind != "overdraft"
                or held.subject != card
                or held.state not in SURFACED
                or (held.details.get("ledger"), held.details.get("entry_id")) != ("uses", entry_id)
            ):
                problems.append(f"{what}; HQ's queue holds it as {held.kind} {held.state}: {held.summary}")
    return _examples("no use spent twice without a conflict", problems)


async def card_money_conserved(sim: Simulation) -> list[Violation]:
    """Every card sold that a till was told of is in HQ's sales once, at its type's price,
    and HQ has no card sale the tills were not told of, so HQ's card takings are the
    tills'; and each card holds the stored value and credit its type puts on it, plus what
    else the tills were told moved on it: at HQ, and after convergence at every branch."""
    ledger = sim.ledger
    problems = []
    issued: Counter[tuple[str, str]] = Counter()  # (origin, sale id) -> card/issue entries at HQ
    for code in sorted(sim.nodes):
        for raw in await sim.hq.hq.store.log_entries(code, 1, 10**9):
            logged = decode_entry(raw)
            if (logged.kind, logged.op) == CARD_ISSUE.key:
                issued[(code, logged.entity_id)] += 1
    hq_sales = {
        (str(origin), str(sale_id)): int(total)
        for origin, sale_id, total in _read(sim.hq.root / "hq.sqlite", HQ_SALES_QUERY)
    }
    for sale_id, sold in sorted(ledger.card_sales.items()):
        key = (sold.branch, sale_id)
        kind = CARD_TYPES[sold.card_type]
        what = f"card {sold.card_id} ({sold.card_type}) sold at {sold.branch} ({sale_id})"
        if sold.price_fen != kind.price_fen:
            problems.append(
                f"{what}: the till was told {sold.price_fen} fen, its type costs {kind.price_fen}"
            )
        if sold.stored_value_fen != kind.stored_value_fen:
            problems.append(
                f"{what}: the till was told it holds {sold.stored_value_fen} fen,"
                f" its type puts {kind.stored_value_fen} on it"
            )
        if issued[key] != 1:
            problems.append(f"{what}: in HQ's logs {issued[key]} times")
        if key not in hq_sales:
            problems.append(f"{what}: not in HQ's sales")
        elif hq_sales[key] != kind.price_fen:
            problems.append(f"{what}: HQ's sales count {hq_sales[key]} fen, its price is {kind.price_fen}")
    told_sales = {(sold.branch, sale_id) for sale_id, sold in ledger.card_sales.items()}
    strays = sorted(set(issued) - told_sales)
    problems += [
        f"HQ holds card sale {sale_id} at {origin}, which no till was told of" for origin, sale_id in strays
    ]
    expected: Counter[tuple[str, str]] = Counter()
    for sold in ledger.card_sales.values():
        kind = CARD_TYPES[sold.card_type]
        expected[(sold.card_id, "stored_value")] += kind.stored_value_fen
        expected[(sold.card_id, "credit")] += kind.credit_limit_fen
    issue_ids = {f"{sale_id}-sv" for sale_id in ledger.card_sales}
    for entry_id, booked in ledger.entries.items():
        if (
            booked.card_id is not None
            and (booked.card_id, booked.ledger) in expected
            and entry_id not in issue_ids
        ):
            expected[(booked.card_id, booked.ledger)] += booked.amount
    directory = await _hq_directory(sim)
    for entry in directory.ledger.values():
        if entry.node == HQ_NODE and (entry.card_id, entry.ledger) in expected:
            expected[(entry.card_id, entry.ledger)] += entry.amount  # an operator's write-off
    replicas = _replicas(sim) if sim.converged_at_ms is not None else {"HQ": sim.hq.root / "hq.sqlite"}
    for replica, path in replicas.items():
        held = _sums(_read(path, MONEY_QUERY))
        for (card, money), fen in sorted(expected.items()):
            if held.get((card, money), 0) != fen:
                problems.append(
                    f"{replica}: card {card} holds {held.get((card, money), 0)} fen of {money}; its type and"
                    f" what the tills were told come to {fen}"
                )
    return _examples("card money conserved", problems)


async def replaced_numbers_refused(sim: Simulation) -> list[Violation]:
    """After convergence, at HQ and at every branch: every number a till replaced is
    refused (status "replaced"), and every new number a till handed over stands for the
    card it replaced (its balances are the card's). A number replaced twice while apart
    must also be in HQ's queue: "conflicts surfaced" judges that."""
    if sim.converged_at_ms is None:
        return []  # judged by "converges within budget"
    ledger = sim.ledger
    problems = []
    replaced = {old for _, old, _ in ledger.replacements.values()}
    handed = {new: ledger.root(new) for _, _, new in ledger.replacements.values()}
    for replica, path in _replicas(sim).items():
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            for number in sorted(replaced):
                state = directory_store.card_status(conn, number)
                if state not in ("replaced", "returned"):
                    problems.append(f"{replica}: card {number} was replaced, yet it is {state} there")
            for number, root in sorted(handed.items()):
                if directory_store.card_root(conn, number) != root:
                    problems.append(
                        f"{replica}: new number {number} stands for"
                        f" {directory_store.card_root(conn, number)},"
                        f" not the card {root} it replaced"
                    )
    return _examples("replaced numbers refused everywhere", problems)


CARD_INVARIANTS: tuple[Checker, ...] = (
    uses_conserved,
    overspent_uses_are_conflicts,
    card_money_conserved,
    replaced_numbers_refused,
)
