"""How loyalty commands print (branchline.loyalty_cli): points rules and settings, a
sale's points with their reasons, voucher campaigns and a member's vouchers, as rich
tables with money in yuan from integer fen."""

from __future__ import annotations

import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from branchline.tables import cell, titled, yuan

# A base or extra rule's factor_milli is points per yuan; every other kind's is a
# multiplier (loyalty.rules, rule 2).
PER_YUAN_KINDS = ("base", "extra")


def _factor(kind: str, milli: int) -> str:
    whole = f"{milli // 1000}.{milli % 1000:03d}".rstrip("0").rstrip(".")
    return f"{whole} per yuan" if kind in PER_YUAN_KINDS else f"{whole}x"


def _moment(ms: int) -> str:
    """A window's end in this machine's time zone, with its offset; 0 is open."""
    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.UTC).astimezone().isoformat()


def rules_table(rules: list[dict[str, Any]], title: str) -> Table:
    table = titled(
        title, ("code", "name", "kind", "target", "factor", "sale (yuan)", "from", "until", "state")
    )
    for rule in rules:
        bracket = (
            "" if rule["kind"] != "tier" else f"{yuan(rule['min_fen'])}..{yuan(rule['max_fen'] or None)}"
        )
        table.add_row(
            rule["code"],
            rule["name"],
            rule["kind"],
            rule["target"],
            _factor(rule["kind"], rule["factor_milli"]),
            bracket,
            _moment(rule["valid_from_ms"]),
            _moment(rule["valid_until_ms"]),
            "active" if rule["active"] else "switched off",
        )
    return table


def settings_table(settings: dict[str, Any], note: str) -> Table:
    table = titled(f"the chain's points settings{note}", ("setting", "value"))
    table.add_row("combine", settings["combine"])
    table.add_row("expiry", f"{settings['expiry_days']} days" if settings["expiry_days"] else "never")
    table.add_row("referral points", ", ".join(str(p) for p in settings["referral_points"]) or "none")
    table.add_row("referral depth", str(settings["referral_depth"]))
    table.add_row("referral paid at", settings["referral_trigger"])
    table.add_row("a point is worth", f"{yuan(settings['point_value_fen'])} yuan")
    return table


def campaigns_table(campaigns: list[dict[str, Any]]) -> Table:
    columns = ("code", "name", "value", "min spend", "days", "criteria", "issued", "redeemed", "expired")
    table = titled(f"{len(campaigns)} voucher campaigns (yuan)", (*columns, "unused", "took off", "sales"))
    for c in campaigns:
        t = c["tracking"]
        table.add_row(
            c["code"],
            c["name"],
            yuan(c["value_fen"]),
            yuan(c["min_spend_fen"]),
            f"{c['valid_from']}..{c['valid_until']}",
            " ".join(f"{name}={value}" for name, value in sorted(c["criteria"].items())) or "everyone",
            str(t["issued"]),
            str(t["redeemed"]),
            str(t["expired"]),
            str(t["unused"]),
            yuan(t["redeemed_fen"]),
            f"{t['sales']} worth {yuan(t['sales_fen'])}",
        )
    return table


def campaign_view(campaign: dict[str, Any]) -> Group:
    table = titled(None, ("voucher", "member", "state", "used at", "sale", "took off (yuan)"))
    for v in campaign["vouchers"]:
        table.add_row(
            v["voucher_id"],
            v["member_id"],
            v["state"],
            cell(v["used_at"]),
            cell(v["sale_id"]),
            yuan(v["amount_fen"]),
        )
    return Group(campaigns_table([campaign]), table)


def sale_view(sale: dict[str, Any], title: str) -> Group:
    change = "" if sale.get("change_fen") is None else f", change {yuan(sale['change_fen'])}"
    who = f" to member {sale['member_id']}" if sale.get("member_id") else ""
    summary = (
        f"{title}{who}: total {yuan(sale['total_fen'])} yuan{change}; {sale.get('points_earned', 0)} points"
    )
    lines = titled(None, ("line", "sku", "qty", "unit (yuan)", "amount (yuan)", "points"))
    for number, line in enumerate(sale["lines"]):
        lines.add_row(
            str(number),
            line["sku"],
            str(line["qty"]),
            yuan(line["unit_price_fen"]),
            yuan(line["amount_fen"]),
            str(line.get("points", 0)),
        )
    reasons = titled("why", ("kind", "rule", "lines", "on (yuan)", "reason"))
    for reason in sale.get("points_reasons", []):
        reasons.add_row(
            reason["kind"],
            reason["code"],
            " ".join(str(n) for n in reason["lines"]),
            yuan(reason["applied_fen"]),
            f"{reason['text']} / {reason['text_zh']}",
        )
    return Group(Text(summary), lines, reasons)


def conversion(done: dict[str, Any], key: str) -> str:
    source, target = done["points_card"], done["card"]
    replayed = " (replayed)" if done["replayed"] else ""
    return (
        f"{done['points']} points off {source['card']} onto {target['card']} as"
        f" {yuan(done['stored_value_fen'])} yuan of stored value{replayed};"
        f" {source['card']} holds {source['balances']['points']} points,"
        f" {target['card']} {yuan(target['balances']['stored_value'])} yuan (key {key})"
    )


def vouchers_table(found: dict[str, Any]) -> Table:
    table = titled(
        f"vouchers of member {found['member_id']}",
        ("voucher", "campaign", "name", "value (yuan)", "min spend", "days", "state", "used at"),
    )
    for v in found["vouchers"]:
        table.add_row(
            v["voucher_id"],
            v["campaign"],
            v["name"],
            yuan(v["value_fen"]),
            yuan(v["min_spend_fen"]),
            f"{v['valid_from']}..{v['valid_until']}",
            v["state"],
            cell(v["used_at"]),
        )
    return table
