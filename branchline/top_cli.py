"""`branchline hq top`: the chain's live figures in a terminal, for ops (FEATURES C1).

One row per branch: whether HQ hears from it, when it last did, its backlog and any
quarantine, and today's sales (a business day, as HQ keeps them) with returns netted and
the gross profit; below, the conflicts waiting and the transfers in transit. It asks the
running HQ over HTTP as the operator who logs in with --login, every --interval seconds,
redrawing in place (rich's Live), until Ctrl-C; --once draws it once and exits.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from branchline.http_client import add_login_argument, call, log_in
from branchline.tables import titled, yuan

# Often enough to watch a shop's trade; a few requests each time, not one per branch.
DEFAULT_INTERVAL_S = 2.0


def add_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = hq_commands.add_parser("top", help="the branches' live figures: health and today's sales")
    add_login_argument(p)
    p.add_argument("--hq", default="http://127.0.0.1:8700", help="HQ's URL")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds between redraws")
    p.add_argument("--once", action="store_true", help="draw once and exit")


def run(args: argparse.Namespace, console: Console) -> int:
    if not args.interval > 0:
        raise SystemExit("hq top: --interval must be a positive number of seconds")
    token = log_in(args.hq, args.login, "HQ")

    def read() -> dict[str, Any]:
        return figures(lambda path: call(args.hq, "GET", path, token=token, what="HQ"))

    if args.once:
        console.print(view(read()))
        return 0
    with Live(view(read()), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(args.interval)
                live.update(view(read()), refresh=True)
        except KeyboardInterrupt:
            pass
    return 0


def figures(get: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """What one redraw shows, in four requests whatever the number of branches."""
    sales = get("/api/sales/by-branch")
    return {
        "branches": get("/api/branches")["branches"],
        "day": sales["from"],
        "sales": {row["branch"]: row for row in sales["branches"]},
        "conflicts": len(get("/api/conflicts?state=open")["conflicts"]),
        "in_transit": len(get("/api/transfers?state=in_transit")["transfers"]),
        "at_ms": int(time.time() * 1000),
    }


def view(shown: dict[str, Any]) -> Group:
    table = titled(
        f"Branchline HQ: today ({shown['day']}, business day)",
        (
            "branch",
            "link",
            "last seen",
            "backlog",
            "quarantine",
            "sales",
            "takings",
            "returns",
            "gross profit",
        ),
    )
    for branch in shown["branches"]:
        sold = shown["sales"].get(branch["code"], {})
        quarantine = "fork: refused" if branch["quarantined"] else ""
        if branch["effects_quarantined"]:
            quarantine = f"{quarantine} {branch['effects_quarantined']} set aside".strip()
        table.add_row(
            branch["code"],
            Text("online", style="green") if branch["online"] else Text("offline", style="bold red"),
            _ago(branch["last_seen"], shown["at_ms"]),
            str(branch["backlog"] if branch["backlog"] is not None else "?"),
            Text(quarantine, style="bold red") if quarantine else "",
            str(sold.get("count", 0)),
            yuan(sold.get("net_fen", 0)),
            f"{sold.get('returns', 0)} ({yuan(sold.get('returned_fen', 0))})",
            yuan(sold.get("gross_profit_fen", 0)),
        )
    footer = Text(
        f"{shown['conflicts']} conflicts waiting · {shown['in_transit']} transfers in transit · "
        f"drawn {datetime.datetime.fromtimestamp(shown['at_ms'] / 1000, datetime.UTC):%H:%M:%S} UTC"
    )
    return Group(table, footer)


def _ago(last_seen_ms: int | None, now_ms: int) -> str:
    if last_seen_ms is None:
        return "never"
    seconds = max(0, now_ms - last_seen_ms) // 1000
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
