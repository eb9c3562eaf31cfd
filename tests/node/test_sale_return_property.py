"""A sale followed by its full return leaves every balance, points lot, voucher and stock
level as it found them (issue 16).

Each example opens a fresh node store (BR01) on a SQLite file and seeds it as HQ's feed
and the branch's own tills would: HQ's signed feed brings the products (tea in a
category that earns double), a supplier and the warehouse, the points rules and
settings, a card type with a discount, maybe special prices, a bundle and a rebate
rule, and a voucher issued to the member; the branch receives goods from the supplier,
registers the member, tops the member's card up, maybe sells the member a card of the
type, and rings up one to three sales on earlier days that earn the member points
(lots expiring on different days), some partly paid with points already.

Then the example's sale is rung up through node.services.checkout.sell, with a body
parsed as POST /api/sales parses it and tenders drawn among cash (with change), stored
value, points and the voucher, priced from the till's preview; and every line of it
comes back through node.services.returns, in one return or in pieces. Before the sale
and after the return: every card's balance on every ledger, what each of the member's
points lots holds (the lots the sale made hold nothing), the member's vouchers with
their state, and every stock level and its cost are the same; and the points ledger
obeys the law of the lots (loyalty.lots): `account` holds, every movement is placed in
a lot, and the lots' balance is the ledger's.

A product is either never received (every sale of it is sold ahead of stock) or held
in plenty: a sale that runs from stock into selling ahead of it does not come back to
the stock value it found, which the last test keeps as a known failure.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loyalty.lot_records import DAY_MS
from loyalty.lots import remaining
from node.config import NodeConfig
from node.services import checkout, returns, stock_ledger
from node.services.card_life import CardPasswords
from node.services.card_sales import CardSale, card_sale_job
from node.services.cards import day_of, top_up_job
from node.services.members import register_job
from node.services.receipts import ReceivedLine, direct_receipt_job
from node.services.vouchers import check_tender, member_vouchers
from node.store.store import Store
from node.sync.feed import apply_page_job
from protocol.batch import sign_batch
from protocol.errors import Refused
from protocol.ids import uuid7
from protocol.signing import public_key_bytes
from shared_tables import directory_store, points_lots
from tests.node.test_feed_contract import FEED, HQ_KEY, feed_entries

BRANCH = "BR01"
WAREHOUSE = "BR01-MAIN"
SUPPLIER = "SUP-TEA"
# The example's sale and return: 2023-11-15 at the branch (Asia/Shanghai). The member's
# earlier sales are up to MAX_DAYS_BEFORE days before, so their points lots (a year's
# expiry) are all unexpired and each expires on a day of its own.
NOW_MS = 1_700_000_000_000
MAX_DAYS_BEFORE = 200
CONFIG = NodeConfig(
    BRANCH,
    "http://hq.invalid",  # never reached: the sale has no link to HQ, so stored value goes offline
    public_key_bytes(HQ_KEY).hex(),
    FEED,
    offline_limit_fen=5_000_000,  # the offline limit is not what these examples are about
)

MEMBER = "0190a000-0000-7000-8000-000000000001"
GOLD_CARD = "GOLD-0001"  # a card of HQ's type GOLD, if the member bought one
VOUCHER = "V-0001"
VOUCHER_VALUE_FEN, VOUCHER_MIN_SPEND_FEN = 2_000, 5_000

# sku -> (price, costing method, purchase price, category); TEA earns double.
PRODUCTS: dict[str, tuple[int, str, int, str | None]] = {
    "TEA": (6_800, "fifo", 4_100, "TEA"),
    "CUP": (1_300, "lifo", 700, None),
    "NUTS": (2_450, "moving_average", 1_500, None),
    "SOAP": (900, "specified", 650, None),
}
SKUS = tuple(PRODUCTS)
# More of a product than the member's earlier sales and the example's sale can take
# (3 sales of 4 lines of 5, and 4 lines of 5): none of them runs out of stock.
STOCKED_QTY = 100

POINTS_RULES: list[dict[str, Any]] = [
    {
        "code": "TEA-2X",
        "name": "Tea earns double",
        "kind": "category",
        "target": "TEA",
        "factor_milli": 2_000,
    },
    {
        "code": "NO-POINTS-ON-POINTS",
        "name": "No points on points",
        "kind": "tender",
        "target": "points",
        "factor_milli": 0,
    },
]
POINTS_SETTINGS: dict[str, Any] = {
    "code": "chain",
    "combine": "multiply",
    "point_value_fen": 1,
    "expiry_days": 365,
}
GOLD_TYPE: dict[str, Any] = {
    "code": "GOLD",
    "name": "Gold card",
    "price_fen": 50_000,
    "stored_value_fen": 50_000,
    "discount_rate": 85,
    "validity_days": 365,
}
# Offers a seeding may include: nuts on special, tea with two cups as a set, and a
# rebate of 5 yuan on a sale of at least 60 yuan.
OFFERS: list[tuple[str, dict[str, Any]]] = [
    ("special_price", {"code": "NUTS-OFFER", "name": "Nuts on offer", "sku": "NUTS", "price_fen": 1_990}),
    (
        "bundle",
        {
            "code": "TEA-SET",
            "name": "Tea and two cups",
            "lines": [{"sku": "TEA", "qty": 1}, {"sku": "CUP", "qty": 2}],
            "price_fen": 8_000,
        },
    ),
    ("rebate_rule", {"code": "BACK-5", "name": "5 back on 60", "min_spend_fen": 6_000, "back_fen": 500}),
]


class Seed(NamedTuple):
    """What the store holds before the example's sale."""

    # sku -> the supplier's deliveries of it, (qty, unit cost), in order: none (every
    # sale of it is sold ahead of stock), or one of STOCKED_QTY and maybe a second lot
    # at another cost, so no sale runs from stock into selling ahead of it (see
    # test_a_sale_running_past_the_stock_and_its_return_leave_the_stock_value_as_it_was).
    stock: dict[str, tuple[tuple[int, int], ...]]
    top_up_fen: int  # onto the member's own card
    gold_card: bool  # the member bought a card of type GOLD (85% of list, 500 yuan on it)
    offers: bool  # HQ's special price, bundle and rebate rule are in force
    # The member's earlier sales, oldest first: (lines, days before the example's sale,
    # percent of it paid with points, the rest in cash). Their lots expire on different
    # days, and some are partly spent already, when the example's sale spends points.
    earlier_sales: tuple[tuple[tuple[tuple[str, int], ...], int, int], ...]


class Pay(NamedTuple):
    """How the example's sale is paid: shares of what is left to pay, in percent."""

    member: bool
    voucher: bool  # if the sale reaches the voucher's minimum
    points_percent: int
    stored_value_percent: int
    stored_value_on_gold: bool  # else on the member's own card
    change_fen: int  # cash over-tendered
    order: tuple[int, ...]  # a permutation of the four tenders: voucher, points, stored value, cash
    split_return: bool  # the lines come back in two returns (each line of 2+ in two pieces)


lines_strategy = st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 5)), min_size=1, max_size=4)
unit_cost = st.integers(100, 5_000)
two_lots = st.tuples(
    st.tuples(st.just(STOCKED_QTY), unit_cost), st.tuples(st.sampled_from((1, 3, 7)), unit_cost)
)
# Two lots most often: a line's cost then rarely divides by its quantity, and a return in
# pieces must still bring back exactly what the sale took.
deliveries = st.one_of(st.just(()), st.tuples(st.tuples(st.just(STOCKED_QTY), unit_cost)), two_lots, two_lots)
seed_strategy = st.builds(
    Seed,
    stock=st.fixed_dictionaries({sku: deliveries for sku in SKUS}),
    top_up_fen=st.sampled_from((0, 3_000, 100_000)),
    gold_card=st.booleans(),
    offers=st.booleans(),
    earlier_sales=st.lists(
        st.tuples(lines_strategy.map(tuple), st.integers(0, MAX_DAYS_BEFORE), st.sampled_from((0, 0, 40))),
        min_size=1,
        max_size=3,
    ).map(lambda sales: tuple(sorted(sales, key=lambda sale: -sale[1]))),
)
pay_strategy = st.builds(
    Pay,
    member=st.sampled_from((True, True, True, False)),  # most sales worth judging are a member's
    voucher=st.booleans(),
    points_percent=st.sampled_from((0, 30, 60, 100)),
    stored_value_percent=st.sampled_from((0, 50, 100)),
    stored_value_on_gold=st.booleans(),
    change_fen=st.sampled_from((0, 1, 4_321)),
    order=st.permutations(range(4)).map(tuple),
    split_return=st.sampled_from((True, True, False)),
)


# -- seeding --------------------------------------------------------------------------


def hq_changes(seed: Seed) -> list[tuple[str, str, str, Any]]:
    changes: list[tuple[str, str, str, Any]] = [
        ("category", "TEA", "upsert", {"code": "TEA", "name": "Tea"}),
        ("supplier", SUPPLIER, "upsert", {"code": SUPPLIER, "name": "Anxi Tea Co."}),
        ("warehouse", WAREHOUSE, "upsert", {"code": WAREHOUSE, "name": "Main", "branch": BRANCH}),
    ]
    for sku, (price_fen, method, purchase_fen, category) in PRODUCTS.items():
        payload = {
            "sku": sku,
            "name": sku.title(),
            "price_fen": price_fen,
            "costing_method": method,
            "purchase_price_fen": purchase_fen,
            "category": category,
            "specified_cost_fen": purchase_fen if method == "specified" else None,
        }
        changes.append(("product", sku, "upsert", payload))
    changes += [("points_rule", rule["code"], "upsert", rule) for rule in POINTS_RULES]
    changes.append(("points_settings", "chain", "upsert", POINTS_SETTINGS))
    changes.append(("card_type", "GOLD", "upsert", GOLD_TYPE))
    if seed.offers:
        changes += [(kind, payload["code"], "upsert", payload) for kind, payload in OFFERS]
    voucher = {
        "voucher_id": VOUCHER,
        "campaign": "AUTUMN",
        "member_id": MEMBER,
        "value_fen": VOUCHER_VALUE_FEN,
        "min_spend_fen": VOUCHER_MIN_SPEND_FEN,
        "valid_from": "2023-11-01",
        "valid_until": "2023-12-31",
        "name": "Autumn voucher",
    }
    changes.append(("voucher", VOUCHER, "issue", voucher))
    return changes


class Clock:
    """The branch's wall clock, set by the example: it only moves forward."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def read(self) -> int:
        return self.now_ms


class Ids:
    """Ids as a node mints them (UUIDv7), numbered so an example replays exactly."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.number = 0

    def __call__(self) -> str:
        self.number += 1
        return uuid7(self.clock.now_ms, self.number.to_bytes(10, "big"))


def total_fen(conn: sqlite3.Connection, body: dict[str, Any], at_ms: int) -> int:
    """The sale's total as the till's preview (POST /api/sales/preview) shows it."""
    lines_only = {key: value for key, value in body.items() if key != "tenders"}
    sale = checkout.parse_sale(lines_only, None, preview=True)  # reckoned as paid in cash
    return int(checkout.preview(conn, sale, at_ms, day_of(at_ms, CONFIG.zone), BRANCH)["total_fen"])


async def seed_store(store: Store, seed: Seed, clock: Clock, ids: Ids) -> None:
    clock.now_ms = NOW_MS - seed.earlier_sales[0][1] * DAY_MS
    batch = sign_batch(HQ_KEY, FEED, feed_entries(hq_changes(seed)))
    await store.writer.run(apply_page_job(batch, public_key_bytes(HQ_KEY)))
    for delivery in range(max(len(lots) for lots in seed.stock.values())):
        received = [
            ReceivedLine(sku, *lots[delivery]) for sku, lots in seed.stock.items() if delivery < len(lots)
        ]
        await store.writer.run(
            direct_receipt_job(SUPPLIER, WAREHOUSE, received, ids(), ids(), None, WAREHOUSE)
        )
    profile = {"name": "Li Na", "phone": "13800000001"}
    await store.writer.run(register_job(MEMBER, BRANCH, profile))
    if seed.top_up_fen:
        await store.writer.run(top_up_job(MEMBER, seed.top_up_fen, ids(), None, CONFIG.zone))
    if seed.gold_card:
        card = CardSale(MEMBER, "GOLD", GOLD_CARD, (GOLD_TYPE["price_fen"],), None)
        await store.writer.run(card_sale_job(card, ids(), WAREHOUSE, CONFIG.zone))
    for lines, days_before, points_percent in seed.earlier_sales:
        clock.now_ms = NOW_MS - days_before * DAY_MS
        body: dict[str, Any] = {"member_id": MEMBER, "lines": [{"sku": s, "qty": q} for s, q in lines]}

        def tenders(
            conn: sqlite3.Connection, body: dict[str, Any] = body, percent: int = points_percent
        ) -> list[dict[str, Any]]:
            total = total_fen(conn, body, clock.now_ms)
            held = directory_store.card_balance(conn, MEMBER, "points")
            points = min(held, total * percent // 100)
            paid = [{"kind": "points", "card": MEMBER, "points": points}] if points else []
            return [*paid, {"kind": "cash", "amount_fen": total - points + 1_000}]

        body["tenders"] = await store.read(tenders)
        await checkout.sell(store, None, CONFIG, checkout.parse_sale(body, None), ids(), CardPasswords())
    clock.now_ms = NOW_MS


# -- the example's sale ----------------------------------------------------------------


def sale_body(conn: sqlite3.Connection, lines: list[tuple[str, int]], pay: Pay) -> dict[str, Any]:
    """The sale as a till sends it: its total from the till's preview, then the tenders
    drawn, each taking its share of what is left to pay, cash last with the change."""
    body: dict[str, Any] = {"lines": [{"sku": sku, "qty": qty} for sku, qty in lines]}
    if pay.member:
        body["member_id"] = MEMBER
    left = total_fen(conn, body, NOW_MS)
    tenders: list[dict[str, Any] | None] = [None, None, None, None]
    if pay.member and pay.voucher and left >= VOUCHER_MIN_SPEND_FEN:
        amount = min(VOUCHER_VALUE_FEN, left)
        tenders[0] = {"kind": "voucher", "voucher": VOUCHER, "amount_fen": amount}
        left -= amount
    if pay.member:
        held = directory_store.card_balance(conn, MEMBER, "points")
        points = min(held, left * pay.points_percent // 100)  # a point pays 1 fen
        if points > 0:
            tenders[1] = {"kind": "points", "card": MEMBER, "points": points}
            left -= points
        card = (
            GOLD_CARD if pay.stored_value_on_gold and directory_store.card_owner(conn, GOLD_CARD) else MEMBER
        )
        held = directory_store.card_balance(conn, card, "stored_value")
        amount = min(held, left * pay.stored_value_percent // 100)
        if amount > 0:
            tenders[2] = {"kind": "stored_value", "card": card, "amount_fen": amount}
            left -= amount
    if left + pay.change_fen > 0:
        tenders[3] = {"kind": "cash", "amount_fen": left + pay.change_fen}
    body["tenders"] = [tenders[n] for n in pay.order if tenders[n] is not None]
    return body


def sale_events(sold: dict[str, Any]) -> list[str]:
    """What the sale exercised, for Hypothesis's statistics (--hypothesis-show-statistics)."""
    shown = [f"tender: {kind}" for kind in sorted({tender["kind"] for tender in sold["tenders"]})]
    shown += [f"discount: {kind}" for kind in sorted({reason["kind"] for reason in sold["discounts"]})]
    if sold["rebate"] is not None:
        shown.append("rebate")
    if sold["points_earned"]:
        shown.append("earned points")
    if sold["change_fen"]:
        shown.append("change given")
    return shown


def return_pieces(sold: dict[str, Any], split: bool) -> list[list[returns.ReturnLine]]:
    """Every line of the sale, whole: in one return, or in two (each line of 2 or more
    split between them, the first taking the smaller piece; a sale of single units
    brings its first line back first)."""
    whole = [returns.ReturnLine(line_no, line["qty"]) for line_no, line in enumerate(sold["lines"])]
    if not split:
        return [whole]
    first = [returns.ReturnLine(n, qty // 2) for n, qty in whole if qty // 2]
    if first:
        return [first, [returns.ReturnLine(n, qty - qty // 2) for n, qty in whole]]
    return [whole[:1], whole[1:]] if len(whole) > 1 else [whole]


# -- what must come back ---------------------------------------------------------------


class Standing(NamedTuple):
    balances: dict[tuple[str, str], int]  # (card, ledger) -> balance
    lots: dict[str, dict[str, int]]  # card -> lot -> what it holds
    vouchers: list[dict[str, Any]]  # the member's, with their state today
    voucher_usable: bool  # the member's voucher would be taken at the till today
    stock: dict[tuple[str, str], tuple[int, int]]  # (warehouse, sku) -> (qty, cost_fen)


def standing(conn: sqlite3.Connection) -> Standing:
    balances = {
        (card, ledger): directory_store.card_balance(conn, card, ledger)
        for card, ledger in conn.execute("SELECT DISTINCT card_id, ledger FROM dir_ledger ORDER BY 1, 2")
    }
    lots: dict[str, dict[str, int]] = {}
    for (card,) in conn.execute("SELECT DISTINCT card_id FROM dir_ledger WHERE ledger = 'points'"):
        book = points_lots.book(conn, card)
        book.account  # noqa: B018 (the law of the lots: earned = spent + expired + taken back + outstanding)
        assert book.unlotted == 0, f"card {card}: {book.unlotted} points in no lot"
        assert book.balance == directory_store.card_balance(conn, card, "points"), f"card {card}"
        lots[card] = remaining(book.lots, book.allocations, book.reversals, book.expiries)
    # Every product in every warehouse that holds any: one never stocked is at (0, 0),
    # held as a row or not.
    stock = {
        (warehouse, sku): stock_ledger.level(conn, warehouse, sku)
        for (warehouse,) in conn.execute("SELECT DISTINCT warehouse FROM stock")
        for sku in SKUS
    }
    day = day_of(NOW_MS, CONFIG.zone)
    try:  # the voucher on a sale of its minimum, for its value: as a till would take it
        check_tender(conn, VOUCHER, MEMBER, VOUCHER_MIN_SPEND_FEN, VOUCHER_VALUE_FEN, day)
        usable = True
    except Refused:
        usable = False
    vouchers = member_vouchers(conn, MEMBER, day)["vouchers"]
    return Standing(balances, lots, vouchers, usable, stock)


async def sell_and_return(
    folder: Path, seed: Seed, lines: list[tuple[str, int]], pay: Pay
) -> tuple[Standing, Standing, list[str]]:
    """The store seeded, the sale rung up and every line of it returned: what stood before
    the sale, what stands after the return, and what the sale exercised."""
    clock = Clock(NOW_MS)
    store = await Store.open(folder / "node.sqlite", BRANCH, wall_ms=clock.read, synchronous="OFF")
    try:
        ids = Ids(clock)
        await seed_store(store, seed, clock, ids)
        before = await store.read(standing)
        body = await store.read(lambda conn: sale_body(conn, lines, pay))
        sale = checkout.parse_sale(body, None)  # as node.routes.checkout parses POST /api/sales
        sold = await checkout.sell(store, None, CONFIG, sale, ids(), CardPasswords())
        in_pieces = return_pieces(sold, pay.split_return)
        for pieces in in_pieces:
            job = returns.return_job(ids(), sold["id"], pieces, None, CONFIG.warehouse, CONFIG.zone)
            await store.writer.run(job)
        after = await store.read(standing)
    finally:
        await store.close()
    return before, after, [*sale_events(sold), f"returned in {len(in_pieces)}"]


def assert_as_before(before: Standing, after: Standing) -> None:
    # A card with no movement on a ledger holds 0 on it, as one whose movements add up to 0.
    assert {key: held for key, held in after.balances.items() if held} == {
        key: held for key, held in before.balances.items() if held
    }
    assert after.stock == before.stock
    assert after.vouchers == before.vouchers
    assert after.voucher_usable == before.voucher_usable
    for card, held in after.lots.items():
        earlier = before.lots.get(card, {})
        assert {lot: held[lot] for lot in earlier} == earlier, f"card {card}: the lots held before"
        assert {lot: points for lot, points in held.items() if lot not in earlier and points} == {}, (
            f"card {card}: lots the sale and its return made hold points"
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seed_strategy, lines=lines_strategy, pay=pay_strategy)
def test_a_sale_and_its_full_return_leave_balances_lots_vouchers_and_stock_as_they_were(
    tmp_path_factory: Any, seed: Seed, lines: list[tuple[str, int]], pay: Pay
) -> None:
    before, after, shown = asyncio.run(
        sell_and_return(tmp_path_factory.mktemp("sale-return"), seed, lines, pay)
    )
    for what in shown:
        event(what)
    assert_as_before(before, after)


def test_a_sale_running_past_the_stock_and_its_return_leave_the_stock_value_as_it_was(
    tmp_path: Path,
) -> None:
    """Tea (FIFO) received 1 at 1.00, then 1 at 50.00: 2 on hand worth 51.00. A sale of 3
    takes 1.00 and 50.00 and one unit ahead of stock at the last unit cost, 50.00: cost
    101.00, leaving (-1, -50.00). Its full return brings the 3 back at 101.00: the unit
    short is filled at the 50.00 it was issued at (no correction), and 2 go on the shelf
    at the 51.00 left: as it was. (Filled like a purchase receipt, at a third of the
    return's cost, it left 2 worth 67.33 and a correction of -16.33.)"""
    stock: dict[str, tuple[tuple[int, int], ...]] = {sku: () for sku in SKUS}
    stock["TEA"] = ((1, 100), (1, 5_000))
    seed = Seed(stock, 0, False, False, (((("SOAP", 1),), 0, 0),))
    cash = Pay(False, False, 0, 0, False, 0, (0, 1, 2, 3), False)
    before, after, _ = asyncio.run(sell_and_return(tmp_path, seed, [("TEA", 3)], cash))
    assert before.stock[(WAREHOUSE, "TEA")] == (2, 5_100)
    assert after.stock[(WAREHOUSE, "TEA")] == (2, 5_100)
