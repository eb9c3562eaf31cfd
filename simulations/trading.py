"""The branches' tills in a seeded run: when each operation happens, and what the tills were told.

Every kind of operation is a Poisson stream per branch at the scenario's rate,
multiplied by any busy window in force. Cash sales and registrations are here;
the shared member directory's operations are in simulations/directory_ops.py,
receipts, transfers, stocktakes and returns in simulations/inventory_ops.py, cards of
a type (sold, their uses spent, time-card visits, upgrades, passwords and returns of
what they paid for) in simulations/card_ops.py, points paid, converted and returned
and referrals in simulations/loyalty_ops.py.
What a till was told goes into the shop's `Ledger` (simulations/shop.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from node.services.checkout import SaleRequest, Tender, sell
from node.services.members import register_job
from node.store.writer import ACTING_OPERATOR
from protocol.errors import Refused
from protocol.ids import uuid7
from simulations.card_ops import CardOps
from simulations.directory_ops import DirectoryOps
from simulations.inventory_ops import InventoryOps
from simulations.loyalty_ops import LoyaltyOps, record_sale_points
from simulations.model import Load
from simulations.running import RunningSimulation
from simulations.shop import SKUS, Booked, Member, pick_member
from simulations.world import SimNode

# Cash handed over for a cash sale: more than any basket, the node gives change.
CASH_TENDERED_FEN = 10_000_000
# Someone signing up twice does so soon after the first time, at another store:
# a duplicate reuses the phone of one of the last this many members registered elsewhere.
RECENT_SIGNUPS = 20

Operation = Callable[[SimNode], Awaitable[None]]


class Tills:
    """Drives every branch's operations on the simulation's clock and seeded RNGs."""

    def __init__(self, sim: RunningSimulation) -> None:
        self.sim = sim
        self.rng = sim.trading_rng
        self.ledger = sim.ledger
        self.directory = DirectoryOps(sim, self)
        self.inventory = InventoryOps(sim)
        self.cards = CardOps(sim, self)
        self.loyalty = LoyaltyOps(sim, self)
        # Kind -> (the Load field giving its rate, the operation). Sales and
        # registrations come first and draw from `trading_rng` as they always
        # have, so scenarios without directory operations replay unchanged.
        self.kinds: Mapping[str, tuple[str, Operation]] = {
            "sale": ("sales_per_minute", self.sell),
            "registration": ("registrations_per_minute", self.register),
            "edit": ("edits_per_minute", self.directory.edit),
            "top_up": ("top_ups_per_minute", self.directory.top_up),
            "stored_value_sale": ("stored_value_sales_per_minute", self.directory.stored_value_sale),
            "status_change": ("status_changes_per_minute", self.directory.change_status),
            "voucher_sale": ("voucher_sales_per_minute", self.directory.voucher_sale),
            "receipt": ("receipts_per_minute", self.inventory.receive),
            "transfer": ("transfers_per_minute", self.inventory.transfer),
            "stocktake": ("stocktakes_per_minute", self.inventory.stocktake),
            "sale_return": ("returns_per_minute", self.inventory.sale_return),
            "card_sale": ("card_sales_per_minute", self.cards.sell_card),
            "card_use": ("card_uses_per_minute", self.cards.use_card),
            "time_card_visit": ("time_card_visits_per_minute", self.cards.visit),
            "card_replace": ("card_replacements_per_minute", self.cards.replace_card),
            "card_renew": ("card_renewals_per_minute", self.cards.renew_card),
            "card_top_up": ("card_top_ups_per_minute", self.cards.top_up),
            "card_spend": ("card_spends_per_minute", self.cards.spend),
            "card_payout": ("card_payouts_per_minute", self.cards.pay_out),
            "card_credit": ("card_credit_per_minute", self.cards.credit),
            "card_upgrade": ("card_upgrades_per_minute", self.cards.upgrade_card),
            "card_password": ("card_password_changes_per_minute", self.cards.change_password),
            "card_return": ("card_returns_per_minute", self.cards.return_card_paid_sale),
            "points_sale": ("points_sales_per_minute", self.loyalty.points_sale),
            "points_conversion": ("points_conversions_per_minute", self.loyalty.convert),
            "points_return": ("points_returns_per_minute", self.loyalty.points_return),
            "referral": ("referrals_per_minute", self.loyalty.refer),
        }

    def start(self, node: SimNode) -> None:
        for kind in self.kinds:
            self._next(node, kind)

    def start_operator(self) -> None:
        """HQ's operator resolves open conflicts at the scenario's rate while branches trade."""
        sim = self.sim
        rate = sim.scenario.resolutions_per_minute
        if rate <= 0:
            return
        at = sim.now_ms + max(1, int(self.directory.rng.expovariate(rate / 60_000)))
        if at >= sim.scenario.duration_ms:
            return

        async def review() -> None:
            if not sim.network.hq_down(sim.now_ms):
                await self.directory.resolve_a_conflict()
            self.start_operator()

        sim.schedule(at, review)

    def load(self, code: str) -> tuple[Load, float]:
        """The branch's load and the busy multiplier in force now."""
        sim = self.sim
        spec = next(b for b in sim.scenario.nodes if b.code == code)
        multiplier = 1.0
        for busy in sim.scenario.busy:
            active = busy.start_ms <= sim.now_ms < busy.start_ms + busy.duration_ms
            if active and (not busy.branches or code in busy.branches):
                multiplier *= busy.multiplier
        return spec.load or sim.scenario.load, multiplier

    def _next(self, node: SimNode, kind: str) -> None:
        sim = self.sim
        load, multiplier = self.load(node.code)
        rate_field, operation = self.kinds[kind]
        rate = getattr(load, rate_field) * multiplier
        if rate <= 0:
            return
        at = sim.now_ms + max(1, int(self.rng.expovariate(rate / 60_000)))
        if at >= sim.scenario.duration_ms:
            return

        async def trade() -> None:
            if node.up:
                operator = await node.till_operator()
                if operator is None:
                    sim.figures[node.code].refused += 1  # nobody can log in at the till yet
                else:
                    # As the node's session check does for a request: every entry the
                    # operation writes names the operator (node.store.writer).
                    acting = ACTING_OPERATOR.set(operator)
                    try:
                        await operation(node)
                    finally:
                        ACTING_OPERATOR.reset(acting)
                    # As the push loop wakes on a commit in `node serve`.
                    await sim.drive(node)
            self._next(node, kind)

        sim.schedule(at, trade)

    # -- choosing who is at the till --------------------------------------------------

    def basket(self) -> tuple[tuple[str, int], ...]:
        return tuple((self.rng.choice(SKUS), self.rng.randint(1, 3)) for _ in range(self.rng.randint(1, 3)))

    # -- cash sales and registrations -------------------------------------------------

    async def sell(self, node: SimNode) -> None:
        load, _ = self.load(node.code)
        member_id = None
        if self.ledger.members and self.rng.random() < 0.5:
            member = pick_member(self.rng, node.code, load.roaming_share, self.ledger.members)
            member_id = member.member_id if member else None
        request = SaleRequest(member_id, self.basket(), (Tender("cash", CASH_TENDERED_FEN),), None)
        await self.book_sale(node, request, uuid7(node.wall_ms(), self.rng.randbytes(10)))

    async def book_sale(self, node: SimNode, request: SaleRequest, sale_id: str) -> dict[str, Any] | None:
        """Ring the sale up as a till does (node.services.checkout.sell: holds at HQ for
        stored value, then the sale); record what the till was told. None: refused.

        A sale paid with stored value waits for HQ's answers in simulated time, so it
        runs as a task of its node (DirectoryOps.stored_value_sale)."""
        link = self.sim.links[node.code]
        try:
            receipt = await sell(node.db, link, node.enrolled, request, sale_id, node.card_passwords)
        except Refused:
            self.sim.figures[node.code].refused += 1  # e.g. a roaming member not yet synced here
            return None
        self.record_sale(node, sale_id, receipt)
        return receipt

    def record_sale(self, node: SimNode, sale_id: str, receipt: dict[str, Any]) -> None:
        """What the till was told of a sale it booked: its total, its goods, the points it
        earned, and what each card, points or voucher tender took."""
        figures = self.sim.figures[node.code]
        self.ledger.sales[sale_id] = (node.code, receipt["total_fen"])
        sold = tuple((line["sku"], line["qty"]) for line in receipt["lines"])
        self.ledger.sold[sale_id] = (node.code, sold)
        figures.sales += 1
        figures.sales_total_fen += receipt["total_fen"]
        figures.points_earned += receipt["points_earned"]
        # Its points: what it earned, what points paid, and the sale as its receipt showed it.
        record_sale_points(self.ledger, node.code, sale_id, receipt)
        for number, tender in enumerate(receipt["tenders"]):
            if tender["kind"] == "stored_value":
                self.ledger.entries[f"{sale_id}-t{number}"] = Booked(
                    node.code, self.ledger.root(tender["card"]), "stored_value", -tender["amount_fen"]
                )
                if tender["mode"] == "online":
                    figures.spends_online += 1
                else:
                    figures.spends_offline += 1
            elif tender["kind"] == "credit":
                self.ledger.entries[f"{sale_id}-t{number}"] = Booked(
                    node.code, self.ledger.root(tender["card"]), "credit", -tender["amount_fen"]
                )
                figures.credit_charges += 1
            elif tender["kind"] == "voucher":
                self.ledger.redemptions[f"{sale_id}-t{number}"] = (
                    node.code,
                    tender["voucher"],
                    tender["amount_fen"],
                )
                figures.voucher_redemptions += 1
            elif tender["kind"] == "uses":
                self.ledger.entries[f"{sale_id}-t{number}"] = Booked(
                    node.code, self.ledger.root(tender["card"]), "uses", -tender["qty"], tender["sku"]
                )
                figures.uses_spent += tender["qty"]
            elif tender["kind"] == "time_card":
                self.ledger.card_visits[f"{sale_id}-t{number}"] = (
                    node.code,
                    self.ledger.root(tender["card"]),
                    tender["sku"],
                    tender["qty"],
                )
                figures.time_card_visits += 1

    async def register(self, node: SimNode) -> None:
        load, _ = self.load(node.code)
        number = len(self.ledger.members) + 1
        phone = f"139{self.sim.seed % 1000:03d}{number:05d}"
        duplicate = False
        # Drawn only when asked for, so scenarios without duplicates replay unchanged.
        if load.duplicate_share > 0 and self.rng.random() < load.duplicate_share:
            elsewhere = [m for m in self.ledger.members if m.branch != node.code][-RECENT_SIGNUPS:]
            if elsewhere:
                phone, duplicate = self.rng.choice(elsewhere).phone, True
        member_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            await node.db.writer.run(
                register_job(member_id, node.code, {"name": f"Member {number}", "phone": phone})
            )
        except Refused:
            # A phone this branch already holds: the till finds the member instead.
            self.sim.figures[node.code].refused += 1
            return
        # Without a card handed over, the member's virtual card is numbered as its id.
        self.ledger.members.append(Member(member_id, phone, node.code, (member_id,)))
        self.sim.figures[node.code].registrations += 1
        if duplicate:
            self.sim.figures[node.code].duplicate_registrations += 1
