"""Stock at the warehouses in a seeded run: HQ's master data, receipts, transfers, stocktakes
and customers' returns.

Every operation calls the node's production job through the node's own store
writer, as a storekeeper's request would; what the storekeeper was told goes
into the shop's `Ledger`, which simulations/inventory_invariants.py compares
with the warehouses' books. A refusal (more than is on hand, master data not
yet arrived) is counted, never retried: the next operation is a new decision.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from typing import Any

from node.services import returns, stock_ledger, stocktake
from node.services.documents import ItemLine
from node.services.receipts import ReceivedLine, direct_receipt_job
from node.services.transfers import send_job
from protocol.errors import Refused
from protocol.ids import uuid7
from simulations.loyalty_ops import record_return_points
from simulations.model import HQ_WAREHOUSE_NODE
from simulations.running import RunningSimulation
from simulations.shop import GOODS, STOCKED, SUPPLIERS, Booked, Counted, Received, Sent
from simulations.world import SIMULATED_OPERATOR, SimNode

# A delivery from a supplier: HQ's main warehouse takes pallets, a store a few boxes.
HQ_RECEIPT_QTY = (20, 60)
STORE_RECEIPT_QTY = (2, 12)
# A supplier's price moves around the preset purchase price (percent), so FIFO, LIFO
# and moving average value the same goods differently.
PRICE_SPREAD_PERCENT = (80, 120)
# A transfer sends up to this share of what is on hand of each product it takes.
TRANSFER_SHARE_PERCENT = 60
# One transfer in this many asks for more than is on hand: the node refuses it
# (InsufficientStock), as it would refuse a storekeeper's typo.
OVERREACH_ONE_IN = 10
# A stocktake counts up to this many units more or fewer than the books say.
COUNT_ERROR_QTY = 3
# A store sends back to HQ's main warehouse this share of its transfers; the rest go to
# another store.
TO_HQ_SHARE = 0.25
# A customer brings back something bought at this store among its last this many sales.
RECENT_SALES = 20
# Tenders drawn on a card's money, which a return refunds onto the card (node.services.returns).
CARD_MONEY = ("stored_value", "credit")


def warehouse_of(code: str) -> str:
    """A node's main warehouse (node.config.NodeConfig.warehouse)."""
    return f"{code}-MAIN"


def master_data() -> list[tuple[str, list[dict[str, Any]]]]:
    """HQ's master data for a run that moves stock, as an operator authors it (kind, records):
    the suppliers, a category, and each product the tills sell with its costing method.
    Each node's main warehouse HQ creates itself, at the node's enrollment."""
    suppliers = [
        {"code": code, "name": name, "contact": "sales desk", "phone": "0592-5550000", "active": True}
        for code, name in sorted(SUPPLIERS.items())
    ]
    products = [
        {
            "sku": item.sku,
            "category": "GOODS",
            "purchase_price_fen": item.purchase_price_fen,
            "costing_method": item.costing_method,
            "specified_cost_fen": item.specified_cost_fen,
            "supplier": item.supplier,
        }
        for item in STOCKED
    ]
    return [
        ("supplier", suppliers),
        ("category", [{"code": "GOODS", "name": "Goods"}]),
        ("product", products),
    ]


async def author_master_data(sim: RunningSimulation) -> None:
    """Authored at HQ before any node enrolls, so every node starts from it (enrollment
    sends HQ's master data as it is then): no product is costed by a default method."""
    for kind, records in master_data():
        await sim.hq.hq.author(kind, records, SIMULATED_OPERATOR)


def _on_hand(conn: sqlite3.Connection, warehouse: str) -> dict[str, int]:
    rows = conn.execute("SELECT sku, qty FROM stock WHERE warehouse = ? AND qty > 0", (warehouse,))
    return {str(sku): int(qty) for sku, qty in rows if sku in GOODS}


class InventoryOps:
    def __init__(self, sim: RunningSimulation) -> None:
        self.sim = sim
        self.ledger = sim.ledger
        self.rng: random.Random = sim.inventory_rng

    def _refused(self, node: SimNode) -> None:
        self.sim.figures[node.code].refused += 1

    async def receive(self, node: SimNode) -> None:
        """A supplier's delivery of a few products at this node's main warehouse."""
        warehouse = warehouse_of(node.code)
        low, high = HQ_RECEIPT_QTY if node.code == HQ_WAREHOUSE_NODE else STORE_RECEIPT_QTY
        supplier = self.rng.choice(sorted(SUPPLIERS))
        items = [item for item in STOCKED if item.sku in GOODS]
        chosen = sorted(self.rng.sample(items, self.rng.randint(1, 3)), key=lambda item: item.sku)
        lines = []
        for item in chosen:
            unit_cost_fen = item.purchase_price_fen * self.rng.randint(*PRICE_SPREAD_PERCENT) // 100
            lines.append(ReceivedLine(item.sku, self.rng.randint(low, high), unit_cost_fen))
        receipt_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        payable_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            booked: dict[str, Any] = await node.db.writer.run(
                direct_receipt_job(supplier, warehouse, lines, receipt_id, payable_id, None, warehouse)
            )
        except Refused:
            self._refused(node)  # e.g. a supplier HQ's master data has not brought here yet
            return
        self.ledger.receipts[receipt_id] = Received(
            node.code,
            booked["warehouse"],
            tuple((line["sku"], line["qty"], line["amount_fen"]) for line in booked["lines"]),
        )
        self.sim.figures[node.code].receipts += 1

    async def transfer(self, node: SimNode) -> None:
        """Goods on hand sent to another node's main warehouse: from HQ to a store, from a
        store to another store, and sometimes back to HQ."""
        sim = self.sim
        others = sorted(code for code in sim.nodes if code != node.code)
        if not others:
            return
        stores = [code for code in others if code != HQ_WAREHOUSE_NODE]
        if node.code != HQ_WAREHOUSE_NODE and HQ_WAREHOUSE_NODE in others and self.rng.random() < TO_HQ_SHARE:
            destination = HQ_WAREHOUSE_NODE
        else:
            destination = self.rng.choice(stores or others)
        source = warehouse_of(node.code)
        on_hand = await node.db.read(lambda conn: _on_hand(conn, source))
        overreach = self.rng.randrange(OVERREACH_ONE_IN) == 0
        if not on_hand and not overreach:
            return  # nothing to send: the storekeeper does not start a transfer
        if overreach or not on_hand:
            sku = self.rng.choice(GOODS)
            lines = [ItemLine(sku, on_hand.get(sku, 0) + self.rng.randint(1, 5))]
        else:
            skus = sorted(self.rng.sample(sorted(on_hand), self.rng.randint(1, min(2, len(on_hand)))))
            lines = [
                ItemLine(sku, self.rng.randint(1, max(1, on_hand[sku] * TRANSFER_SHARE_PERCENT // 100)))
                for sku in skus
            ]
        transfer_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        figures = sim.figures[node.code]
        try:
            sent: dict[str, Any] = await node.db.writer.run(
                send_job(transfer_id, source, warehouse_of(destination), lines, None, None, source)
            )
        except Refused:
            # InsufficientStock mostly; or the destination's warehouse has not reached
            # this node's master data yet (it enrolled after this node).
            figures.transfers_refused += 1
            return
        self.ledger.transfers[transfer_id] = Sent(
            node.code,
            sent["from_warehouse"],
            sent["to_branch"],
            sent["to_warehouse"],
            tuple((line["sku"], line["qty"], line["cost_fen"]) for line in sent["lines"]),
            sim.now_ms,
        )
        figures.transfers_sent += 1

    async def stocktake(self, node: SimNode) -> None:
        """A count of a few products that differs a little from the books (or not at all)."""
        warehouse = warehouse_of(node.code)
        skus = sorted(self.rng.sample(GOODS, self.rng.randint(1, 3)))

        def book(conn: sqlite3.Connection) -> dict[str, int]:
            return {sku: stock_ledger.level(conn, warehouse, sku)[0] for sku in skus}

        books = await node.db.read(book)
        lines = [
            ItemLine(sku, max(0, books[sku] + self.rng.randint(-COUNT_ERROR_QTY, COUNT_ERROR_QTY)))
            for sku in skus
        ]
        stocktake_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            posted: dict[str, Any] = await node.db.writer.run(
                stocktake.post_job(stocktake_id, warehouse, lines, None, warehouse)
            )
        except Refused:
            self._refused(node)
            return
        self.ledger.stocktakes[stocktake_id] = Counted(
            node.code,
            posted["warehouse"],
            tuple((line["sku"], line["variance_qty"]) for line in posted["lines"] if line["variance_qty"]),
        )
        self.sim.figures[node.code].stocktakes += 1

    async def sale_return(self, node: SimNode) -> None:
        """A customer brings back part of one line of a recent sale at this store. Asking for
        more than is left of the line (it came back before) is refused (DocumentState)."""
        recent = list(
            itertools.islice(
                (
                    sale_id
                    for sale_id in reversed(self.ledger.sold)
                    if self.ledger.sold[sale_id][0] == node.code
                ),
                RECENT_SALES,
            )
        )
        if not recent:
            return
        sale_id = self.rng.choice(recent)
        _, sold = self.ledger.sold[sale_id]
        line_no = self.rng.randrange(len(sold))
        qty = self.rng.randint(1, sold[line_no][1])
        return_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        warehouse = warehouse_of(node.code)
        try:
            returned: dict[str, Any] = await node.db.writer.run(
                returns.return_job(return_id, sale_id, [returns.ReturnLine(line_no, qty)], None, warehouse)
            )
        except Refused:
            self._refused(node)
            return
        self.ledger.returns[return_id] = (
            node.code,
            tuple((line["sku"], line["qty"]) for line in returned["lines"]),
        )
        # What went back onto the cards that paid (refunds to stored value, under the
        # ids the return gives them: its id and -r<n> for its n-th refund).
        for number, refund in enumerate(returned["refunds"]):
            if refund["kind"] in CARD_MONEY and refund.get("card") is not None:
                self.ledger.entries[f"{return_id}-r{number}"] = Booked(
                    node.code, refund["card"], refund["kind"], refund["amount_fen"]
                )
        # The points the returned units had earned taken back, points tenders refunded and
        # voucher uses given back, as the sale booked them.
        record_return_points(self.ledger, node.code, return_id, sale_id, returned)
        self.sim.figures[node.code].returns += 1
