"""Points rules and the chain's points settings as HQ authored them (loyalty.rules),
received through the feed, and the points a sale earns by them (loyalty.points). HQ
is the only writer of both; its latest word replaces ours.

The rule set is read by every sale with a member, so the writer keeps it in memory
(node.store.row_cache): read once, dropped whenever a feed page changes a rule or the
settings, and undone with the transaction like every cached row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, cast

from loyalty.points import Earned, LineFacts, RuleBook, SaleFacts, TenderFacts, earn
from loyalty.rules import PointsRule, PointsSettings
from node.services import catalogue, levels
from node.store.row_cache import ABSENT, rows_of
from shared_tables import directory_store

_RULE_COLUMNS = (
    "code",
    "name",
    "kind",
    "factor_milli",
    "target",
    "min_fen",
    "max_fen",
    "valid_from_ms",
    "valid_until_ms",
    "active",
)
_RULE_DEFAULTS: dict[str, Any] = {
    "target": "",
    "min_fen": 0,
    "max_fen": 0,
    "valid_from_ms": 0,
    "valid_until_ms": 0,
    "active": True,
}
_SETTINGS_COLUMNS = (
    "combine",
    "expiry_days",
    "referral_depth",
    "referral_points",
    "referral_trigger",
    "point_value_fen",
)
_CACHE_KEY = ("points_rules", "*")


def apply_points_rule(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {name: payload.get(name, _RULE_DEFAULTS.get(name)) for name in _RULE_COLUMNS}
    _changed(conn, lambda: catalogue.upsert(conn, "points_rules", "code", row))


def apply_points_settings(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {"code": "chain"} | {name: payload[name] for name in _SETTINGS_COLUMNS if name in payload}
    if "referral_points" in row:
        row["referral_points"] = json.dumps(row["referral_points"])
    _changed(conn, lambda: catalogue.upsert(conn, "points_settings", "code", row))


def _changed(conn: sqlite3.Connection, write: Any) -> None:
    rows = rows_of(conn)
    try:
        write()
    finally:
        if rows is not None:
            rows.drop(_CACHE_KEY)


def rule_set(conn: sqlite3.Connection) -> tuple[RuleBook, PointsSettings]:
    """The active rules (whatever their windows: a sale picks those in force at its
    time) and the settings, as the engine takes them: the book is kept with the cached
    rows, so its pick of the rules in force is worked out once for many sales."""
    rows = rows_of(conn)
    held = ABSENT if rows is None else rows.get(_CACHE_KEY)
    if held is not ABSENT:
        return cast(tuple[RuleBook, PointsSettings], held)
    found = (RuleBook(_rules(conn)), _settings(conn))
    if rows is not None:
        rows.remember(_CACHE_KEY, found)
    return found


def _rules(conn: sqlite3.Connection) -> tuple[PointsRule, ...]:
    found = conn.execute(
        "SELECT code, kind, target, factor_milli, min_fen, max_fen, valid_from_ms, valid_until_ms"
        " FROM points_rules WHERE active ORDER BY code"
    )
    return tuple(PointsRule(*row) for row in found)


def _settings(conn: sqlite3.Connection) -> PointsSettings:
    row = conn.execute(f"SELECT {', '.join(_SETTINGS_COLUMNS)} FROM points_settings").fetchone()
    if row is None:
        return PointsSettings()
    values = dict(zip(_SETTINGS_COLUMNS, row, strict=True))
    values["referral_points"] = tuple(json.loads(values["referral_points"]))
    return PointsSettings(**values)


def points_rules(conn: sqlite3.Connection) -> dict[str, Any]:
    """What a till lists: every rule HQ published (switched-off ones marked), and the
    settings."""
    found = conn.execute(f"SELECT {', '.join(_RULE_COLUMNS)} FROM points_rules ORDER BY code")
    rules = [dict(zip(_RULE_COLUMNS, row, strict=True)) for row in found]
    for rule in rules:
        rule["active"] = bool(rule["active"])
    settings = _settings(conn)
    return {
        "rules": rules,
        "settings": {name: getattr(settings, name) for name in _SETTINGS_COLUMNS}
        | {"referral_points": list(settings.referral_points)},
    }


def member_level(conn: sqlite3.Connection, member_id: str, at_ms: int) -> str:
    """The member's level for points rules at `at_ms`: the highest-ranked of the level
    HQ graded them into, the levels bought here with points that still hold then
    (node.services.levels), and the levels their cards of a type give (a card returned
    gives none).
    A level HQ's levels do not rank (a card type's own word) ranks below every ranked
    one; ties go to the code first in order, so every branch picks the same."""
    found: set[str] = set()
    graded = directory_store.graded_level(conn, [member_id])
    if graded is not None:
        found.add(graded["code"])
    # Bought here under the survivor a sale names; should a later merge make another id
    # survive, HQ's grade (by the whole group) carries the level on.
    found |= levels.bought_levels(conn, [member_id], at_ms)
    for card in directory_store.cards_issued_to(conn, [member_id]):
        # A card given back gives no level; a replaced one still does, under its new number.
        if directory_store.card_status(conn, directory_store.current_number(conn, card)) == "returned":
            continue
        record = directory_store.card_record(conn, card)
        if record is not None and record.level:
            found.add(record.level)
    if not found:
        return ""
    marks = ",".join("?" * len(found))
    ranks = dict(conn.execute(f"SELECT code, rank FROM levels WHERE code IN ({marks})", sorted(found)))
    return min(found, key=lambda code: (-ranks.get(code, 0), code))


def sale_points(
    conn: sqlite3.Connection,
    at_ms: int,
    member_id: str,
    lines: Sequence[tuple[str, int, int]],
    categories: Mapping[str, str | None],
    tenders: Sequence[tuple[str, int]],
) -> Earned:
    """What a member's sale earns (loyalty.points): `lines` are (sku, qty, fen paid in
    money) in the sale's order, `tenders` (kind, fen net of change) those paid in money.
    The member's level is looked up only when a level rule is in force then."""
    rules, settings = rule_set(conn)
    in_force = rules.in_force(at_ms)
    level = member_level(conn, member_id, at_ms) if any(kind == "level" for kind, _ in in_force) else ""
    facts = SaleFacts(
        at_ms,
        level,
        tuple(LineFacts(sku, categories.get(sku) or "", qty, paid) for sku, qty, paid in lines),
        tuple(TenderFacts(kind, amount) for kind, amount in tenders),
    )
    return earn(rules, settings, facts)
