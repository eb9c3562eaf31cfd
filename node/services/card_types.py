"""Card types as HQ authors them (FEATURES M2), received through the feed: what a
till sells a card of a type for, and what the card then holds.

HQ is the only writer, so its latest version replaces ours, as the catalogue's does.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from typing import Any, NamedTuple

from node.errors import UnknownCardType

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
    row["active"] = int(bool(row["active"]))
    names = list(row)
    conn.execute(
        f"INSERT INTO card_types ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        " ON CONFLICT (code) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in names if name != "code"),
        list(row.values()),
    )


def _from_row(row: sqlite3.Row | tuple[Any, ...]) -> CardType:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in _LISTS:
        values[name] = json.loads(values[name])
    values["active"] = bool(values["active"])
    return CardType(**values)


def card_type(conn: sqlite3.Connection, code: str) -> CardType:
    """An active card type this branch may sell."""
    row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM card_types WHERE code = ?", (code,)).fetchone()
    if row is None or not row[-1]:
        raise UnknownCardType(
            f"no card type {code} on sale at this branch (HQ has not published it, withdrawn it, or a typo)"
        )
    return _from_row(row)


def card_types(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The card types on sale, as a till lists them."""
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM card_types WHERE active ORDER BY code")
    return [_from_row(row).as_json() for row in rows]
