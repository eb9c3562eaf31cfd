"""A store that kept copies of its sales' points and discount reasons in the sales
rows (schema 20) drops them when it upgrades: a sale's reasons are read from its own
entry in the change log, which always carried them, and every other figure of the
row stays as it was."""

from __future__ import annotations

import json
from pathlib import Path

from node.store import schema


def test_the_upgrade_drops_the_copies_and_keeps_the_sale(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "node.sqlite"), synchronous="OFF")
    try:
        assert schema.migrate(conn, schema.MIGRATIONS[:20]) == 20
        reasons = [
            {
                "applied_fen": 2500,
                "code": "",
                "factor_milli": 1000,
                "kind": "base",
                "lines": [0],
                "target": "",
            }
        ]
        conn.execute(
            "INSERT INTO sales (id, seq, member_id, total_fen, change_fen, at_ms, points_earned,"
            " points_reasons, discounts) VALUES ('s-1', 7, 'M-1', 2500, 0, 1, 25, ?, '[]')",
            (json.dumps(reasons),),
        )
        assert schema.migrate(conn) == len(schema.MIGRATIONS)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sales)")}
        assert not columns & {"points_reasons", "discounts"}
        kept = conn.execute("SELECT id, seq, member_id, total_fen, points_earned FROM sales").fetchall()
        assert kept == [("s-1", 7, "M-1", 2500, 25)]
    finally:
        conn.close()
