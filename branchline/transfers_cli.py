"""`branchline transfer send|list|show|discrepancy`: transfers from a terminal,
through the running node that keeps the source (or, for a discrepancy, the
destination) warehouse, as the operator who logs in with --login."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from branchline.http_client import add_login_argument, call, item_lines, log_in
from branchline.tables import titled
from hq.pages import duration

DEFAULT_NODE = "http://127.0.0.1:8701"
NODE = "the node"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    transfer = commands.add_parser("transfer", help="stock transfers between warehouses")
    actions = transfer.add_subparsers(dest="transfer_action", required=True)
    p = actions.add_parser("send", help="send goods from a warehouse of this node to another warehouse")
    p.add_argument("--to", required=True, help="destination warehouse, e.g. BR01-MAIN")
    p.add_argument("--from", dest="source", help="source warehouse (default: the node's main one)")
    p.add_argument("--note", help="kept with the transfer")
    p.add_argument("--key", help="Idempotency-Key: resending with the same key sends once")
    p.add_argument("lines", nargs="+", metavar="SKU:QTY")
    p = actions.add_parser("list", help="this node's transfers, out and in")
    p.add_argument("--state", choices=("in_transit", "received"))
    p.add_argument("--direction", choices=("out", "in"))
    p = actions.add_parser("show", help="one transfer in full")
    p.add_argument("transfer_id")
    p = actions.add_parser(
        "discrepancy", help="record what actually arrived when it differs from what was sent"
    )
    p.add_argument("transfer_id")
    p.add_argument("lines", nargs="+", metavar="SKU:RECEIVED")
    p.add_argument("--note")
    for sub in actions.choices.values():
        sub.add_argument("--node", default=DEFAULT_NODE, help="the node's URL")
        add_login_argument(sub)


def run(args: argparse.Namespace, console: Console) -> int:
    token = log_in(args.node, args.login, NODE)

    def ask(
        method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        return call(args.node, method, path, body, token=token, what=NODE, key=key)

    if args.transfer_action == "send":
        body: dict[str, Any] = {"to_warehouse": args.to, "lines": item_lines(args.lines)}
        if args.source:
            body["from_warehouse"] = args.source
        if args.note:
            body["note"] = args.note
        sent = ask("POST", "/api/transfers", body, key=args.key)
        console.print(
            f"transfer {sent['id']}: {sent['from_warehouse']} -> {sent['to_warehouse']},"
            f" {sum(line['qty'] for line in sent['lines'])} units at {sent['cost_fen']} fen, {sent['state']}"
        )
    elif args.transfer_action == "list":
        query = "&".join(
            f"{name}={value}" for name in ("state", "direction") if (value := getattr(args, name))
        )
        listing = ask("GET", "/api/transfers" + (f"?{query}" if query else ""))
        console.print(_table(listing["transfers"]))
    elif args.transfer_action == "show":
        console.print_json(json.dumps(ask("GET", f"/api/transfers/{args.transfer_id}")))
    else:
        body = {"lines": item_lines(args.lines, qty_name="received_qty")}
        if args.note:
            body["note"] = args.note
        recorded = ask("POST", f"/api/transfers/{args.transfer_id}/discrepancies", body)
        for line in recorded["lines"]:
            console.print(
                f"{line['sku']}: sent {line['sent_qty']}, received {line['received_qty']}"
                f" ({line['cost_fen']:+d} fen of stock)"
            )
    return 0


def _table(transfers: list[dict[str, Any]]) -> Table:
    now_ms = time.time_ns() // 1_000_000
    table = titled(
        f"{len(transfers)} transfers",
        ("id", "direction", "from", "to", "units", "cost (fen)", "state", "age"),
    )
    for t in transfers:
        table.add_row(
            t["id"],
            t["direction"],
            t["from_warehouse"],
            t["to_warehouse"],
            str(sum(line["qty"] for line in t["lines"])),
            str(t["cost_fen"]),
            t["state"],
            duration((t["received_at_ms"] or now_ms) - t["sent_at_ms"]),
        )
    return table
