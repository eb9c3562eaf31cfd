"""Loyalty from a terminal. At HQ: `branchline hq points-rules list|add`, `hq
points-settings show|set`, `hq voucher-campaigns list|add|show` and `hq sale show` (a
sale's points with their reasons). At a branch's node: `branchline points
rules|preview|convert` and `branchline member vouchers`.

Commands talk HTTP to the running server as the operator who logs in with --login
(branchline.http_client), so a rule is checked and published to every branch exactly
as through the API. A refusal prints the server's status, code and message, and exits 2.
Money is integer fen on the wire and in flags, shown in yuan; points are whole numbers.
"""

from __future__ import annotations

import argparse
import json
import tomllib
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from rich.console import Console

from branchline import loyalty_views as views
from branchline.http_client import CommandFailed, add_login_argument, call, item_lines, read_password
from hq.storage.base import PointsSettings
from protocol.contract.fields import POINTS_COMBINE_MODES, POINTS_RULE_KINDS, REFERRAL_TRIGGERS

DEFAULT_HQ = "http://127.0.0.1:8700"
DEFAULT_NODE = "http://127.0.0.1:8701"
HQ_ACTIONS = ("points-rules", "points-settings", "voucher-campaigns", "sale")
NODE_COMMANDS = ("points", "member")

# (flag, field, type) a points rule can be given with; a field left out keeps HQ's value.
RULE_FIELDS: list[tuple[str, str, type]] = [
    ("--code", "code", str),
    ("--name", "name", str),
    ("--target", "target", str),
    ("--factor-milli", "factor_milli", int),
    ("--min-fen", "min_fen", int),
    ("--max-fen", "max_fen", int),
]
SETTINGS_FIELDS: list[tuple[str, str, type]] = [
    ("--expiry-days", "expiry_days", int),
    ("--referral-depth", "referral_depth", int),
    ("--point-value-fen", "point_value_fen", int),
]
CAMPAIGN_FIELDS: list[tuple[str, str, type]] = [
    ("--code", "code", str),
    ("--name", "name", str),
    ("--value-fen", "value_fen", int),
    ("--min-spend-fen", "min_spend_fen", int),
    ("--from", "valid_from", str),
    ("--until", "valid_until", str),
]
CRITERIA_FIELDS: list[tuple[str, str, type]] = [
    ("--level", "level", str),
    ("--region", "region", str),
    ("--birthday-month", "birthday_month", int),
    ("--last-visit-before", "last_visit_before", str),
    ("--not-visited-days", "not_visited_days", int),
    ("--spent-fen", "min_spend_fen", int),
    ("--period-days", "period_days", int),
]


def add_hq_parser(hq_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = hq_commands.add_parser("points-rules", help="HQ's points rules: list, add (or change)")
    actions = rules.add_subparsers(dest="loyalty_action", required=True)
    _hq_common(actions.add_parser("list", help="every points rule HQ holds"))
    p = actions.add_parser("add", help="add a points rule or change one (fields left out keep their value)")
    _hq_common(p)
    _flags(p, RULE_FIELDS, "rule")
    p.add_argument("--kind", dest="rule_kind", choices=POINTS_RULE_KINDS)
    p.add_argument("--factor", help="as a decimal: 1.5 (times, or points per yuan for base and extra)")
    p.add_argument(
        "--from", dest="rule_valid_from_ms", metavar="WHEN", help="in force from: ms, or ISO time with offset"
    )
    p.add_argument(
        "--until", dest="rule_valid_until_ms", metavar="WHEN", help="in force until (exclusive), as --from"
    )
    _switch(p, "rule")
    p.add_argument(
        "--file",
        type=Path,
        help="JSON: one rule or a list; TOML: one rule, or [[points_rules]] (replaces the flags)",
    )

    settings = hq_commands.add_parser("points-settings", help="the chain's points settings: show, set")
    actions = settings.add_subparsers(dest="loyalty_action", required=True)
    _hq_common(actions.add_parser("show", help="the settings HQ holds (its defaults if none set)"))
    p = actions.add_parser("set", help="change the settings named; the others keep their value")
    _hq_common(p)
    p.add_argument("--combine", dest="set_combine", choices=POINTS_COMBINE_MODES)
    _flags(p, SETTINGS_FIELDS, "set")
    p.add_argument("--referral-points", help="points per level up the referrer chain, e.g. 100,50")
    p.add_argument("--referral-trigger", dest="set_referral_trigger", choices=REFERRAL_TRIGGERS)

    campaigns = hq_commands.add_parser("voucher-campaigns", help="voucher campaigns: list, add (run), show")
    actions = campaigns.add_subparsers(dest="loyalty_action", required=True)
    _hq_common(actions.add_parser("list", help="every campaign with what it brought, newest first"))
    p = actions.add_parser("add", help="issue a voucher to each member the criteria pick (again: new fits)")
    _hq_common(p)
    _flags(p, CAMPAIGN_FIELDS, "campaign")
    _flags(p, CRITERIA_FIELDS, "criteria")
    p.add_argument("--file", type=Path, help="a JSON or TOML file of the campaign (replaces the flags)")
    p = actions.add_parser("show", help="one campaign with each voucher's state")
    _hq_common(p)
    p.add_argument("code")

    sale = hq_commands.add_parser("sale", help="one sale as its branch booked it, with its points' reasons")
    actions = sale.add_subparsers(dest="loyalty_action", required=True)
    p = actions.add_parser("show", help="a sale's lines, tenders and why it earned its points")
    _hq_common(p)
    p.add_argument("sale_id")
    p.add_argument("--branch", required=True, help="the branch that booked it")


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    points = commands.add_parser("points", help="points at a branch: its rules, a sale's preview, conversion")
    actions = points.add_subparsers(dest="loyalty_action", required=True)
    _node_common(actions.add_parser("rules", help="the points rules and settings this branch holds"))
    p = actions.add_parser("preview", help="what a sale would cost and earn, booking nothing")
    _node_common(p)
    p.add_argument("lines", nargs="*", metavar="SKU:QTY")
    p.add_argument("--member", help="the member buying (points are a member's)")
    p.add_argument("--cash", type=int, metavar="FEN", help="cash tendered (default: reckoned as cash)")
    for kind in ("stored-value", "credit", "voucher"):
        p.add_argument(f"--{kind}", action="append", default=[], metavar="CARD:FEN", help=f"a {kind} tender")
    p.add_argument("--pay-points", action="append", default=[], metavar="CARD:POINTS", help="points tendered")
    p.add_argument("--file", type=Path, help="a JSON file of the sale {member_id, lines, tenders}")
    p = actions.add_parser("convert", help="turn a card's points into stored value on the member's card")
    _node_common(p)
    p.add_argument("card", help="the card holding the points")
    p.add_argument("--points", type=int, required=True)
    p.add_argument("--to", required=True, help="the card the stored value goes onto")
    p.add_argument("--key", help="Idempotency-Key (default: a new one, printed): repeating it books once")

    member = commands.add_parser("member", help="a member at a branch")
    actions = member.add_subparsers(dest="loyalty_action", required=True)
    p = actions.add_parser("vouchers", help="the member's vouchers with their state today")
    _node_common(p)
    p.add_argument("member_id")


def _hq_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hq", default=DEFAULT_HQ, help="HQ's URL")
    add_login_argument(p)


def _node_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", default=DEFAULT_NODE, help="the node's URL")
    add_login_argument(p)


def _flags(p: argparse.ArgumentParser, fields: list[tuple[str, str, type]], prefix: str) -> None:
    for flag, field, kind in fields:
        p.add_argument(flag, dest=f"{prefix}_{field}", type=kind, metavar=field.upper())


def _switch(p: argparse.ArgumentParser, prefix: str) -> None:
    state = p.add_mutually_exclusive_group()
    state.add_argument("--active", dest=f"{prefix}_active", action="store_true", default=None)
    state.add_argument("--inactive", dest=f"{prefix}_active", action="store_false", default=None)


def _given(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    return {
        name.removeprefix(prefix + "_"): value
        for name, value in vars(args).items()
        if name.startswith(prefix + "_") and value is not None
    }


class Session:
    """One logged-in operator at one server; every refusal becomes CommandFailed with the
    server's status, code and message (`HQ refused (422 invalid_master_data): ...`)."""

    def __init__(self, base: str, login: str, what: str) -> None:
        self.base, self.what = base, what
        self.token: str | None = None
        password = read_password(f"password for {login}: ")
        self.token = str(self.ask("POST", "/api/login", {"login": login, "password": password})["token"])

    def ask(self, method: str, path: str, body: Any = None, key: str | None = None) -> dict[str, Any]:
        return call(self.base, method, path, body, token=self.token, what=self.what, key=key)


def run_hq(args: argparse.Namespace, console: Console) -> int:
    hq = Session(args.hq, args.login, "HQ")
    what = (args.action, args.loyalty_action)
    if what == ("points-rules", "list"):
        console.print(
            views.rules_table(hq.ask("GET", "/api/points-rules")["points_rules"], "HQ's points rules")
        )
    elif what == ("points-rules", "add"):
        stored = hq.ask("POST", "/api/points-rules", _rules_body(args))["points_rules"]
        console.print(
            views.rules_table(stored, f"{len(stored)} points rules stored and sent to every branch")
        )
    elif what == ("points-settings", "show"):
        held = hq.ask("GET", "/api/points-settings")["points_settings"]
        default = PointsSettings("chain").as_change().payload
        console.print(views.settings_table(held[0] if held else default, "" if held else " (HQ's defaults)"))
    elif what == ("points-settings", "set"):
        body = {"code": "chain", **_given(args, "set")}
        if args.referral_points is not None:
            body["referral_points"] = _numbers(args.referral_points, "--referral-points")
        if len(body) == 1:
            raise CommandFailed("name a setting to change, e.g. --combine add (see --help)")
        stored = hq.ask("POST", "/api/points-settings", body)["points_settings"][0]
        console.print(views.settings_table(stored, ": stored and sent to every branch"))
    elif what == ("voucher-campaigns", "list"):
        console.print(views.campaigns_table(hq.ask("GET", "/api/voucher-campaigns")["campaigns"]))
    elif what == ("voucher-campaigns", "add"):
        ran = hq.ask("POST", "/api/voucher-campaigns", _campaign_body(args))
        console.print(views.campaigns_table([ran]))
        console.print(f"{len(ran['issued_now'])} vouchers issued now")
    elif what == ("voucher-campaigns", "show"):
        console.print(views.campaign_view(hq.ask("GET", f"/api/voucher-campaigns/{_id(args.code)}")))
    else:
        query = urlencode({"branch": args.branch})
        console.print(views.sale_view(hq.ask("GET", f"/api/sales/{_id(args.sale_id)}?{query}"), "sale"))
    return 0


def run_node(args: argparse.Namespace, console: Console) -> int:
    node = Session(args.node, args.login, "the node")
    what = (args.command, args.loyalty_action)
    if what == ("points", "rules"):
        held = node.ask("GET", "/api/points-rules")
        console.print(views.rules_table(held["rules"], "points rules this branch holds"))
        console.print(views.settings_table(held["settings"], ""))
    elif what == ("points", "preview"):
        shown = node.ask("POST", "/api/sales/preview", _sale_body(args))
        console.print(views.sale_view(shown, "preview only: nothing booked"))
    elif what == ("points", "convert"):
        key = args.key or f"convert-{uuid.uuid4()}"
        body = {"points": args.points, "card": args.to}
        done = node.ask("POST", f"/api/cards/{_id(args.card)}/points/convert", body, key=key)
        console.print(views.conversion(done, key))
    else:
        console.print(views.vouchers_table(node.ask("GET", f"/api/members/{_id(args.member_id)}/vouchers")))
    return 0


def _read_file(path: Path) -> Any:
    """A JSON file, or a TOML one (a table, or `[[items]]` under one key) by its suffix."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() != ".toml":
            return json.loads(text)
        found = tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read {path}: {exc}") from None
    lists = [value for value in found.values() if isinstance(value, list) and len(found) == 1]
    return lists[0] if lists else found


def _rules_body(args: argparse.Namespace) -> Any:
    if args.file is not None:
        return _read_file(args.file)
    rule = _given(args, "rule")
    if "code" not in rule:
        raise CommandFailed("give --code (the points rule to add or change), or --file")
    if args.factor is not None:
        if "factor_milli" in rule:
            raise CommandFailed("give --factor or --factor-milli, not both")
        rule["factor_milli"] = _milli(args.factor)
    for name in ("valid_from_ms", "valid_until_ms"):
        if isinstance(rule.get(name), str) and rule[name].isascii() and rule[name].isdigit():
            rule[name] = int(rule[name])  # milliseconds; anything else HQ reads as an ISO time
    return rule


def _milli(factor: str) -> int:
    """ "1.5" -> 1500, exactly (never through a float); more than 3 decimals is refused."""
    try:
        milli = Decimal(factor) * 1000
    except InvalidOperation:
        milli = Decimal("NaN")
    if not milli.is_finite() or milli != milli.to_integral_value():
        raise CommandFailed(f"--factor {factor!r} must be a decimal with at most 3 places, like 1.5")
    return int(milli)


def _numbers(text: str, flag: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise CommandFailed(f"{flag} {text!r} must be whole numbers separated by commas, like 100,50")
    return [int(part) for part in parts]


def _campaign_body(args: argparse.Namespace) -> Any:
    if args.file is not None:
        return _read_file(args.file)
    body = _given(args, "campaign")
    if criteria := _given(args, "criteria"):
        body["criteria"] = criteria
    return body


def _sale_body(args: argparse.Namespace) -> Any:
    if args.file is not None:
        return _read_file(args.file)
    if not args.lines:
        raise CommandFailed("give the sale's lines as SKU:QTY, or --file")
    body: dict[str, Any] = {"lines": item_lines(args.lines)}
    if args.member:
        body["member_id"] = args.member
    tenders: list[dict[str, Any]] = [{"kind": "cash", "amount_fen": args.cash}] if args.cash else []
    for kind, specs in (("stored_value", args.stored_value), ("credit", args.credit)):
        tenders += [{"kind": kind, "card": card, "amount_fen": fen} for card, fen in _pairs(specs, kind)]
    tenders += [
        {"kind": "voucher", "voucher": v, "amount_fen": fen} for v, fen in _pairs(args.voucher, "voucher")
    ]
    tenders += [{"kind": "points", "card": c, "points": n} for c, n in _pairs(args.pay_points, "points")]
    if tenders:
        body["tenders"] = tenders
    return body


def _pairs(specs: list[str], kind: str) -> list[tuple[str, int]]:
    found = []
    for spec in specs:
        card, sep, number = spec.rpartition(":")
        if not sep or not card or not (number.isascii() and number.isdigit()):
            raise CommandFailed(f"{spec!r} is not a {kind} tender; write CARD:AMOUNT (a whole number)")
        found.append((card, int(number)))
    return found


def _id(value: str) -> str:
    return quote(value, safe="")
