"""`branchline hq operator add|list|disable|enable|grant|revoke`: operators' accounts.

These work on HQ's data folder directly, whether HQ is running or not, so the first
general manager can be created before HQ ever starts. A branch operator added
before their branch enrolls reaches it in the branch's first feed. A change made
while HQ runs reaches an online branch at its next feed read (within half a
minute): the running HQ is not told to wake the branch's waiting read.

A new operator's password is read like a log-in's (branchline.http_client): from
$BRANCHLINE_PASSWORD, else one line of standard input, never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from branchline.http_client import CommandFailed, read_password
from branchline.tables import titled
from hq import operators
from hq.accounts import Accounts
from hq.setup import KEY_FILE, now_ms, on_this_machine, open_store
from hq.storage.base import OperatorRecord
from protocol.access import ROLES


def add_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    operator = hq_commands.add_parser("operator", help="operators' accounts, roles and permissions")
    actions = operator.add_subparsers(dest="operator_action", required=True)
    p = actions.add_parser("add", help="add an operator; the password is read from stdin")
    _common(p)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--branch", help="the branch of a store_manager or clerk")
    p.add_argument("--name", help="the name shown (default: the login)")
    p = actions.add_parser("list", help="every operator, with role, branch and permissions")
    p.add_argument("--data", type=Path, required=True, help="HQ's data folder")
    for action, what in (("disable", "stop an operator logging in anywhere"), ("enable", "let them again")):
        _common(actions.add_parser(action, help=what))
    for action, what in (("grant", "give one permission beyond the role"), ("revoke", "take one away")):
        p = actions.add_parser(action, help=what)
        _common(p)
        p.add_argument("--permission", required=True, help="module:action, e.g. stocktake:add")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="HQ's data folder")
    p.add_argument("--login", required=True)


def run(args: argparse.Namespace, console: Console) -> int:
    if not (args.data / KEY_FILE).exists():
        raise CommandFailed(f"{args.data} holds no HQ; give HQ's data folder with --data")
    if args.operator_action == "list":
        console.print(_table(asyncio.run(_list(args.data))))
        return 0
    password = read_password(f"password for {args.login}: ") if args.operator_action == "add" else ""
    record = asyncio.run(_change(args, password))
    console.print(_table([record]))
    return 0


async def _list(data: Path) -> list[OperatorRecord]:
    store = await open_store(data)
    try:
        return await store.operators()
    finally:
        await store.close()


async def _change(args: argparse.Namespace, password: str) -> OperatorRecord:
    store = await open_store(args.data)
    accounts = Accounts(store, now_ms)
    by = on_this_machine(f"branchline hq operator {args.operator_action}")
    try:
        match args.operator_action:
            case "add":
                return await accounts.add(args.login, password, args.role, args.branch, by, args.name)
            case "disable" | "enable":
                return await accounts.set_disabled(args.login, args.operator_action == "disable", by)
            case "grant":
                return await accounts.grant(args.login, args.permission, by)
            case _:
                return await accounts.revoke(args.login, args.permission, by)
    finally:
        await store.close()


def _table(records: list[OperatorRecord]) -> object:
    table = titled(None, ("login", "name", "role", "branch", "state", "grants", "revokes", "may"))
    for record in records:
        table.add_row(
            record.login,
            record.name,
            record.role,
            record.branch or "(HQ)",
            "disabled" if record.disabled else "active",
            " ".join(record.grants),
            " ".join(record.revokes),
            " ".join(sorted(operators.permissions(record))),
        )
    return table
