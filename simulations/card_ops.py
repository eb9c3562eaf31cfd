"""Cards of a type at the tills: a card sold to a member, a service line paid with a count
card's uses, and a time card's visit.

Each operation calls the node's production code (node.services.card_sales, the real
checkout) through the node's own store; what the till was told goes into the shop's
`Ledger`, which simulations/card_invariants.py compares with the replicas and HQ. A
refusal (the card not known here yet, its uses spent here, outside its validity) is an
ordinary outcome at a till: counted by its code, never retried.

A card's life (node.services.card_life) is simulated too: a card replaced by a new
number (two stores cut off may replace the same card, and HQ must queue the pair), and a
card renewed for its type's days; the member then presents the newest number a till
handed over, and every movement is told against the card's root.

Stored-value cards are topped up (with HQ's bonus, booked apart), spent on goods and
paid back (what was paid in, never the bonus); every movement is told to the shop's
Ledger, and card_invariants.card_money_conserved holds each card to them.

Credit lines are granted on cards, drawn on at checkout (two stores apart may draw the
same line past its end: an overdraft on the credit ledger) and repaid.

Not simulated yet: upgrades and passwords, and returns of a card or of a sale paid
with uses. TODO each: an operation here with its `[load]` rate (model.Load), the
movements it books in `Ledger.entries`, and its invariant in card_invariants.py.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Protocol

from hq.setup import DEMO_CARD_TYPES
from hq.storage.base import CardType
from node.services.card_life import ChangeRequest, change_job
from node.services.card_sales import CardSale, card_sale_job
from node.services.cards import Payout, credit_job, payout_job, top_up_job
from node.services.checkout import SaleRequest, Tender, sell
from protocol.errors import Refused
from protocol.ids import uuid7
from shared_tables import directory_store
from simulations.model import Load
from simulations.running import RunningSimulation
from simulations.shop import GOODS, Booked, CardSold, issue_entries, pick_member
from simulations.world import SimNode

# HQ's card types as the simulated HQ publishes them (simulations/world.py), by code.
CARD_TYPES: dict[str, CardType] = {card_type.code: card_type for card_type in DEMO_CARD_TYPES}
# Which type a member buys, by weight: mostly count cards, whose uses two stores can
# overspend while apart; some time cards; a few stored-value cards.
CARD_TYPE_WEIGHTS = {"GOLD-16800": 5, "MASSAGE-MONTH": 3, "STORED-1000": 2}
# A card's uses of an item count as nearly spent, as the tills were told, with this many
# left or fewer (or, while no card is that low, the fewest left of any): "the last use".
LAST_USES = 1
# Top-ups onto a stored-value card: below, at and above HQ's demo bonus thresholds
# (pay 1,000 yuan get 100, pay 2,000 get 300).
TOP_UP_FEN = (50_000, 100_000, 200_000)
# What a stored-value card pays for: a ceramic cup at its list price (hq.setup's catalogue).
SPEND_SKU, SPEND_FEN = "CUP-CERAMIC", 2_500
# A store manager's credit line on a card, and a repayment: a few cups' worth each.
CREDIT_LINE_FEN, REPAYMENT_FEN = 10_000, 2_500
# Of the credit events, how many grant a line and how many repay; the rest draw on it.
CREDIT_GRANT_SHARE, CREDIT_REPAY_SHARE = 0.2, 0.2
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
        # The member presents the newest number a till handed over for the card.
        card = self.ledger.presented.get(sold.card_id, sold.card_id)
        tenders: tuple[Tender, ...] = (Tender(kind, 0, card=card, sku=sku, qty=1),)
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

    async def replace_card(self, node: SimNode) -> None:
        """A member's card replaced by a new number (lost or worn out), the type's fee paid
        in cash. A card a till has not heard of, or that is already replaced or returned
        there, is refused. With the scenario's last-use share the lost card is one another
        store replaced and this one has not heard of yet: both replace it while apart."""
        load, _ = self.tills.load(node.code)
        picked = await self._replaced_elsewhere(node) if self.rng.random() < load.last_use_share else None
        if picked is None:
            sold = self._pick_card(node, list(self.ledger.card_sales.values()))
            if sold is None:
                return
            presented = self.ledger.presented.get(sold.card_id, sold.card_id)
        else:
            sold, presented = picked
        self.cards_numbered += 1
        new_card = f"R{self.sim.seed % 1000:03d}-{self.cards_numbered:06d}"
        fee = CARD_TYPES[sold.card_type].replace_fen
        request = ChangeRequest("replace", (fee,) if fee else (), None, new_card=new_card)
        if await self._change(node, presented, request) is None:
            return
        self.ledger.roots[new_card] = sold.card_id
        self.ledger.presented[sold.card_id] = new_card
        self.sim.figures[node.code].card_replacements += 1

    async def _replaced_elsewhere(self, node: SimNode) -> tuple[CardSold, str] | None:
        """A number another store replaced that this store's till still takes."""
        by_card = {sold.card_id: sold for sold in self.ledger.card_sales.values()}
        elsewhere = sorted(
            {
                (old, self.ledger.root(old))
                for branch, old, _ in self.ledger.replacements.values()
                if branch != node.code
            }
        )

        def still_active(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return [
                (old, root) for old, root in elsewhere if directory_store.card_status(conn, old) == "active"
            ]

        shown = await node.db.read(still_active) if elsewhere else []
        if not shown:
            return None
        old, root = self.rng.choice(shown)
        return by_card[root], old

    async def renew_card(self, node: SimNode) -> None:
        """A card of a type with a validity of days renewed by them, at its type's price."""
        renewable = [s for s in self.ledger.card_sales.values() if CARD_TYPES[s.card_type].validity_days]
        sold = self._pick_card(node, renewable)
        if sold is None:
            return
        kind = CARD_TYPES[sold.card_type]
        request = ChangeRequest("renew", (kind.renew_fen,) if kind.renew_fen else (), None)
        presented = self.ledger.presented.get(sold.card_id, sold.card_id)
        change_id = await self._change(node, presented, request)
        if change_id is not None:
            self.ledger.renewals[change_id] = (node.code, sold.card_id, int(kind.validity_days or 0))
            self.sim.figures[node.code].card_renewals += 1

    async def _change(self, node: SimNode, card: str, request: ChangeRequest) -> str | None:
        change_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            answer = await node.db.writer.run(change_job(card, request, change_id, node.enrolled.zone))
        except Refused as refusal:
            self._refused(node, refusal)
            return None
        if answer["fee_fen"]:
            self.ledger.card_fees[change_id] = (node.code, answer["fee_fen"])
        if request.kind == "replace":
            self.ledger.replacements[change_id] = (node.code, card, str(request.new_card))
        return change_id

    def _stored_value_cards(self) -> list[CardSold]:
        return [
            sold for sold in self.ledger.card_sales.values() if CARD_TYPES[sold.card_type].stored_value_fen
        ]

    async def top_up(self, node: SimNode) -> None:
        """Stored value paid onto a stored-value card in cash, with the bonus HQ's rules
        give for it, each its own movement as the till was told."""
        sold = self._pick_card(node, self._stored_value_cards())
        if sold is None:
            return
        amount = self.rng.choice(TOP_UP_FEN)
        top_up_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        card = self.ledger.presented.get(sold.card_id, sold.card_id)
        try:
            answer = await node.db.writer.run(top_up_job(card, amount, top_up_id, None, node.enrolled.zone))
        except Refused as refusal:
            self._refused(node, refusal)
            return
        self.ledger.entries[top_up_id] = Booked(node.code, sold.card_id, "stored_value", answer["paid_fen"])
        if answer["bonus_fen"]:
            bonus = Booked(node.code, sold.card_id, "stored_value", answer["bonus_fen"])
            self.ledger.entries[f"{top_up_id}-bonus"] = bonus
        figures = self.sim.figures[node.code]
        figures.card_top_ups += 1
        figures.card_bonus_fen += answer["bonus_fen"]

    async def spend(self, node: SimNode) -> None:
        """A cup paid with a stored-value card's balance (online hold, else offline)."""
        sold = self._pick_card(node, self._stored_value_cards())
        if sold is None:
            return
        card = self.ledger.presented.get(sold.card_id, sold.card_id)
        tender = Tender("stored_value", SPEND_FEN, card=card)
        request = SaleRequest(sold.member_id, ((SPEND_SKU, 1),), (tender,), None)
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        # The hold waits for HQ's answer in simulated time: a task of the node's, as
        # DirectoryOps.stored_value_sale runs.
        self.sim.tasks.spawn(node.code, self._spend(node, request, sale_id))

    async def _spend(self, node: SimNode, request: SaleRequest, sale_id: str) -> None:
        try:
            receipt = await sell(node.db, self.sim.links[node.code], node.enrolled, request, sale_id)
        except Refused as refusal:
            self._refused(node, refusal)  # not enough on the card here, not synced here ...
            return
        self.tills.record_sale(node, sale_id, receipt)
        await self.sim.drive(node)  # as the push loop wakes on a commit in `node serve`

    async def pay_out(self, node: SimNode) -> None:
        """What may be paid back of a stored-value card (what was paid in, less what was
        taken; never a bonus) paid back in cash."""
        sold = self._pick_card(node, self._stored_value_cards())
        if sold is None:
            return
        card = self.ledger.presented.get(sold.card_id, sold.card_id)
        payout_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        event_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            answer = await node.db.writer.run(
                payout_job(card, Payout(None, False), payout_id, event_id, None)
            )
        except Refused as refusal:
            self._refused(node, refusal)  # nothing refundable here
            return
        self.ledger.entries[payout_id] = Booked(
            node.code, sold.card_id, "stored_value", -answer["paid_out_fen"]
        )
        self.sim.figures[node.code].card_payouts += 1

    async def credit(self, node: SimNode) -> None:
        """A credit line granted on a card, a cup drawn on it at checkout, or part of what
        is owed repaid in cash; a draw beyond the line left here, or a repayment of more
        than is owed here, is refused."""
        roll = self.rng.random()
        granting = roll < CREDIT_GRANT_SHARE
        repaying = not granting and roll < CREDIT_GRANT_SHARE + CREDIT_REPAY_SHARE
        cards = list(self.ledger.card_sales.values())
        if not granting:
            # Drawn on where the tills were told of a line, repaid where told of a draw.
            sign = -1 if repaying else 1
            told = {
                b.card_id
                for b in self.ledger.entries.values()
                if b.ledger == "credit" and b.amount * sign > 0
            }
            cards = [sold for sold in cards if sold.card_id in told]
        sold = self._pick_card(node, cards)
        if sold is None:
            return
        card = self.ledger.presented.get(sold.card_id, sold.card_id)
        figures = self.sim.figures[node.code]
        if not (granting or repaying):
            tender = Tender("credit", SPEND_FEN, card=card)
            request = SaleRequest(sold.member_id, ((SPEND_SKU, 1),), (tender,), None)
            sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
            try:
                receipt = await sell(node.db, self.sim.links[node.code], node.enrolled, request, sale_id)
            except Refused as refusal:
                self._refused(node, refusal)  # beyond the line left here, not synced here ...
                return
            self.tills.record_sale(node, sale_id, receipt)
            return
        action, amount = ("grant", CREDIT_LINE_FEN) if granting else ("repay", REPAYMENT_FEN)
        entry_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            await node.db.writer.run(credit_job(card, action, amount, entry_id, None))
        except Refused as refusal:
            self._refused(node, refusal)
            return
        self.ledger.entries[entry_id] = Booked(node.code, sold.card_id, "credit", amount)
        if action == "grant":
            figures.credit_granted += 1
        else:
            figures.credit_repaid += 1
