"""Checkout: a sale of catalogue products, paid in cash, stored value, vouchers,
count-card uses or a time card's admission, moving the branch's stock (service items
hold none) and earning the member points.

The sale, its lines and tenders, its ledger entries, its stock moves and its
change entries commit in one transaction. Stock may go negative: a branch is
never stopped from selling because its count is behind (the goods are in the
customer's hands). Stored value is spent online with a hold at HQ when HQ
answers, else offline within limits (node.services.holds); the mode is on each
tender. `sell` is the whole of a till's sale, holds included.

A count card pays for a service line in uses of that item (what the card holds of
it here; two branches spending the last use while apart is an overdraft HQ queues,
as for stored value), a time card admits listed services within its validity. Both
carry the line's value in fen, so the tenders still add up to the sale; neither
earns points: the card's sale did.

Goods redeemed for points (FEATURES L7): a line marked `"redeem": true` is priced at
HQ's points price x the chain's worth per point, takes no discount and earns no points,
and is paid by a points tender the checkout adds after the sale's own, on the member's
points card and naming the goods (`sku`); its stock leaves as for any sale, so the
sale's revenue for it is what the points are worth and its cost is the goods' cost.

A till discount (loyalty.discounts rule 7): a line may carry `"discount_fen": N`, whole
fen the cashier takes off what the line pays after HQ's offers (0 or absent: none; never
on a line redeemed for points). Who may give how much is the route's to say, as data
(`SaleRequest.discount_limit_percent`): a store manager (`sales:edit`) may take a line
down to nothing, anyone else at most node.config's clerk_discount_limit_percent of what
the line pays after offers, and more is refused (DiscountOverLimit) before anything is
booked. The line's `discount_fen` in the sale and its entry is everything taken off it,
the till's part included; the reason of kind "manual" says how much of it was the
till's. Points, the rebate and a return's refund follow what the line paid.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from conflict.credit import credit_position
from conflict.duplicates import Registration
from conflict.vouchers import Redemption
from loyalty.discounts import Priced
from loyalty.discounts import shown as discounts_shown
from loyalty.errors import PointsShort
from loyalty.points import Earned
from loyalty.reasons import shown
from node.config import NodeConfig
from node.errors import (
    CreditOverLimit,
    DiscountOverLimit,
    InsufficientBalance,
    InvalidRequest,
    NotFound,
    NotOnThisCard,
    NotRedeemable,
    OfflineLimitReached,
    RedeemNeedsMember,
    TenderShort,
    UnknownProduct,
    UnsupportedTender,
    UsesExhausted,
    VoucherUsed,
)
from node.services import (
    catalogue,
    discounts,
    employees,
    fields,
    holds,
    loyalty,
    points_book,
    printouts,
    stock_ledger,
)
from node.services.card_life import CardPasswords
from node.services.cards import (
    confirm_checked,
    day_of,
    record_ledger_entry,
    require_active,
    require_card,
    require_valid,
)
from node.services.holds import HQLink
from node.services.members import member_or_survivor
from node.services.vouchers import check_tender as check_voucher_tender
from node.store.store import Store
from node.store.writer import AppendsOnly, Tx
from protocol import limits
from protocol.contract import SALE_CHECKOUT, TENDER_KINDS, VOUCHER_REDEEM
from protocol.entry import decode_entry
from protocol.errors import require
from shared_tables import directory_store

# A till's sale is bounded where the wire contract bounds it (protocol.limits).
MAX_SALE_LINES = limits.MAX_SALE_LINES
MAX_TENDERS = limits.MAX_TENDERS
MAX_LINE_QTY = limits.MAX_SALE_LINE_QTY
# Tenders that pay for a line of one service item on a card, priced at the line's price.
CARD_ITEM_TENDERS = ("uses", "time_card")
# Tenders that spend on a card, and so need its password when it has one.
CARD_TENDERS = ("stored_value", "credit", "points", *CARD_ITEM_TENDERS)
# The most points one sale may earn: what a points ledger entry may carry.
MAX_POINTS_PER_SALE = limits.MAX_LEDGER_AMOUNT


class Tender(NamedTuple):
    kind: str
    amount_fen: int  # a uses or time_card tender's is its line's value, known once priced
    card: str | None = None  # stored_value, uses, time_card
    voucher: str | None = None  # voucher
    sku: str | None = None  # uses, time_card: the service item paid for; points: goods redeemed
    qty: int = 0  # uses, time_card: how many of it
    password: str | None = None  # a card tender's: the card's password, if it has one
    points: int = 0  # points: how many the member spends (worth amount_fen, once priced)


class SaleRequest(NamedTuple):
    member_id: str | None
    lines: tuple[tuple[str, int], ...]  # (sku, qty)
    tenders: tuple[Tender, ...]
    request_key: str | None  # the till's Idempotency-Key: a retried POST books once
    salesperson: str | None = None  # the employee the sale is credited to (FEATURES B4)
    redeemed: frozenset[int] = frozenset()  # indices of the lines redeemed for points (L7)
    # line index: fen the cashier takes off it after the offers (loyalty.discounts rule 7)
    line_discount_fen: Mapping[int, int] = MappingProxyType({})
    # The most a line's till discount may be, in percent of what the line pays after
    # offers; None: up to all of it (a store manager). 0 unless the caller says who is
    # at the till, so a caller that never asked gives no discount.
    discount_limit_percent: int | None = 0

    def card_passwords(self) -> dict[str, str | None]:
        """Each card a tender spends on, with the password keyed in for it (if any)."""
        given: dict[str, str | None] = {}
        for tender in self.tenders:
            if tender.card is not None:
                given[tender.card] = given.get(tender.card) or tender.password
        return given

    def stored_value_by_card(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for tender in self.tenders:
            if tender.kind == "stored_value" and tender.card is not None:
                totals[tender.card] = totals.get(tender.card, 0) + tender.amount_fen
        return totals


def parse_sale(
    body: dict[str, Any],
    request_key: str | None,
    *,
    preview: bool = False,
    discount_limit_percent: int | None = 0,
) -> SaleRequest:
    """A sale as a till sends it; a preview may leave the tenders out (paid in cash).
    `discount_limit_percent`: what the operator at the till may take off a line (see
    SaleRequest)."""
    if preview and "tenders" not in body:
        body = {**body, "tenders": [{"kind": "cash", "amount_fen": fields.MAX_AMOUNT_FEN}]}
    unknown = set(body) - {"member_id", "lines", "tenders", "salesperson"}
    if unknown:
        raise InvalidRequest(f"unknown sale fields: {', '.join(sorted(unknown))}")
    member_id = fields.text(body, "member_id", required=False)
    salesperson = fields.employee_code(body.get("salesperson"), "salesperson")
    lines = []
    redeemed = set()
    line_discount_fen: dict[int, int] = {}
    for number, line in enumerate(fields.items(body.get("lines"), "lines", maximum=MAX_SALE_LINES)):
        sku = fields.text(line, "sku")
        qty = fields.integer(line.get("qty"), f"lines[{number}].qty", minimum=1, maximum=MAX_LINE_QTY)
        lines.append((str(sku), qty))
        redeem = line.get("redeem", False)
        if not isinstance(redeem, bool):
            raise InvalidRequest(f"lines[{number}].redeem must be true or false")
        if redeem:
            redeemed.add(number)
        discount_fen = _line_discount_fen(line.get("discount_fen", 0), number)
        if discount_fen and redeem:
            raise InvalidRequest(
                f"lines[{number}] is redeemed for points and takes no discount_fen: its price is"
                " what the points are worth"
            )
        if discount_fen:
            line_discount_fen[number] = discount_fen
    tenders = []
    # A sale of goods all redeemed for points may take no tender of its own.
    given = body.get("tenders")
    if not (redeemed and given == []):
        for number, tender in enumerate(fields.items(given, "tenders", maximum=MAX_TENDERS)):
            tenders.append(_tender(tender, number))
    return SaleRequest(
        member_id,
        tuple(lines),
        tuple(tenders),
        fields.request_key(request_key),
        salesperson,
        frozenset(redeemed),
        MappingProxyType(line_discount_fen),
        discount_limit_percent,
    )


def _line_discount_fen(value: Any, number: int) -> int:
    """A line's till discount: whole fen, 0 for none; whether the line pays that much is
    known once it is priced (node.services.discounts.price_sale)."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)  # true is an int in Python, and no amount
        or not 0 <= value <= limits.MAX_SALE_LINE_FEN
    ):
        got = repr(value) if isinstance(value, int | float) else f"a {type(value).__name__}"
        raise InvalidRequest(
            f"lines[{number}].discount_fen must be whole fen from 1 up to what the line pays"
            f" (0 or absent for none), not {got}"
        )
    return value


def _tender(tender: dict[str, Any], number: int) -> Tender:
    kind = tender.get("kind")
    where = f"tenders[{number}]"
    if kind not in TENDER_KINDS:
        raise UnsupportedTender(
            f"{where}.kind {kind!r} is not accepted; this branch takes {', '.join(TENDER_KINDS)}"
        )
    # A card tender may carry the card's password (checked before the write).
    tender = dict(tender)
    password = tender.pop("password", None) if kind in CARD_TENDERS else None
    if password is not None and not isinstance(password, str):
        raise InvalidRequest(f"{where}.password must be text")
    if kind == "points":
        if set(tender) != {"kind", "card", "points"}:
            raise InvalidRequest("a points tender has exactly the fields card, kind, points (and password)")
        return Tender(
            kind,
            0,
            card=fields.card_number(tender["card"], f"{where}.card"),
            points=fields.integer(
                tender["points"], f"{where}.points", minimum=1, maximum=limits.MAX_LEDGER_AMOUNT
            ),
            password=password,
        )
    if kind in CARD_ITEM_TENDERS:
        if set(tender) != {"kind", "card", "sku", "qty"}:
            raise InvalidRequest(
                f"a {kind} tender has exactly the fields card, kind, qty, sku (and password)"
            )
        return Tender(
            kind,
            0,
            card=fields.card_number(tender["card"], f"{where}.card"),
            sku=fields.text(tender, "sku"),
            qty=fields.integer(tender["qty"], f"{where}.qty", minimum=1, maximum=MAX_LINE_QTY),
            password=password,
        )
    expected = {"kind", "amount_fen"} | ({"card"} if kind in ("stored_value", "credit") else set())
    expected |= {"voucher"} if kind == "voucher" else set()
    if set(tender) != expected:
        raise InvalidRequest(f"a {kind} tender has exactly the fields {', '.join(sorted(expected))}")
    amount = fields.integer(
        tender.get("amount_fen"), f"{where}.amount_fen", minimum=1, maximum=fields.MAX_AMOUNT_FEN
    )
    if kind in ("stored_value", "credit"):
        card = fields.card_number(tender["card"], f"{where}.card")
        return Tender(kind, amount, card=card, password=password)
    if kind == "voucher":
        return Tender("voucher", amount, voucher=fields.card_number(tender["voucher"], f"{where}.voucher"))
    return Tender("cash", amount)


def replayed_sale(conn: sqlite3.Connection, request_key: str | None) -> str | None:
    if request_key is None:
        return None
    row = conn.execute("SELECT id FROM sales WHERE request_key = ?", (request_key,)).fetchone()
    return None if row is None else str(row[0])


def checkout_job(
    sale: SaleRequest,
    sale_id: str,
    warehouse: str,
    authorisations: Mapping[str, holds.Authorisation] | None = None,
    offline_limit_fen: int = 50_000,
    zone: datetime.tzinfo = datetime.UTC,
    checked_passwords: Mapping[str, str | None] | None = None,
) -> Any:
    """The sale as one write. `authorisations` (card -> online hold or offline) come
    from node.services.holds; a card without one is spent offline. A card's validity is
    judged on the branch's date in `zone`."""
    authorised = authorisations or {}

    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        if sale.request_key is not None:
            replayed = replayed_sale(conn, sale.request_key)
            if replayed is not None:
                return {**load_sale(conn, replayed), "replayed": True}
        # This log's origin is the branch whose till rang the sale up.
        checked = check_sale(conn, sale, day_of(tx.wall_ms, zone), tx.log.origin, at_ms=tx.wall_ms)
        member_id, priced, total_fen, products, priced_tenders, discounted, redeem_points = checked
        cards = sale.card_passwords()
        if cards:
            confirm_checked(conn, checked_passwords or {}, cards)
        tendered_fen = sum([tender.amount_fen for tender in priced_tenders])
        change_fen = tendered_fen - total_fen  # only cash can be over-tendered, so change is cash
        tenders = _pay(tx, sale, priced_tenders, sale_id, authorised, offline_limit_fen)
        # Read once: what the points are earned on and booked to.
        registration = None if member_id is None else directory_store.registration(conn, member_id)
        earned = sale_points(
            conn,
            tx.wall_ms,
            member_id,
            priced,
            products,
            priced_tenders,
            change_fen,
            redeem_points,
            registration,
        )
        points = 0 if earned is None else earned.points
        if points:
            _book_points(tx, registration, sale_id, points)
        rebate = _rebate(conn, tx.wall_ms, member_id, total_fen, priced_tenders)
        if rebate is not None:
            discounts.book_rebate(tx, sale_id, rebate)
        # The cost of goods is fixed now, by the warehouse's costing method
        # (DESIGN 7); units sold beyond stock are costed provisionally. A service
        # item moves no stock and costs nothing here.
        at_ms = tx.wall_ms
        goods = [number for number, line in enumerate(priced) if not products[line[0]].service]
        moves = stock_ledger.issue_many(
            conn,
            warehouse,
            [(products[priced[n][0]], priced[n][1]) for n in goods],
            "sale",
            sale_id,
            at_ms,
            tx=tx,
        )
        # move.issued_cost_fen, per line that moved stock
        costs = {n: -move.cost_fen - move.variance_fen for n, move in zip(goods, moves, strict=True)}
        lines: list[dict[str, Any]] = []
        line_rows: list[tuple[Any, ...]] = []
        for number, (sku, qty, unit_price_fen, amount_fen) in enumerate(priced):
            cost_fen = costs.get(number, 0)
            line_points = None if earned is None else earned.line_points[number]
            discount_fen = discounted.discounts[number]
            # Keys in their canonical (sorted) order, which the log's encoding keeps; a
            # sale to nobody in particular earns nothing and says nothing of points, a
            # line at its price says nothing of discounts.
            lines.append(
                {
                    "amount_fen": amount_fen,
                    "cost_fen": cost_fen,
                    **({"discount_fen": discount_fen} if discount_fen else {}),
                    "gross_profit_fen": amount_fen - cost_fen,
                    **({"points": line_points} if line_points is not None else {}),
                    "qty": qty,
                    **({"redeem_points": redeem_points[number]} if number in redeem_points else {}),
                    "sku": sku,
                    "unit_price_fen": unit_price_fen,
                }
            )
            line_rows.append(
                (
                    *(sale_id, number, sku, qty, unit_price_fen),
                    *(amount_fen, cost_fen, line_points or 0, discount_fen, redeem_points.get(number)),
                )
            )
        reasons = [] if earned is None else [reason.to_json() for reason in earned.reasons]
        discount_reasons = [reason.to_json() for reason in discounted.reasons]
        entry = tx.record(
            SALE_CHECKOUT,
            sale_id,
            {
                "at_ms": at_ms,
                "change_fen": change_fen,
                **({"discounts": discount_reasons} if discount_reasons else {}),
                "lines": lines,
                "member_id": member_id,
                "moves": [move.as_payload("sale") for move in moves],
                "points_earned": points,
                # Only when there are any or one is named, so an entry without them keeps
                # its bytes; each in its sorted place.
                **({"points_reasons": reasons} if reasons else {}),
                **({"rebate": rebate} if rebate is not None else {}),
                **({"salesperson": sale.salesperson} if sale.salesperson is not None else {}),
                "tenders": tenders,
                "total_fen": total_fen,
                "warehouse": warehouse,
            },
        )
        # The sale's own rows, which no other cash sale reads: they may wait for the
        # group's end (AppendsOnly below).
        tx.append(
            _INSERT_SALE,
            [
                (
                    sale_id,
                    entry.seq,
                    member_id,
                    total_fen,
                    change_fen,
                    at_ms,
                    sale.request_key,
                    points,
                    sale.salesperson,
                    json.dumps(rebate) if rebate is not None else None,
                )
            ],
        )
        tx.append(_INSERT_LINES, line_rows)
        tx.append(
            _INSERT_TENDERS,
            [
                (
                    sale_id,
                    n,
                    t["kind"],
                    t["amount_fen"],
                    t.get("card"),
                    t.get("mode"),
                    t.get("hold") or t.get("voucher") or t.get("sku"),
                    t.get("qty") or t.get("points"),
                )
                for n, t in enumerate(tenders)
            ],
        )
        return {
            "id": sale_id,
            "seq": entry.seq,
            "member_id": member_id,
            "lines": lines,
            "tenders": tenders,
            "total_fen": total_fen,
            "change_fen": change_fen,
            "points_earned": points,
            "points_reasons": reasons,  # their words are added off the writer's thread (sell)
            "discount_fen": discounted.discount_fen,
            "discounts": discount_reasons,  # and these words too
            "rebate": rebate,
            "salesperson": sale.salesperson,
            "replayed": False,
        }

    if all(tender.kind == "cash" for tender in sale.tenders):
        # A cash sale reads no other sale's rows (a card's offline limit and a voucher's
        # uses are read from earlier sales' tenders), only its own Idempotency-Key's; to
        # no member it books no points and no rebate, so it writes nothing at once.
        key = None if sale.request_key is None else ("sale", sale.request_key)
        return AppendsOnly(job, key, savepoint=sale.member_id is not None)
    return job


_INSERT_SALE = (
    "INSERT INTO sales (id, seq, member_id, total_fen, change_fen, at_ms, request_key, points_earned,"
    " salesperson, rebate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LINES = (
    "INSERT INTO sale_lines (sale_id, line_no, sku, qty, unit_price_fen, amount_fen, cost_fen,"
    " points, discount_fen, redeem_points) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_TENDERS = (
    "INSERT INTO sale_tenders (sale_id, tender_no, kind, amount_fen, card_id, mode, ref, uses)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class CheckedSale(NamedTuple):
    member_id: str | None  # the survivor of the member the till named
    # sku, qty, unit_price_fen (before discounts), amount_fen (after: what the line pays)
    lines: list[tuple[str, int, int, int]]
    total_fen: int  # after discounts
    products: dict[str, catalogue.Product]  # by sku, as read in this transaction
    tenders: tuple[Tender, ...]  # the sale's, card-item tenders priced, then its redemptions'
    discounts: Priced  # what discounts took off each line, and why (loyalty.discounts)
    redeem_points: Mapping[int, int]  # line index: the points per unit it was redeemed for (L7)


def check_sale(
    conn: sqlite3.Connection, sale: SaleRequest, day: str, branch: str, *, at_ms: int, short_ok: bool = False
) -> CheckedSale:
    """Everything about a sale that can be refused before money moves: the salesperson
    (an active employee of `branch`), the member (as its survivor), the products and
    prices after the discounts in force at `at_ms` (node.services.discounts), the
    tenders against the total, and the cards (valid on `day`). Runs again inside the
    sale's transaction; the till's request runs it first so a doomed sale never takes a
    hold at HQ. `short_ok`: tenders may fall short of the total (a preview while the
    cashier is still taking them)."""
    if sale.salesperson is not None:
        employees.require_salesperson(conn, sale.salesperson, branch)
    member_id = sale.member_id
    if member_id is not None:
        member_id = member_or_survivor(conn, member_id)
    skus = sorted({sku for sku, _ in sale.lines})
    items = catalogue.active_products(conn, skus)
    if len(items) < len(skus):
        missing = [sku for sku in skus if sku not in items]
        raise UnknownProduct(f"not in this branch's catalogue: {', '.join(missing)}")
    redeem_points, unit_worth, redemptions = _redemptions(conn, sale, member_id, items)
    # Lines are priced after discounts before any tender is checked against the total.
    lines, priced = discounts.price_sale(
        conn, at_ms, day, member_id, sale.lines, items, unit_worth, sale.line_discount_fen
    )
    if sale.discount_limit_percent is not None:
        _check_discount_limit(sale.line_discount_fen, lines, priced, sale.discount_limit_percent)
    total_fen = sum([line[3] for line in lines])
    tenders = sale.tenders + redemptions
    if len(tenders) == 1 and tenders[0].kind == "cash":
        if tenders[0].amount_fen < total_fen and not short_ok:
            raise TenderShort(f"tenders cover {tenders[0].amount_fen} fen of a {total_fen} fen sale")
        return CheckedSale(member_id, lines, total_fen, items, tenders, priced, redeem_points)  # all checked
    tenders = _price_points(conn, _price_card_items(conn, tenders, lines, day), day)
    tendered_fen = sum([tender.amount_fen for tender in tenders])
    if tendered_fen < total_fen and not short_ok:
        raise TenderShort(f"tenders cover {tendered_fen} fen of a {total_fen} fen sale")
    non_cash_fen = sum(tender.amount_fen for tender in tenders if tender.kind != "cash")
    if non_cash_fen > total_fen:
        raise InvalidRequest(
            f"stored value, vouchers and cards ({non_cash_fen} fen) exceed the {total_fen} fen sale;"
            " change is given in cash only"
        )
    for card in sale.stored_value_by_card():
        require_card(conn, card)
        require_active(conn, card)
        require_valid(conn, card, day)
    _check_credit(conn, tenders, day)
    vouchers = [tender.voucher for tender in tenders if tender.voucher is not None]
    if len(set(vouchers)) < len(vouchers):
        raise VoucherUsed("a voucher is single-use: it appears twice in this sale")
    for tender in tenders:
        if tender.voucher is not None:  # HQ issued it to this member, in its days, unused (L10)
            # What the sale spends in money: goods redeemed for points count toward no voucher.
            money_fen = total_fen - sum(line[3] for n, line in enumerate(lines) if n in redeem_points)
            check_voucher_tender(conn, tender.voucher, member_id, money_fen, tender.amount_fen, day)
    return CheckedSale(member_id, lines, total_fen, items, tenders, priced, redeem_points)


def _check_discount_limit(
    line_discount_fen: Mapping[int, int],
    lines: list[tuple[str, int, int, int]],
    priced: Priced,
    limit_percent: int,
) -> None:
    """Each till discount within `limit_percent` of what its line pays after the offers
    (what it pays now, plus the till's discount): DiscountOverLimit otherwise."""
    for number, discount_fen in sorted(line_discount_fen.items()):
        after_offers_fen = priced.amounts[number] + discount_fen
        # In integers: discount / after_offers <= limit / 100, so 10% of 9,999 fen is 999.
        if discount_fen * 100 > after_offers_fen * limit_percent:
            allowed_fen = after_offers_fen * limit_percent // 100
            raise DiscountOverLimit(
                f"lines[{number}] ({lines[number][0]}): {discount_fen} fen off is more than you may give:"
                f" at most {limit_percent}% of the {after_offers_fen} fen the line pays after offers,"
                f" {allowed_fen} fen. Give less, or ask a store manager, who may give more"
            )


def _redemptions(
    conn: sqlite3.Connection,
    sale: SaleRequest,
    member_id: str | None,
    items: Mapping[str, catalogue.Product],
) -> tuple[dict[int, int], dict[int, int], tuple[Tender, ...]]:
    """The sale's lines redeemed for points (FEATURES L7), by line index: the points per
    unit (HQ's points price) and the unit's worth in fen (those points at the chain's
    worth per point); and the points tender paying for each, after the sale's own, on the
    member's points card (the card their points are booked on: _book_points)."""
    if not sale.redeemed:
        return {}, {}, ()
    if member_id is None:
        raise RedeemNeedsMember("goods are redeemed with a member's points: name the member on the sale")
    registration = directory_store.registration(conn, member_id)
    if registration is None or not registration.card_numbers:
        raise RedeemNeedsMember(
            f"member {member_id} holds no card at this branch to spend points from; register a card first"
        )
    if len(sale.tenders) + len(sale.redeemed) > MAX_TENDERS:
        raise InvalidRequest(
            f"a sale takes at most {MAX_TENDERS} tenders, each line redeemed for points one of them;"
            f" this one would take {len(sale.tenders) + len(sale.redeemed)}"
        )
    card = min(registration.card_numbers)
    _, settings = loyalty.rule_set(conn)
    redeem_points: dict[int, int] = {}
    unit_worth: dict[int, int] = {}
    tenders: list[Tender] = []
    for number in sorted(sale.redeemed):
        sku, qty = sale.lines[number]
        points_price = items[sku].points_price
        if points_price is None:
            raise NotRedeemable(
                f"lines[{number}]: HQ gives {sku} no points price, so it cannot be redeemed for points;"
                " sell it for money"
            )
        worth_fen = points_price * settings.point_value_fen
        if worth_fen * qty > fields.MAX_AMOUNT_FEN or points_price * qty > limits.MAX_LEDGER_AMOUNT:
            raise InvalidRequest(
                f"lines[{number}]: {qty} x {sku} at {points_price:,} points each is more than one tender"
                " may carry; redeem fewer"
            )
        redeem_points[number] = points_price
        unit_worth[number] = worth_fen
        tenders.append(Tender("points", 0, card=card, sku=sku, points=points_price * qty))
    return redeem_points, unit_worth, tuple(tenders)


def _check_credit(conn: sqlite3.Connection, tenders: tuple[Tender, ...], day: str) -> None:
    """Credit tenders draw no more than each card's line has left here (conflict.credit)."""
    drawn: dict[str, int] = {}
    for tender in tenders:
        if tender.kind == "credit" and tender.card is not None:
            drawn[tender.card] = drawn.get(tender.card, 0) + tender.amount_fen
    for card, amount in drawn.items():
        require_card(conn, card)
        require_active(conn, card)
        require_valid(conn, card, day)
        available = credit_position(directory_store.card_entries(conn, card), card).available
        if amount > available:
            raise CreditOverLimit(
                f"card {card} may draw {max(available, 0)} fen more on credit here; the sale asks {amount}."
                " Take another tender, or repay first"
            )


def _price_card_items(
    conn: sqlite3.Connection, tenders: tuple[Tender, ...], lines: list[tuple[str, int, int, int]], day: str
) -> tuple[Tender, ...]:
    """The tenders with each uses or time_card tender priced at what its units of the item
    pay after discounts, after checking it: the sale has that many of the item, the card
    is usable today, a count card holds the uses here, a time card admits the item. The
    units' worth is their share of the item's lines, the floor of what the units covered
    so far pay less what the earlier tenders took, so tenders covering every unit of an
    item take exactly what its lines pay."""
    sold: dict[str, int] = {}
    paid: dict[str, int] = {}
    for sku, qty, _, amount_fen in lines:
        sold[sku] = sold.get(sku, 0) + qty
        paid[sku] = paid.get(sku, 0) + amount_fen
    covered: dict[str, int] = {}
    wanted_uses: dict[tuple[str, str], int] = {}
    priced: list[Tender] = []
    for tender in tenders:
        if tender.kind not in CARD_ITEM_TENDERS or tender.card is None or tender.sku is None:
            priced.append(tender)
            continue
        card, sku = tender.card, tender.sku
        before = covered.get(sku, 0)
        covered[sku] = before + tender.qty
        if covered[sku] > sold.get(sku, 0):
            raise NotOnThisCard(
                f"card tenders pay for {covered[sku]} of {sku}, but the sale has {sold.get(sku, 0)}"
            )
        require_card(conn, card)
        require_active(conn, card)
        require_valid(conn, card, day)
        if tender.kind == "uses":
            wanted_uses[(card, sku)] = wanted_uses.get((card, sku), 0) + tender.qty
            held = directory_store.card_balance(conn, card, "uses", sku)
            if held < wanted_uses[(card, sku)]:
                raise UsesExhausted(
                    f"card {card} holds {max(held, 0)} uses of {sku} here; the sale takes"
                    f" {wanted_uses[(card, sku)]}. Top the card up with uses, or take another tender"
                )
        else:
            issued = directory_store.card_record(conn, card)
            if issued is None or sku not in issued.services:
                raise NotOnThisCard(f"card {card} is not a time card that admits {sku}")
        worth = paid[sku] * covered[sku] // sold[sku] - paid[sku] * before // sold[sku]
        priced.append(tender._replace(amount_fen=worth))
    return tuple(priced)


def _price_points(conn: sqlite3.Connection, tenders: tuple[Tender, ...], day: str) -> tuple[Tender, ...]:
    """Each points tender priced at the chain's worth per point (loyalty.rules), after
    checking the card is usable today and holds the points here."""
    if not any(tender.kind == "points" for tender in tenders):
        return tenders
    _, settings = loyalty.rule_set(conn)
    wanted: dict[str, int] = {}
    priced = []
    for tender in tenders:
        if tender.kind != "points" or tender.card is None:
            priced.append(tender)
            continue
        require_card(conn, tender.card)
        require_active(conn, tender.card)
        require_valid(conn, tender.card, day)
        wanted[tender.card] = wanted.get(tender.card, 0) + tender.points
        held = directory_store.card_balance(conn, tender.card, "points")
        if held < wanted[tender.card]:
            raise PointsShort(max(held, 0), wanted[tender.card])
        priced.append(tender._replace(amount_fen=tender.points * settings.point_value_fen))
    return tuple(priced)


def _pay(
    tx: Tx,
    sale: SaleRequest,
    tenders: tuple[Tender, ...],
    sale_id: str,
    authorised: Mapping[str, holds.Authorisation],
    offline_limit_fen: int,
) -> list[dict[str, Any]]:
    """Book the non-cash tenders (`tenders`: the sale's, priced): a ledger spend per
    stored-value card, a redemption per voucher, a use per count-card tender. Returns
    the tenders as the receipt shows them."""
    if len(tenders) == 1 and tenders[0].kind == "cash":
        return [{"amount_fen": tenders[0].amount_fen, "kind": "cash"}]
    conn = tx.conn
    spends = sale.stored_value_by_card()
    for card, amount in spends.items():
        if authorised.get(card, holds.OFFLINE).mode == "offline":
            seen = directory_store.card_balance(conn, card, "stored_value")
            if seen < amount:
                raise InsufficientBalance(f"card {card} holds {seen} fen here, less than {amount} fen")
            spent = holds.offline_spent_today(conn, card, tx.wall_ms)
            if spent + amount > offline_limit_fen:
                raise OfflineLimitReached(
                    f"HQ is unreachable and card {card} has spent {spent} of its {offline_limit_fen} fen"
                    " offline limit here today; take another tender or wait for the link"
                )
    booked: list[dict[str, Any]] = []
    for number, tender in enumerate(tenders):
        if tender.kind == "stored_value" and tender.card is not None:
            authorisation = authorised.get(tender.card, holds.OFFLINE)
            record_ledger_entry(
                tx,
                f"{sale_id}-t{number}",
                tender.card,
                "stored_value",
                "spend",
                -tender.amount_fen,
                sale_id=sale_id,
                mode=authorisation.mode,
                hold=authorisation.hold_id,
            )
            booked.append(
                {
                    "amount_fen": tender.amount_fen,
                    "card": tender.card,
                    "hold": authorisation.hold_id,
                    "kind": "stored_value",
                    "mode": authorisation.mode,
                }
            )
        elif tender.kind == "voucher" and tender.voucher is not None:
            redemption_id = f"{sale_id}-t{number}"
            entry = tx.record(
                VOUCHER_REDEEM,
                redemption_id,
                {"voucher_id": tender.voucher, "amount_fen": tender.amount_fen, "sale_id": sale_id},
            )
            directory_store.add_records(
                conn, [Redemption(redemption_id, tender.voucher, tender.amount_fen, entry.hlc, tx.log.origin)]
            )
            booked.append({"amount_fen": tender.amount_fen, "kind": "voucher", "voucher": tender.voucher})
        elif tender.kind == "points" and tender.card is not None:
            points_book.spend(tx, f"{sale_id}-t{number}", tender.card, tender.points, sale_id=sale_id)
            booked.append(
                {
                    "amount_fen": tender.amount_fen,
                    "card": tender.card,
                    "kind": "points",
                    "points": tender.points,
                    **({"sku": tender.sku} if tender.sku is not None else {}),  # goods redeemed (L7)
                }
            )
        elif tender.kind == "credit" and tender.card is not None:
            record_ledger_entry(
                tx,
                f"{sale_id}-t{number}",
                tender.card,
                "credit",
                "charge",
                -tender.amount_fen,
                sale_id=sale_id,
            )
            booked.append({"amount_fen": tender.amount_fen, "card": tender.card, "kind": "credit"})
        elif tender.kind in CARD_ITEM_TENDERS and tender.card is not None and tender.sku is not None:
            if tender.kind == "uses":
                record_ledger_entry(
                    tx,
                    f"{sale_id}-t{number}",
                    tender.card,
                    "uses",
                    "use",
                    -tender.qty,
                    sale_id=sale_id,
                    item=tender.sku,
                )
            booked.append(
                {
                    "amount_fen": tender.amount_fen,
                    "card": tender.card,
                    "kind": tender.kind,
                    "qty": tender.qty,
                    "sku": tender.sku,
                }
            )
        else:
            booked.append({"amount_fen": tender.amount_fen, "kind": "cash"})
    return booked


def _rebate(
    conn: sqlite3.Connection, at_ms: int, member_id: str | None, total_fen: int, tenders: tuple[Tender, ...]
) -> dict[str, Any] | None:
    """The rebate the sale earns (node.services.discounts) on its total after discounts,
    less what count and time cards paid (those were paid for when the card was sold) and
    the goods redeemed for points (bought with points, not money)."""
    covered = sum(
        tender.amount_fen for tender in tenders if tender.kind in CARD_ITEM_TENDERS or _redeems(tender)
    )
    return discounts.sale_rebate(conn, at_ms, member_id, total_fen - covered)


def sale_points(
    conn: sqlite3.Connection,
    at_ms: int,
    member_id: str | None,
    priced: list[tuple[str, int, int, int]],
    products: Mapping[str, catalogue.Product],
    tenders: tuple[Tender, ...],
    change_fen: int,
    redeem_points: Mapping[int, int] | None = None,
    registration: Registration | None = None,
) -> Earned | None:
    """The member's points by HQ's rules (node.services.loyalty); None for a sale to no
    member, or to one this branch has no registration of (nowhere to book them). What
    a count card or time card paid for earns nothing (the card's sale did): the engine
    sees each line less what such tenders covered of its item, and only the tenders
    that paid money, cash net of the change given. Goods redeemed for points (the lines
    in `redeem_points`) earn nothing either: the engine sees them at 0 fen and not the
    points tender that paid for them."""
    redeemed = redeem_points or {}
    if member_id is None:
        return None
    if registration is None:
        registration = directory_store.registration(conn, member_id)
    if registration is None or not registration.card_numbers:
        return None
    covered: dict[str, int] = {}
    paid: list[tuple[str, int]] = []
    for tender in tenders:
        if tender.kind in CARD_ITEM_TENDERS and tender.sku is not None:
            covered[tender.sku] = covered.get(tender.sku, 0) + tender.amount_fen
        elif tender.amount_fen and not _redeems(tender):
            paid.append((tender.kind, tender.amount_fen))
    change_left = change_fen  # only cash is over-tendered: the change comes off it
    for number, (kind, amount) in enumerate(paid):
        if kind == "cash" and change_left:
            taken = min(amount, change_left)
            paid[number], change_left = (kind, amount - taken), change_left - taken
    lines = []
    for number, (sku, qty, _, amount_fen) in enumerate(priced):
        if number in redeemed:
            lines.append((sku, qty, 0))
            continue
        taken = min(amount_fen, covered.get(sku, 0))
        covered[sku] = covered.get(sku, 0) - taken
        lines.append((sku, qty, amount_fen - taken))
    categories = {sku: product.category for sku, product in products.items()}
    earned = loyalty.sale_points(conn, at_ms, member_id, lines, categories, paid)
    if earned.points > MAX_POINTS_PER_SALE:
        raise InvalidRequest(
            f"HQ's points rules give this sale {earned.points:,} points, more than a sale may earn"
            f" ({MAX_POINTS_PER_SALE:,}): ask HQ to check its rules' factors"
        )
    return earned


def _redeems(tender: Tender) -> bool:
    """A points tender that paid for goods redeemed for points (it names them)."""
    return tender.kind == "points" and tender.sku is not None


def _book_points(tx: Tx, registration: Registration | None, sale_id: str, points: int) -> None:
    """Points are booked on the member's first card (sale_points found them one)."""
    require(registration is not None, "points are earned only by a registered member")
    assert registration is not None
    card = min(registration.card_numbers)
    _, settings = loyalty.rule_set(tx.conn)
    points_book.earn(tx, f"{sale_id}-pts", card, "earn", points, settings, sale_id=sale_id)


def preview(conn: sqlite3.Connection, sale: SaleRequest, at_ms: int, day: str, branch: str) -> dict[str, Any]:
    """What the sale would come to and earn, booking nothing: every refusal the sale
    itself would meet (an unknown product, a card at zero) is met here too, but no
    hold is taken and no password asked. Tenders that fall short are no refusal here
    (the cashier is still taking them): `change_fen` is then below zero, what is still
    due, and the points are reckoned as if the rest came in cash."""
    checked = check_sale(conn, sale, day, branch, at_ms=at_ms, short_ok=True)
    member_id, priced, total_fen, products, priced_tenders, discounted, redeem_points = checked
    tendered_fen = sum(tender.amount_fen for tender in priced_tenders)
    change_fen = tendered_fen - total_fen
    paying = priced_tenders if change_fen >= 0 else (*priced_tenders, Tender("cash", -change_fen))
    earned = sale_points(conn, at_ms, member_id, priced, products, paying, max(0, change_fen), redeem_points)
    rebate = _rebate(conn, at_ms, member_id, total_fen, paying)
    return {
        "member_id": member_id,
        "lines": [
            {
                "sku": sku,
                "qty": qty,
                "unit_price_fen": unit_price_fen,
                "discount_fen": discounted.discounts[number],
                "amount_fen": amount_fen,
                "points": 0 if earned is None else earned.line_points[number],
                **({"redeem_points": redeem_points[number]} if number in redeem_points else {}),
            }
            for number, (sku, qty, unit_price_fen, amount_fen) in enumerate(priced)
        ],
        "total_fen": total_fen,
        "discount_fen": discounted.discount_fen,
        "discounts": discounts_shown([reason.to_json() for reason in discounted.reasons]),
        "rebate": discounts.rebate_shown(rebate),
        "change_fen": change_fen,
        "points_earned": 0 if earned is None else earned.points,
        "points_reasons": [] if earned is None else shown([reason.to_json() for reason in earned.reasons]),
    }


SALE_COLUMNS = "id, seq, at_ms, member_id, total_fen, change_fen, points_earned, salesperson, rebate"
LINE_QUERY = (
    "SELECT line_no, sku, qty, unit_price_fen, discount_fen, amount_fen, cost_fen, points,"
    " amount_fen - cost_fen AS gross_profit_fen, redeem_points FROM sale_lines WHERE sale_id = ?"
    " ORDER BY line_no"
)
TENDER_QUERY = (
    "SELECT kind, amount_fen, card_id AS card, mode, ref, uses FROM sale_tenders"
    " WHERE sale_id = ? ORDER BY tender_no"
)


def load_sale(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any]:
    conn.row_factory = sqlite3.Row
    try:
        sale = dict(conn.execute(f"SELECT {SALE_COLUMNS} FROM sales WHERE id = ?", (sale_id,)).fetchone())
        sale["lines"] = [dict(line) for line in conn.execute(LINE_QUERY, (sale_id,))]
        sale["tenders"] = [_tender_json(dict(row)) for row in conn.execute(TENDER_QUERY, (sale_id,))]
    finally:
        conn.row_factory = None
    # Why it earned its points and what its discounts took off are kept in its entry
    # only: a copy in the sales row cost every member's checkout its JSON.
    (raw,) = conn.execute("SELECT entry FROM change_log WHERE seq = ?", (sale["seq"],)).fetchone()
    payload = decode_entry(raw).payload
    sale["points_reasons"] = shown(payload.get("points_reasons", []))
    for line in sale["lines"]:
        if not line["discount_fen"]:
            del line["discount_fen"]  # as the sale's entry: a line at its price says nothing
        if line["redeem_points"] is None:
            del line["redeem_points"]  # nor does a line paid in money of points
    sale["discount_fen"] = sum(line.get("discount_fen", 0) for line in sale["lines"])
    sale["discounts"] = discounts_shown(payload.get("discounts", []))
    sale["rebate"] = discounts.rebate_shown(None if sale["rebate"] is None else json.loads(sale["rebate"]))
    return sale


def _tender_json(row: dict[str, Any]) -> dict[str, Any]:
    ref = row.pop("ref")
    uses = row.pop("uses")
    if row["kind"] == "stored_value":
        row["hold"] = ref
    elif row["kind"] == "voucher":
        row["voucher"] = ref
    elif row["kind"] in CARD_ITEM_TENDERS:
        row["sku"], row["qty"] = ref, uses
    elif row["kind"] == "points":
        row["points"] = uses
        if ref is not None:
            row["sku"] = ref  # the goods a redemption's points bought (L7)
    return {key: value for key, value in row.items() if value is not None or key == "hold"}


# Passwords checked for callers that keep no throttle of their own (the simulator).
_PASSWORDS = CardPasswords()


async def sell(
    store: Store,
    link: HQLink | None,
    config: NodeConfig,
    sale: SaleRequest,
    sale_id: str,
    card_passwords: CardPasswords | None = None,
) -> dict[str, Any]:
    """Ring up a sale: the passwords of the cards it spends on (node.services.card_life),
    a hold at HQ for each stored-value card (node.services.holds), then the sale as one
    write. A replay of an Idempotency-Key answers the sale it booked, with "replayed" true."""
    authorisations: dict[str, holds.Authorisation] = {}
    spends = sale.stored_value_by_card()
    given = sale.card_passwords()
    checked: dict[str, str | None] = {}
    if given and (
        sale.request_key is None or await store.read(lambda c: replayed_sale(c, sale.request_key)) is None
    ):
        checked = await (card_passwords or _PASSWORDS).check(store, given, store.writer.now_ms())

    day = day_of(store.writer.now_ms(), config.zone)

    def fresh(conn: sqlite3.Connection) -> bool:
        if replayed_sale(conn, sale.request_key) is not None:
            return False
        check_sale(conn, sale, day, config.branch, at_ms=store.writer.now_ms())
        return True

    try:
        # A doomed or replayed sale takes no hold; a hold taken for a sale that
        # then fails (or another card's refusal) is given back at once.
        take_holds = await store.read(fresh) if spends else False
        if take_holds:
            for card, amount in spends.items():
                authorisations[card] = await holds.authorise(
                    store, link, config.branch, f"{sale_id}-{card}", card, amount
                )
        job = checkout_job(
            sale, sale_id, config.warehouse, authorisations, config.offline_limit_fen, config.zone, checked
        )
        if config.printer is not None:
            job = printouts.printed(job, "sale")  # its receipt, in the same write
        result: dict[str, Any] = await store.writer.run(job)
    except BaseException:
        await holds.release(link, authorisations.values())
        raise
    if result["replayed"]:
        await holds.release(link, authorisations.values())
    result["points_reasons"] = shown(result["points_reasons"])
    result["discounts"] = discounts_shown(result["discounts"])
    result["rebate"] = discounts.rebate_shown(result["rebate"])
    return result


@dataclass(frozen=True, slots=True)
class SalesSummary:
    """A branch's sales and its customers' returns, as HQ counts them."""

    count: int
    total_fen: int
    returns: int
    returned_fen: int

    @property
    def net_fen(self) -> int:
        return self.total_fen - self.returned_fen

    def as_json(self) -> dict[str, int]:
        return {
            "count": self.count,
            "total_fen": self.total_fen,
            "returns": self.returns,
            "returned_fen": self.returned_fen,
            "net_fen": self.net_fen,
        }


def sales_summary(
    conn: sqlite3.Connection, from_ms: int = 0, to_ms: int = limits.MAX_AT_MS + 1
) -> SalesSummary:
    """How many sales this branch booked in [from_ms, to_ms) and their total in fen (a
    card sold from a type is a sale of its price, a card renewed, replaced or upgraded one
    of its fee), and how many returns it took then and what they gave back, netted out as
    HQ nets them (a return counts when it is made)."""
    span = (from_ms, to_ms)
    count, total_fen = conn.execute(
        "SELECT SUM(n), SUM(fen) FROM (SELECT COUNT(*) AS n, COALESCE(SUM(total_fen), 0) AS fen FROM sales"
        " WHERE at_ms >= ? AND at_ms < ?"
        " UNION ALL SELECT COUNT(*), COALESCE(SUM(price_fen), 0) FROM card_sales"
        " WHERE at_ms >= ? AND at_ms < ?"
        " UNION ALL SELECT COUNT(*), COALESCE(SUM(fee_fen), 0) FROM card_changes"
        " WHERE fee_fen > 0 AND at_ms >= ? AND at_ms < ?)",
        span * 3,
    ).fetchone()
    returns, returned_fen = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(refund_fen), 0) FROM sale_returns WHERE at_ms >= ? AND at_ms < ?", span
    ).fetchone()
    return SalesSummary(int(count), int(total_fen), int(returns), int(returned_fen))


EXPORT_COLUMNS = ("sale_id", "at_utc", "member_id", "total_fen", "change_fen")


def sales_export(conn: sqlite3.Connection, from_ms: int, to_ms: int) -> list[tuple[object, ...]]:
    """The branch's sales booked in [from_ms, to_ms), oldest first, as EXPORT_COLUMNS;
    money stays integer fen, times are UTC."""
    rows = conn.execute(
        "SELECT id, at_ms, member_id, total_fen, change_fen FROM sales"
        " WHERE at_ms >= ? AND at_ms < ? ORDER BY at_ms, id",
        (from_ms, to_ms),
    )
    return [
        (
            sale_id,
            datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC).isoformat(timespec="seconds"),
            member_id or "",
            total_fen,
            change_fen,
        )
        for sale_id, at_ms, member_id, total_fen, change_fen in rows
    ]


# A till's list of sales (the day's, or a member's) shows at most this many at once.
MAX_LISTED_SALES = 500


def sales_listing(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    limit: int,
    members: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The sales booked here in [from_ms, to_ms), newest first, at most `limit`, of
    `members` only when given (a member and their aliases): what a cashier picks a
    sale to return from, and a member's history at this branch. Each with its time,
    member, total, what its returns refunded so far and what it sold (sku x qty)."""
    where = "at_ms >= ? AND at_ms < ?"
    args: list[object] = [from_ms, to_ms]
    if members is not None:
        where += f" AND member_id IN ({','.join('?' * len(members))})"
        args.extend(members)
    rows = conn.execute(
        f"SELECT id, at_ms, member_id, total_fen FROM sales WHERE {where}"
        " ORDER BY at_ms DESC, id DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    found = []
    for sale_id, at_ms, member_id, total_fen in rows:
        (refunded,) = conn.execute(
            "SELECT COALESCE(SUM(refund_fen), 0) FROM sale_returns WHERE sale_id = ?", (sale_id,)
        ).fetchone()
        lines = conn.execute(
            "SELECT sku, qty FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,)
        ).fetchall()
        found.append(
            {
                "id": sale_id,
                "at_ms": at_ms,
                "member_id": member_id,
                "total_fen": total_fen,
                "refunded_fen": refunded,
                "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
            }
        )
    return found


def sale_view(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any]:
    if conn.execute("SELECT 1 FROM sales WHERE id = ?", (sale_id,)).fetchone() is None:
        raise NotFound(f"no sale {sale_id} at this branch")
    return load_sale(conn, sale_id)
