"""`branchline hq products|warehouses|suppliers|categories list|add`, `branchline hq
stock`, `branchline hq transfers`, `branchline hq payables`: HQ's master data and its
chain-wide views of stock, transfers and payables, from a terminal.

Commands talk HTTP to the running HQ, so what an operator adds is checked, stored
and published to every branch exactly as through the API, as the operator who logs
in with --login (reading needs a role that may see it, adding one that may edit).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from branchline.http_client import CommandFailed, add_login_argument, call, log_in
from branchline.tables import cell, titled, yuan
from hq.pages import duration

DEFAULT_HQ = "http://127.0.0.1:8700"
MASTER = ("products", "warehouses", "suppliers", "categories")
ACTIONS = (*MASTER, "stock", "transfers", "payables")

# The fields `add` can set, as (flag, record field, type); a flag left out leaves
# the field as HQ holds it (or at its default for a new record).
FIELDS: dict[str, list[tuple[str, str, type]]] = {
    "products": [
        ("--sku", "sku", str),
        ("--name", "name", str),
        ("--price-fen", "price_fen", int),
        ("--unit", "unit", str),
        ("--category", "category", str),
        ("--supplier", "supplier", str),
        ("--spec", "spec", str),
        ("--model", "model", str),
        ("--colour", "colour", str),
        ("--lower-limit", "lower_limit", int),
        ("--upper-limit", "upper_limit", int),
        ("--purchase-price-fen", "purchase_price_fen", int),
        ("--discount-mode", "discount_mode", str),
        ("--discount-rate", "discount_rate", int),
        ("--costing-method", "costing_method", str),
        ("--specified-cost-fen", "specified_cost_fen", int),
    ],
    "warehouses": [("--code", "code", str), ("--name", "name", str), ("--branch", "branch", str)],
    "suppliers": [
        ("--code", "code", str),
        ("--name", "name", str),
        ("--contact", "contact", str),
        ("--phone", "phone", str),
    ],
    "categories": [("--code", "code", str), ("--name", "name", str), ("--parent", "parent", str)],
}
KEYS = {"products": "sku", "warehouses": "code", "suppliers": "code", "categories": "code"}


def add_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for plural in MASTER:
        kind = hq_commands.add_parser(plural, help=f"HQ's {plural}: list, add (or change)")
        actions = kind.add_subparsers(dest="master_action", required=True)
        p = actions.add_parser("list", help=f"list HQ's {plural}")
        _common(p)
        p = actions.add_parser(
            "add", help=f"add {plural} or change them (fields left out keep their value), for every branch"
        )
        _common(p)
        for flag, field, kind_type in FIELDS[plural]:
            p.add_argument(flag, dest=f"field_{field}", type=kind_type)
        if plural != "categories":
            state = p.add_mutually_exclusive_group()
            state.add_argument("--active", dest="field_active", action="store_true", default=None)
            state.add_argument("--inactive", dest="field_active", action="store_false", default=None)
        if plural == "products":
            p.add_argument(
                "--file", type=Path, help="a JSON file of one product or a list (replaces the flags)"
            )

    p = hq_commands.add_parser("stock", help="stock per warehouse and in transit, as the branches report it")
    p.add_argument("--warehouse", help="one warehouse")
    p.add_argument("--sku", help="one product")
    p.add_argument("--alerts", action="store_true", help="only products under or over their limits")
    _common(p)
    p = hq_commands.add_parser("transfers", help="transfers between branches, oldest first")
    p.add_argument("--state", choices=("in_transit", "received", "all"), default="in_transit")
    _common(p)
    p = hq_commands.add_parser("payables", help="what is owed to each supplier")
    p.add_argument("--supplier", help="one supplier, with its documents")
    _common(p)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hq", default=DEFAULT_HQ, help="HQ's URL")
    add_login_argument(p)


def run(args: argparse.Namespace, console: Console) -> int:
    token = log_in(args.hq, args.login, "HQ")
    if args.action in MASTER:
        if args.master_action == "list":
            listing = _get(args, f"/api/{args.action}", token)
            console.print(_master_table(args.action, listing[args.action]))
            return 0
        body = _record(args)
        stored = call(args.hq, "POST", f"/api/{args.action}", body, token=token, what="HQ")
        records = stored[args.action]
        key = KEYS[args.action]
        console.print(
            f"{len(records)} {args.action} stored and sent to every branch: "
            + ", ".join(record[key] for record in records)
        )
    elif args.action == "stock":
        if args.alerts:
            query = _query(warehouse=args.warehouse)
            console.print(_alerts_table(_get(args, "/api/stock/alerts" + query, token)["alerts"]))
        else:
            view = _get(args, "/api/stock" + _query(warehouse=args.warehouse, sku=args.sku), token)
            console.print(_stock_table(view))
            console.print(_totals_table(view))
    elif args.action == "transfers":
        query = "" if args.state == "all" else _query(state=args.state)
        console.print(_transfers_table(_get(args, "/api/transfers" + query, token)["transfers"]))
    else:
        console.print(_payables_table(_get(args, "/api/payables" + _query(supplier=args.supplier), token)))
    return 0


def _get(args: argparse.Namespace, path: str, token: str) -> dict[str, Any]:
    return call(args.hq, "GET", path, token=token, what="HQ")


def _query(**values: str | None) -> str:
    given = {name: value for name, value in values.items() if value is not None}
    return "?" + urlencode(given) if given else ""


def _record(args: argparse.Namespace) -> Any:
    if getattr(args, "file", None) is not None:
        try:
            return json.loads(args.file.read_text())
        except (OSError, ValueError) as exc:
            raise CommandFailed(f"cannot read {args.file} as JSON: {exc}") from None
    record = {
        name.removeprefix("field_"): value
        for name, value in vars(args).items()
        if name.startswith("field_") and value is not None
    }
    key = KEYS[args.action]
    if key not in record:
        raise CommandFailed(f"give --{key} (the {args.action[:-1]} to add or change)")
    return record


def _master_table(plural: str, records: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(records)} {plural}")
    if plural == "products":
        columns = (
            "sku",
            "name",
            "price (yuan)",
            "purchase (yuan)",
            "unit",
            "category",
            "supplier",
            "costing",
            "limits",
        )
        for column in columns:
            table.add_column(column, overflow="fold")
        for p in records:
            limits = (
                ""
                if p["lower_limit"] is None and p["upper_limit"] is None
                else (f"{cell(p['lower_limit'])}..{cell(p['upper_limit'])}")
            )
            table.add_row(
                p["sku"] + ("" if p["active"] else " (inactive)"),
                p["name"],
                yuan(p["price_fen"]),
                yuan(p["purchase_price_fen"]),
                p["unit"],
                cell(p["category"]),
                cell(p["supplier"]),
                p["costing_method"],
                limits,
            )
        return table
    names = [name for _, name, _ in FIELDS[plural]] + (["active"] if plural != "categories" else [])
    for name in names:
        table.add_column(name, overflow="fold")
    for record in records:
        table.add_row(*(cell(record[name]) for name in names))
    return table


def _stock_table(view: dict[str, Any]) -> Table:
    table = titled(
        "stock per warehouse (yuan at cost)", ("warehouse", "branch", "sku", "name", "qty", "value")
    )
    for warehouse in view["warehouses"]:
        for item in warehouse["items"]:
            table.add_row(
                warehouse["warehouse"],
                cell(warehouse["branch"]),
                item["sku"],
                cell(item["name"]),
                str(item["qty"]),
                yuan(item["cost_fen"]),
            )
    return table


def _totals_table(view: dict[str, Any]) -> Table:
    transit = view["in_transit"]
    table = titled(
        f"per product; in transit: {transit['qty']} units, {yuan(transit['cost_fen'])} yuan",
        ("sku", "qty", "value", "warehouses", "in transit", "in transit value"),
    )
    for row in view["skus"]:
        table.add_row(
            row["sku"],
            str(row["qty"]),
            yuan(row["cost_fen"]),
            str(row["warehouses"]),
            str(row["in_transit_qty"]),
            yuan(row["in_transit_cost_fen"]),
        )
    return table


def _alerts_table(alerts: list[dict[str, Any]]) -> Table:
    table = titled(
        f"{len(alerts)} stock alerts",
        ("warehouse", "branch", "sku", "name", "qty", "lower", "upper", "state"),
    )
    for a in alerts:
        table.add_row(
            a["warehouse"],
            a["branch"],
            a["sku"],
            a["name"],
            str(a["qty"]),
            cell(a["lower_limit"]),
            cell(a["upper_limit"]),
            a["state"],
        )
    return table


def _transfers_table(transfers: list[dict[str, Any]]) -> Table:
    table = titled(
        f"{len(transfers)} transfers",
        ("id", "from", "to", "units", "cost (yuan)", "state", "age", "delivered"),
    )
    for t in transfers:
        table.add_row(
            t["id"],
            f"{t['from_warehouse']} ({t['source_branch']})",
            f"{t['to_warehouse']} ({t['to_branch']})",
            str(sum(line["qty"] for line in t["lines"])),
            yuan(t["cost_fen"]),
            t["state"],
            "" if t["age_ms"] is None else duration(t["age_ms"]),
            "yes" if t["delivered"] else "no",
        )
    return table


def _payables_table(owed: dict[str, Any]) -> Table:
    table = titled(
        f"owed to suppliers: {yuan(owed['total_fen'])} yuan",
        ("supplier", "name", "document", "branch", "amount (yuan)"),
    )
    for supplier in owed["suppliers"]:
        table.add_row(
            supplier["supplier"], cell(supplier["name"]), "balance", "", yuan(supplier["balance_fen"])
        )
        for document in supplier["documents"]:
            table.add_row(
                "",
                "",
                f"{document['doc_kind']} {document['doc_id']}",
                document["branch"],
                yuan(document["amount_fen"]),
            )
    return table
