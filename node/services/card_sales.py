"""Selling a card of a type (FEATURES M2): one sale, one transaction, one change entry.

The card's price is takings; the stored value the type puts on the card is a
liability (a stored_value "issue" entry), its credit line a credit "grant", its
bundled uses of service items one uses "grant" per item, and its gifts leave the
branch's stock at their cost as a sale's goods do. The entry carries all of it;
the directory records are derived from the entry by the same function at the
branch and at every replica (conflict.wire.card_issue_records), so they cannot
disagree. It needs nothing from HQ: a branch sells cards offline.
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any, NamedTuple

from conflict.wire import card_issue_records
from node.errors import CardTaken, InvalidRequest, TenderShort
from node.services import catalogue, employees, fields, stock_ledger
from node.services.card_types import card_type
from node.services.cards import day_of
from node.services.members import member_or_survivor
from node.store.writer import Tx
from protocol import limits
from protocol.contract import CARD_ISSUE
from shared_tables import directory_store


class CardSale(NamedTuple):
    member_id: str
    card_type: str
    card_id: str
    cash_fen: tuple[int, ...]  # cash tenders: a card is paid for in cash
    request_key: str | None
    salesperson: str | None = None  # the employee who sold it (FEATURES B4)


def cash_tenders(value: Any, *, minimum: int = 1) -> tuple[int, ...]:
    """What a card (or a change to one) is paid with: cash tenders, at least `minimum`."""
    if minimum == 0 and value == []:
        return ()
    tenders = fields.items(value, "tenders", maximum=limits.MAX_TENDERS)
    cash: list[int] = []
    for number, tender in enumerate(tenders):
        if tender.get("kind") != "cash" or set(tender) != {"kind", "amount_fen"}:
            raise InvalidRequest(f"tenders[{number}]: a card is paid in cash, as {{kind: cash, amount_fen}}")
        cash.append(
            fields.integer(
                tender["amount_fen"],
                f"tenders[{number}].amount_fen",
                minimum=1,
                maximum=limits.MAX_AMOUNT_FEN,
            )
        )
    return tuple(cash)


def parse_card_sale(body: dict[str, Any], request_key: str | None) -> CardSale:
    unknown = set(body) - {"member_id", "card_type", "card", "tenders", "salesperson"}
    if unknown:
        raise InvalidRequest(f"unknown card sale fields: {', '.join(sorted(unknown))}")
    cash = cash_tenders(body.get("tenders"))
    return CardSale(
        member_id=str(fields.text(body, "member_id")),
        card_type=str(fields.text(body, "card_type")),
        card_id=fields.card_number(body.get("card"), "card"),
        cash_fen=cash,
        request_key=fields.request_key(request_key),
        salesperson=fields.employee_code(body.get("salesperson"), "salesperson"),
    )


def replayed_card_sale(conn: sqlite3.Connection, request_key: str | None) -> str | None:
    if request_key is None:
        return None
    row = conn.execute("SELECT id FROM card_sales WHERE request_key = ?", (request_key,)).fetchone()
    return None if row is None else str(row[0])


def card_sale_job(sale: CardSale, sale_id: str, warehouse: str, zone: datetime.tzinfo) -> Any:
    """The card sold as one write; its validity starts on the branch's date (`zone`)."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        replayed = replayed_card_sale(conn, sale.request_key)
        if replayed is not None:
            return {**load_card_sale(conn, replayed), "replayed": True}
        if sale.salesperson is not None:
            # This log's origin is the branch whose till sells the card.
            employees.require_salesperson(conn, sale.salesperson, tx.log.origin)
        member_id = member_or_survivor(conn, sale.member_id)
        kind = card_type(conn, sale.card_type)
        owner = directory_store.card_owner(conn, sale.card_id)
        if owner is not None:
            raise CardTaken(f"card {sale.card_id} already belongs to member {owner}; hand over another card")
        tendered_fen = sum(sale.cash_fen)
        if tendered_fen < kind.price_fen:
            raise TenderShort(f"tenders cover {tendered_fen} fen of the card's {kind.price_fen} fen price")
        gifts = [(catalogue.product(conn, line["sku"]), int(line["qty"])) for line in kind.gifts]
        at_ms = tx.wall_ms
        moves = stock_ledger.issue_many(conn, warehouse, gifts, "sale", sale_id, at_ms)
        first_day = day_of(at_ms, zone)
        payload = {
            "at_ms": at_ms,
            "card_id": sale.card_id,
            "card_type": kind.code,
            "change_fen": tendered_fen - kind.price_fen,
            "credit_limit_fen": kind.credit_limit_fen,
            "discount_rate": kind.discount_rate,
            "gifts": [
                {"cost_fen": -move.cost_fen - move.variance_fen, "qty": qty, "sku": item.sku}
                for (item, qty), move in zip(gifts, moves, strict=True)
            ],
            "level": kind.level,
            "member_id": member_id,
            "moves": [move.as_payload("sale") for move in moves],
            "price_fen": kind.price_fen,
            # Only when named, so an entry without it keeps its bytes; in its sorted place.
            **({"salesperson": sale.salesperson} if sale.salesperson is not None else {}),
            "services": sorted(kind.services),
            "stored_value_fen": kind.stored_value_fen,
            "tenders": [{"amount_fen": amount, "kind": "cash"} for amount in sale.cash_fen],
            "uses": [{"qty": int(line["qty"]), "sku": line["sku"]} for line in kind.uses],
            "valid_from": first_day,
            "valid_until": kind.validity(first_day),
        }
        entry = tx.record(CARD_ISSUE, sale_id, payload)
        directory_store.add_records(conn, card_issue_records(sale_id, entry.hlc, tx.log.origin, payload))
        conn.execute(
            "INSERT INTO card_sales (id, seq, card_id, member_id, card_type, price_fen, tendered_fen,"
            " change_fen, at_ms, request_key, salesperson) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sale_id,
                entry.seq,
                sale.card_id,
                member_id,
                kind.code,
                kind.price_fen,
                tendered_fen,
                payload["change_fen"],
                at_ms,
                sale.request_key,
                sale.salesperson,
            ),
        )
        return {**load_card_sale(conn, sale_id), "replayed": False}

    return job


def load_card_sale(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, seq, card_id, member_id, card_type, price_fen, tendered_fen, change_fen, at_ms,"
        " salesperson FROM card_sales WHERE id = ?",
        (sale_id,),
    ).fetchone()
    names = (
        "id",
        "seq",
        "card_id",
        "member_id",
        "card_type",
        "price_fen",
        "tendered_fen",
        "change_fen",
        "at_ms",
        "salesperson",
    )
    sale = dict(zip(names, row, strict=True))
    sale["card"] = directory_store.card_json(conn, sale["card_id"])
    return sale
