"""`branchline purchase order|orders|show|propose|replenish|receive|direct|return|payables`:
purchasing from a terminal, through the running node that keeps the warehouse, as the
operator who logs in with --login.

Lines of goods are typed SKU:QTY, or SKU:QTY@UNIT_FEN to name the price.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote, urlencode

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from branchline.http_client import add_login_argument, call, item_lines, log_in
from branchline.tables import titled

DEFAULT_NODE = "http://127.0.0.1:8701"
NODE = "the node"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    purchase = commands.add_parser("purchase", help="purchase orders, receipts, returns and payables")
    actions = purchase.add_subparsers(dest="purchase_action", required=True)

    p = actions.add_parser("order", help="place a purchase order with a supplier")
    p.add_argument("--supplier", required=True)
    p.add_argument("--warehouse", help="default: the node's main warehouse")
    p.add_argument("--kind", choices=("normal", "urgent", "plan"), default="normal")
    p.add_argument("--note", help="kept with the order")
    p.add_argument("lines", nargs="+", metavar="SKU:QTY[@UNIT_FEN]", help="default price: the purchase price")

    p = actions.add_parser("orders", help="list purchase orders, newest first")
    p.add_argument("--state", choices=("open", "partial", "received", "closed"))
    p.add_argument("--supplier")

    p = actions.add_parser("show", help="one purchase order with what has been received")
    p.add_argument("order_id")

    p = actions.add_parser("close", help="close an order; what it still expects is cancelled")
    p.add_argument("order_id")

    p = actions.add_parser("propose", help="what to order to bring products back over their lower limit")
    p.add_argument("--warehouse", help="default: the node's main warehouse")

    p = actions.add_parser("replenish", help="place the proposal's orders, one per supplier")
    p.add_argument("--warehouse", help="default: the node's main warehouse")

    p = actions.add_parser("receive", help="book goods arriving against an order")
    p.add_argument("order_id")
    p.add_argument("lines", nargs="*", metavar="SKU:QTY", help="default: everything still outstanding")

    p = actions.add_parser("direct", help="book goods arriving with no order")
    p.add_argument("--supplier", required=True)
    p.add_argument("--warehouse", help="default: the node's main warehouse")
    p.add_argument("lines", nargs="+", metavar="SKU:QTY@UNIT_FEN")

    p = actions.add_parser("return", help="send goods back to their supplier")
    p.add_argument("--supplier", required=True)
    p.add_argument("--warehouse", help="default: the receipt's, else the node's main warehouse")
    p.add_argument("--receipt", help="the receipt they came in on (its price is credited)")
    p.add_argument("lines", nargs="+", metavar="SKU:QTY[@UNIT_FEN]")

    p = actions.add_parser("payables", help="what is owed to each supplier")
    p.add_argument("--supplier")

    for name, sub in actions.choices.items():
        sub.add_argument("--node", default=DEFAULT_NODE, help="the node's URL")
        add_login_argument(sub)
        if name in ("order", "close", "replenish", "receive", "direct", "return"):
            sub.add_argument("--key", help="Idempotency-Key: repeating the command with it books once")


def run(args: argparse.Namespace, console: Console) -> int:
    action = args.purchase_action
    token = log_in(args.node, args.login, NODE)

    def ask(
        method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        return call(args.node, method, path, body, token=token, what=NODE, key=key)

    if action == "order":
        body = _document(args, supplier=args.supplier, kind=args.kind, note=args.note)
        body["lines"] = item_lines(args.lines, with_cost=True)
        order = ask("POST", "/api/purchase-orders", body, key=args.key)
        console.print(_order_table(order))
    elif action == "orders":
        query = urlencode({k: v for k in ("state", "supplier") if (v := getattr(args, k))})
        listing = ask("GET", "/api/purchase-orders" + (f"?{query}" if query else ""))
        console.print(_orders_table(listing["orders"]))
    elif action == "show":
        console.print(_order_table(ask("GET", f"/api/purchase-orders/{_id(args.order_id)}")))
    elif action == "close":
        path = f"/api/purchase-orders/{_id(args.order_id)}/close"
        console.print(_order_table(ask("POST", path, {}, key=args.key)))
    elif action == "propose":
        query = f"?{urlencode({'warehouse': args.warehouse})}" if args.warehouse else ""
        _print_proposal(console, ask("GET", "/api/purchase-orders/proposal" + query))
    elif action == "replenish":
        made = ask("POST", "/api/purchase-orders/replenish", _document(args), key=args.key)
        for order in made["orders"]:
            console.print(_order_table(order))
        _print_unordered(console, made["without_supplier"])
    elif action in ("receive", "direct"):
        if action == "receive":
            path = f"/api/purchase-orders/{_id(args.order_id)}/receipts"
            body = {"lines": item_lines(args.lines)} if args.lines else {}
        else:
            path = "/api/receipts"
            body = _document(args, supplier=args.supplier)
            body["lines"] = item_lines(args.lines, with_cost=True)
        console.print(_receipt_table(ask("POST", path, body, key=args.key)))
    elif action == "return":
        body = _document(args, supplier=args.supplier, receipt_id=args.receipt)
        body["lines"] = item_lines(args.lines, with_cost=True)
        console.print(_return_table(ask("POST", "/api/purchase-returns", body, key=args.key)))
    else:
        query = f"?{urlencode({'supplier': args.supplier})}" if args.supplier else ""
        console.print(_payables_table(ask("GET", "/api/payables" + query)))
    return 0


def _document(args: argparse.Namespace, **given: Any) -> dict[str, Any]:
    """The fields given on the command line; the node's defaults for the rest."""
    body = {name: value for name, value in given.items() if value is not None}
    if args.warehouse:
        body["warehouse"] = args.warehouse
    return body


def _id(document_id: str) -> str:
    return quote(document_id, safe="")


def _order_table(order: dict[str, Any]) -> Group:
    received = f"{order['received_fen']} of {order['total_fen']} fen received"
    summary = (
        f"purchase order {order['id']} ({order['kind']}) from {order['supplier']}"
        f" into {order['warehouse']}: {order['state']}, {received}"
    )
    table = Table()
    for column in ("line", "sku", "ordered", "unit (fen)", "amount (fen)", "received", "outstanding"):
        table.add_column(column, justify="left" if column == "sku" else "right")
    for line in order["lines"]:
        table.add_row(
            str(line["line_no"]),
            line["sku"],
            str(line["qty"]),
            str(line["unit_cost_fen"]),
            str(line["amount_fen"]),
            str(line["received_qty"]),
            str(line["outstanding_qty"]),
        )
    return Group(Text(summary), table)


def _orders_table(orders: list[dict[str, Any]]) -> Group:
    summary = f"purchase orders: {len(orders)}"
    table = titled(
        None, ("id", "kind", "supplier", "warehouse", "state", "lines", "total (fen)", "received (fen)")
    )
    for order in orders:
        table.add_row(
            order["id"],
            order["kind"],
            order["supplier"],
            order["warehouse"],
            order["state"],
            str(len(order["lines"])),
            str(order["total_fen"]),
            str(order["received_fen"]),
        )
    return Group(Text(summary), table)


def _print_proposal(console: Console, proposal: dict[str, Any]) -> None:
    if not proposal["suppliers"]:
        console.print(f"nothing to order for {proposal['warehouse']}")
    for group in proposal["suppliers"]:
        console.print(f"order from {group['supplier']} for {proposal['warehouse']}: {group['total_fen']} fen")
        table = Table()
        for column in ("sku", "on hand", "lower", "upper", "on order", "order", "unit (fen)", "amount (fen)"):
            table.add_column(column, justify="left" if column == "sku" else "right")
        for line in group["lines"]:
            table.add_row(
                line["sku"],
                str(line["on_hand"]),
                str(line["lower_limit"]),
                "" if line["upper_limit"] is None else str(line["upper_limit"]),
                str(line["on_order"]),
                str(line["qty"]),
                str(line["unit_cost_fen"]),
                str(line["amount_fen"]),
            )
        console.print(table)
    _print_unordered(console, proposal["without_supplier"])


def _print_unordered(console: Console, lines: list[dict[str, Any]]) -> None:
    for line in lines:
        console.print(
            f"{line['sku']}: {line['on_hand']} on hand, under its lower limit of {line['lower_limit']};"
            f" not ordered: no active supplier ({line['supplier'] or 'none set'})"
        )


def _receipt_table(receipt: dict[str, Any]) -> Group:
    state = f"; order {receipt['order_id']} now {receipt['order_state']}" if receipt["order_id"] else ""
    summary = (
        f"receipt {receipt['id']} from {receipt['supplier']} into {receipt['warehouse']}:"
        f" {receipt['amount_fen']} fen owed{state}{' (replayed)' if receipt['replayed'] else ''}"
    )
    table = Table()
    for column in (
        "sku",
        "qty",
        "unit (fen)",
        "amount (fen)",
        "stock value change (fen)",
        "correction (fen)",
    ):
        table.add_column(column, justify="left" if column == "sku" else "right")
    for line, move in zip(receipt["lines"], receipt["moves"], strict=True):
        table.add_row(
            line["sku"],
            str(line["qty"]),
            str(line["unit_cost_fen"]),
            str(line["amount_fen"]),
            str(move["cost_fen"]),
            str(move["correction_fen"]),
        )
    return Group(Text(summary), table)


def _return_table(returned: dict[str, Any]) -> Group:
    summary = (
        f"purchase return {returned['id']} to {returned['supplier']} from {returned['warehouse']}:"
        f" {returned['amount_fen']} fen credited, {returned['cost_fen']} fen of stock out"
    )
    table = Table()
    for column in ("sku", "qty", "unit (fen)", "credit (fen)", "cost (fen)"):
        table.add_column(column, justify="left" if column == "sku" else "right")
    for line in returned["lines"]:
        table.add_row(
            line["sku"],
            str(line["qty"]),
            str(line["unit_cost_fen"]),
            str(line["amount_fen"]),
            str(line["cost_fen"]),
        )
    return Group(Text(summary), table)


def _payables_table(payables: dict[str, Any]) -> Group:
    summary = f"owed to suppliers: {payables['balance_fen']} fen"
    table = Table()
    for column in ("supplier", "name", "receipts (fen)", "returns (fen)", "balance (fen)", "documents"):
        table.add_column(column, justify="left" if column in ("supplier", "name") else "right")
    for owed in payables["suppliers"]:
        table.add_row(
            owed["supplier"],
            owed["name"] or "",
            str(owed["receipts_fen"]),
            str(owed["returns_fen"]),
            str(owed["balance_fen"]),
            str(owed["document_count"]),
        )
    table.add_row(
        "total",
        "",
        str(payables["receipts_fen"]),
        str(payables["returns_fen"]),
        str(payables["balance_fen"]),
        "",
    )
    return Group(Text(summary), table)
