"""A document's lines issued together (`issue_many`, a sale's) leave the same moves and
the same stock as issuing them one by one (`issue`), whatever the warehouse held:
repeated products, negative stock, every costing method, a method HQ has changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.costing import METHODS
from node.services import catalogue, stock_ledger
from tests.node.test_stock_ledger_property import SKUS, open_store, product

WAREHOUSE = "W1"


def table(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql)]


def state(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    stock = table(conn, "SELECT warehouse, sku, qty, cost_fen, cost_state FROM stock ORDER BY warehouse, sku")
    moves = table(
        conn,
        "SELECT warehouse, sku, qty_delta, cause, ref_id, at_ms, cost_fen, correction_fen, variance_fen"
        " FROM stock_moves ORDER BY id",
    )
    return stock, moves


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    presets=st.fixed_dictionaries({sku: st.integers(0, 2_000) for sku in SKUS}),
    held=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 20), st.integers(0, 40_000)), max_size=6),
    rethink=st.lists(st.tuples(st.sampled_from(SKUS), st.sampled_from(METHODS)), max_size=2),
    lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 30)), min_size=1, max_size=6),
)
def test_issuing_lines_together_equals_issuing_them_one_by_one(
    tmp_path: Path,
    presets: dict[str, int],
    held: list[tuple[str, int, int]],
    rethink: list[tuple[str, str]],
    lines: list[tuple[str, int]],
) -> None:
    stores = [open_store(tmp_path, presets), open_store(tmp_path, presets)]
    try:
        for conn in stores:
            for number, (sku, qty, cost) in enumerate(held):
                stock_ledger.receive(conn, WAREHOUSE, sku, qty, cost, "purchase", f"r-{number}", 1)
            for sku, method in rethink:
                catalogue.apply_product(conn, product(sku, method, presets[sku]))
        one_by_one, together = stores
        singly = [stock_ledger.issue(one_by_one, WAREHOUSE, sku, qty, "sale", "S", 2) for sku, qty in lines]
        items = [(catalogue.product(together, sku), qty) for sku, qty in lines]
        batched = stock_ledger.issue_many(together, WAREHOUSE, items, "sale", "S", 2)

        assert batched == singly
        assert state(together) == state(one_by_one)
    finally:
        for conn in stores:
            conn.close()
