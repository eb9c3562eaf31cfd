"""`branchline stock levels|alerts|moves|count|return`: stock from a terminal, through
the running node that keeps the warehouse, as the operator who logs in with --login.

A count is typed SKU:COUNTED (a stocktake; --preview shows the variances and books
nothing); a customer return is the sale's id and LINE:QTY pairs (line numbers
as the sale shows them, from 0).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote, urlencode

from rich.console import Console
from rich.table import Table

from branchline.http_client import CommandFailed, add_login_argument, call, item_lines, log_in
from branchline.tables import cell, titled

DEFAULT_NODE = "http://127.0.0.1:8701"
NODE = "the node"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stock = commands.add_parser("stock", help="stock levels, alerts, the stock ledger, stocktakes, returns")
    actions = stock.add_subparsers(dest="stock_action", required=True)

    p = actions.add_parser("levels", help="stock per warehouse: quantity, value, unit cost, limits")
    p.add_argument("--warehouse", help="default: every warehouse of the branch")

    p = actions.add_parser("alerts", help="products under their lower or over their upper limit")
    p.add_argument("--warehouse", help="default: every warehouse of the branch")

    p = actions.add_parser("moves", help="the stock ledger, newest first")
    p.add_argument("--warehouse")
    p.add_argument("--sku", help="with --warehouse: each move shows the balance after it")
    p.add_argument("--cause", help="e.g. sale, purchase, stocktake, sale_return")
    p.add_argument("--limit", type=int, default=50)

    p = actions.add_parser("count", help="a stocktake: post counted quantities as variances")
    p.add_argument("--warehouse", help="default: the node's main warehouse")
    p.add_argument("--preview", action="store_true", help="show the variances, book nothing")
    p.add_argument("--key", help="Idempotency-Key: posting again with the same key posts once")
    p.add_argument("lines", nargs="+", metavar="SKU:COUNTED")

    p = actions.add_parser("return", help="a customer return of a sale, refunded in cash")
    p.add_argument("sale_id")
    p.add_argument("lines", nargs="+", metavar="LINE:QTY", help="the sale's line number (from 0) and units")
    p.add_argument("--key", help="Idempotency-Key: returning again with the same key books once")

    for sub in actions.choices.values():
        sub.add_argument("--node", default=DEFAULT_NODE, help="the node's URL")
        add_login_argument(sub)


def run(args: argparse.Namespace, console: Console) -> int:
    token = log_in(args.node, args.login, NODE)

    def ask(
        method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        return call(args.node, method, path, body, token=token, what=NODE, key=key)

    action = args.stock_action
    if action in ("levels", "alerts"):
        query = _query(warehouse=args.warehouse)
        path = "/api/stock" if action == "levels" else "/api/stock/alerts"
        found = ask("GET", path + query)
        rows = found["stock"] if action == "levels" else found["alerts"]
        title = f"{len(rows)} {'stock levels' if action == 'levels' else 'stock alerts'}"
        console.print(_levels(rows, title))
        if found.get("truncated"):
            console.print("more rows than shown: narrow with --warehouse")
    elif action == "moves":
        query = _query(warehouse=args.warehouse, sku=args.sku, cause=args.cause, limit=args.limit)
        found = ask("GET", "/api/stock/moves" + query)
        console.print(_moves(found["moves"]))
    elif action == "count":
        body: dict[str, Any] = {"lines": item_lines(args.lines, qty_name="counted_qty")}
        if args.warehouse:
            body["warehouse"] = args.warehouse
        if args.preview:
            body["post"] = False
        taken = ask("POST", "/api/stocktakes", body, key=args.key)
        console.print(_counted(taken))
        if args.preview:
            console.print(f"preview only: nothing booked; variance {taken['variance_cost_fen']:+d} fen")
        else:
            again = " (already posted with this key)" if taken.get("replayed") else ""
            console.print(
                f"stocktake {taken['id']} posted in {taken['warehouse']}{again};"
                f" variance {taken['variance_cost_fen']:+d} fen"
            )
    else:
        body = {"lines": return_lines(args.lines)}
        path = f"/api/sales/{quote(args.sale_id, safe='')}/returns"
        returned = ask("POST", path, body, key=args.key)
        console.print(_returned(returned))
        again = " (already booked with this key)" if returned.get("replayed") else ""
        console.print(
            f"return {returned['id']} of sale {returned['sale_id']}{again}:"
            f" refund {returned['refund_fen']} fen in {returned['refund_kind']};"
            f" {returned['cost_fen']} fen of stock back in {returned['warehouse']}"
        )
    return 0


def return_lines(specs: list[str]) -> list[dict[str, int]]:
    """["0:2", "3:1"] -> [{"line_no": 0, "qty": 2}, {"line_no": 3, "qty": 1}]."""
    lines = []
    for spec in specs:
        line_text, sep, qty_text = spec.partition(":")
        if not sep or not (
            line_text.isascii() and line_text.isdigit() and qty_text.isascii() and qty_text.isdigit()
        ):
            raise CommandFailed(
                f"{spec!r} is not a line to return; write LINE:QTY (whole numbers, line from 0)"
            )
        lines.append({"line_no": int(line_text), "qty": int(qty_text)})
    return lines


def _query(**params: Any) -> str:
    given = {name: value for name, value in params.items() if value is not None}
    return f"?{urlencode(given)}" if given else ""


def _levels(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "warehouse",
        "sku",
        "name",
        "qty",
        "value (fen)",
        "unit cost (fen)",
        "lower",
        "upper",
        "alert",
    ):
        table.add_column(
            column, overflow="fold", justify="right" if column in ("qty", "value (fen)") else "left"
        )
    for row in rows:
        table.add_row(
            row["warehouse"],
            row["sku"],
            row["name"],
            str(row["qty"]),
            str(row["cost_fen"]),
            cell(row["unit_cost_fen"]),
            cell(row["lower_limit"]),
            cell(row["upper_limit"]),
            cell(row["alert"]).upper(),
        )
    return table


def _moves(moves: list[dict[str, Any]]) -> Table:
    balance = bool(moves) and "balance_qty" in moves[0]
    columns = ["#", "warehouse", "sku", "cause", "ref", "qty", "cost (fen)", "correction", "variance"]
    table = titled(
        f"{len(moves)} stock moves, newest first",
        columns + (["balance qty", "balance (fen)"] if balance else []),
    )
    for move in moves:
        cells = [
            str(move["id"]),
            move["warehouse"],
            move["sku"],
            move["cause"],
            move["ref"],
            f"{move['qty']:+d}",
            f"{move['cost_fen']:+d}",
            str(move["correction_fen"] or ""),
            str(move["variance_fen"] or ""),
        ]
        if balance:
            cells += [str(move["balance_qty"]), str(move["balance_cost_fen"])]
        table.add_row(*cells)
    return table


def _counted(taken: dict[str, Any]) -> Table:
    table = titled(f"stocktake of {taken['warehouse']}", ("sku", "book", "counted", "variance", "cost (fen)"))
    for line in taken["lines"]:
        table.add_row(
            line["sku"],
            str(line["book_qty"]),
            str(line["counted_qty"]),
            f"{line['variance_qty']:+d}",
            f"{line['cost_fen']:+d}",
        )
    return table


def _returned(returned: dict[str, Any]) -> Table:
    table = titled(
        f"return of sale {returned['sale_id']}",
        ("line", "sku", "qty", "refund (fen)", "cost back (fen)", "gross profit reversed (fen)"),
    )
    for line in returned["lines"]:
        table.add_row(
            str(line["line_no"]),
            line["sku"],
            str(line["qty"]),
            str(line["amount_fen"]),
            str(line["cost_fen"]),
            str(line["gross_profit_fen"]),
        )
    return table
