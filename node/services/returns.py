"""Customer returns of a sale (I4): the refund, and the goods back on the shelf
at what they cost when sold.

A return names lines of the sale and quantities. The customer gets back what the
returned units paid after the line's discounts (`line_refund_fen`; a line at its price
gives its unit price per unit), to the tenders that paid (node.services.refunds:
stored value back onto its card, then cash, never more cash than was kept). The
goods come back into the warehouse the sale took them from at the sale line's
cost share, so the gross profit of the sale reverses exactly:
each return takes cost * qty / line qty to the nearest fen (half up), and the
return that completes a line takes exactly what is left of its cost. A line
sold before sales were costed (cost unknown) comes back at the warehouse's last
known unit cost. The points each returned line earned are taken back from the card
they were booked on, line by line (loyalty.points.points_to_reverse: partial returns
add up to exactly the line's points), even below zero: a member who spent them owes
them, a debt HQ's queue shows. A service a card paid for goes back onto that card: a
count card's uses are given back, a time card's visit is recorded at its value
(node.services.refunds). Goods redeemed for points give their points back to the
points tender that paid for them, into the lots they came from, units x the points per
unit (node.services.refunds.redeemed_refunds). A return that brings the sale's whole voucher share back
reinstates a voucher still within its days (node.services.vouchers). The return that
brings what the sale kept below its rebate's threshold takes the rebate back
(node.services.discounts).
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any, NamedTuple

from loyalty.points import points_to_reverse
from node.errors import DocumentState, InvalidRequest, NotFound
from node.services import catalogue, discounts, documents, fields, points_book, refunds, stock_ledger
from node.services.cards import day_of, record_ledger_entry
from node.services.checkout import MAX_LINE_QTY, MAX_SALE_LINES
from node.services.vouchers import reinstate_returned, reinstated_by
from node.store.writer import Tx
from protocol.contract import SALE_RETURN_POST


def _take_back_points(tx: Tx, return_id: str, sale_id: str, returned: list[tuple[SoldLine, int]]) -> None:
    """The points the returned units earned, taken off the card the sale booked them on."""
    points = sum(
        points_to_reverse(item.points, item.qty, item.returned_qty, qty)
        for item, qty in returned
        if item.points
    )
    if points:
        row = tx.conn.execute(
            "SELECT card_id FROM dir_ledger WHERE entry_id = ?", (f"{sale_id}-pts",)
        ).fetchone()
        if row is not None:
            lot = f"{sale_id}-pts"
            points_book.take_back(tx, f"{return_id}-pts", lot, row[0], points, sale_id=sale_id)


class ReturnLine(NamedTuple):
    line_no: int
    qty: int


class SoldLine(NamedTuple):
    sku: str
    qty: int
    unit_price_fen: int
    cost_fen: int | None  # None: sold before sales were costed
    points: int  # what the line earned the member
    returned_qty: int
    returned_cost_fen: int
    amount_fen: int  # what the line paid, after its discounts (loyalty.discounts)
    redeem_points: int = 0  # goods redeemed for points (FEATURES L7): the points per unit; else 0


def line_refund_fen(sold: SoldLine, qty: int) -> int:
    """What `qty` more units of the line give back: their share of what the line paid
    after its discounts (a bundle's share included), the floor of what the units returned
    so far paid less what earlier returns gave, so the returns of a whole line give back
    exactly what it paid, however they were split. A line at its price gives back its
    unit price per unit."""
    after = sold.amount_fen * (sold.returned_qty + qty) // sold.qty
    return after - sold.amount_fen * sold.returned_qty // sold.qty


def parse_lines(body: dict[str, Any]) -> list[ReturnLine]:
    documents.only_fields(body, {"lines"}, "return")
    lines = []
    for number, line in enumerate(fields.items(body.get("lines"), "lines", maximum=MAX_SALE_LINES)):
        where = f"lines[{number}]"
        extra = set(line) - {"line_no", "qty"}
        if extra:
            raise InvalidRequest(f"{where} has unknown fields {', '.join(sorted(extra))}")
        line_no = fields.integer(line.get("line_no"), f"{where}.line_no", minimum=0, maximum=MAX_SALE_LINES)
        qty = fields.integer(line.get("qty"), f"{where}.qty", minimum=1, maximum=MAX_LINE_QTY)
        lines.append(ReturnLine(line_no, qty))
    numbers = [line.line_no for line in lines]
    if len(set(numbers)) < len(numbers):
        raise InvalidRequest("each sale line appears once in a return; add up the quantities")
    return lines


def sold_lines(conn: sqlite3.Connection, sale_id: str) -> dict[int, SoldLine]:
    """The sale's lines with what earlier returns already took back; NotFound if no such sale."""
    if conn.execute("SELECT 1 FROM sales WHERE id = ?", (sale_id,)).fetchone() is None:
        raise NotFound(f"no sale {sale_id} at this branch")
    returned = {
        line_no: (qty, cost)
        for line_no, qty, cost in conn.execute(
            "SELECT l.line_no, SUM(l.qty), SUM(l.cost_fen) FROM sale_return_lines l"
            " JOIN sale_returns r ON r.id = l.return_id WHERE r.sale_id = ? GROUP BY l.line_no",
            (sale_id,),
        )
    }
    return {
        line_no: SoldLine(
            sku,
            qty,
            price,
            cost,
            points,
            *returned.get(line_no, (0, 0)),
            amount_fen=amount,
            redeem_points=redeem_points or 0,
        )
        for line_no, sku, qty, price, cost, points, amount, redeem_points in conn.execute(
            "SELECT line_no, sku, qty, unit_price_fen, cost_fen, points, amount_fen, redeem_points"
            " FROM sale_lines WHERE sale_id = ?",
            (sale_id,),
        )
    }


# Tenders drawn on a card's money ledger, refunded onto that ledger (its name is the kind's).
CARD_MONEY = ("stored_value", "credit")


def sale_warehouse(conn: sqlite3.Connection, sale_id: str, default: str) -> str:
    """Where the sale took its goods from: its own stock moves say (sales before
    several warehouses took them from the branch's main one)."""
    row = conn.execute(
        "SELECT warehouse FROM stock_moves WHERE ref_id = ? AND cause = 'sale' LIMIT 1", (sale_id,)
    ).fetchone()
    return default if row is None else str(row[0])


def return_cost_fen(conn: sqlite3.Connection, warehouse: str, sold: SoldLine, qty: int) -> int:
    if sold.cost_fen is None:
        return stock_ledger.unit_cost(conn, warehouse, sold.sku) * qty
    if sold.returned_qty + qty == sold.qty:
        return sold.cost_fen - sold.returned_cost_fen  # the whole line comes back at exactly its cost
    return (2 * sold.cost_fen * qty + sold.qty) // (2 * sold.qty)


def return_job(
    return_id: str,
    sale_id: str,
    lines: list[ReturnLine],
    key: str | None,
    default_warehouse: str,
    zone: datetime.tzinfo = datetime.UTC,
) -> Any:
    """The return as one write; a voucher's validity is judged on the branch's date in `zone`."""

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        done = documents.replayed(conn, "sale_returns", key)
        if done is not None:
            return {**load_return(conn, done), "replayed": True}
        sold = sold_lines(conn, sale_id)
        for line in lines:
            if line.line_no not in sold:
                raise InvalidRequest(
                    f"sale {sale_id} has no line {line.line_no}; its lines are numbered 0 to {len(sold) - 1}"
                )
            left = sold[line.line_no].qty - sold[line.line_no].returned_qty
            if line.qty > left:
                raise DocumentState(
                    f"line {line.line_no} of sale {sale_id} ({sold[line.line_no].sku}) has {left} left"
                    f" to return of {sold[line.line_no].qty} sold; {line.qty} cannot come back"
                )
        warehouse = sale_warehouse(conn, sale_id, default_warehouse)
        booked: list[dict[str, Any]] = []
        moves = []
        for line in sorted(lines):
            item = sold[line.line_no]
            if catalogue.product(conn, item.sku, active_only=False).service:
                cost_fen = 0  # a service item was never stocked: nothing comes back to stock
            else:
                cost_fen = return_cost_fen(conn, warehouse, item, line.qty)
                moves.append(
                    stock_ledger.receive(
                        conn, warehouse, item.sku, line.qty, cost_fen, "sale_return", return_id, tx.wall_ms
                    )
                )
            booked.append(
                {
                    "line_no": line.line_no,
                    "sku": item.sku,
                    "qty": line.qty,
                    "amount_fen": line_refund_fen(item, line.qty),
                    "cost_fen": cost_fen,
                }
            )
        refund_fen = sum(line["amount_fen"] for line in booked)
        cost_fen = sum(line["cost_fen"] for line in booked)
        tenders, change_fen = _paid(conn, sale_id)
        refunded, refunded_qty, legacy_cash_fen = _refunded(conn, sale_id)
        # Units a card paid for go back to that card first, goods redeemed for points to
        # the points that paid for them; the rest is money.
        by_line = {line["line_no"]: line["amount_fen"] for line in booked}
        returned = [
            (sold[line.line_no].sku, line.qty, by_line[line.line_no])
            for line in lines
            if not sold[line.line_no].redeem_points
        ]
        redeemed = [
            (item.sku, line.qty, by_line[line.line_no], item.redeem_points)
            for line in lines
            if (item := sold[line.line_no]).redeem_points
        ]
        to_points = refunds.redeemed_refunds(redeemed, tenders, refunded_qty)
        to_cards, money_fen = refunds.item_refunds(returned, tenders, refunded_qty)
        to_cards = to_points + to_cards
        paid = to_cards + refunds.allocate(money_fen, tenders, change_fen, refunded, legacy_cash_fen)
        for number, refund in enumerate(paid):
            if refund.kind == "uses" and refund.card is not None:
                record_ledger_entry(
                    tx,
                    f"{return_id}-r{number}",
                    refund.card,
                    "uses",
                    "refund",
                    refund.qty,
                    item=refund.sku,
                    sale_id=sale_id,
                )
            elif refund.kind == "points" and refund.card is not None:
                spend_id = f"{sale_id}-t{refund.tender_no}"
                points_book.give_back(
                    tx, f"{return_id}-r{number}", spend_id, refund.card, refund.qty, sale_id=sale_id
                )
            elif refund.kind in CARD_MONEY and refund.card is not None:
                record_ledger_entry(
                    tx,
                    f"{return_id}-r{number}",
                    refund.card,
                    refund.kind,  # the ledger the tender drew on: stored_value or credit
                    "refund",
                    refund.amount_fen,
                    sale_id=sale_id,
                )
        _take_back_points(tx, return_id, sale_id, [(sold[line.line_no], line.qty) for line in lines])
        entry = tx.record(
            SALE_RETURN_POST,
            return_id,
            {
                "id": return_id,
                "sale_id": sale_id,
                "warehouse": warehouse,
                "lines": booked,
                "refund_fen": refund_fen,
                "cost_fen": cost_fen,
                "at_ms": tx.wall_ms,
                "moves": [move.as_payload("sale_return") for move in moves],
                "refunds": [_refund_payload(refund) for refund in paid],
            },
        )
        conn.executemany(
            "INSERT INTO sale_return_refunds"
            " (return_id, refund_no, tender_no, kind, amount_fen, card_id, qty) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (return_id, n, r.tender_no, r.kind, r.amount_fen, r.card, r.qty or None)
                for n, r in enumerate(paid)
            ],
        )
        conn.execute(
            "INSERT INTO sale_returns (id, seq, sale_id, warehouse, refund_fen, cost_fen, at_ms, request_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (return_id, entry.seq, sale_id, warehouse, refund_fen, cost_fen, tx.wall_ms, key),
        )
        conn.executemany(
            "INSERT INTO sale_return_lines (return_id, line_no, sku, qty, amount_fen, cost_fen)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (return_id, line["line_no"], line["sku"], line["qty"], line["amount_fen"], line["cost_fen"])
                for line in booked
            ],
        )
        # With this return booked: the rebate goes if the sale no longer earns it.
        discounts.take_back_rebate(tx, return_id, sale_id)
        reinstate_returned(tx, return_id, sale_id, day_of(tx.wall_ms, zone))
        return {**load_return(conn, return_id), "replayed": False}

    return job


def _paid(conn: sqlite3.Connection, sale_id: str) -> tuple[list[refunds.PaidTender], int]:
    """The sale's tenders (a card's with its card, a card item's with its item and units)
    and the change it gave."""
    tenders = [
        refunds.PaidTender(
            number,
            kind,
            amount_fen,
            card_id if kind in (*CARD_MONEY, *refunds.ITEM_TENDERS, "points") else None,
            ref if kind in (*refunds.ITEM_TENDERS, "points") else None,  # a redemption's goods
            int(uses or 0),  # a card item's units, a points tender's points
        )
        for number, kind, amount_fen, card_id, ref, uses in conn.execute(
            "SELECT tender_no, kind, amount_fen, card_id, ref, uses FROM sale_tenders"
            " WHERE sale_id = ? ORDER BY tender_no",
            (sale_id,),
        )
    ]
    (change_fen,) = conn.execute("SELECT change_fen FROM sales WHERE id = ?", (sale_id,)).fetchone()
    return tenders, int(change_fen)


def _refunded(conn: sqlite3.Connection, sale_id: str) -> tuple[dict[int, int], dict[int, int], int]:
    """What earlier returns of the sale gave back, per tender in fen and in units of a card
    item, and what those booked before refunds were recorded per tender gave back (cash)."""
    per_tender: dict[int, int] = {}
    units: dict[int, int] = {}
    for tender_no, amount, qty in conn.execute(
        "SELECT f.tender_no, SUM(f.amount_fen), SUM(COALESCE(f.qty, 0)) FROM sale_return_refunds f"
        " JOIN sale_returns r ON r.id = f.return_id WHERE r.sale_id = ? GROUP BY f.tender_no",
        (sale_id,),
    ):
        per_tender[int(tender_no)] = int(amount)
        units[int(tender_no)] = int(qty)
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(refund_fen), 0) FROM sale_returns WHERE sale_id = ?", (sale_id,)
    ).fetchone()
    return per_tender, units, int(total) - sum(per_tender.values())


def _refund_payload(refund: refunds.Refund) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "amount_fen": refund.amount_fen,
        "kind": refund.kind,
        "tender_no": refund.tender_no,
    }
    if refund.card is not None:
        payload["card"] = refund.card
    if refund.kind == "points":
        payload["points"] = refund.qty
        if refund.sku is not None:
            payload["sku"] = refund.sku  # goods redeemed for points (L7)
    elif refund.sku is not None:
        payload |= {"sku": refund.sku, "qty": refund.qty}
    return payload


def load_return(conn: sqlite3.Connection, return_id: str) -> dict[str, Any]:
    found = documents.one(
        conn,
        "SELECT id, seq, sale_id, warehouse, refund_fen, cost_fen, at_ms FROM sale_returns WHERE id = ?",
        (return_id,),
        f"no sale return {return_id} at this branch",
    )
    found["refunds"] = documents.rows(
        conn,
        "SELECT tender_no, kind, amount_fen, card_id AS card, qty FROM sale_return_refunds"
        " WHERE return_id = ? ORDER BY refund_no",
        (return_id,),
    )
    for refund in found["refunds"]:
        if refund["qty"] is None:
            del refund["qty"]  # money, not units
        elif refund["kind"] == "points":
            refund["points"] = refund.pop("qty")
    kinds = {refund["kind"] for refund in found["refunds"]}
    # One kind, or "mixed"; a return booked before refunds were recorded went in cash.
    found["refund_kind"] = kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "cash"
    # The gross profit the return gives back: what was refunded less the cost restocked.
    found["gross_profit_fen"] = found["refund_fen"] - found["cost_fen"]
    taken = conn.execute("SELECT amount FROM dir_ledger WHERE entry_id = ?", (f"{return_id}-pts",)).fetchone()
    found["points_taken_back"] = 0 if taken is None else -int(taken[0])
    found["vouchers_reinstated"] = reinstated_by(conn, return_id)
    found["rebate_taken_back_fen"] = discounts.rebate_taken_back(conn, return_id)
    found["lines"] = documents.rows(
        conn,
        "SELECT line_no, sku, qty, amount_fen, cost_fen, amount_fen - cost_fen AS gross_profit_fen"
        " FROM sale_return_lines WHERE return_id = ? ORDER BY line_no",
        (return_id,),
    )
    return found


def returns_of(conn: sqlite3.Connection, sale_id: str) -> list[dict[str, Any]]:
    sold_lines(conn, sale_id)  # NotFound for a sale this branch does not have
    ids = conn.execute("SELECT id FROM sale_returns WHERE sale_id = ? ORDER BY seq", (sale_id,)).fetchall()
    return [load_return(conn, return_id) for (return_id,) in ids]
