"""Discounts at this branch (FEATURES L11): HQ's special prices, bundles and rebate rules
received through the feed, the member's card discount, and what a sale's lines pay
after them (loyalty.discounts); the rebate a sale gives back as stored value, and its
taking back by the return that brings the sale below the rebate's threshold.

HQ is the only writer of the offers; its latest word replaces ours. Every sale reads
them, so the writer keeps them in memory (node.store.row_cache), dropped whenever a
feed page changes one, as node.services.loyalty keeps the points rules.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

from loyalty.discounts import (
    Bundle,
    CardDiscount,
    ManualDiscountTooLarge,
    Priced,
    PriceLine,
    RebateRule,
    SpecialPrice,
    at_shelf,
    price,
    rebate_en,
    rebate_for,
    rebate_zh,
)
from node.errors import InvalidRequest
from node.services import catalogue
from node.services.cards import record_ledger_entry
from node.store.row_cache import ABSENT, rows_of
from node.store.writer import Tx
from shared_tables import directory_store

_WINDOW = {"valid_from_ms": 0, "valid_until_ms": 0, "active": True}
_COLUMNS = {
    "special_prices": ("code", "name", "sku", "price_fen", *_WINDOW),
    "bundles": ("code", "name", "lines", "price_fen", *_WINDOW),
    "rebate_rules": ("code", "name", "min_spend_fen", "back_fen", "kind", *_WINDOW),
}
_CACHE_KEY = ("discounts", "*")


class Offers(NamedTuple):
    """The offers HQ switched on, whatever their windows (a sale picks those in force)."""

    specials: tuple[SpecialPrice, ...]
    bundles: tuple[Bundle, ...]
    rebates: tuple[RebateRule, ...]


def _apply(conn: sqlite3.Connection, table: str, payload: dict[str, Any]) -> None:
    defaults = {**_WINDOW, "kind": "stored_value"}
    row = {name: payload.get(name, defaults.get(name)) for name in _COLUMNS[table]}
    if "lines" in row:
        row["lines"] = json.dumps(row["lines"])
    rows = rows_of(conn)
    try:
        catalogue.upsert(conn, table, "code", row)
    finally:
        if rows is not None:
            rows.drop(_CACHE_KEY)


def apply_special_price(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    _apply(conn, "special_prices", payload)


def apply_bundle(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    _apply(conn, "bundles", payload)


def apply_rebate_rule(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    _apply(conn, "rebate_rules", payload)


def offers(conn: sqlite3.Connection) -> Offers:
    rows = rows_of(conn)
    held = ABSENT if rows is None else rows.get(_CACHE_KEY)
    if held is not ABSENT:
        return cast(Offers, held)
    found = Offers(
        tuple(
            SpecialPrice(*row)
            for row in conn.execute(
                "SELECT code, sku, price_fen, valid_from_ms, valid_until_ms FROM special_prices"
                " WHERE active ORDER BY code"
            )
        ),
        tuple(
            Bundle(code, tuple((line["sku"], line["qty"]) for line in json.loads(lines)), *rest)
            for code, lines, *rest in conn.execute(
                "SELECT code, lines, price_fen, valid_from_ms, valid_until_ms FROM bundles"
                " WHERE active ORDER BY code"
            )
        ),
        tuple(
            RebateRule(*row)
            for row in conn.execute(
                "SELECT code, min_spend_fen, back_fen, valid_from_ms, valid_until_ms FROM rebate_rules"
                " WHERE active AND kind = 'stored_value' ORDER BY code"
            )
        ),
    )
    if rows is not None:
        rows.remember(_CACHE_KEY, found)
    return found


def card_discount(conn: sqlite3.Connection, member_id: str, day: str) -> CardDiscount | None:
    """The member's card that discounts most: of their cards of a type that are active
    and valid on `day` (the branch's date), the lowest rate, ties to the smaller number.
    A card lost, suspended, returned or expired discounts nothing."""
    best: tuple[int, str, str] | None = None
    for root in directory_store.cards_issued_to(conn, [member_id]):
        number = directory_store.current_number(conn, root)
        if directory_store.card_status(conn, number) != "active":
            continue
        record = directory_store.card_record(conn, root)
        if record is None or record.discount_rate >= 100 or not record.valid_on(day):
            continue
        if best is None or (record.discount_rate, number) < best[:2]:
            best = (record.discount_rate, number, record.card_type)
    return None if best is None else CardDiscount(best[1], best[2], best[0])


def price_sale(
    conn: sqlite3.Connection,
    at_ms: int,
    day: str,
    member_id: str | None,
    lines: Sequence[tuple[str, int]],
    items: Mapping[str, catalogue.Product],
    fixed: Mapping[int, int] | None = None,
    manual: Mapping[int, int] | None = None,
) -> tuple[list[tuple[str, int, int, int]], Priced]:
    """Each line as (sku, qty, unit price, amount after discounts), and the discounts:
    the unit price is the catalogue's for this buyer (catalogue.sale_price), the card
    discount the member's (`card_discount`), the offers those in force at `at_ms`. A
    line in `fixed` (its index: its unit price; goods redeemed for points) pays that
    price with no discount (loyalty.discounts rule 6). A line in `manual` (its index:
    fen) has that much taken off at the till after the offers (rule 7); more than the
    line pays after them is refused (InvalidRequest, naming the till's field)."""
    member = member_id is not None
    given = fixed or {}
    taken_off = manual or {}
    held = offers(conn)
    card = None if member_id is None else card_discount(conn, member_id, day)
    if card is None and not taken_off and not held.bundles and not any(s.sku in items for s in held.specials):
        # Nothing could take anything off (most sales): every line at its price, as
        # `price` would give it, without building its facts. A till discount needs them.
        shelf = [
            (sku, qty, given[n] if n in given else catalogue.sale_price(items[sku], member))
            for n, (sku, qty) in enumerate(lines)
        ]
        found = [(sku, qty, unit, qty * unit) for sku, qty, unit in shelf]
        return found, at_shelf([amount for *_, amount in found])
    facts = [
        PriceLine(sku, qty, given[n], given[n], fixed=True, manual_fen=taken_off.get(n, 0))
        if n in given
        else PriceLine(
            sku,
            qty,
            catalogue.sale_price(items[sku], member),
            items[sku].price_fen,
            manual_fen=taken_off.get(n, 0),
        )
        for n, (sku, qty) in enumerate(lines)
    ]
    try:
        priced = price(facts, at_ms, held.specials, held.bundles, card)
    except ManualDiscountTooLarge as over:
        # The till's words, not the rules': the cashier keyed lines[n].discount_fen.
        raise InvalidRequest(
            f"lines[{over.line}].discount_fen {over.manual_fen} fen is more than the {over.amount_fen} fen"
            f" the line pays after offers; give at most {over.amount_fen}"
        ) from None
    found = [
        (line.sku, line.qty, line.unit_price_fen, amount)
        for line, amount in zip(facts, priced.amounts, strict=True)
    ]
    return found, priced


def sale_rebate(
    conn: sqlite3.Connection, at_ms: int, member_id: str | None, spend_fen: int
) -> dict[str, Any] | None:
    """The rebate a member's sale earns (loyalty.discounts rule 5), onto the member's
    first card as points are; None for a sale to no member or to one this branch has no
    card of. `spend_fen`: the sale's total after discounts, less what count and time
    cards paid (prepaid when the card was sold)."""
    rules = offers(conn).rebates
    if member_id is None or not rules:
        return None
    rule = rebate_for(rules, at_ms, spend_fen)
    if rule is None:
        return None
    registration = directory_store.registration(conn, member_id)
    if registration is None or not registration.card_numbers:
        return None
    return {
        "back_fen": rule.back_fen,
        "card": min(registration.card_numbers),
        "code": rule.code,
        "min_spend_fen": rule.min_spend_fen,
        "spend_fen": spend_fen,
    }


def book_rebate(tx: Tx, sale_id: str, rebate: Mapping[str, Any]) -> None:
    """The rebate as stored value given (never paid out: conflict.stored_value)."""
    record_ledger_entry(
        tx,
        f"{sale_id}-rebate",
        rebate["card"],
        "stored_value",
        "rebate",
        rebate["back_fen"],
        sale_id=sale_id,
        rule=rebate["code"],
    )


def take_back_rebate(tx: Tx, return_id: str, sale_id: str) -> int:
    """After return `return_id` of the sale is booked: the sale's rebate taken back,
    whole, from the card it went onto, if what the sale kept is now below the rebate's
    threshold and no earlier return took it back. Even below zero, as a returned line's
    points are: a member who spent the rebate owes it. What returns gave back to count
    and time cards, and to the points that redeemed goods, is not counted: the spend
    never counted what they paid. Returns the fen taken back."""
    conn = tx.conn
    row = conn.execute("SELECT rebate FROM sales WHERE id = ?", (sale_id,)).fetchone()
    if row is None or row[0] is None:
        return 0
    rebate = json.loads(row[0])
    taken = conn.execute(
        "SELECT 1 FROM sale_returns r JOIN dir_ledger l ON l.entry_id = r.id || '-rebate'"
        " WHERE r.sale_id = ? LIMIT 1",
        (sale_id,),
    ).fetchone()
    if taken is not None:
        return 0
    (refunded_fen,) = conn.execute(
        "SELECT COALESCE(SUM(refund_fen), 0) FROM sale_returns WHERE sale_id = ?", (sale_id,)
    ).fetchone()
    (to_cards_fen,) = conn.execute(
        "SELECT COALESCE(SUM(f.amount_fen), 0) FROM sale_return_refunds f JOIN sale_returns r"
        " ON r.id = f.return_id JOIN sale_tenders t ON t.sale_id = r.sale_id AND t.tender_no = f.tender_no"
        " WHERE r.sale_id = ? AND (f.kind IN ('uses', 'time_card')"
        " OR (f.kind = 'points' AND t.ref IS NOT NULL))",
        (sale_id,),
    ).fetchone()
    kept_fen = rebate["spend_fen"] - (int(refunded_fen) - int(to_cards_fen))
    if kept_fen >= rebate["min_spend_fen"]:
        return 0
    record_ledger_entry(
        tx,
        f"{return_id}-rebate",
        rebate["card"],
        "stored_value",
        "rebate_return",
        -rebate["back_fen"],
        sale_id=sale_id,
        rule=rebate["code"],
    )
    return int(rebate["back_fen"])


def rebate_taken_back(conn: sqlite3.Connection, return_id: str) -> int:
    row = conn.execute(
        "SELECT amount FROM dir_ledger WHERE entry_id = ?", (f"{return_id}-rebate",)
    ).fetchone()
    return 0 if row is None else -int(row[0])


def rebate_shown(rebate: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A sale's rebate as a receipt shows it, with its words in English and Chinese."""
    if rebate is None:
        return None
    words = (rebate["code"], rebate["card"], rebate["back_fen"], rebate["min_spend_fen"])
    return {**rebate, "text": rebate_en(*words), "text_zh": rebate_zh(*words)}


def offers_listing(conn: sqlite3.Connection) -> dict[str, Any]:
    """What a till lists: every offer HQ published (switched-off ones marked)."""
    found: dict[str, Any] = {}
    for table, columns in _COLUMNS.items():
        rows = [
            dict(zip(columns, row, strict=True))
            for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY code")
        ]
        for row in rows:
            row["active"] = bool(row["active"])
            if "lines" in row:
                row["lines"] = json.loads(row["lines"])
        found[table] = rows
    return found
