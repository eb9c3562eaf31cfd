"""`branchline hq audit verify --data DIR`: checks every chain HQ keeps (hq.audit) and
names the first break of each: HQ's operation log, each branch's log as HQ holds it,
each branch's feed. It reads HQ's files directly, whether HQ is running or not, and
prints the head of each chain it checked, so a head noted from an earlier run shows
a log cut short since. Exit 0 if every chain holds, 1 if one does not."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from branchline.tables import titled
from hq.audit import AuditReport
from hq.setup import open_store, read_key
from protocol.signing import public_key_bytes


def add_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = hq_commands.add_parser("audit", help="check HQ's operation log and the branches' logs")
    actions = audit.add_subparsers(dest="audit_action", required=True)
    p = actions.add_parser("verify", help="check every chain and name the first break")
    p.add_argument("--data", type=Path, required=True, help="HQ's data folder")


def run(args: argparse.Namespace, console: Console) -> int:
    report = asyncio.run(_audit(args.data))
    table = titled("chains checked", ("chain", "rows", "head (seq:hash)"))
    for chain, count in report.checked.items():
        table.add_row(chain, str(count), report.heads.get(chain, "-"))
    console.print(table)
    for found in report.breaks:
        console.print(f"[red]BROKEN[/red] {found}")
    if report.holds:
        console.print("every chain holds")
        return 0
    return 1


async def _audit(data: Path) -> AuditReport:
    public_key = public_key_bytes(read_key(data))
    store = await open_store(data)
    try:
        return await store.audit(public_key)
    finally:
        await store.close()
