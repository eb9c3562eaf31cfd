"""The stock ledger's invariants over any sequence of movements, on a real SQLite file.

For every (warehouse, sku), whatever moved and in whatever order (receipts at
random costs, issues into negative stock, returns-like receipts, stocktake-like
adjustments to a counted quantity), under each costing method:

    stock.qty      == sum(stock_moves.qty_delta)
    stock.cost_fen == sum(stock_moves.cost_fen)
    cost received  == cost issued + corrections + variances + cost on hand

where cost received is what the test handed to `receive`, counted here, not read back.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.costing import METHODS
from node.services import catalogue, stock_ledger
from node.store import schema

WAREHOUSES = ("W1", "W2")
SKUS = tuple(f"SKU-{method}" for method in METHODS)  # one product per costing method

# Methods HQ may switch a product to while it has stock, a specified cost included
# (its stock is then revalued by a move of its own).
RETHINK_METHODS = METHODS

movement = st.one_of(
    # A purchase or transfer in: qty units costing cost_fen in all.
    st.tuples(st.just("receive"), st.integers(1, 40), st.integers(0, 60_000)),
    # A sale, transfer out or purchase return; may go below zero.
    st.tuples(st.just("issue"), st.integers(1, 40), st.just(0)),
    # A customer return at some earlier cost (here: a unit cost times qty).
    st.tuples(st.just("return"), st.integers(1, 10), st.integers(0, 3_000)),
    # A stocktake: the count replaces the book quantity.
    st.tuples(st.just("count"), st.integers(0, 60), st.just(0)),
    # HQ changes the product's costing method (its stock carries on as one layer).
    st.tuples(st.just("rethink"), st.integers(0, len(RETHINK_METHODS) - 1), st.just(0)),
)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, str, tuple[str, int, int]]]:
    """Movements of one to three items, so each item sees many (and goes negative, is
    covered, is counted) while warehouses and methods still mix within one store."""
    items = draw(
        st.lists(
            st.tuples(st.sampled_from(WAREHOUSES), st.sampled_from(SKUS)), min_size=1, max_size=3, unique=True
        )
    )
    steps = draw(st.lists(st.tuples(st.sampled_from(items), movement), max_size=40))
    return [(warehouse, sku, move) for (warehouse, sku), move in steps]


_files = itertools.count()


def product(sku: str, method: str, preset_fen: int) -> dict[str, object]:
    return {
        "sku": sku,
        "name": sku,
        "price_fen": 1_000,
        "costing_method": method,
        "purchase_price_fen": preset_fen,
        "specified_cost_fen": preset_fen if method == "specified" else None,
    }


def open_store(folder: Path, presets: dict[str, int]) -> sqlite3.Connection:
    conn = schema.connect(str(folder / f"ledger-{next(_files)}.sqlite"), synchronous="OFF")
    schema.migrate(conn)
    for method, sku in zip(METHODS, SKUS, strict=True):
        catalogue.apply_product(conn, product(sku, method, presets[sku]))
    return conn


def stocktake_variance(
    conn: sqlite3.Connection, warehouse: str, sku: str, counted: int
) -> tuple[str, int, int]:
    """As node.services.stocktake books it: a loss issued, a gain received at the last unit cost."""
    book_qty, _ = stock_ledger.level(conn, warehouse, sku)
    if counted < book_qty:
        return "issue", book_qty - counted, 0
    gain = counted - book_qty
    return "receive", gain, stock_ledger.unit_cost(conn, warehouse, sku) * gain


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    presets=st.fixed_dictionaries({sku: st.integers(0, 2_000) for sku in SKUS}),
    steps=histories(),
)
def test_any_movements_keep_stock_equal_to_its_ledger_and_conserve_cost(
    tmp_path: Path, presets: dict[str, int], steps: list[tuple[str, str, tuple[str, int, int]]]
) -> None:
    conn = open_store(tmp_path, presets)
    cost_in: dict[tuple[str, str], int] = {}
    cost_out: dict[tuple[str, str], int] = {}
    try:
        for number, (warehouse, sku, (kind, qty, cost)) in enumerate(steps):
            key, ref = (warehouse, sku), f"doc-{number}"
            conn.execute("BEGIN IMMEDIATE")
            cause = {
                "receive": "purchase",
                "issue": "sale",
                "return": "sale_return",
                "count": "stocktake",
            }.get(kind)
            if kind == "rethink":
                catalogue.apply_product(conn, product(sku, RETHINK_METHODS[qty], presets[sku]))
            elif kind == "count":
                kind, qty, cost = stocktake_variance(conn, warehouse, sku, qty)
            elif kind == "return":
                kind, cost = "receive", cost * qty
            if kind == "receive" and qty:
                move = stock_ledger.receive(conn, warehouse, sku, qty, cost, str(cause), ref, number)
                cost_in[key] = cost_in.get(key, 0) + cost
                cost_out[key] = cost_out.get(key, 0) + move.correction_fen + move.variance_fen
                assert move.qty == qty
            elif kind == "issue" and qty:
                move = stock_ledger.issue(conn, warehouse, sku, qty, str(cause), ref, number)
                cost_out[key] = cost_out.get(key, 0) + move.issued_cost_fen + move.variance_fen
                assert move.qty == -qty
            conn.execute("COMMIT")
            check(conn, cost_in, cost_out)
    finally:
        conn.close()


def test_switching_to_a_specified_cost_with_stock_on_hand_keeps_the_ledger_whole(tmp_path: Path) -> None:
    """2 units received at 20.01 in all; HQ then sets a specified cost of 10.00. The
    sale of both costs 20.00 and the 1 fen the stock was carried above it is
    purchase price variance, on the sale's move: 2,001 in = 2,000 + 1 out."""
    conn = open_store(tmp_path, dict.fromkeys(SKUS, 0))
    try:
        conn.execute("BEGIN IMMEDIATE")
        stock_ledger.receive(conn, "W1", "SKU-fifo", 2, 2_001, "purchase", "r-1", 1)  # 2 at 10.005
        catalogue.apply_product(conn, product("SKU-fifo", "specified", 1_000))  # HQ: now 10.00 each
        sold = stock_ledger.issue(conn, "W1", "SKU-fifo", 2, "sale", "s-1", 2)  # all of it gone
        conn.execute("COMMIT")
        (ledger_fen,) = conn.execute("SELECT SUM(cost_fen) FROM stock_moves").fetchone()
        assert stock_ledger.level(conn, "W1", "SKU-fifo") == (0, 0)
        assert ledger_fen == 0, "stock differs from the sum of its moves"
        assert (sold.issued_cost_fen, sold.variance_fen, sold.cost_fen) == (2_000, 1, -2_001)
    finally:
        conn.close()


def check(
    conn: sqlite3.Connection, cost_in: dict[tuple[str, str], int], cost_out: dict[tuple[str, str], int]
) -> None:
    ledger = {
        (warehouse, sku): (qty, cost)
        for warehouse, sku, qty, cost in conn.execute(
            "SELECT warehouse, sku, SUM(qty_delta), SUM(cost_fen) FROM stock_moves GROUP BY warehouse, sku"
        )
    }
    stock = {
        (warehouse, sku): (qty, cost)
        for warehouse, sku, qty, cost in conn.execute("SELECT warehouse, sku, qty, cost_fen FROM stock")
    }
    assert stock == ledger, "stock differs from the sum of its moves"
    for key, (_, on_hand_fen) in stock.items():
        assert cost_in.get(key, 0) == cost_out.get(key, 0) + on_hand_fen, (
            f"{key}: received {cost_in.get(key, 0)} fen, issued/corrected {cost_out.get(key, 0)},"
            f" on hand {on_hand_fen}"
        )
