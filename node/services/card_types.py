"""Card types and top-up bonus rules as HQ authors them (FEATURES M2, M3), received
through the feed: what a till sells a card of a type for, what the card then holds,
and what a top-up gives beside what was paid.

HQ is the only writer, so its latest version replaces ours, as the catalogue's does.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from typing import Any, NamedTuple

from node.errors import UnknownCardType
from node.services import catalogue

_COLUMNS = (
    "code",
    "name",
    "price_fen",
    "stored_value_fen",
    "discount_rate",
    "validity_days",
    "valid_until",
    "credit_limit_fen",
    "uses",
    "gifts",
    "services",
    "level",
    "active",
    "renew_fen",
    "replace_fen",
)
_DEFAULTS: dict[str, Any] = {
    "stored_value_fen": 0,
    "discount_rate": 100,
    "validity_days": None,
    "valid_until": None,
    "credit_limit_fen": 0,
    "uses": [],
    "gifts": [],
    "services": [],
    "level": "",
    "active": True,
    "renew_fen": 0,
    "replace_fen": 0,
}
_LISTS = ("uses", "gifts", "services")


class CardType(NamedTuple):
    code: str
    name: str
    price_fen: int
    stored_value_fen: int
    discount_rate: int
    validity_days: int | None
    valid_until: str | None
    credit_limit_fen: int
    uses: list[dict[str, Any]]  # {"sku", "qty"}: uses of service items granted
    gifts: list[dict[str, Any]]  # {"sku", "qty"}: goods handed over with the card
    services: list[str]  # the service items a time card admits
    level: str
    active: bool
    renew_fen: int  # a renewal by validity_days
    replace_fen: int  # a replacement card

    def validity(self, first_day: str) -> str | None:
        """The last day a card sold on `first_day` may be used; None if it never expires.
        A card of N days is valid on its day of sale and the N - 1 days after."""
        if self.valid_until is not None:
            return self.valid_until
        if self.validity_days is None:
            return None
        start = datetime.date.fromisoformat(first_day)
        return (start + datetime.timedelta(days=self.validity_days - 1)).isoformat()

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


def apply_card_type(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {name: payload.get(name, _DEFAULTS.get(name)) for name in _COLUMNS}
    for name in _LISTS:
        row[name] = json.dumps(row[name])
    row["active"] = bool(row["active"])
    catalogue.upsert(conn, "card_types", "code", row)


def _from_row(row: sqlite3.Row | tuple[Any, ...]) -> CardType:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in _LISTS:
        values[name] = json.loads(values[name])
    values["active"] = bool(values["active"])
    return CardType(**values)


def card_type(conn: sqlite3.Connection, code: str) -> CardType:
    """An active card type this branch may sell."""
    row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM card_types WHERE code = ?", (code,)).fetchone()
    if row is None or not row[_COLUMNS.index("active")]:
        raise UnknownCardType(
            f"no card type {code} on sale at this branch (HQ has not published it, withdrawn it, or a typo)"
        )
    return _from_row(row)


def card_type_sold(conn: sqlite3.Connection, code: str) -> CardType | None:
    """The type a card was sold as, even if HQ has since withdrawn it from sale."""
    row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM card_types WHERE code = ?", (code,)).fetchone()
    return None if row is None else _from_row(row)


def card_types(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The card types on sale, as a till lists them."""
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM card_types WHERE active ORDER BY code")
    return [_from_row(row).as_json() for row in rows]


# -- top-up bonus rules ---------------------------------------------------------------

_RULE_COLUMNS = ("code", "name", "paid_fen", "bonus_fen", "card_type", "valid_from", "valid_until", "active")


class TopUpRule(NamedTuple):
    code: str
    bonus_fen: int


def apply_top_up_rule(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    row = {name: payload.get(name) for name in _RULE_COLUMNS}
    row["active"] = bool(payload.get("active", True))
    catalogue.upsert(conn, "top_up_rules", "code", row)


def top_up_bonus(
    conn: sqlite3.Connection, card_type: str | None, paid_fen: int, day: str
) -> TopUpRule | None:
    """The rule a top-up of `paid_fen` onto a card (of `card_type`, None for a plain card)
    meets on `day`: of the active rules for any card or for its type whose threshold it
    reaches, the one with the highest threshold (then the largest bonus, then the code),
    applied once."""
    row = conn.execute(
        "SELECT code, bonus_fen FROM top_up_rules WHERE active AND paid_fen <= ?"
        " AND (card_type IS NULL OR card_type = ?)"
        " AND (valid_from IS NULL OR valid_from <= ?) AND (valid_until IS NULL OR valid_until >= ?)"
        " ORDER BY paid_fen DESC, bonus_fen DESC, code LIMIT 1",
        (paid_fen, card_type, day, day),
    ).fetchone()
    return None if row is None or row[1] == 0 else TopUpRule(str(row[0]), int(row[1]))


def top_up_rules(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The top-up bonuses in force here, as a till shows them beside the top-up."""
    rows = conn.execute(
        f"SELECT {', '.join(_RULE_COLUMNS)} FROM top_up_rules WHERE active ORDER BY paid_fen, code"
    )
    return [{**dict(zip(_RULE_COLUMNS, row, strict=True)), "active": True} for row in rows]
