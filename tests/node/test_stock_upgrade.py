"""A store that sold before costing existed (schema 2) keeps its counts when it
upgrades: its stock carries on at the value its ledger gives it (nothing), and the
first receipt books the units sold back then as a correction to cost of goods."""

from __future__ import annotations

from pathlib import Path

from node.services import catalogue, stock_ledger
from node.store import schema


def test_stock_counted_before_costing_carries_on_after_the_upgrade(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "node.sqlite"), synchronous="OFF")
    try:
        assert schema.migrate(conn, schema.MIGRATIONS[:2]) == 2
        conn.execute("INSERT INTO products (sku, name, price_fen, unit) VALUES ('CUP', 'Cup', 2500, 'pcs')")
        # Three cups sold with nothing received, as schema 2 recorded it: a count, no value.
        conn.execute("INSERT INTO stock (warehouse, sku, qty) VALUES ('BR01-MAIN', 'CUP', -3)")
        conn.execute(
            "INSERT INTO stock_moves (warehouse, sku, qty_delta, cause, ref_id, at_ms)"
            " VALUES ('BR01-MAIN', 'CUP', -3, 'sale', 's-1', 1)"
        )
        assert schema.migrate(conn) == len(schema.MIGRATIONS)
        conn.execute("BEGIN IMMEDIATE")
        # Five cups arrive at 1.00 each: three cover the old sale (300 fen of cost
        # of goods, unknown until now), two stay on hand worth 200 fen.
        move = stock_ledger.receive(conn, "BR01-MAIN", "CUP", 5, 500, "purchase", "r-1", 2)
        conn.execute("COMMIT")
        assert (move.qty, move.cost_fen, move.correction_fen) == (5, 200, 300)
        assert stock_ledger.level(conn, "BR01-MAIN", "CUP") == (2, 200)
        assert conn.execute("SELECT SUM(qty_delta), SUM(cost_fen) FROM stock_moves").fetchone() == (2, 200)
        assert catalogue.product(conn, "CUP").costing_method == "moving_average"
    finally:
        conn.close()
