"""`branchline hq quarantine list`: the entries HQ stored but could not apply, from a
terminal, newest first, with why.

It asks the running HQ over HTTP as the operator who logs in with --login.
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from branchline.http_client import add_login_argument, call, log_in
from branchline.tables import titled


def add_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    quarantine = hq_commands.add_parser(
        "quarantine", help="entries HQ stored but could not apply (the quarantine of effects)"
    )
    actions = quarantine.add_subparsers(dest="quarantine_action", required=True)
    p = actions.add_parser("list", help="list them, newest first, with the reason")
    add_login_argument(p)
    p.add_argument("--hq", default="http://127.0.0.1:8700", help="HQ's URL")
    p.add_argument("--branch", help="only this branch's entries")


def run(args: argparse.Namespace, console: Console) -> int:
    query = "" if args.branch is None else f"?branch={quote(args.branch)}"
    listing = call(
        args.hq, "GET", f"/api/quarantine{query}", token=log_in(args.hq, args.login, "HQ"), what="HQ"
    )
    console.print(_table(listing["quarantined"]))
    return 0


def _table(effects: list[dict[str, Any]]) -> Table:
    table = titled(
        f"{len(effects)} {'entry' if len(effects) == 1 else 'entries'} stored but not applied",
        ("branch", "seq", "entry", "entity", "code", "reason", "set aside (UTC)"),
    )
    for q in effects:
        at = datetime.datetime.fromtimestamp(q["at_ms"] / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            q["origin"], str(q["seq"]), f"{q['kind']}/{q['op']}", q["entity_id"], q["code"], q["message"], at
        )
    return table
