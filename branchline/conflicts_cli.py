"""`branchline hq conflicts list|show|resolve`: the conflict queue from a terminal.

It talks to the running HQ over HTTP (so a resolution reaches the branches'
feeds at once), as the operator who logs in with --login.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from branchline.http_client import CommandFailed, add_login_argument, call, log_in
from branchline.tables import titled

# The CLI catches this one name for every operator command.
ConflictCommandFailed = CommandFailed


def add_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    conflicts = hq_commands.add_parser("conflicts", help="the conflict queue: list, show, resolve")
    actions = conflicts.add_subparsers(dest="conflicts_action", required=True)
    for name, help_text in (
        ("list", "list conflicts (open ones by default)"),
        ("show", "show one conflict in full"),
        ("resolve", "resolve one conflict with one of its actions"),
    ):
        p = actions.add_parser(name, help=help_text)
        add_login_argument(p)
        p.add_argument("--hq", default="http://127.0.0.1:8700", help="HQ's URL")
        if name == "list":
            p.add_argument("--state", default="open", choices=("open", "resolved", "cleared", "all"))
        else:
            p.add_argument("conflict_id")
        if name == "resolve":
            # Not `action`: that name is the hq subcommand's.
            p.add_argument("decision", metavar="action", help="e.g. confirm, separate, write_off, collect")
            p.add_argument("--note", default="", help="why (kept with the resolution)")


def run(args: argparse.Namespace, console: Console) -> int:
    token = log_in(args.hq, args.login, "HQ")
    if args.conflicts_action == "list":
        query = "" if args.state == "all" else f"?state={args.state}"
        listing = _call(args.hq, "GET", f"/api/conflicts{query}", token)
        console.print(_table(listing["conflicts"]))
    elif args.conflicts_action == "show":
        console.print_json(json.dumps(_call(args.hq, "GET", f"/api/conflicts/{args.conflict_id}", token)))
    else:
        body = {"action": args.decision, "note": args.note}
        resolved = _call(args.hq, "POST", f"/api/conflicts/{args.conflict_id}/resolve", token, body)
        console.print(f"{resolved['id']}: {resolved['state']} ({args.decision}); sent to every branch")
    return 0


def _table(conflicts: list[dict[str, Any]]) -> Table:
    table = titled(
        f"{len(conflicts)} conflicts",
        ("id", "kind", "state", "branches", "amount (fen)", "summary", "actions"),
    )
    for c in conflicts:
        table.add_row(
            c["id"],
            c["kind"],
            c["state"],
            ", ".join(c["branches"]),
            str(c["amount_fen"]),
            c["summary"],
            ", ".join(c["actions"]),
        )
    return table


def _call(
    base: str,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return call(base, method, path, body, token=token, what="HQ")
