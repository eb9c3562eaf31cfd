"""The shared member directory at the tills: edits, top-ups, card status, stored-value and voucher sales.

Each operation calls the node's production code. A stored-value sale is the real
checkout (node.services.checkout.sell), holds and all, run as a task of its node
over the simulated link to HQ (simulations/hold_link.py): it asks HQ for a hold
only when the branch believes HQ reachable, first waits for HQ to acknowledge the
branch's own recent writes to the card, and goes ahead offline when HQ does not
answer within HOLD_TIMEOUT_S. HQ's refusals for lack of money, a blocked card or
an unknown card are final, as at a real till; a node that crashes while a sale
waits books nothing, as a till that died.
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any, Protocol

from node.services.cards import status_job, top_up_job
from node.services.checkout import SaleRequest, Tender
from node.services.members import edit_job
from protocol.errors import Refused
from protocol.ids import uuid7
from shared_tables import vouchers
from simulations.model import Load
from simulations.running import RunningSimulation
from simulations.shop import PRICES_FEN, SKUS, Booked, Member, pick_member
from simulations.world import SIMULATED_OPERATOR, SimNode

# What a member pays onto a card at once: 100 to 500 yuan.
TOP_UP_FEN = (10_000, 20_000, 30_000, 50_000)
# A promotion voucher takes up to this much off a sale.
VOUCHER_FEN = 2_000
# A voucher used twice is one a customer used a little earlier at another store.
RECENT_VOUCHERS = 20
# HQ's operator runs a voucher campaign (every member HQ knows, one voucher each) when a
# store holds none unused, at most this often: stores waiting for the last one's
# vouchers to arrive in their feeds do not each ask for another.
CAMPAIGN_EVERY_MS = 5 * 60_000
VOUCHER_DAYS = 30


class TillsView(Protocol):
    """What the directory's operations use of the tills (simulations/trading.py's Tills)."""

    def load(self, code: str) -> tuple[Load, float]: ...

    def basket(self) -> tuple[tuple[str, int], ...]: ...

    async def book_sale(self, node: SimNode, request: SaleRequest, sale_id: str) -> dict[str, Any] | None: ...


class DirectoryOps:
    def __init__(self, sim: RunningSimulation, tills: TillsView) -> None:
        self.sim = sim
        self.tills = tills
        self.ledger = sim.ledger
        self.rng = sim.directory_rng
        self.campaigns = 0
        self.last_campaign_ms: int | None = None

    def _member(self, node: SimNode, pool: list[Member]) -> Member | None:
        load, _ = self.tills.load(node.code)
        return pick_member(self.rng, node.code, load.roaming_share, pool)

    def _paying_card(self, node: SimNode) -> tuple[Member, str] | None:
        """A member with a topped-up card, and that card."""
        holders = self.ledger.card_holders()
        pool = sorted(
            {holders[card].member_id: holders[card] for card in self.ledger.topped_up}.values(),
            key=lambda m: m.member_id,
        )
        member = self._member(node, pool)
        if member is None:
            return None
        cards = sorted(card for card in member.cards if card in self.ledger.topped_up)
        return member, self.rng.choice(cards)

    def _refused(self, node: SimNode) -> None:
        self.sim.figures[node.code].refused += 1

    # -- profile edits, top-ups and card status -----------------------------------------

    async def edit(self, node: SimNode) -> None:
        member = self._member(node, self.ledger.members)
        if member is None:
            return
        if self.rng.random() < 0.5:
            changes = {"name": f"{member.phone[-5:]} edited at {node.code} {self.rng.randint(1, 9999)}"}
        else:
            changes = {"birthday": f"{self.rng.randint(1950, 2005)}-{self.rng.randint(1, 12):02d}-15"}
        try:
            await node.db.writer.run(edit_job(member.member_id, node.code, changes))
        except Refused:
            self._refused(node)  # a member registered elsewhere and not yet synced here
            return
        self.sim.figures[node.code].edits += 1

    async def top_up(self, node: SimNode) -> None:
        member = self._member(node, self.ledger.members)
        if member is None:
            return
        card = self.rng.choice(member.cards)
        amount_fen = self.rng.choice(TOP_UP_FEN)
        top_up_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            await node.db.writer.run(top_up_job(card, amount_fen, top_up_id, None))
        except Refused:
            self._refused(node)  # the card is unknown here yet, or blocked
            return
        self.ledger.entries[top_up_id] = Booked(node.code, card, "stored_value", amount_fen)
        self.ledger.topped_up[card] = self.ledger.topped_up.get(card, 0) + 1
        self.sim.figures[node.code].top_ups += 1

    async def change_status(self, node: SimNode) -> None:
        """Report a paying card lost or suspend it; or, mostly, clear the block the tills last
        put on it. A store that has not seen that block yet refuses to clear it (NothingToClear)."""
        picked = self._paying_card(node)
        if picked is None:
            return
        _, card = picked
        told = [action for _, held, action in self.ledger.card_events.values() if held == card]
        last = told[-1] if told else None
        if last in ("report_lost", "suspend") and self.rng.random() < 0.8:
            action = "unlock" if last == "report_lost" else "resume"
        else:
            action = "report_lost" if self.rng.random() < 0.6 else "suspend"
        event_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            await node.db.writer.run(status_job(card, action, event_id))
        except Refused:
            self._refused(node)  # nothing to clear here (reported elsewhere), or unknown here
            return
        self.ledger.card_events[event_id] = (node.code, card, action)
        self.sim.figures[node.code].status_changes += 1

    # -- sales paid with a voucher or stored value ----------------------------------------

    async def voucher_sale(self, node: SimNode) -> None:
        """A member pays part of a basket with a voucher HQ issued them (FEATURES L10): one
        this store holds unused, or one its member used a little earlier at another store
        (which a store cut off from that use takes again: HQ flags it). A store holding none
        unused asks HQ's operator for a campaign and sells nothing this time."""
        load, _ = self.tills.load(node.code)
        voucher = None
        if self.rng.random() < load.voucher_reuse_share:
            elsewhere = [v for b, v, _ in self.ledger.redemptions.values() if b != node.code]
            if elsewhere:
                voucher = self.rng.choice(elsewhere[-RECENT_VOUCHERS:])
        if voucher is None:
            unused = await node.db.read(_unused_vouchers)
            if not unused:
                await self._run_campaign()
                return
            voucher = self.rng.choice(unused[:RECENT_VOUCHERS])
        issued = await node.db.read(lambda conn: vouchers.voucher(conn, voucher))
        if issued is None:
            self._refused(node)  # issued to a member this store has not heard of yet
            return
        lines = self.tills.basket()
        total_fen = sum(PRICES_FEN[sku] * qty for sku, qty in lines)
        off_fen = min(VOUCHER_FEN, total_fen)
        tenders = [Tender("voucher", off_fen, voucher=voucher)]
        if total_fen > off_fen:
            tenders.append(Tender("cash", total_fen - off_fen))
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        request = SaleRequest(issued.member_id, lines, tuple(tenders), None)
        await self.tills.book_sale(node, request, sale_id)

    async def _run_campaign(self) -> None:
        """HQ's operator issues every member HQ knows a voucher worth VOUCHER_FEN."""
        sim = self.sim
        if sim.network.hq_down(sim.now_ms) or (
            self.last_campaign_ms is not None and sim.now_ms - self.last_campaign_ms < CAMPAIGN_EVERY_MS
        ):
            return
        self.last_campaign_ms = sim.now_ms
        self.campaigns += 1
        today = datetime.datetime.fromtimestamp(sim.clock() / 1000, datetime.UTC).date()
        body = {
            "code": f"SIM{self.campaigns}",
            "name": f"Promotion {self.campaigns}",
            "value_fen": VOUCHER_FEN,
            "valid_from": (today - datetime.timedelta(days=1)).isoformat(),
            "valid_until": (today + datetime.timedelta(days=VOUCHER_DAYS)).isoformat(),
        }
        await sim.hq.hq.run_voucher_campaign(body, SIMULATED_OPERATOR)
        await sim.release_held()

    async def stored_value_sale(self, node: SimNode) -> None:
        picked = self._paying_card(node)
        if picked is None:
            return
        member, card = picked
        # A card pays for a few items at a time, so a balance lasts several visits.
        lines = tuple((self.rng.choice(SKUS), 1) for _ in range(self.rng.randint(1, 2)))
        total_fen = sum(PRICES_FEN[sku] * qty for sku, qty in lines)
        # Most pay the whole basket by card; some put part of it on the card, the rest in cash.
        card_fen = total_fen if self.rng.random() < 0.7 else self.rng.randint(1, total_fen)
        tenders = [Tender("stored_value", card_fen, card=card)]
        if total_fen > card_fen:
            tenders.append(Tender("cash", total_fen - card_fen))
        request = SaleRequest(member.member_id, lines, tuple(tenders), None)
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        self.sim.tasks.spawn(node.code, self._sell_by_card(node, request, sale_id))

    async def _sell_by_card(self, node: SimNode, request: SaleRequest, sale_id: str) -> None:
        await self.tills.book_sale(node, request, sale_id)
        # As the push loop wakes on a commit in `node serve`.
        await self.sim.drive(node)

    # -- HQ's operator -----------------------------------------------------------------

    async def resolve_a_conflict(self) -> None:
        """One open conflict, resolved with one of the actions it offers; the decision and
        the records it writes reach every branch through the feeds."""
        sim = self.sim
        queue = await sim.hq.hq.store.conflicts("open")
        if not queue:
            return
        conflict = self.rng.choice(queue)
        action = self.rng.choice(conflict.actions)
        await sim.hq.hq.resolve_conflict(conflict.id, action, "reviewed in a simulation", SIMULATED_OPERATOR)
        await sim.release_held()


def _unused_vouchers(conn: sqlite3.Connection) -> list[str]:
    """The vouchers this store holds that no use it has heard of took, by code."""
    rows = conn.execute(
        "SELECT voucher_id FROM vouchers WHERE voucher_id NOT IN (SELECT voucher_id FROM dir_redemptions)"
        " ORDER BY voucher_id"
    )
    return [str(voucher_id) for (voucher_id,) in rows]
