"""Stock at a glance (I7), stock alerts (I9) and the stock ledger, read-only.

Levels and values come from `stock`, which node.services.stock_ledger keeps equal to
the sum of `stock_moves`; a product this warehouse never received is on hand
at 0, so a product with a lower limit that never arrived is "low".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, NamedTuple

from node.config import NodeConfig
from node.errors import InvalidRequest
from node.services import catalogue, documents, fields, stock_ledger

# One warehouse's full catalogue is a few thousand rows; a response beyond this
# is cut (and says so) rather than held in memory whole.
MAX_STOCK_ROWS = 20_000
DEFAULT_MOVES = 100
MAX_MOVES = 1_000  # a page of the ledger; narrow by sku or warehouse for more history


def branch_warehouses(conn: sqlite3.Connection, branch: str, default: str) -> list[str]:
    """The warehouses this branch keeps: its main one (its own before HQ's master
    data names it) and any HQ assigns to it."""
    codes = {default}
    codes.update(
        row[0] for row in conn.execute("SELECT code FROM warehouses WHERE branch = ? AND active", (branch,))
    )
    return sorted(codes)


def chosen_warehouses(conn: sqlite3.Connection, config: NodeConfig, code: str | None) -> list[str]:
    """`?warehouse=` if given (and this branch's), else all of this branch's."""
    branch, default = config.branch, config.warehouse
    if code is None:
        return branch_warehouses(conn, branch, default)
    return [catalogue.own_warehouse(conn, code, branch, default)]


def unit_cost_fen(qty: int, cost_fen: int) -> int | None:
    """Value per unit on hand, to the nearest fen (half away from zero); none at 0 units.
    For negative stock it is the provisional cost the oversold units carry."""
    if qty == 0:
        return None
    magnitude = (2 * abs(cost_fen) + abs(qty)) // (2 * abs(qty))
    return magnitude if (cost_fen >= 0) == (qty > 0) else -magnitude


def alert(qty: int, lower_limit: int | None, upper_limit: int | None) -> str | None:
    if lower_limit is not None and qty < lower_limit:
        return "low"
    if upper_limit is not None and qty > upper_limit:
        return "high"
    return None


def stock_rows(
    conn: sqlite3.Connection, warehouses: list[str], *, limited_only: bool = False
) -> list[dict[str, Any]]:
    """Every active product in each warehouse (0 if never received), and withdrawn
    products still on hand; with `limited_only`, products with a limit only."""
    rows: list[dict[str, Any]] = []
    where = (
        "(p.active AND (p.lower_limit IS NOT NULL OR p.upper_limit IS NOT NULL))"
        if limited_only
        else "(p.active OR COALESCE(s.qty, 0) != 0 OR COALESCE(s.cost_fen, 0) != 0)"
    )
    for warehouse in warehouses:
        found = conn.execute(
            "SELECT p.sku, p.name, p.unit, COALESCE(s.qty, 0), COALESCE(s.cost_fen, 0),"
            " p.lower_limit, p.upper_limit"
            " FROM products p LEFT JOIN stock s ON s.sku = p.sku AND s.warehouse = ?"
            f" WHERE {where} ORDER BY p.sku LIMIT ?",
            (warehouse, MAX_STOCK_ROWS + 1 - len(rows)),
        )
        for sku, name, unit, qty, cost_fen, lower_limit, upper_limit in found:
            rows.append(
                {
                    "warehouse": warehouse,
                    "sku": sku,
                    "name": name,
                    "unit": unit,
                    "qty": qty,
                    "cost_fen": cost_fen,
                    "unit_cost_fen": unit_cost_fen(qty, cost_fen),
                    "lower_limit": lower_limit,
                    "upper_limit": upper_limit,
                    "alert": alert(qty, lower_limit, upper_limit),
                }
            )
        if len(rows) > MAX_STOCK_ROWS:
            break
    return rows


def moves(
    conn: sqlite3.Connection, warehouse: str | None, sku: str | None, cause: str | None, limit: int
) -> list[dict[str, Any]]:
    """The ledger, newest first. For one product in one warehouse each row also
    carries the balance (qty and value) just after it, over all its moves."""
    columns = (
        "id, warehouse, sku, qty_delta AS qty, cause, ref_id AS ref, at_ms, cost_fen, correction_fen,"
        " variance_fen"
    )
    if warehouse is not None and sku is not None:
        # The balance runs over every move of the item; a cause filter applies after it.
        query = (
            f"SELECT * FROM (SELECT {columns}, SUM(qty_delta) OVER (ORDER BY id) AS balance_qty,"
            " SUM(cost_fen) OVER (ORDER BY id) AS balance_cost_fen"
            " FROM stock_moves WHERE warehouse = ? AND sku = ?)"
            f"{' WHERE cause = ?' if cause is not None else ''} ORDER BY id DESC LIMIT ?"
        )
        args: list[Any] = [warehouse, sku, *([cause] if cause is not None else []), limit]
    else:
        where, args = documents.where_equal({"warehouse": warehouse, "sku": sku, "cause": cause})
        query = f"SELECT {columns} FROM stock_moves {where} ORDER BY id DESC LIMIT ?"
        args.append(limit)
    return documents.rows(conn, query, args)


def levels(conn: sqlite3.Connection, config: NodeConfig, code: str | None) -> dict[str, Any]:
    """Stock at a glance: every product in the chosen warehouses, cut at MAX_STOCK_ROWS."""
    warehouses = chosen_warehouses(conn, config, code)
    rows = stock_rows(conn, warehouses)
    return {
        "branch": config.branch,
        "warehouses": warehouses,
        "stock": rows[:MAX_STOCK_ROWS],
        "truncated": len(rows) > MAX_STOCK_ROWS,
    }


def alerts(conn: sqlite3.Connection, config: NodeConfig, code: str | None) -> dict[str, Any]:
    """Products under their lower limit or over their upper one."""
    warehouses = chosen_warehouses(conn, config, code)
    rows = [row for row in stock_rows(conn, warehouses, limited_only=True) if row["alert"] is not None]
    return {"branch": config.branch, "warehouses": warehouses, "alerts": rows[:MAX_STOCK_ROWS]}


class MovesQuery(NamedTuple):
    warehouse: str | None
    sku: str | None
    cause: str | None
    limit: int


def parse_moves_query(query: Mapping[str, str]) -> MovesQuery:
    """?warehouse=, ?sku=, ?cause= (one of stock_ledger.CAUSES) and ?limit= of a ledger read."""
    limit = fields.query_count(query, "limit", DEFAULT_MOVES, MAX_MOVES)
    cause = query.get("cause")
    if cause is not None and cause not in stock_ledger.CAUSES:
        raise InvalidRequest(f"cause must be one of {', '.join(stock_ledger.CAUSES)}")
    return MovesQuery(query.get("warehouse"), query.get("sku"), cause, limit)


def ledger(conn: sqlite3.Connection, config: NodeConfig, asked: MovesQuery) -> dict[str, Any]:
    """The stock ledger as GET /api/stock/moves answers it."""
    warehouse = None if asked.warehouse is None else chosen_warehouses(conn, config, asked.warehouse)[0]
    if asked.sku is not None:
        catalogue.product(conn, asked.sku, active_only=False)
    found = moves(conn, warehouse, asked.sku, asked.cause, asked.limit)
    return {"warehouse": warehouse, "sku": asked.sku, "moves": found}
