"""Cards of a type at the tills: a card sold to a member, a service line paid with a count
card's uses, and a time card's visit.

Each operation calls the node's production code (node.services.card_sales, the real
checkout) through the node's own store; what the till was told goes into the shop's
`Ledger`, which simulations/card_invariants.py compares with the replicas and HQ. A
refusal (the card not known here yet, its uses spent here, outside its validity) is an
ordinary outcome at a till: counted by its code, never retried.

Not simulated because the shop does not do them yet (README "Cards of a type"): top-ups
with a bonus, a card's credit line drawn and repaid, a lost card replaced by a new number,
and refunds of a card or of a sale paid with uses. TODO each, when it exists: an operation
here with its `[load]` rate (model.Load), the movements it books in `Ledger.entries`, and its
invariant in card_invariants.py (money conserved per card with the bonus and refund
entries; credit drawn within the limit or an overdraft; a replaced card's old number
refused at every branch once the replacement has reached it).
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Protocol

from hq.setup import DEMO_CARD_TYPES
from hq.storage.base import CardType
from node.services.card_sales import CardSale, card_sale_job
from node.services.checkout import SaleRequest, Tender, sell
from protocol.errors import Refused
from protocol.ids import uuid7
from shared_tables import directory_store
from simulations.model import Load
from simulations.running import RunningSimulation
from simulations.shop import GOODS, CardSold, issue_entries, pick_member
from simulations.world import SimNode

# HQ's card types as the simulated HQ publishes them (simulations/world.py), by code.
CARD_TYPES: dict[str, CardType] = {card_type.code: card_type for card_type in DEMO_CARD_TYPES}
# Which type a member buys, by weight: mostly count cards, whose uses two stores can
# overspend while apart; some time cards; a few stored-value cards.
CARD_TYPE_WEIGHTS = {"GOLD-16800": 5, "MASSAGE-MONTH": 3, "STORED-1000": 2}
# A card's uses of an item count as nearly spent, as the tills were told, with this many
# left or fewer (or, while no card is that low, the fewest left of any): "the last use".
LAST_USES = 1
# A service paid on a card comes with goods paid in cash this often.
WITH_GOODS_SHARE = 0.3
# Cash handed over for those goods: more than any of them costs, the node gives change.
CASH_FOR_GOODS_FEN = 100_000


class TillsView(Protocol):
    """What the card operations use of the tills (simulations/trading.py's Tills)."""

    def load(self, code: str) -> tuple[Load, float]: ...

    def record_sale(self, node: SimNode, sale_id: str, receipt: dict[str, Any]) -> None: ...


class CardOps:
    def __init__(self, sim: RunningSimulation, tills: TillsView) -> None:
        self.sim = sim
        self.tills = tills
        self.ledger = sim.ledger
        self.rng: random.Random = sim.cards_rng
        self.cards_numbered = 0
        self.codes = sorted(CARD_TYPE_WEIGHTS)
        self.weights = [CARD_TYPE_WEIGHTS[code] for code in self.codes]

    def _refused(self, node: SimNode, refusal: Refused) -> None:
        figures = self.sim.figures[node.code]
        figures.refused += 1
        figures.card_refusals[refusal.code] = figures.card_refusals.get(refusal.code, 0) + 1

    def _pick_card(self, node: SimNode, cards: list[CardSold]) -> CardSold | None:
        """One of `cards` at the branch's till: sold elsewhere with the roaming share (if
        there is one), else one sold here."""
        load, _ = self.tills.load(node.code)
        roaming = [card for card in cards if card.branch != node.code]
        local = [card for card in cards if card.branch == node.code]
        chosen = roaming if roaming and self.rng.random() < load.roaming_share else local
        return self.rng.choice(chosen) if chosen else None

    async def sell_card(self, node: SimNode) -> None:
        """A member buys a card of a type, paying its price in cash; the card's number is
        new in the run (a seed's cards are numbered in the order they are handed over)."""
        load, _ = self.tills.load(node.code)
        member = pick_member(self.rng, node.code, load.roaming_share, self.ledger.members)
        if member is None:
            return
        card_type = CARD_TYPES[self.rng.choices(self.codes, self.weights)[0]]
        self.cards_numbered += 1
        card_id = f"K{self.sim.seed % 1000:03d}-{self.cards_numbered:06d}"
        sale = CardSale(member.member_id, card_type.code, card_id, (card_type.price_fen,), None)
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        config = node.enrolled
        try:
            receipt: dict[str, Any] = await node.db.writer.run(
                card_sale_job(sale, sale_id, config.warehouse, config.zone)
            )
        except Refused as refusal:
            self._refused(node, refusal)  # e.g. a roaming member not yet synced here
            return
        card = receipt["card"]
        sold = CardSold(
            branch=node.code,
            card_id=receipt["card_id"],
            member_id=receipt["member_id"],
            card_type=receipt["card_type"],
            price_fen=receipt["price_fen"],
            stored_value_fen=card["balances"]["stored_value"],
            # The type's order, with what the receipt showed the card holding of each.
            uses=tuple((sku, card["uses"].get(sku, 0)) for sku, _ in card_type.uses),
            services=tuple(card.get("card_type", {}).get("services", ())),
            gifts=card_type.gifts,
        )
        self.ledger.card_sales[sale_id] = sold
        self.ledger.entries.update(issue_entries(sale_id, sold))
        figures = self.sim.figures[node.code]
        figures.card_sales += 1
        figures.card_sales_fen += sold.price_fen

    async def use_card(self, node: SimNode) -> None:
        """A service paid with a count card's uses of it, sometimes with goods paid in cash.
        With the scenario's last-use share the member brings a card that this store's till
        shows uses of, but whose uses are (nearly) spent as the tills were told: a store
        that has not heard of the other stores' spends takes the same last use again."""
        load, _ = self.tills.load(node.code)
        counted = [sold for sold in self.ledger.card_sales.values() if sold.uses]
        if not counted:
            return
        if self.rng.random() >= load.last_use_share:
            sold = self._pick_card(node, counted)
            if sold is not None:
                await self._pay_by_card(node, sold, "uses", self.rng.choice([sku for sku, _ in sold.uses]))
            return

        def shown_here(conn: sqlite3.Connection) -> list[tuple[CardSold, str]]:
            # The uses the till shows when the card is presented (node.services.cards' view).
            shown = []
            for sold in counted:
                held = directory_store.card_uses(conn, sold.card_id)
                shown += [(sold, sku) for sku, _ in sold.uses if held.get(sku, 0) > 0]
            return shown

        # Of those, the ones with their last use (at most LAST_USES left as the tills were
        # told, or none: spent elsewhere just now), else those with the fewest left; none
        # already overspent, so an item is overspent by a use or two, as by a family
        # sharing a card at two stores, not drained at one.
        left = self.ledger.uses_told()
        shown = [
            (sold, sku) for sold, sku in await node.db.read(shown_here) if left[(sold.card_id, sku)] >= 0
        ]
        if not shown:
            return
        threshold = max(LAST_USES, min(left[(sold.card_id, sku)] for sold, sku in shown))
        sold, sku = self.rng.choice([(s, sku) for s, sku in shown if left[(s.card_id, sku)] <= threshold])
        await self._pay_by_card(node, sold, "uses", sku)

    async def visit(self, node: SimNode) -> None:
        """A service a time card admits, paid with the card while it is valid."""
        timed = [sold for sold in self.ledger.card_sales.values() if sold.services]
        sold = self._pick_card(node, timed)
        if sold is None:
            return
        await self._pay_by_card(node, sold, "time_card", self.rng.choice(sold.services))

    async def _pay_by_card(self, node: SimNode, sold: CardSold, kind: str, sku: str) -> None:
        """One of `sku` paid with the card (a `uses` or `time_card` tender, which the
        checkout prices at the line's price)."""
        lines: tuple[tuple[str, int], ...] = ((sku, 1),)
        tenders: tuple[Tender, ...] = (Tender(kind, 0, card=sold.card_id, sku=sku, qty=1),)
        if self.rng.random() < WITH_GOODS_SHARE:
            lines += ((self.rng.choice(GOODS), 1),)
            tenders += (Tender("cash", CASH_FOR_GOODS_FEN),)
        request = SaleRequest(sold.member_id, lines, tenders, None)
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            receipt = await sell(node.db, self.sim.links[node.code], node.enrolled, request, sale_id)
        except Refused as refusal:
            self._refused(node, refusal)  # uses spent here, the card not synced here yet ...
            return
        self.tills.record_sale(node, sale_id, receipt)
