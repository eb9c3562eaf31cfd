"""The stock ledger: every movement of stock, with its cost, in one place.

Each document that moves goods (a sale, a customer return, a purchase receipt
or return, a stocktake variance, a transfer out or in, a discrepancy) calls
`receive` or `issue` here inside its own transaction. A movement updates the
warehouse's level and its cost layers (inventory.costing, with the product's
method) and appends a `stock_moves` row, so two things always hold:

    stock.qty      == sum(stock_moves.qty_delta)   per warehouse and product
    stock.cost_fen == sum(stock_moves.cost_fen)

`cost_fen` on a move is the change in the value on hand. What a receipt cost
beyond it went to cost of goods (`correction_fen`: units sold before they
arrived, costed provisionally, now known) or to purchase price variance
(`variance_fen`: specified-cost products), so nothing is lost:

    cost received == cost issued + corrections + variances + cost on hand.

Each warehouse is valued on its own: a branch's sale never takes HQ's oldest lot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import msgpack

from inventory import costing
from node.services.catalogue import Product, product
from node.store.row_cache import ABSENT, rows_of
from node.store.writer import Tx
from protocol import codec
from protocol.errors import InvariantBroken

# Why goods moved; every stock_moves row carries one.
CAUSES = (
    "sale",
    "sale_return",
    "purchase",
    "purchase_return",
    "stocktake",
    "transfer_out",
    "transfer_in",
    "transfer_discrepancy",
)


class Move(NamedTuple):
    """One row of the stock ledger, as a movement made it. A tuple: a sale makes one
    per line, and a tuple is built several times faster than a frozen dataclass."""

    warehouse: str
    sku: str
    qty: int  # signed: in positive, out negative
    cost_fen: int  # signed change of the value on hand
    correction_fen: int = 0
    variance_fen: int = 0
    provisional_qty: int = 0  # units issued beyond stock, at the provisional cost

    @property
    def issued_cost_fen(self) -> int:
        """For a movement out: the cost of goods it took (the value that left, less
        any revaluation to a new specified cost found on the way)."""
        return -self.cost_fen - self.variance_fen

    def as_payload(self, cause: str) -> dict[str, Any]:
        # Keys in their canonical (sorted) order, which the log's encoding keeps.
        payload: dict[str, Any] = {"cause": cause}
        if self.correction_fen:
            payload["correction_fen"] = self.correction_fen
        payload["cost_fen"] = self.cost_fen
        payload["qty"] = self.qty
        payload["sku"] = self.sku
        if self.variance_fen:
            payload["variance_fen"] = self.variance_fen
        payload["warehouse"] = self.warehouse
        return payload


def cost_state(conn: sqlite3.Connection, warehouse: str, item: Product) -> costing.CostState:
    """The warehouse's cost layers of `item`, under the product's current method.

    A product whose method HQ has changed since its stock was received carries
    that stock on as one layer at its value (`_current` revalues it when the new
    method is a specified cost)."""
    return _state_of(_held(conn, warehouse, item.sku), item)


StockRow = tuple[int, int, bytes | None]  # qty, cost_fen, cost_state as stored
# A stock row's cost state as decoded from its blob: (method, layers, last unit
# cost), None for no row. A row from before costing has no method (None): it is
# carried on under whatever method the product has when it next moves.
Held = tuple[str | None, tuple[costing.Layer, ...], int] | None

_READ = "SELECT qty, cost_fen, cost_state FROM stock WHERE warehouse = ? AND sku = ?"


def _decoded(row: StockRow | None) -> Held:
    if row is None:
        return None
    qty, cost_fen, blob = row
    if blob is None:
        # Stock moved before costing existed (schema 2) has a count and no value:
        # it carries on as one layer at what the ledger says it is worth (0).
        return (None, (costing.Layer(qty, cost_fen),), 0) if qty else None
    # Our own bytes (`_saved`), read back: no need of the wire's guarded decoder.
    method, layers, last_unit = msgpack.unpackb(blob)
    return method, tuple(map(costing.Layer._make, layers)), last_unit


def _held(conn: sqlite3.Connection, warehouse: str, sku: str) -> Held:
    """The stock row's cost state, from the writer's cache (node.store.row_cache) when
    it holds it: only this module writes the stock table, and always through `_save`."""
    rows = rows_of(conn)
    if rows is None:
        return _decoded(conn.execute(_READ, (warehouse, sku)).fetchone())
    key = ("stock", warehouse, sku)
    held = rows.get(key)
    if held is ABSENT:
        held = _decoded(conn.execute(_READ, (warehouse, sku)).fetchone())
        rows.remember(key, held)
    return held  # type: ignore[no-any-return]


def _state_of(held: Held, item: Product) -> costing.CostState:
    method = item.costing_method
    specified = item.specified_cost_fen if method == "specified" else None
    if specified is None and method == "specified":
        specified = item.purchase_price_fen
    fallback_unit = specified if specified is not None else item.purchase_price_fen
    if held is None:
        return costing.CostState(method, (), fallback_unit, specified)
    held_method, layers, last_unit = held
    if held_method is not None and held_method != method and layers:
        qty = sum(layer.qty for layer in layers)
        cost = sum(layer.cost_fen for layer in layers)
        layers = (costing.Layer(qty, cost),) if qty else ()
    return costing.CostState(method, layers, last_unit or fallback_unit, specified)


_SAVE = (
    "INSERT INTO stock (warehouse, sku, qty, cost_fen, cost_state) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (warehouse, sku) DO UPDATE SET qty = excluded.qty, cost_fen = excluded.cost_fen,"
    " cost_state = excluded.cost_state"
)
_APPEND = (
    "INSERT INTO stock_moves"
    " (warehouse, sku, qty_delta, cause, ref_id, at_ms, cost_fen, correction_fen, variance_fen)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _saved(warehouse: str, sku: str, state: costing.CostState) -> tuple[str, str, int, int, bytes]:
    # A str, ints and layers (tuples of two ints, packed as arrays) are already
    # canonical: packed without the walk, as [method, [[qty, cost_fen], ...], last unit].
    blob = codec.pack_canonical([state.method, state.layers, state.last_unit_fen])
    return warehouse, sku, state.qty, state.cost_fen, blob


def _saved_row(value: tuple[str, str, costing.CostState]) -> tuple[str, str, int, int, bytes]:
    return _saved(*value)


def _appended(move: Move, cause: str, ref: str, at_ms: int) -> tuple[Any, ...]:
    return (
        move.warehouse,
        move.sku,
        move.qty,
        cause,
        ref,
        at_ms,
        move.cost_fen,
        move.correction_fen,
        move.variance_fen,
    )


def _save_all(conn: sqlite3.Connection, warehouse: str, states: dict[str, costing.CostState]) -> None:
    """Write the stock rows of `states` (sku -> state), and keep them in the writer's cache."""
    rows = rows_of(conn)
    try:
        conn.executemany(_SAVE, [_saved(warehouse, sku, state) for sku, state in states.items()])
    except BaseException:
        # Some rows may be written and some not; SQLite is read afresh for all of them.
        if rows is not None:
            for sku in states:
                rows.drop(("stock", warehouse, sku))
        raise
    if rows is not None:
        for sku, state in states.items():
            rows.put(("stock", warehouse, sku), (state.method, state.layers, state.last_unit_fen))


def _save_later(tx: Tx, warehouse: str, states: dict[str, costing.CostState]) -> None:
    """`_save_all` at the group's end, the last state of each row kept: meanwhile the
    writer's cache holds it, which is where every job that does not wait for the
    group's end (and so sees SQLite, the rows written before it runs) reads it."""
    rows = rows_of(tx.conn)
    if rows is None:
        raise InvariantBroken("rows wait for the group's end only on the writer's connection")
    tx.upsert(_SAVE, {(warehouse, sku): (warehouse, sku, state) for sku, state in states.items()}, _saved_row)
    for sku, state in states.items():
        rows.put(("stock", warehouse, sku), (state.method, state.layers, state.last_unit_fen))


def _save(conn: sqlite3.Connection, warehouse: str, sku: str, state: costing.CostState) -> None:
    _save_all(conn, warehouse, {sku: state})


def _append(conn: sqlite3.Connection, move: Move, cause: str, ref: str, at_ms: int) -> None:
    conn.execute(_APPEND, _appended(move, cause, ref, at_ms))


def _current(conn: sqlite3.Connection, warehouse: str, sku: str) -> tuple[int, costing.CostState, int]:
    """(value on hand, the state a movement starts from, revaluation variance).

    Stock of a product HQ has since put on a specified cost (or a new one) is
    first carried at that cost; the difference is purchase price variance booked
    on the movement that finds it, so the value on hand always equals the sum of
    the moves and no fen is lost."""
    return _revalued(cost_state(conn, warehouse, product(conn, sku, active_only=False)))


def _revalued(state: costing.CostState) -> tuple[int, costing.CostState, int]:
    held = state.cost_fen
    if state.specified_unit_fen is None or not state.layers:
        return held, state, 0
    target = state.qty * state.specified_unit_fen
    revalued = replace(state, layers=(costing.Layer(state.qty, target),))
    return held, revalued, held - target


def receive(
    conn: sqlite3.Connection,
    warehouse: str,
    sku: str,
    qty: int,
    cost_fen: int,
    cause: str,
    ref: str,
    at_ms: int,
) -> Move:
    """`qty` units of `sku` arrive in `warehouse` costing `cost_fen` in all; a customer's
    return (cause "sale_return") fills a short at its provisional cost (inventory.costing)."""
    held, before, revaluation = _current(conn, warehouse, sku)
    received = costing.receive(before, qty, cost_fen, returned=cause == "sale_return")
    move = Move(
        warehouse,
        sku,
        qty,
        received.state.cost_fen - held,
        correction_fen=received.correction_fen,
        variance_fen=received.variance_fen + revaluation,
    )
    _save(conn, warehouse, sku, received.state)
    _append(conn, move, cause, ref, at_ms)
    return move


def issue(
    conn: sqlite3.Connection, warehouse: str, sku: str, qty: int, cause: str, ref: str, at_ms: int
) -> Move:
    """`qty` units of `sku` leave `warehouse` at the cost its method gives. Stock may
    go negative (a branch never refuses a customer because its count is behind)."""
    held, before, revaluation = _current(conn, warehouse, sku)
    issued = costing.issue(before, qty)
    move = Move(
        warehouse,
        sku,
        -qty,
        issued.state.cost_fen - held,
        variance_fen=revaluation,
        provisional_qty=issued.provisional_qty,
    )
    _save(conn, warehouse, sku, issued.state)
    _append(conn, move, cause, ref, at_ms)
    return move


def issue_many(
    conn: sqlite3.Connection,
    warehouse: str,
    lines: Sequence[tuple[Product, int]],
    cause: str,
    ref: str,
    at_ms: int,
    tx: Tx | None = None,
) -> list[Move]:
    """`issue` of each (product, qty) in order, as one document's lines (a sale's):
    the same moves and the same stock afterwards, with one read of the warehouse's
    stock of those products and one write each of its levels and of the moves.
    Given the job's `tx`, its rows are written through it (node.store.writer.Tx.append
    and upsert), so an AppendsOnly job's wait for its group's end."""
    stored = _held_many(conn, warehouse, sorted({item.sku for item, _ in lines}))
    states: dict[str, costing.CostState] = {}
    moves: list[Move] = []
    for item, qty in lines:
        sku = item.sku
        state = states.get(sku)
        held, before, revaluation = _revalued(state if state is not None else _state_of(stored[sku], item))
        issued = costing.issue(before, qty)
        after = states[sku] = issued.state
        change_fen = after.cost_fen - held
        moves.append(Move(warehouse, sku, -qty, change_fen, 0, revaluation, issued.provisional_qty))
    if tx is not None and tx.writes_later:
        _save_later(tx, warehouse, states)
    else:
        _save_all(conn, warehouse, states)
    (conn.executemany if tx is None else tx.append)(
        _APPEND,
        [
            (warehouse, move.sku, move.qty, cause, ref, at_ms, move.cost_fen, 0, move.variance_fen)
            for move in moves
        ],
    )
    return moves


def _held_many(conn: sqlite3.Connection, warehouse: str, skus: list[str]) -> dict[str, Held]:
    """`_held` of each of `skus`, those the cache lacks in one read."""
    rows = rows_of(conn)
    found: dict[str, Held] = {}
    wanted = skus
    if rows is not None:
        wanted = []
        for sku in skus:
            held = rows.get(("stock", warehouse, sku))
            if held is ABSENT:
                wanted.append(sku)
            else:
                found[sku] = held
        if not wanted:
            return found
    marks = ",".join("?" * len(wanted))
    read = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT sku, qty, cost_fen, cost_state FROM stock WHERE warehouse = ? AND sku IN ({marks})",
            (warehouse, *wanted),
        )
    }
    for sku in wanted:
        held = found[sku] = _decoded(read.get(sku))
        if rows is not None:
            rows.remember(("stock", warehouse, sku), held)
    return found


def level(conn: sqlite3.Connection, warehouse: str, sku: str) -> tuple[int, int]:
    """(qty, cost_fen) on hand."""
    row = conn.execute(
        "SELECT qty, cost_fen FROM stock WHERE warehouse = ? AND sku = ?", (warehouse, sku)
    ).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def unit_cost(conn: sqlite3.Connection, warehouse: str, sku: str) -> int:
    """What one more unit would be valued at: the last known unit cost here, else the
    product's preset purchase price (how stocktake gains are valued)."""
    item = product(conn, sku, active_only=False)
    return cost_state(conn, warehouse, item).last_unit_fen
