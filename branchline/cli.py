"""`branchline`: subcommands for HQ (`hq`), branch nodes (`node`) and `up`.

Every command's refusals print one line saying what to do and exit with 2; a
traceback means a bug.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from rich.console import Console

from branchline import (
    audit_cli,
    conflicts_cli,
    hq_inventory_cli,
    loyalty_cli,
    operators_cli,
    purchasing_cli,
    quarantine_cli,
    stock_cli,
    top_cli,
    transfers_cli,
)
from branchline.http_client import CommandFailed
from launch.heap import settle_heap
from protocol.errors import Refused

LOOPBACK = "127.0.0.1"


DB_HELP = (
    "keep HQ's data in this PostgreSQL database (postgresql://user:password@host:port/name,"
    " created with LC_COLLATE 'C') instead of the folder's SQLite file"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="branchline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", required=True)

    hq = commands.add_parser("hq", help="the HQ aggregator").add_subparsers(dest="action", required=True)
    p = hq.add_parser("init", help="create an HQ data folder")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument(
        "--demo-data", action="store_true", help="seed a demo catalogue and demo operators (one per role)"
    )
    p.add_argument("--db", help=DB_HELP)
    p = hq.add_parser("serve", help="run HQ's HTTP server")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default=LOOPBACK, help="address to bind (default 127.0.0.1)")
    p.add_argument("--db", help="the PostgreSQL URL the folder was initialised with (checked)")
    p = hq.add_parser("enroll-token", help="issue a one-time enrollment token for a branch")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--branch", required=True)
    p.add_argument("--ttl-hours", type=float, default=24.0)
    conflicts_cli.add_parser(hq)
    operators_cli.add_parser(hq)
    audit_cli.add_parser(hq)
    quarantine_cli.add_parser(hq)
    top_cli.add_parser(hq)
    hq_inventory_cli.add_parser(hq)
    loyalty_cli.add_hq_parser(hq)

    node = commands.add_parser("node", help="a branch node").add_subparsers(dest="action", required=True)
    p = node.add_parser("init", help="create a node and enroll it with HQ")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--branch", required=True)
    p.add_argument("--hq", required=True, help="HQ's URL, e.g. http://127.0.0.1:8700")
    p.add_argument("--token", required=True)
    p = node.add_parser("serve", help="run the node's till API and replicator")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default=LOOPBACK, help="address to bind (default 127.0.0.1)")
    p = node.add_parser("swipe", help="swipe a card at the branch's virtual reader")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("card", help="the card number")
    p = node.add_parser("devices", help="the branch's card reader and printer, with their state")
    p.add_argument("--data", type=Path, required=True)

    transfers_cli.add_parser(commands)
    purchasing_cli.add_parser(commands)
    stock_cli.add_parser(commands)
    loyalty_cli.add_parser(commands)

    p = commands.add_parser("simulate", help="a network-partition simulation (seeded, reproducible)")
    p.add_argument("scenario", type=Path, help="a scenario file (TOML), e.g. simulations/scenarios/*.toml")
    p.add_argument("--seed", type=int, help="the seed (default: the scenario's)")
    p.add_argument("--seeds", type=int, default=1, help="run this many consecutive seeds")
    p.add_argument("--report", type=Path, help="write an HTML report with plots here")
    p.add_argument(
        "--branches",
        type=int,
        help="ask the scenario's question of this many branches (its load is per branch)",
    )
    p.add_argument(
        "--swarm", action="store_true", help="each seed draws its own faults and trading from the scenario"
    )
    p.add_argument("--real", action="store_true", help="real processes behind fault-injecting proxies")
    p.add_argument("--speed", type=float, help="--real: scenario time per real time (default: ~60 s a run)")

    p = commands.add_parser("up", help="HQ and a few branches on loopback with demo trading")
    p.add_argument("--branches", type=int, default=3)
    p.add_argument("--data", type=Path, help="folder to keep (default: a new temporary one)")
    p.add_argument("--port", type=int, default=8700, help="HQ's port; branches take the next ones")
    p.add_argument("--no-trading", action="store_true", help="do not simulate trading")
    p.add_argument("--db", help=DB_HELP)
    return parser


def serve(app: web.Application, host: str, port: int, what: str) -> None:
    def announce(_: str) -> None:
        print(f"{what} listening on http://{host}:{port}", flush=True)

    app.on_startup.append(settled)  # after the app's own start-up (its cleanup contexts)
    web.run_app(app, host=host, port=port, print=announce, access_log=None)


async def settled(app: web.Application) -> None:
    """This process serves `app` until it stops: what its start-up built is settled."""
    settle_heap()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return run(args)
    except (Refused, PermissionError) as exc:
        print(f"branchline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace) -> int:
    if args.command == "hq":
        from hq import setup

        if args.action == "init":
            public_key = asyncio.run(setup.init_hq(args.data, demo_data=args.demo_data, db=args.db))
            print(f"HQ initialised in {args.data}; public key {public_key.hex()}")
        elif args.action == "conflicts":
            from rich.console import Console

            try:
                return conflicts_cli.run(args, Console())
            except conflicts_cli.ConflictCommandFailed as exc:
                print(f"branchline: {exc}", file=sys.stderr)
                return 2
        elif args.action == "audit":
            return _operator_command(audit_cli.run, args)
        elif args.action == "operator":
            return _operator_command(operators_cli.run, args)
        elif args.action == "quarantine":
            return _operator_command(quarantine_cli.run, args)
        elif args.action == "top":
            return _operator_command(top_cli.run, args)
        elif args.action in hq_inventory_cli.ACTIONS:
            return _operator_command(hq_inventory_cli.run, args)
        elif args.action in loyalty_cli.HQ_ACTIONS:
            return _operator_command(loyalty_cli.run_hq, args)
        elif args.action == "enroll-token":
            ttl_s = int(args.ttl_hours * 3600)
            print(asyncio.run(setup.issue_enroll_token(args.data, args.branch, ttl_s)))
        else:
            from hq.api import create_app as create_hq_app

            setup.read_key(args.data)  # refuse early, with the fix, if not initialised
            serve(create_hq_app(args.data, args.db), args.host, args.port, "Branchline HQ")
        return 0
    if args.command == "node":
        from node.sync import enroll

        if args.action == "init":
            try:
                config = asyncio.run(enroll.enroll(args.data, args.branch, args.hq, args.token))
            except enroll.EnrollmentFailed as exc:
                print(f"branchline: {exc}", file=sys.stderr)
                return 2
            print(f"branch {config.branch} enrolled with HQ at {config.hq_url}")
        elif args.action in ("swipe", "devices"):
            from branchline import devices_cli

            try:
                if args.action == "swipe":
                    print(devices_cli.swipe(args.data, args.card))
                else:
                    devices_cli.print_devices(args.data)
            except devices_cli.DevicesCommandFailed as exc:
                print(f"branchline: {exc}", file=sys.stderr)
                return 2
        else:
            from node.app import create_app as create_node_app
            from node.config import load_config

            config = load_config(args.data)
            serve(create_node_app(args.data), args.host, args.port, f"Branchline node {config.branch}")
        return 0
    if args.command == "simulate":
        return run_simulation(args)
    if args.command == "transfer":
        return _operator_command(transfers_cli.run, args)
    if args.command == "purchase":
        return _operator_command(purchasing_cli.run, args)
    if args.command == "stock":
        return _operator_command(stock_cli.run, args)
    if args.command in loyalty_cli.NODE_COMMANDS:
        return _operator_command(loyalty_cli.run_node, args)
    from branchline.up import up

    return asyncio.run(up(args.branches, args.data, args.port, trading=not args.no_trading, db=args.db))


def _operator_command(command: Callable[[argparse.Namespace, Console], int], args: argparse.Namespace) -> int:
    """Run a command that talks to a running server; its refusal is one line and exit 2."""
    try:
        return command(args, Console())
    except CommandFailed as exc:
        print(f"branchline: {exc}", file=sys.stderr)
        return 2


def run_simulation(args: argparse.Namespace) -> int:
    from rich.console import Console

    from simulations.scenario import ScenarioError

    if not 1 <= args.seeds <= 10_000:
        print("branchline: --seeds must be between 1 and 10000", file=sys.stderr)
        return 2
    try:
        if args.real:
            from simulations.real import simulate_real

            if args.branches is not None or args.swarm:
                print(
                    "branchline: --real runs the file as written, without --branches or --swarm",
                    file=sys.stderr,
                )
                return 2
            return simulate_real(
                args.scenario, seed=args.seed, speed=args.speed, report=args.report, console=Console()
            )
        from simulations.run import simulate

        return simulate(
            args.scenario,
            seed=args.seed,
            seeds=args.seeds,
            report=args.report,
            console=Console(),
            branches=args.branches,
            swarm=args.swarm,
        )
    except ScenarioError as exc:  # a missing or malformed file, with its line
        print(f"branchline: {exc}", file=sys.stderr)
        return 2
