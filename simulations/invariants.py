"""What must hold after a run, checked from outside the system it judges.

Each checker reads the replicas' real SQLite files and HQ's store and returns
the violations it found. `INVARIANTS` is the one place later capabilities add
theirs (stock conserved across warehouses and in transit, money conserved,
transfers booked exactly once, conflicts surfaced, cards' uses and money, points and
vouchers).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conflict.directory import decode
from node.services.checkout import sales_summary
from protocol.entry import GENESIS_HASH, check_chain, decode_entry
from protocol.errors import ProtocolError
from simulations.card_invariants import CARD_INVARIANTS
from simulations.directory_invariants import DIRECTORY_INVARIANTS
from simulations.inventory_invariants import INVENTORY_INVARIANTS
from simulations.loyalty_invariants import LOYALTY_INVARIANTS
from simulations.model import Violation

if TYPE_CHECKING:
    from simulations.engine import Simulation

Checker = Callable[["Simulation"], Awaitable[list[Violation]]]


def _node_rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return list(conn.execute(query))


def _node_db(sim: Simulation, code: str) -> Path:
    return sim.nodes[code].root / "node.sqlite"


async def logs_converged(sim: Simulation) -> list[Violation]:
    """HQ's copy of each branch's log equals the branch's own, byte for byte, and verifies."""
    found = []
    for code in sorted(sim.nodes):
        node_log = [
            bytes(row[0])
            for row in _node_rows(_node_db(sim, code), "SELECT entry FROM change_log ORDER BY seq")
        ]
        hq_log = await sim.hq.hq.store.log_entries(code, 1, len(node_log) + 1_000_000)
        if hq_log != node_log:
            found.append(
                Violation(
                    "logs converge",
                    f"{code}: branch holds {len(node_log)} entries, HQ {len(hq_log)}, or they differ",
                )
            )
            continue
        try:
            check_chain([decode_entry(raw) for raw in hq_log], origin=code, prev_hash=GENESIS_HASH)
        except ProtocolError as exc:
            found.append(Violation("logs converge", f"{code}: HQ's copy does not verify: {exc}"))
    return found


async def acknowledged_sales_exactly_once(sim: Simulation) -> list[Violation]:
    """Every sale a till was told about is at its branch and at HQ, once; nothing else is."""
    found = []
    for code in sorted(sim.nodes):
        told = sorted(sale_id for sale_id, (branch, _) in sim.ledger.sales.items() if branch == code)
        at_branch = sorted(str(row[0]) for row in _node_rows(_node_db(sim, code), "SELECT id FROM sales"))
        raws = await sim.hq.hq.store.log_entries(code, 1, 10**9)
        at_hq = Counter(e.entity_id for e in map(decode_entry, raws) if e.kind == "sale")
        if at_branch != told:
            found.append(
                Violation(
                    "no sale lost or doubled",
                    f"{code}: tills were told {len(told)} sales, the branch holds {len(at_branch)}",
                )
            )
        doubled = sorted(sale_id for sale_id, count in at_hq.items() if count > 1)
        if doubled:
            found.append(
                Violation(
                    "no sale lost or doubled",
                    f"{code}: HQ holds {len(doubled)} sales twice, e.g. {doubled[0]}",
                )
            )
        lost = sorted(set(told) - set(at_hq))
        if lost:
            found.append(
                Violation(
                    "no sale lost or doubled",
                    f"{code}: {len(lost)} acknowledged sales never reached HQ, e.g. {lost[0]}",
                )
            )
    return found


async def sales_name_their_operator(sim: Simulation) -> list[Violation]:
    """Every sale HQ holds names, as acting, an operator HQ made for the sale's branch:
    the till logged in, and its session's operator reached HQ with the sale."""
    found = []
    own: dict[str | None, set[str]] = {}
    for record in await sim.hq.hq.store.operators():
        own.setdefault(record.branch, set()).add(record.id)
    for code in sorted(sim.nodes):
        raws = await sim.hq.hq.store.log_entries(code, 1, 10**9)
        strays = [
            e for e in map(decode_entry, raws) if e.kind == "sale" and e.actor not in own.get(code, set())
        ]
        if strays:
            found.append(
                Violation(
                    "sales name their operator",
                    f"{code}: {len(strays)} sales name no operator of {code}, e.g. #{strays[0].seq}"
                    f" naming {strays[0].actor or 'nobody'!r}",
                )
            )
    return found


async def sales_totals_match(sim: Simulation) -> list[Violation]:
    """HQ's sales figures per branch equal the branch's own and what the tills were told;
    a card of a type sold is a sale of its price, a card renewed or replaced one of its fee."""
    found = []
    for code in sorted(sim.nodes):
        totals = await sim.hq.hq.store.sales_totals(code)
        count, total_fen = totals.count, totals.total_fen
        # The branch's own figures, as its summary endpoint reads them.
        with contextlib.closing(sqlite3.connect(f"file:{_node_db(sim, code)}?mode=ro", uri=True)) as conn:
            row = sales_summary(conn)
        told = [total for branch, total in sim.ledger.sales.values() if branch == code]
        told += [card.price_fen for card in sim.ledger.card_sales.values() if card.branch == code]
        told += [fee for branch, fee in sim.ledger.card_fees.values() if branch == code]
        figures = {
            "HQ": (count, total_fen),
            "branch": (row.count, row.total_fen),
            "tills": (len(told), sum(told)),
        }
        if len(set(figures.values())) != 1:
            found.append(Violation("sales totals match", f"{code}: (count, total_fen) {figures}"))
        # Returns are netted alike at HQ and at the branch.
        netted = {"HQ": (totals.returns, totals.returned_fen), "branch": (row.returns, row.returned_fen)}
        if len(set(netted.values())) != 1:
            found.append(Violation("sales totals match", f"{code}: (returns, returned_fen) {netted}"))
    return found


async def members_everywhere(sim: Simulation) -> list[Violation]:
    """Every member registered anywhere is held with its phone at every branch, and HQ's
    lookup by phone finds it. A phone two branches registered while apart is held for
    both members; HQ's lookup answers the survivor the directory's rules pick."""
    found = []
    registered: dict[str, set[str]] = {}
    for member in sim.ledger.members:
        registered.setdefault(member.phone, set()).add(member.member_id)
    for code in sorted(sim.nodes):
        held: dict[str, set[str]] = {}
        for member_id, phone in _node_rows(_node_db(sim, code), "SELECT id, phone FROM members"):
            held.setdefault(str(phone), set()).add(str(member_id))
        missing = sorted(phone for phone, ids in registered.items() if held.get(phone) != ids)
        if missing:
            found.append(
                Violation(
                    "members everywhere",
                    f"{code}: {len(missing)} members not found by phone, e.g. {missing[0]}",
                )
            )
    directory = decode(await sim.hq.hq.store.directory_bytes())
    for phone, ids in sorted(registered.items()):
        survivors = {directory.survivor(member_id) for member_id in ids}
        answered = {m["id"] for m in await sim.hq.hq.store.member_by_phone(phone)}
        if answered != survivors:
            found.append(
                Violation(
                    "members everywhere",
                    f"HQ finds {sorted(answered)} by phone {phone}, not the survivors {sorted(survivors)}",
                )
            )
            break
    return found


async def no_quarantine_without_fork(sim: Simulation) -> list[Violation]:
    """The simulator never forges a log, so no branch may end up quarantined."""
    return [
        Violation("no quarantine without a fork", f"{b.code}: {b.quarantined_reason}")
        for b in await sim.hq.hq.store.branches()
        if b.quarantined_reason is not None
    ]


async def every_effect_applied(sim: Simulation) -> list[Violation]:
    """Honest tills write only what HQ can apply: no entry's effect is set aside. (HQ
    sets aside what it cannot apply rather than wedge the branch; in a simulation
    of the production code, one set aside is a node writing what HQ refuses.)"""
    return [
        Violation(
            "every effect applied", f"{q.origin}#{q.seq} ({q.kind}/{q.op}) set aside: {q.code}: {q.message}"
        )
        for q in await sim.hq.hq.store.quarantined_effects(None)
    ]


async def converged_within_budget(sim: Simulation) -> list[Violation]:
    """Liveness: after the last fault heals, everything converges within the budget."""
    found = [
        Violation(
            "converges within budget",
            f"after the {h.what} healed at {h.healed_at_ms} ms: not within {sim.scenario.heal_budget_ms} ms",
        )
        for h in sim.heals
        if h.converged_after_ms is None and h.superseded_by is None
    ]
    if sim.converged_at_ms is None:
        found.append(
            Violation(
                "converges within budget", f"replicas still differ at {sim.now_ms} ms, the end of the budget"
            )
        )
    return found


INVARIANTS: tuple[Checker, ...] = (
    logs_converged,
    acknowledged_sales_exactly_once,
    sales_name_their_operator,
    sales_totals_match,
    members_everywhere,
    no_quarantine_without_fork,
    every_effect_applied,
    converged_within_budget,
    *DIRECTORY_INVARIANTS,
    *INVENTORY_INVARIANTS,
    *CARD_INVARIANTS,
    *LOYALTY_INVARIANTS,
)


async def check_all(sim: Simulation) -> list[Violation]:
    violations: list[Violation] = []
    for checker in INVARIANTS:
        violations.extend(await checker(sim))
    return violations
