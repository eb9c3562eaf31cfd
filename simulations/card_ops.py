"""Cards of a type at the tills: a card sold to a member, a service line paid with a count
card's uses, and a time card's visit.

Each operation calls the node's production code (node.services.card_sales, the real
checkout) through the node's own store; what the till was told goes into the shop's
`Ledger`, which simulations/card_invariants.py compares with the replicas and HQ. A
refusal (the card not known here yet, its uses spent here, outside its validity) is an
ordinary outcome at a till: counted by its code, never retried.

A card's life (node.services.card_life) is simulated too: a card replaced by a new
number (two stores cut off may replace the same card, and HQ must queue the pair), a
card renewed for its type's days, and a card upgraded to a dearer type for the
difference in price (two stores apart may upgrade the same card, the later stamp's
reckoned from a type the card no longer had: a stale upgrade HQ must queue). The member
then presents the newest number a till handed over, and every movement is told against
the card's root; a change's fee is reckoned from the card's type as the till shows it.

Stored-value cards are topped up (with HQ's bonus, booked apart), spent on goods and
paid back (what was paid in, never the bonus); every movement is told to the shop's
Ledger, and card_invariants.card_money_conserved holds each card to them.

Credit lines are granted on cards, drawn on at checkout (two stores apart may draw the
same line past its end: an overdraft on the credit ledger) and repaid.

Members give cards passwords, keying in the old one first, as the node's route does it
(CardPasswords.check, the hash, card_life.password_job). Every spend on a card and every
payout carries the password the member last set, or now and then a wrong one; what the
branch held for the card, and whether it was booked, goes into the card-life ledger
(card_invariants.CardLifeLedger). A sale a card paid for is sometimes brought back at the
store that made it (node.services.returns): the uses, visit, stored value or credit go
back to the card that paid; now and then a line already brought back in full is brought
again and refused.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from hq.storage.base import CardType
from node.services import card_life, cards, checkout, returns
from node.services.card_life import ChangeRequest, change_job
from node.services.card_sales import CardSale, card_sale_job
from node.services.cards import Payout, credit_job, top_up_job
from node.services.checkout import SaleRequest, Tender
from protocol.errors import Refused
from protocol.ids import uuid7
from shared_tables import directory_store
from simulations.card_life_records import (
    CardLifeLedger,
    CardPaid,
    CardReturn,
    Guarded,
    PaidBy,
    PasswordSet,
    Upgraded,
)
from simulations.loyalty_ops import record_return_points
from simulations.model import Load
from simulations.running import RunningSimulation
from simulations.shop import GOODS, Booked, CardSold, issue_entries, pick_member
from simulations.world import SIM_CARD_TYPES, SimNode, sim_password_hash

T = TypeVar("T")

# HQ's card types as the simulated HQ publishes them (simulations/world.py), by code.
CARD_TYPES: dict[str, CardType] = {card_type.code: card_type for card_type in SIM_CARD_TYPES}
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
# The passwords members choose (six digits, as at a PIN pad), and the one they key in by
# mistake. Each is hashed once a run.
CARD_PASSWORDS = ("246810", "135790", "802468")
WRONG_PASSWORD = "999999"
# At most this many cards of a run get passwords, whichever cards the members use most:
# every spend on one checks its password. (Cheap since the world's hashes are
# (sim_password_hash); the bound stays so each seed's course stays what it was.)
MAX_CARDS_WITH_PASSWORDS = 2
# Refusals a wrong password earns: the password itself, or the lock-out after a few.
PASSWORD_REFUSALS = ("wrong_card_password", "too_many_attempts")
# A card-paid sale brought back is one of the store's last this many.
RECENT_CARD_PAID_SALES = 20
# Of returns, this share brings back a line the tills already took back in full.
RETURN_AGAIN_SHARE = 0.2


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
        self.life = CardLifeLedger()

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
        given, on_purpose = self._keyed_in(node, sold.card_id)
        tenders: tuple[Tender, ...] = (Tender(kind, 0, card=card, sku=sku, qty=1, password=given),)
        if self.rng.random() < WITH_GOODS_SHARE:
            lines += ((self.rng.choice(GOODS), 1),)
            tenders += (Tender("cash", CASH_FOR_GOODS_FEN),)
        request = SaleRequest(sold.member_id, lines, tenders, None)
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        # Uses spent here, the card not synced here yet, a wrong password: refused.
        receipt = await self._guarded(
            node, card, (kind, sale_id, given, on_purpose), lambda: self._sell(node, request, sale_id)
        )
        if receipt is not None:
            self._record_card_sale(node, sale_id, receipt)

    async def _sell(self, node: SimNode, request: SaleRequest, sale_id: str) -> dict[str, Any]:
        """The checkout as the node's route rings it up, with the node's password throttle."""
        link = self.sim.links[node.code]
        return await checkout.sell(node.db, link, node.enrolled, request, sale_id, node.card_passwords)

    async def _cup_fen(self, node: SimNode, member_id: str) -> int:
        """What the member pays for a cup here, as the till's preview says: their card's
        discount off the price (loyalty.discounts); the shelf price where the preview
        refuses (the sale will meet the same refusal)."""
        at_ms = node.db.writer.now_ms()
        day = cards.day_of(at_ms, node.enrolled.zone)
        sale = SaleRequest(member_id, ((SPEND_SKU, 1),), (Tender("cash", SPEND_FEN),), None)
        try:
            answer = await node.db.read(
                lambda conn: checkout.preview(conn, sale, at_ms, day, node.enrolled.branch)
            )
        except Refused:
            return SPEND_FEN
        return int(answer["total_fen"])

    def _record_card_sale(self, node: SimNode, sale_id: str, receipt: dict[str, Any]) -> None:
        """What the till was told of a sale a card paid for: as any sale, and its lines and
        tenders, which a return of it is judged by."""
        self.tills.record_sale(node, sale_id, receipt)
        tenders = tuple(
            PaidBy(
                tender["kind"],
                self.ledger.root(tender["card"]) if tender.get("card") else None,
                tender.get("sku"),
                tender.get("qty", 0),
                tender["amount_fen"],
            )
            for tender in receipt["tenders"]
        )
        lines = tuple((line["sku"], line["qty"], line["amount_fen"]) for line in receipt["lines"])
        self.life.paid_by_card[sale_id] = CardPaid(node.code, lines, tenders)

    def _keyed_in(self, node: SimNode, card_id: str) -> tuple[str | None, bool]:
        """The password the member keys in for the card: the one they last set at any till
        (None: they never set one), or now and then (the scenario's wrong-password share) a
        wrong one; and whether it is wrong on purpose."""
        known = self.life.password(card_id)
        load, _ = self.tills.load(node.code)
        if known is not None and self.rng.random() < load.wrong_password_share:
            return WRONG_PASSWORD, True
        return known, False

    async def _guarded(
        self,
        node: SimNode,
        card: str,
        attempt: tuple[str, str, str | None, bool],
        act: Callable[[], Awaitable[T]],
    ) -> T | None:
        """Run `act`, an operation that asks for the card's password: `attempt` is (what it
        is, its id, the password keyed in, whether it is wrong on purpose). None: refused,
        and counted. What the branch held for the card just before goes into the card-life
        ledger with the outcome, and where it held another password than the one keyed
        in, the card as the till showed it just before and after (it must change nothing)."""
        what, op_id, given, on_purpose = attempt
        held = self.life.password_of_hash(
            await node.db.read(lambda c: directory_store.card_password(c, card))
        )
        must_be_refused = held is not None and given != held
        before = await self._card_shown(node, card) if must_be_refused else None
        try:
            result = await act()
        except Refused as refusal:
            self._refused(node, refusal)
            if on_purpose and refusal.code in PASSWORD_REFUSALS:
                self.sim.figures[node.code].wrong_passwords_refused += 1
            if held is not None or given is not None:
                after = await self._card_shown(node, card) if must_be_refused else None
                root = self.ledger.root(card)
                self.life.guarded[op_id] = Guarded(node.code, root, what, given, held, False, before, after)
            return None
        if held is not None or given is not None:
            root = self.ledger.root(card)
            self.life.guarded[op_id] = Guarded(node.code, root, what, given, held, True, before)
        return result

    async def _card_shown(self, node: SimNode, card: str) -> dict[str, Any]:
        """The card as the till shows it (node.services.cards' view), with its password hash."""

        def shown(conn: sqlite3.Connection) -> dict[str, Any]:
            return {
                **directory_store.card_json(conn, card),
                "password": directory_store.card_password(conn, card),
            }

        return await node.db.read(shown)

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
        fee = CARD_TYPES[await self._shown_type(node, presented, sold)].replace_fen
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
        renewable = [
            s for s in self.ledger.card_sales.values() if CARD_TYPES[self._told_type(s)].validity_days
        ]
        sold = self._pick_card(node, renewable)
        if sold is None:
            return
        presented = self.ledger.presented.get(sold.card_id, sold.card_id)
        kind = CARD_TYPES[await self._shown_type(node, presented, sold)]
        request = ChangeRequest("renew", (kind.renew_fen,) if kind.renew_fen else (), None)
        change_id = await self._change(node, presented, request)
        if change_id is not None:
            self.ledger.renewals[change_id] = (node.code, sold.card_id, int(kind.validity_days or 0))
            self.sim.figures[node.code].card_renewals += 1

    def _told_type(self, sold: CardSold) -> str:
        """The card's type as the tills were last told it: its latest upgrade's, if any."""
        return self.life.card_type(sold.card_id, sold.card_type)

    async def _shown_type(self, node: SimNode, card: str, sold: CardSold) -> str:
        """The card's type as this store's till shows it (its upgrades the store has heard
        of), which a change's fee is reckoned from; the type the tills were last told, for
        a card the store does not know yet (and will refuse)."""

        def shown(conn: sqlite3.Connection) -> str | None:
            issued = directory_store.card_record(conn, card)
            return None if issued is None else issued.card_type

        return await node.db.read(shown) or self._told_type(sold)

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
        given, on_purpose = self._keyed_in(node, sold.card_id)
        price_fen = await self._cup_fen(node, sold.member_id)
        tender = Tender("stored_value", price_fen, card=card, password=given)
        request = SaleRequest(sold.member_id, ((SPEND_SKU, 1),), (tender,), None)
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        # The hold waits for HQ's answer in simulated time: a task of the node's, as
        # DirectoryOps.stored_value_sale runs.
        attempt = ("stored_value", sale_id, given, on_purpose)
        self.sim.tasks.spawn(node.code, self._spend(node, card, request, attempt))

    async def _spend(
        self, node: SimNode, card: str, request: SaleRequest, attempt: tuple[str, str, str | None, bool]
    ) -> None:
        sale_id = attempt[1]
        # Not enough on the card here, not synced here, a wrong password: refused.
        receipt = await self._guarded(node, card, attempt, lambda: self._sell(node, request, sale_id))
        if receipt is None:
            return
        self._record_card_sale(node, sale_id, receipt)
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
        given, on_purpose = self._keyed_in(node, sold.card_id)
        payout = Payout(None, False, given)

        async def pay() -> dict[str, Any]:
            # As the node's payout route: the card's password first, then the payout.
            await node.card_passwords.check(node.db, {card: given}, node.db.writer.now_ms())
            answer: dict[str, Any] = await node.db.writer.run(
                cards.payout_job(card, payout, payout_id, event_id, None)
            )
            return answer

        # Nothing refundable here, a wrong password: refused.
        answer = await self._guarded(node, card, ("payout", payout_id, given, on_purpose), pay)
        if answer is None:
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
            given, on_purpose = self._keyed_in(node, sold.card_id)
            tender = Tender("credit", await self._cup_fen(node, sold.member_id), card=card, password=given)
            request = SaleRequest(sold.member_id, ((SPEND_SKU, 1),), (tender,), None)
            sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
            # Beyond the line left here, not synced here, a wrong password: refused.
            receipt = await self._guarded(
                node, card, ("credit", sale_id, given, on_purpose), lambda: self._sell(node, request, sale_id)
            )
            if receipt is not None:
                self._record_card_sale(node, sale_id, receipt)
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

    # -- upgrades, passwords, returns of card-paid sales -------------------------------

    async def upgrade_card(self, node: SimNode) -> None:
        """A card made a card of a dearer type, paying the difference in price in cash (to a
        type that adds no stored value or credit: `dearer_types`). With the scenario's
        last-use share the card is one another store upgraded and this one has not heard
        of: both upgrade it while apart, and the later stamp's is reckoned from a type the
        card no longer had (a stale upgrade)."""
        load, _ = self.tills.load(node.code)
        sold = await self._upgraded_elsewhere(node) if self.rng.random() < load.last_use_share else None
        if sold is None:
            upgradable = [s for s in self.ledger.card_sales.values() if dearer_types(self._told_type(s))]
            sold = self._pick_card(node, upgradable)
            if sold is None:
                return
        presented = self.ledger.presented.get(sold.card_id, sold.card_id)
        from_type = await self._shown_type(node, presented, sold)
        dearer = dearer_types(from_type)
        if not dearer:
            return  # the store has heard of an upgrade to the dearest type already
        to_type = self.rng.choice(dearer)
        fee = CARD_TYPES[to_type].price_fen - CARD_TYPES[from_type].price_fen
        change_id = await self._change(
            node, presented, ChangeRequest("upgrade", (fee,), None, card_type=to_type)
        )
        if change_id is None:
            return
        self.life.upgrades[change_id] = Upgraded(node.code, sold.card_id, from_type, to_type, fee)
        # The uses the dearer type bundles beyond the one the till showed, in its order
        # (conflict.wire.card_change_records), carried by the change entry.
        had = dict(CARD_TYPES[from_type].uses)
        added = [
            (sku, qty - had.get(sku, 0)) for sku, qty in CARD_TYPES[to_type].uses if qty > had.get(sku, 0)
        ]
        for number, (sku, qty) in enumerate(added):
            self.ledger.entries[f"{change_id}-u{number}"] = Booked(node.code, sold.card_id, "uses", qty, sku)
            self.ledger.carried_by_change[f"{change_id}-u{number}"] = change_id
        self.sim.figures[node.code].card_upgrades += 1

    async def _upgraded_elsewhere(self, node: SimNode) -> CardSold | None:
        """A card another store upgraded that this store's till still shows as an older
        type, with a dearer one to go to."""
        by_card = {sold.card_id: sold for sold in self.ledger.card_sales.values()}
        elsewhere = sorted({u.card_id for u in self.life.upgrades.values() if u.branch != node.code})

        def behind(conn: sqlite3.Connection) -> list[str]:
            found = []
            for root in elsewhere:
                shown = directory_store.card_record(conn, self.ledger.presented.get(root, root))
                told = self._told_type(by_card[root])
                if shown is not None and shown.card_type != told and dearer_types(shown.card_type):
                    found.append(root)
            return found

        behind_here = await node.db.read(behind) if elsewhere else []
        return by_card[self.rng.choice(behind_here)] if behind_here else None

    async def change_password(self, node: SimNode) -> None:
        """A member gives their card a password, or a new one, keying in the one it has
        first, as the node's route takes it: the old password checked, the new one hashed,
        then the write (which confirms the old one is still the card's)."""
        with_passwords = {p.card_id for p in self.life.passwords.values()}
        cards = list(self.ledger.card_sales.values())
        if len(with_passwords) >= MAX_CARDS_WITH_PASSWORDS:
            cards = [sold for sold in cards if sold.card_id in with_passwords]
        sold = self._pick_card(node, cards)
        if sold is None:
            return
        card = self.ledger.presented.get(sold.card_id, sold.card_id)
        old, on_purpose = self._keyed_in(node, sold.card_id)
        new = self.rng.choice([p for p in CARD_PASSWORDS if p != self.life.password(sold.card_id)])
        change_id = uuid7(node.wall_ms(), self.rng.randbytes(10))

        async def set_password() -> dict[str, Any]:
            checked = await node.card_passwords.check(node.db, {card: old}, node.db.writer.now_ms())
            new_hash = await self._hash(new)
            answer: dict[str, Any] = await node.db.writer.run(
                card_life.password_job(card, new_hash, checked[card], change_id)
            )
            return answer

        # The card not synced here, a wrong old password: refused.
        if await self._guarded(node, card, ("password", change_id, old, on_purpose), set_password) is None:
            return
        self.life.passwords[change_id] = PasswordSet(node.code, sold.card_id, new)
        self.sim.figures[node.code].card_passwords_set += 1

    async def _hash(self, password: str) -> str:
        """The run's one hash of `password` (simulations.world.sim_password_hash), reused
        for every card given that password."""
        if password not in self.life.hashes:
            self.life.hashes[password] = sim_password_hash(password)
        return self.life.hashes[password]

    async def return_card_paid_sale(self, node: SimNode) -> None:
        """A member brings back a line of a recent sale at this store that a card paid for
        (a service with its uses or visit, a cup with its stored value or credit); the
        node gives it back to that card first. Now and then (RETURN_AGAIN_SHARE) the line
        is one the tills already took back in full: refused, nothing of it is left."""
        here = [sale_id for sale_id, paid in self.life.paid_by_card.items() if paid.branch == node.code]
        recent = here[-RECENT_CARD_PAID_SALES:]
        if not recent:
            return
        back: Counter[tuple[str, int]] = Counter()
        for told in self.life.returns.values():
            for line_no, _, qty in told.lines:
                back[(told.sale_id, line_no)] += qty
        again = self.rng.random() < RETURN_AGAIN_SHARE
        lines = [
            (sale_id, line_no, qty - back[(sale_id, line_no)])
            for sale_id in recent
            for line_no, (_, qty, _) in enumerate(self.life.paid_by_card[sale_id].lines)
            if (back[(sale_id, line_no)] >= qty) == again
        ]
        if not lines:
            return
        sale_id, line_no, left = self.rng.choice(lines)
        return_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        job = returns.return_job(
            return_id, sale_id, [returns.ReturnLine(line_no, max(left, 1))], None, node.enrolled.warehouse
        )
        try:
            answer: dict[str, Any] = await node.db.writer.run(job)
        except Refused as refusal:
            self._refused(node, refusal)  # document_state: nothing of the line left to return
            return
        self._record_return(node, return_id, sale_id, answer)

    def _record_return(self, node: SimNode, return_id: str, sale_id: str, answer: dict[str, Any]) -> None:
        """What the till was told of a return: the goods back (the shop's Ledger), what went
        back onto each card (under the ids the return gives them: its id and -r<n> for
        its n-th refund), and the return with its refunds (the card-life ledger)."""
        tenders = self.life.paid_by_card[sale_id].tenders
        refunds = tuple(
            PaidBy(
                refund["kind"],
                self.ledger.root(refund["card"]) if refund.get("card") else None,
                tenders[refund["tender_no"]].sku,
                refund.get("qty", 0),
                refund["amount_fen"],
            )
            for refund in answer["refunds"]
        )
        lines = tuple((line["line_no"], line["sku"], line["qty"]) for line in answer["lines"])
        self.life.returns[return_id] = CardReturn(node.code, sale_id, lines, refunds)
        self.ledger.returns[return_id] = (node.code, tuple((sku, qty) for _, sku, qty in lines))
        # The points the returned lines earned, taken back where the node does so (booked,
        # as the sale's were, on the member's card: the Ledger names no card for points).
        record_return_points(self.ledger, node.code, return_id, sale_id, answer)
        for number, refund in enumerate(refunds):
            if refund.card_id is None:
                continue
            if refund.kind == "uses":
                booked = Booked(node.code, refund.card_id, "uses", refund.qty, refund.sku or "")
            elif refund.kind in ("stored_value", "credit"):
                booked = Booked(node.code, refund.card_id, refund.kind, refund.amount_fen)
            else:
                continue  # a time card's visit back is recorded at its value, and moves nothing
            self.ledger.entries[f"{return_id}-r{number}"] = booked
        self.sim.figures[node.code].card_returns += 1


def dearer_types(code: str) -> list[str]:
    """The published card types a card of type `code` is upgraded to, by code: dearer, and
    adding no stored value or credit. An upgrade that adds them carries them in its
    card/change entry, which simulations/directory_invariants.py's "directory writes
    exactly once" does not yet know to look in (it knows a card sale's card/issue entry
    only), so such an upgrade would be reported as stored value that was never logged."""
    was = CARD_TYPES[code]
    return sorted(
        other.code
        for other in CARD_TYPES.values()
        if other.price_fen > was.price_fen
        and other.stored_value_fen <= was.stored_value_fen
        and other.credit_limit_fen <= was.credit_limit_fen
    )
