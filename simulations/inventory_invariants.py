"""What must hold of stock after a run, judged from outside: goods and their cost are
conserved across warehouses and transfers in transit, and every transfer is booked
exactly once at its destination.

The checkers read each node's SQLite file (simulations/inventory_figures.py), HQ's copies
of the nodes' logs, and what the storekeepers and tills were told (the shop's Ledger).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from protocol.entry import decode_entry
from simulations.inventory_figures import Books, all_books
from simulations.model import Violation
from simulations.shop import SERVICES

if TYPE_CHECKING:
    from simulations.engine import Simulation

Checker = Callable[["Simulation"], Awaitable[list[Violation]]]

# Violations of one invariant listed one by one before the rest are counted.
MAX_EXAMPLES = 3
# HQ's view of stock per warehouse and product, and of transfers, kept from the nodes'
# entries (hq/storage).
HQ_STOCK_TABLE = "stock_levels"
HQ_TRANSFERS_TABLE = "transfers"


def _examples(invariant: str, problems: list[str]) -> list[Violation]:
    found = [Violation(invariant, problem) for problem in problems[:MAX_EXAMPLES]]
    if len(problems) > MAX_EXAMPLES:
        found.append(Violation(invariant, f"... and {len(problems) - MAX_EXAMPLES} more like these"))
    return found


def _booked(books: dict[str, Books], transfer_id: str, to_branch: str) -> bool:
    destination = books.get(to_branch)
    return destination is not None and transfer_id in destination.transfer_in


def _told_flows(sim: Simulation) -> Counter[str]:
    """Per product: what came into the shop and left it, as the tills and storekeepers
    were told: receipts, less sales and the gifts handed over with cards of a type, plus
    customers' returns and stocktake variances.
    A service item is never stocked, so it has no flows to conserve."""
    ledger = sim.ledger
    flows: Counter[str] = Counter()
    for receipt in ledger.receipts.values():
        for sku, qty, _ in receipt.lines:
            flows[sku] += qty
    for _, lines in ledger.sold.values():
        for sku, qty in lines:
            if sku not in SERVICES:
                flows[sku] -= qty
    for _, lines in ledger.returns.values():
        for sku, qty in lines:
            if sku not in SERVICES:
                flows[sku] += qty
    for counted in ledger.stocktakes.values():
        for sku, variance_qty in counted.lines:
            flows[sku] += variance_qty
    for card in ledger.card_sales.values():
        for sku, qty in card.gifts:  # handed over with the card, from the branch's stock
            flows[sku] -= qty
    return flows


async def stock_conserved(sim: Simulation) -> list[Violation]:
    """Per product: the stock of every warehouse at the node that keeps it, plus what is in
    transit (sent, not yet booked at the destination), equals receipts - sales (gifts with
    cards of a type among them) + returns + stocktake variances; and no node holds stock of
    a warehouse it does not keep."""
    books = all_books(sim)
    held: Counter[str] = Counter()
    problems = []
    for code, node_books in books.items():
        for (warehouse, sku), (qty, _) in sorted(node_books.stock.items()):
            if warehouse in node_books.keeps:
                held[sku] += qty
            elif qty:
                problems.append(f"{code} holds {qty} of {sku} in {warehouse}, a warehouse it does not keep")
    in_transit: Counter[str] = Counter()
    for transfer_id, sent in sim.ledger.transfers.items():
        if not _booked(books, transfer_id, sent.to_branch):
            for sku, qty, _ in sent.lines:
                in_transit[sku] += qty
    told = _told_flows(sim)
    for sku in sorted(set(held) | set(in_transit) | set(told)):
        if held[sku] + in_transit[sku] != told[sku]:
            problems.append(
                f"{sku}: {held[sku]} on hand + {in_transit[sku]} in transit, but receipts - sales"
                f" + returns + stocktake variances come to {told[sku]}"
            )
    return _examples("stock conserved", problems)


async def _log_counts(sim: Simulation, op: str) -> Counter[tuple[str, str]]:
    """(origin, transfer id) -> how many ("transfer", op) entries HQ's copies of the logs hold."""
    counts: Counter[tuple[str, str]] = Counter()
    for code in sorted(sim.nodes):
        for raw in await sim.hq.hq.store.log_entries(code, 1, 10**9):
            entry = decode_entry(raw)
            if entry.kind == "transfer" and entry.op == op:
                counts[(code, entry.entity_id)] += 1
    return counts


async def transfers_booked_exactly_once(sim: Simulation) -> list[Violation]:
    """Each transfer left its source once and was booked once at its destination, line for
    line; after convergence none is still in transit and every source knows it arrived."""
    books = all_books(sim)
    if not sim.ledger.transfers and not any(b.transfer_in or b.transfer_out for b in books.values()):
        return []
    sends, receives = await _log_counts(sim, "send"), await _log_counts(sim, "receive")
    converged = sim.converged_at_ms is not None
    problems = []
    for transfer_id, sent in sorted(sim.ledger.transfers.items()):
        what = f"transfer {transfer_id} {sent.source_branch} -> {sent.to_branch}"
        out_moves = books[sent.source_branch].transfer_out.get(transfer_id, [])
        if sorted((m.sku, -m.qty) for m in out_moves) != sorted((sku, qty) for sku, qty, _ in sent.lines):
            problems.append(f"{what}: {len(out_moves)} moves out at the source for {len(sent.lines)} lines")
        if sends[(sent.source_branch, transfer_id)] != 1:
            problems.append(f"{what}: {sends[(sent.source_branch, transfer_id)]} send entries in HQ's logs")
        destination = books.get(sent.to_branch)
        in_moves = [] if destination is None else destination.transfer_in.get(transfer_id, [])
        if in_moves:
            booked = sorted((m.warehouse, m.sku, m.qty) for m in in_moves)
            expected = sorted((sent.to_warehouse, sku, qty) for sku, qty, _ in sent.lines)
            if booked != expected:
                problems.append(
                    f"{what}: booked {len(in_moves)} moves in at {sent.to_branch} for {len(sent.lines)} lines"
                    f" ({booked} for {expected})"
                )
            if receives[(sent.to_branch, transfer_id)] != 1:
                problems.append(
                    f"{what}: {receives[(sent.to_branch, transfer_id)]} receive entries in HQ's logs"
                )
            if converged and books[sent.source_branch].out_state.get(transfer_id) != "received":
                problems.append(
                    f"{what}: booked at {sent.to_branch}, but the source still shows it in transit"
                )
        elif converged:
            problems.append(f"{what}: sent, and never booked at {sent.to_branch} after convergence")
    for code, node_books in books.items():
        for transfer_id in sorted(node_books.transfer_in):
            sent_to = sim.ledger.transfers.get(transfer_id)
            if sent_to is None or sent_to.to_branch != code:
                problems.append(f"{code} booked transfer {transfer_id}, which was never sent to it")
    return _examples("transfers booked exactly once", problems)


async def cost_conserved(sim: Simulation) -> list[Violation]:
    """Per node, warehouse and product, the stock on hand equals the sum of its movements, in
    units and in cost; and the cost each transfer took out at its source is the cost its
    destination booked in (value on hand plus corrections and variances)."""
    books = all_books(sim)
    problems = []
    for code, node_books in books.items():
        for key in sorted(set(node_books.stock) | set(node_books.moved)):
            on_hand = node_books.stock.get(key, (0, 0))
            moved = node_books.moved.get(key, (0, 0))
            if on_hand != moved:
                warehouse, sku = key
                problems.append(
                    f"{code} {warehouse} {sku}: (qty, cost_fen) on hand {on_hand},"
                    f" its movements sum to {moved}"
                )
    for transfer_id, sent in sorted(sim.ledger.transfers.items()):
        sent_fen = sum(cost_fen for _, _, cost_fen in sent.lines)
        out_fen = -sum(m.cost_fen for m in books[sent.source_branch].transfer_out.get(transfer_id, []))
        if out_fen != sent_fen:
            problems.append(
                f"transfer {transfer_id}: {out_fen} fen left {sent.from_warehouse}, {sent_fen} sent"
            )
        destination = books.get(sent.to_branch)
        in_moves = [] if destination is None else destination.transfer_in.get(transfer_id, [])
        in_fen = sum(m.received_cost_fen for m in in_moves)
        if in_moves and in_fen != out_fen:
            problems.append(
                f"transfer {transfer_id}: {out_fen} fen left {sent.from_warehouse}, {in_fen} fen booked"
                f" into {sent.to_warehouse}"
            )
    return _examples("cost conserved", problems)


def _hq_rows(sim: Simulation, table: str, query: str) -> list[tuple[Any, ...]] | None:
    """Rows of HQ's `table`, or None when this HQ keeps no such table."""
    path = sim.hq.root / "hq.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        if found.fetchone() is None:
            return None
        return list(conn.execute(query))


def _hq_stock(sim: Simulation) -> dict[tuple[str, str], tuple[int, int]] | None:
    """HQ's (qty, cost_fen) per (warehouse, sku)."""
    rows = _hq_rows(sim, HQ_STOCK_TABLE, f"SELECT warehouse, sku, qty, cost_fen FROM {HQ_STOCK_TABLE}")
    if rows is None:
        return None
    return {(str(w), str(sku)): (int(qty), int(cost_fen)) for w, sku, qty, cost_fen in rows}


async def hq_stock_matches_nodes(sim: Simulation) -> list[Violation]:
    """After convergence HQ's stock levels (units and value) equal what each warehouse's
    node holds, and HQ shows no transfer still in transit."""
    at_hq = _hq_stock(sim)
    if at_hq is None or sim.converged_at_ms is None:
        return []
    in_transit = _hq_rows(
        sim, HQ_TRANSFERS_TABLE, f"SELECT id FROM {HQ_TRANSFERS_TABLE} WHERE state = 'in_transit' ORDER BY id"
    )
    at_nodes: dict[tuple[str, str], tuple[int, int]] = {}
    for node_books in all_books(sim).values():
        for (warehouse, sku), held in node_books.stock.items():
            if warehouse in node_books.keeps:
                at_nodes[(warehouse, sku)] = held
    problems = []
    for key in sorted(set(at_hq) | set(at_nodes)):
        shown, held = at_hq.get(key, (0, 0)), at_nodes.get(key, (0, 0))
        if shown != held:
            warehouse, sku = key
            problems.append(f"{warehouse} {sku}: HQ shows (qty, cost_fen) {shown}, its node holds {held}")
    problems += [f"HQ still shows transfer {row[0]} in transit" for row in in_transit or []]
    return _examples("HQ's stock and transfers equal the nodes'", problems)


INVENTORY_INVARIANTS: tuple[Checker, ...] = (
    stock_conserved,
    transfers_booked_exactly_once,
    cost_conserved,
    hq_stock_matches_nodes,
)
