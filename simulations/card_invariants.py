"""What must hold of cards of a type after a run, judged from outside: each card's uses of
each service item are what the tills were told, every use that took an item below zero is
an overdraft in HQ's queue, and every card sold is in HQ's takings once with its type's
stored value on it.

The checkers read each node's SQLite file, HQ's copy of the directory, its sales and its
conflict queue, and what the tills were told (the shop's Ledger); a card's terms come from
HQ's master data as the simulation published it (simulations.world.SIM_CARD_TYPES: the
demo types with a platinum card to upgrade to). A replaced
card's numbers are judged after the sync: the old one refused everywhere, the new one
standing for the card.

A card's later life has its own record of what the tills were told (`CardLifeLedger`,
kept by simulations/card_ops.py beside the shop's Ledger): upgrades (the type the till
showed and the type it sold), passwords set, every spend that a password guarded, and
returns of sales a card paid for. Its checkers: every replica shows each card as its
latest-stamped upgrade and password left it; every upgrade reckoned from a type another
upgrade had replaced is a stale_upgrade in HQ's queue; no spend was booked without the
password the branch held, and one refused for it changed nothing; and a card-paid sale
returned gives back to the card that paid, never beyond what it sold. The upgrade's fee
is judged with the other takings by simulations/invariants.py's sales_totals_match, and
the stored value and credit a refund puts back on a card by card_money_conserved.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from conflict.directory import Directory, decode
from hq.conflicts import HQ_NODE
from protocol.contract import CARD_CHANGE, CARD_ISSUE
from protocol.entry import Entry, decode_entry
from shared_tables import directory_store
from simulations.card_life_records import (
    CardPaid,
    Item,
    PaidBy,
    PasswordSet,
    Stamp,
    Upgraded,
)
from simulations.model import Violation
from simulations.world import SIM_CARD_TYPES

if TYPE_CHECKING:
    from simulations.engine import Simulation

Checker = Callable[["Simulation"], Awaitable[list[Violation]]]

# Violations of one invariant listed one by one before the rest are counted.
MAX_EXAMPLES = 3
# A conflict HQ keeps for an overdraft: waiting for an operator, or decided.
SURFACED = ("open", "resolved")
# HQ's card types, by code: the terms a card of each is sold on.
CARD_TYPES = {card_type.code: card_type for card_type in SIM_CARD_TYPES}

# Refunds that put something back on a card's ledger, and those of a card's service item.
CARD_LEDGER_REFUNDS = ("uses", "stored_value", "credit")
CARD_ITEM_TENDERS = ("uses", "time_card")


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


# -- a card's later life: upgrades, passwords, returns of what it paid for ----------------


async def _logged(sim: Simulation) -> list[Entry]:
    """Every entry of every branch's log, as HQ holds it."""
    found = []
    for code in sorted(sim.nodes):
        found += [decode_entry(raw) for raw in await sim.hq.hq.store.log_entries(code, 1, 10**9)]
    return found


def _change_stamps(logged: list[Entry]) -> dict[str, Stamp]:
    """Change id -> its stamp, as the entry that carried it says (not HQ's directory)."""
    return {
        entry.entity_id: (entry.hlc, entry.origin, entry.entity_id)
        for entry in logged
        if (entry.kind, entry.op) == CARD_CHANGE.key
    }


Change = TypeVar("Change", Upgraded, PasswordSet)


def _latest(
    told: Mapping[str, Change], stamps: dict[str, Stamp], problems: list[str]
) -> dict[str, tuple[Stamp, Change]]:
    """Card -> the stamp and record of its latest-stamped change of those told; a change
    told of that HQ's logs lack is a problem."""
    latest: dict[str, tuple[Stamp, Change]] = {}
    for change_id, change in sorted(told.items()):
        stamp = stamps.get(change_id)
        if stamp is None:
            problems.append(
                f"{change_id}: a till at {change.branch} changed card {change.card_id}; HQ's logs lack it"
            )
        elif change.card_id not in latest or stamp > latest[change.card_id][0]:
            latest[change.card_id] = (stamp, change)
    return latest


async def card_changes_take_the_latest(sim: Simulation) -> list[Violation]:
    """After convergence, at HQ and at every branch: a card the tills upgraded is of the type
    its latest-stamped upgrade made it, with that type's level and discount (conflict.card_life
    rule 3, whichever store heard of which upgrade first), and a card the tills gave a
    password holds the hash of its latest-stamped one (rule 4). Stamps are read from the
    entries in HQ's logs; what each change was, from what the tills were told."""
    if sim.converged_at_ms is None:
        return []  # judged by "converges within budget"
    life = sim.tills.cards.life
    problems: list[str] = []
    stamps = _change_stamps(await _logged(sim))
    upgraded = _latest(life.upgrades, stamps, problems)
    passworded = _latest(life.passwords, stamps, problems)
    for replica, path in _replicas(sim).items():
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            for card, (_, upgrade) in sorted(upgraded.items()):
                kind = CARD_TYPES[upgrade.to_type]
                shown = directory_store.card_record(conn, card)
                terms = None if shown is None else (shown.card_type, shown.level, shown.discount_rate)
                if terms != (kind.code, kind.level, kind.discount_rate):
                    problems.append(
                        f"{replica}: card {card} shows (type, level, discount) {terms}; its latest upgrade,"
                        f" at {upgrade.branch}, made it {(kind.code, kind.level, kind.discount_rate)}"
                    )
            for card, (_, password) in sorted(passworded.items()):
                held = life.password_of_hash(directory_store.card_password(conn, card))
                if held != password.password:
                    problems.append(
                        f"{replica}: card {card} holds password {held!r}; its latest, set at"
                        f" {password.branch}, is {password.password!r}"
                    )
    return _examples("cards take their latest upgrade and password everywhere", problems)


async def stale_upgrades_queued(sim: Simulation) -> list[Violation]:
    """After convergence: every upgrade the tills were told of that started from a type the
    card no longer had at its stamp (two stores upgraded it while apart, and the later
    stamp's reckoned its price from the type the other one replaced) is a stale_upgrade
    conflict in HQ's queue (open or resolved) naming the card, and HQ queues no stale
    upgrade that the tills did not make. Judged from the types the tills showed and the
    stamps in HQ's logs; "conflicts surfaced" judges the queue against HQ's directory."""
    if sim.converged_at_ms is None:
        return []  # judged by "converges within budget"
    life = sim.tills.cards.life
    stamps = _change_stamps(await _logged(sim))
    sold_as = {sold.card_id: sold.card_type for sold in sim.ledger.card_sales.values()}
    by_card: dict[str, list[tuple[Stamp, str, Upgraded]]] = {}
    for change_id, upgrade in life.upgrades.items():
        if change_id in stamps:  # one HQ lacks is "cards take their latest ..."'s to report
            by_card.setdefault(upgrade.card_id, []).append((stamps[change_id], change_id, upgrade))
    stale: dict[str, tuple[str, Upgraded]] = {}  # conflict id -> (type in force, upgrade)
    for card, upgrades in by_card.items():
        in_force = sold_as[card]
        for _, change_id, upgrade in sorted(upgrades):
            if upgrade.from_type != in_force:
                stale[f"upgrade:{change_id}"] = (in_force, upgrade)
            in_force = upgrade.to_type
    queue = {c.id: c for c in await sim.hq.hq.store.conflicts(None) if c.kind == "stale_upgrade"}
    problems = []
    for conflict_id, (in_force, upgrade) in sorted(stale.items()):
        held = queue.get(conflict_id)
        what = (
            f"card {upgrade.card_id} was a {in_force} card when {upgrade.branch} upgraded it from"
            f" {upgrade.from_type} to {upgrade.to_type}"
        )
        if held is None:
            problems.append(f"{what}; HQ's queue has no {conflict_id}")
        elif held.state not in SURFACED or held.subject != upgrade.card_id:
            problems.append(f"{what}; HQ's queue holds {conflict_id} {held.state} on {held.subject}")
    problems += [
        f"HQ queues {conflict_id} ({held.summary}), but the tills made no such stale upgrade"
        for conflict_id, held in sorted(queue.items())
        if conflict_id not in stale and held.state in SURFACED  # a cleared one later data made moot
    ]
    return _examples("every stale upgrade queued", problems)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What differs between two views of a card: name -> (before, after)."""
    return {
        name: (before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def _booked_under(path: Path, entity_ids: set[str], op_id: str) -> list[str]:
    """Where an operation's id is booked: the branch's sales, payouts, card changes and
    card ledger (its entries' ids start with it), and HQ's logs."""
    found = []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        for table, column in (("sales", "id"), ("payouts", "id"), ("dir_card_changes", "change_id")):
            if conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (op_id,)).fetchone():
                found.append(f"the branch's {table}")
        if conn.execute(
            "SELECT 1 FROM dir_ledger WHERE entry_id = ? OR entry_id LIKE ? || '-%'", (op_id, op_id)
        ).fetchone():
            found.append("the branch's card ledger")
    if any(entity == op_id or entity.startswith(f"{op_id}-") for entity in entity_ids):
        found.append("HQ's logs")
    return found


async def passwords_guard_spends(sim: Simulation) -> list[Violation]:
    """No spend on a card (a sale paid with its uses, visits, stored value or credit, a
    payout) and no change of its password was booked without the password the branch held
    for the card when it was asked for: one keyed in with another password (a wrong one,
    or the member's newest, which the branch had not heard of) must be refused, and a
    refused one changed nothing: its id is booked nowhere, at the branch or in HQ's logs,
    and the card showed the same balances, uses, status and password just after as just
    before. A spend the branch let through with the password it knew stands (rule 4)."""
    life = sim.tills.cards.life
    entity_ids = {entry.entity_id for entry in await _logged(sim)}
    problems = []
    for op_id, tried in sorted(life.guarded.items()):
        if not tried.must_be_refused:
            continue
        what = (
            f"{op_id}: a {tried.what} on card {tried.card_id} at {tried.branch} keyed in {tried.given!r}"
            f" where the branch held {tried.held!r}"
        )
        if tried.booked:
            problems.append(f"{what}; it was booked")
            continue
        changed = _changed(tried.before or {}, tried.after or {})
        if changed:
            problems.append(f"{what}; refused, yet the card changed (before, after): {changed}")
        places = _booked_under(sim.nodes[tried.branch].root / "node.sqlite", entity_ids, op_id)
        if places:
            problems.append(f"{what}; refused, yet booked in {', '.join(places)}")
    return _examples("no spend without the card's password", problems)


# Per sale line and per tender at a branch: what it sold or paid, and what its returns
# brought back or refunded to it.
RETURNED_LINES_QUERY = (
    "SELECT l.sale_id, l.line_no, l.sku, l.qty, SUM(r.qty) FROM sale_lines l"
    " JOIN sale_returns s ON s.sale_id = l.sale_id"
    " JOIN sale_return_lines r ON r.return_id = s.id AND r.line_no = l.line_no"
    " GROUP BY l.sale_id, l.line_no"
)
REFUNDED_TENDERS_QUERY = (
    "SELECT t.sale_id, t.tender_no, t.kind, t.amount_fen, COALESCE(t.uses, 0),"
    " SUM(f.amount_fen), SUM(COALESCE(f.qty, 0)), (SELECT change_fen FROM sales WHERE id = t.sale_id)"
    " FROM sale_tenders t JOIN sale_returns s ON s.sale_id = t.sale_id"
    " JOIN sale_return_refunds f ON f.return_id = s.id AND f.tender_no = t.tender_no"
    " GROUP BY t.sale_id, t.tender_no"
)


def _beyond_the_sale(code: str, path: Path) -> list[str]:
    """A branch's returns that took back more of a line than it sold, or refunded a tender
    more than it paid (a card's uses or visits in units; money in fen, cash net of change)."""
    problems = [
        f"{code}: sale {sale_id} line {line_no} ({sku}) sold {sold}, its returns took back {back}"
        for sale_id, line_no, sku, sold, back in _read(path, RETURNED_LINES_QUERY)
        if back > sold
    ]
    for sale_id, tender_no, kind, amount, uses, refunded, units, change in _read(
        path, REFUNDED_TENDERS_QUERY
    ):
        paid, back = (
            (uses, units)
            if kind in CARD_ITEM_TENDERS
            else (amount - (change if kind == "cash" else 0), refunded)
        )
        if back > paid:
            problems.append(
                f"{code}: sale {sale_id} tender {tender_no} ({kind}) paid {paid}, its returns refunded {back}"
            )
    return problems


# What a replica's card ledger holds of refunds: entry id -> (card, ledger, item, amount).
REFUNDS_HELD_QUERY = (
    "SELECT entry_id, card_id, ledger, item, amount FROM dir_ledger WHERE entry_id LIKE '%-r%'"
)
# Refunds to a card: onto its ledgers, and a service item's units back to its tender.
CARD_REFUNDS = (*CARD_LEDGER_REFUNDS, "time_card")


def _refunds_held(path: Path) -> dict[str, tuple[str, str, str, int]]:
    return {
        str(entry_id): (str(card), str(ledger), str(item or ""), int(amount))
        for entry_id, card, ledger, item, amount in _read(path, REFUNDS_HELD_QUERY)
    }


def _given_back(refund: PaidBy) -> tuple[str, str | None, str | None, int]:
    """(kind, card, sku, units or fen): a service item's refund counts units, money fen."""
    if refund.kind in CARD_ITEM_TENDERS:
        return refund.kind, refund.card_id, refund.sku, refund.qty
    return refund.kind, refund.card_id, None, refund.amount_fen


def _owed_to_cards(
    paid: CardPaid, lines: tuple[tuple[int, str, int], ...]
) -> list[tuple[str, str | None, str | None, int]]:
    """What returning `lines` of a card-paid sale gives back to its cards, as (kind, card,
    sku, units or fen): a service line a card's uses or visit paid for goes back to that
    card's tender; a line paid wholly from one card's stored value or credit goes back onto
    that ledger; anything paid in cash is cash."""
    money = [t for t in paid.tenders if t.kind not in CARD_ITEM_TENDERS]
    owed: list[tuple[str, str | None, str | None, int]] = []
    for line_no, sku, qty in lines:
        item = next((t for t in paid.tenders if t.kind in CARD_ITEM_TENDERS and t.sku == sku), None)
        if item is not None:
            owed.append((item.kind, item.card_id, sku, qty))
        elif len(money) == 1 and money[0].kind in CARD_LEDGER_REFUNDS:
            _, sold_qty, amount_fen = paid.lines[line_no]
            owed.append((money[0].kind, money[0].card_id, None, amount_fen * qty // sold_qty))
    return owed


async def card_paid_returns_refunded(sim: Simulation) -> list[Violation]:
    """A return of a sale paid with a card gives back to that card first, as the tills were
    told: a service its uses or visit paid for goes back to that card (a use booked back
    onto that item), a cup paid from its stored value or credit goes back onto that ledger;
    every use and fen a till was told went back is on that card at HQ, and after
    convergence at every branch; and at no branch did returns take back more of a sale's
    line than it sold, or refund a tender more than it paid."""
    life = sim.tills.cards.life
    replicas = _replicas(sim) if sim.converged_at_ms is not None else {"HQ": sim.hq.root / "hq.sqlite"}
    held = {replica: _refunds_held(path) for replica, path in replicas.items()}
    problems = []
    for return_id, returned in sorted(life.returns.items()):
        told = sorted(_given_back(refund) for refund in returned.refunds if refund.kind in CARD_REFUNDS)
        owed = sorted(_owed_to_cards(life.paid_by_card[returned.sale_id], returned.lines))
        if told != owed:
            problems.append(
                f"{return_id}: returning {returned.lines} of sale {returned.sale_id} at {returned.branch}"
                f" gave the cards {told}; the sale's tenders owe them {owed}"
            )
        for number, refund in enumerate(returned.refunds):
            if refund.kind not in CARD_LEDGER_REFUNDS:
                continue  # a time card's visit back is recorded, but moves nothing on the card
            entry_id = f"{return_id}-r{number}"
            kind, card, item, amount = _given_back(refund)
            for replica in replicas:
                found = held[replica].get(entry_id)
                if found != (card, kind, item or "", amount):
                    problems.append(
                        f"{replica}: {entry_id} puts {found or 'nothing'} (card, ledger, item, amount) back;"
                        f" the till at {returned.branch} was told {amount:+d} {kind} on card {card}"
                    )
    for code in sorted(sim.nodes):
        problems += _beyond_the_sale(code, sim.nodes[code].root / "node.sqlite")
    return _examples("card-paid returns go back to the card, never beyond the sale", problems)


CARD_INVARIANTS: tuple[Checker, ...] = (
    uses_conserved,
    overspent_uses_are_conflicts,
    card_money_conserved,
    replaced_numbers_refused,
    card_changes_take_the_latest,
    stale_upgrades_queued,
    passwords_guard_spends,
    card_paid_returns_refunded,
)
