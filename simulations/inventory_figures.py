"""The warehouses' books as the checkers and the report read them: each node's SQLite file,
opened read-only from outside, after the run.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field

from simulations.model import InventoryFigures
from simulations.running import RunningSimulation


@dataclass(frozen=True)
class Move:
    """One stock_moves row: `cost_fen` is the change of value on hand; what a receipt cost
    beyond it went to `correction_fen` or `variance_fen` (node/stock_ledger.py)."""

    warehouse: str
    sku: str
    qty: int
    cost_fen: int
    correction_fen: int
    variance_fen: int

    @property
    def received_cost_fen(self) -> int:
        return self.cost_fen + self.correction_fen + self.variance_fen


@dataclass
class Books:
    """One node's stock, its movements summed, and its transfers."""

    code: str
    keeps: set[str] = field(default_factory=set)  # warehouses this node keeps
    stock: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # -> (qty, cost_fen)
    moved: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # sums of stock_moves
    # Transfer id -> its movements here, out (at the source) and in (at the destination).
    transfer_out: dict[str, list[Move]] = field(default_factory=lambda: defaultdict(list))
    transfer_in: dict[str, list[Move]] = field(default_factory=lambda: defaultdict(list))
    received_at_ms: dict[str, int] = field(default_factory=dict)  # booked here, by this node's clock
    out_state: dict[str, str] = field(default_factory=dict)  # transfers sent from here: their state


def read_books(sim: RunningSimulation, code: str) -> Books:
    path = sim.nodes[code].root / "node.sqlite"
    books = Books(code, keeps={f"{code}-MAIN"})
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        books.keeps |= {
            str(row[0]) for row in conn.execute("SELECT code FROM warehouses WHERE branch = ?", (code,))
        }
        for warehouse, sku, qty, cost_fen in conn.execute("SELECT warehouse, sku, qty, cost_fen FROM stock"):
            books.stock[(warehouse, sku)] = (int(qty), int(cost_fen))
        for warehouse, sku, qty, cost_fen in conn.execute(
            "SELECT warehouse, sku, SUM(qty_delta), SUM(cost_fen) FROM stock_moves GROUP BY warehouse, sku"
        ):
            books.moved[(warehouse, sku)] = (int(qty), int(cost_fen))
        for cause, ref, *move in conn.execute(
            "SELECT cause, ref_id, warehouse, sku, qty_delta, cost_fen, correction_fen, variance_fen"
            " FROM stock_moves WHERE cause IN ('transfer_out', 'transfer_in') ORDER BY id"
        ):
            moves = books.transfer_out if cause == "transfer_out" else books.transfer_in
            moves[str(ref)].append(Move(*move))
        for transfer_id, direction, state, received_at_ms in conn.execute(
            "SELECT id, direction, state, received_at_ms FROM transfers"
        ):
            if direction == "out":
                books.out_state[str(transfer_id)] = str(state)
            elif received_at_ms is not None:
                books.received_at_ms[str(transfer_id)] = int(received_at_ms)
    return books


def all_books(sim: RunningSimulation) -> dict[str, Books]:
    return {code: read_books(sim, code) for code in sorted(sim.nodes)}


def booked_at_ms(sim: RunningSimulation, books: Books, transfer_id: str) -> int | None:
    """When the destination booked the transfer, in simulated time (its clock's skew undone)."""
    at_ms = books.received_at_ms.get(transfer_id)
    if at_ms is None:
        return None
    epoch_ms = sim.clock() - sim.now_ms
    return at_ms - sim.nodes[books.code].skew_ms - epoch_ms


def transfer_figures(sim: RunningSimulation) -> InventoryFigures:
    """Transfers sent, booked at their destinations and still in transit at the end, and
    the longest any spent in transit; each node's `transfers_received` is filled in."""
    books = all_books(sim)
    received = in_transit = max_in_transit_ms = 0
    for code, held in books.items():
        sim.figures[code].transfers_received = len(held.transfer_in)
    for transfer_id, sent in sorted(sim.ledger.transfers.items()):
        destination = books.get(sent.to_branch)
        arrived_ms = None if destination is None else booked_at_ms(sim, destination, transfer_id)
        if arrived_ms is None:
            in_transit += 1
            arrived_ms = sim.now_ms
        else:
            received += 1
        max_in_transit_ms = max(max_in_transit_ms, arrived_ms - sent.sent_at_ms)
    return InventoryFigures(len(sim.ledger.transfers), received, in_transit, max_in_transit_ms)
