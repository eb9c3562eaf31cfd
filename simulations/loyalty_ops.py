"""Points and vouchers at the tills: HQ's points rules, sales paid partly with points,
points turned into stored value, returns of sales that earned points, paid with them or
took a voucher, and members who sign up naming the member who referred them.

At the start of a run that asks for any of these, HQ's operator authors a small rule
set (POINTS_RULES: tea earns double, a holiday window earns double, what points paid
earns nothing; referrers are paid at sign-up), as an operator would at /api/points-rules,
before any branch enrolls so every branch starts from it. Every member's sale earns by
it wherever it is rung up (simulations/trading.py's sales, the directory's voucher and
stored-value sales); vouchers come from HQ's campaigns (simulations/directory_ops.py),
and two stores cut off from HQ may both take one.

Each operation calls the node's production code through the node's own store; what the
till was told goes into the shop's Ledger (the movements, under the node's entry ids)
and its LoyaltyLedger (simulations/loyalty_records.py), which
simulations/loyalty_invariants.py judges the replicas and HQ by. A refusal (the member
not known here yet, fewer points here than asked for, a line already back) is an
ordinary outcome at a till: counted, never retried. While branches trade, a checkpoint
now and then holds every live replica to the laws that must hold at any moment.
"""

from __future__ import annotations

import functools
import random
import sqlite3
from typing import Any, Protocol

from node.services import points, returns
from node.services.checkout import SaleRequest, Tender
from node.services.members import register_job
from protocol.errors import Refused
from protocol.ids import uuid7
from shared_tables import directory_store
from simulations.loyalty_records import PointsConverted, PointsReturned, SalePoints
from simulations.model import Load
from simulations.points_laws import replica_problems
from simulations.running import RunningSimulation
from simulations.shop import PRICES_FEN, SKUS, Booked, Ledger, Member, pick_member
from simulations.world import SIMULATED_OPERATOR, SimNode

# HQ's points rules for a run (loyalty.rules): tea earns double (a category multiplier),
# everything earns double in a holiday window early in the run, and what points paid
# earns nothing (a tender rule). The window is in simulated time after the run's start.
TEA_CATEGORY = "TEA"
TEA_SKUS = ("TEA-OOLONG-250", "TEA-GREEN-100")
HOLIDAY_FROM_MS, HOLIDAY_UNTIL_MS = 10 * 60_000, 40 * 60_000
POINTS_RULES: tuple[dict[str, Any], ...] = (
    {
        "code": "TEA-2X",
        "name": "Tea earns double",
        "kind": "category",
        "target": TEA_CATEGORY,
        "factor_milli": 2_000,
    },
    {"code": "HOLIDAY-2X", "name": "Holiday week", "kind": "holiday", "factor_milli": 2_000},
    {
        "code": "NO-POINTS-ON-POINTS",
        "name": "No points on points",
        "kind": "tender",
        "target": "points",
        "factor_milli": 0,
    },
)
# A point pays 1 fen at the till (100 points a yuan); a referrer earns 500 points, the
# referrer's referrer 200, when the member they brought signs up.
POINT_VALUE_FEN = 1
REFERRAL_POINTS = (500, 200)
# A sale paid with points puts at most this share of its basket on points.
POINTS_SHARE_PERCENT = 50
# A conversion turns at most this many points into stored value at once.
MAX_CONVERTED_POINTS = 5_000
# A sale brought back is one of the store's last this many that earned or paid with
# points or took a voucher; this share of returns brings all of what is left of it back
# (which gives a voucher's use back), the rest part of one line.
RECENT_SALES = 20
WHOLE_RETURN_SHARE = 0.5
# The tenders of sales these returns take: nothing a card of a type paid for, whose
# refunds simulations/card_ops.py's returns judge.
RETURNABLE_TENDERS = frozenset({"cash", "points", "voucher"})
# How often (simulated) the laws that hold at any moment are checked while trading.
CHECKPOINT_EVERY_MS = 15 * 60_000


class TillsView(Protocol):
    """What the loyalty operations use of the tills (simulations/trading.py's Tills)."""

    def load(self, code: str) -> tuple[Load, float]: ...

    async def book_sale(self, node: SimNode, request: SaleRequest, sale_id: str) -> dict[str, Any] | None: ...


async def author_points_rules(sim: RunningSimulation) -> None:
    """HQ's operator puts the tea in category TEA and authors the rules and settings, before
    any node enrolls (enrollment sends HQ's master data as it is then)."""
    hq, now = sim.hq.hq, sim.clock()
    await hq.author("category", [{"code": TEA_CATEGORY, "name": "Tea"}], SIMULATED_OPERATOR)
    await hq.author(
        "product", [{"sku": sku, "category": TEA_CATEGORY} for sku in TEA_SKUS], SIMULATED_OPERATOR
    )
    window = {"valid_from_ms": now + HOLIDAY_FROM_MS, "valid_until_ms": now + HOLIDAY_UNTIL_MS}
    rules = [{**rule, **(window if rule["kind"] == "holiday" else {})} for rule in POINTS_RULES]
    await hq.author("points_rule", rules, SIMULATED_OPERATOR)
    settings = {
        "code": "chain",
        "combine": "multiply",
        "point_value_fen": POINT_VALUE_FEN,
        "referral_depth": len(REFERRAL_POINTS),
        "referral_points": list(REFERRAL_POINTS),
        "referral_trigger": "register",
    }
    await hq.author("points_settings", [settings], SIMULATED_OPERATOR)


# -- what the tills were told ------------------------------------------------------------


def record_sale_points(ledger: Ledger, branch: str, sale_id: str, receipt: dict[str, Any]) -> None:
    """A booked sale's points: the earning and each points tender (movements in the shop
    Ledger under the node's ids: the sale's id with -pts, and -t<n> for its n-th tender),
    and the sale as its receipt showed it."""
    if receipt["points_earned"]:
        # Booked on the member's first card, which the till does not name.
        ledger.entries[f"{sale_id}-pts"] = Booked(branch, None, "points", receipt["points_earned"])
    paid = []
    vouchers = []
    for number, tender in enumerate(receipt["tenders"]):
        if tender["kind"] == "points":
            card = ledger.root(tender["card"])
            paid.append((number, card, tender["points"]))
            ledger.entries[f"{sale_id}-t{number}"] = Booked(branch, card, "points", -tender["points"])
        elif tender["kind"] == "voucher":
            vouchers.append((number, tender["voucher"]))
    ledger.loyalty.sales[sale_id] = SalePoints(
        branch,
        receipt["member_id"],
        receipt["points_earned"],
        tuple((line["sku"], line["qty"], line.get("points", 0)) for line in receipt["lines"]),
        tuple(tender["kind"] for tender in receipt["tenders"]),
        tuple(paid),
        tuple(vouchers),
        tuple(sorted({reason["code"] for reason in receipt.get("points_reasons", ()) if reason.get("code")})),
    )


def record_return_points(
    ledger: Ledger, branch: str, return_id: str, sale_id: str, answer: dict[str, Any]
) -> PointsReturned:
    """A booked return's points and vouchers: points tenders refunded (-r<n>, onto the card
    that paid), the points the returned lines had earned taken back (-pts), and the
    sale's voucher uses it gave back. Every return records through here, whichever
    operation made it, so no movement of points goes untold."""
    refunded = 0
    for number, refund in enumerate(answer["refunds"]):
        if refund["kind"] == "points" and refund.get("card") is not None:
            ledger.entries[f"{return_id}-r{number}"] = Booked(
                branch, ledger.root(refund["card"]), "points", refund["points"]
            )
            refunded += refund["points"]
    taken = answer.get("points_taken_back", 0)
    if taken:
        ledger.entries[f"{return_id}-pts"] = Booked(branch, None, "points", -taken)
    sale = ledger.loyalty.sales.get(sale_id)
    tenders = {voucher: number for number, voucher in sale.vouchers} if sale is not None else {}
    reinstated = tuple(
        f"{sale_id}-t{tenders[voucher]}"
        for voucher in answer.get("vouchers_reinstated", ())
        if voucher in tenders
    )
    for redemption_id in reinstated:
        ledger.loyalty.reinstated[redemption_id] = (branch, return_id)
    told = PointsReturned(
        branch,
        sale_id,
        tuple((line["line_no"], line["qty"]) for line in answer["lines"]),
        taken,
        refunded,
        reinstated,
    )
    ledger.loyalty.returns[return_id] = told
    return told


def _points_here(member_id: str) -> Any:
    """A read of the member's cards as the till shows them: (points, card), most first."""

    def read(conn: sqlite3.Connection) -> list[tuple[int, str]]:
        registration = directory_store.registration(conn, member_id)
        if registration is None:
            return []
        shown = [
            (directory_store.card_balance(conn, card, "points"), card) for card in registration.card_numbers
        ]
        return sorted(shown, key=lambda held: (-held[0], held[1]))

    return read


class LoyaltyOps:
    def __init__(self, sim: RunningSimulation, tills: TillsView) -> None:
        self.sim = sim
        self.tills = tills
        self.ledger = sim.ledger
        self.told = sim.ledger.loyalty
        self.rng: random.Random = sim.loyalty_rng

    def _refused(self, node: SimNode) -> None:
        self.sim.figures[node.code].refused += 1

    def _member(self, node: SimNode) -> Member | None:
        load, _ = self.tills.load(node.code)
        return pick_member(self.rng, node.code, load.roaming_share, self.ledger.members)

    async def _card_with_points(self, node: SimNode, member: Member) -> tuple[int, str] | None:
        """The member's card holding the most points as this store's till shows it, if any."""
        shown = await node.db.read(_points_here(member.member_id))
        return shown[0] if shown and shown[0][0] > 0 else None

    async def points_sale(self, node: SimNode) -> None:
        """A member pays part of a basket with the points their card shows here (up to
        POINTS_SHARE_PERCENT of it), the rest in cash. A member roaming between two stores
        cut off from HQ can spend the same points at both: HQ queues the overdraft."""
        member = self._member(node)
        if member is None:
            return
        held = await self._card_with_points(node, member)
        if held is None:
            return  # nothing to pay with here (yet): the member pays cash another day
        shown, card = held
        lines = tuple((self.rng.choice(SKUS), self.rng.randint(1, 2)) for _ in range(self.rng.randint(1, 3)))
        total_fen = sum(PRICES_FEN[sku] * qty for sku, qty in lines)
        spent = min(shown, total_fen * POINTS_SHARE_PERCENT // 100 // POINT_VALUE_FEN)
        tenders = (
            Tender("points", 0, card=card, points=spent),
            Tender("cash", total_fen - spent * POINT_VALUE_FEN),
        )
        sale_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        receipt = await self.tills.book_sale(
            node, SaleRequest(member.member_id, lines, tenders, None), sale_id
        )
        if receipt is not None:
            figures = self.sim.figures[node.code]
            figures.points_sales += 1
            figures.points_spent += spent

    async def convert(self, node: SimNode) -> None:
        """A member turns some of the points their card shows here into stored value on it."""
        member = self._member(node)
        if member is None:
            return
        held = await self._card_with_points(node, member)
        if held is None:
            return
        shown, card = held
        wanted = self.rng.randint(1, min(shown, MAX_CONVERTED_POINTS))
        convert_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        try:
            answer: dict[str, Any] = await node.db.writer.run(
                points.convert_job(card, wanted, card, convert_id, node.enrolled.zone)
            )
        except Refused:
            self._refused(node)  # e.g. the card blocked here
            return
        root = self.ledger.root(card)
        self.ledger.entries[f"{convert_id}-pts"] = Booked(node.code, root, "points", -answer["points"])
        self.ledger.entries[f"{convert_id}-sv"] = Booked(
            node.code, root, "stored_value", answer["stored_value_fen"]
        )
        self.told.conversions[convert_id] = PointsConverted(
            node.code, root, root, answer["points"], answer["stored_value_fen"]
        )
        self.sim.figures[node.code].points_converted += answer["points"]

    async def points_return(self, node: SimNode) -> None:
        """A member brings back one of this store's recent sales that earned points, paid with
        them or took a voucher (paid for in cash, points and vouchers only): everything left
        of it (WHOLE_RETURN_SHARE), or some of one line."""
        recent = [
            sale_id
            for sale_id, sale in self.told.sales.items()
            if sale.branch == node.code
            and (sale.points_earned or sale.points_paid or sale.vouchers)
            and set(sale.tender_kinds) <= RETURNABLE_TENDERS
        ][-RECENT_SALES:]
        if not recent:
            return
        sale_id = self.rng.choice(recent)
        sale = self.told.sales[sale_id]
        back = self.told.returned_qty(sale_id)
        left = [(n, qty - back.get(n, 0)) for n, (_, qty, _) in enumerate(sale.lines) if qty > back.get(n, 0)]
        if not left:
            return
        if self.rng.random() >= WHOLE_RETURN_SHARE:
            line_no, qty = self.rng.choice(left)
            left = [(line_no, self.rng.randint(1, qty))]
        return_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        config = node.enrolled
        job = returns.return_job(
            return_id,
            sale_id,
            [returns.ReturnLine(n, qty) for n, qty in left],
            None,
            config.warehouse,
            config.zone,
        )
        try:
            answer: dict[str, Any] = await node.db.writer.run(job)
        except Refused:
            self._refused(node)
            return
        self.ledger.returns[return_id] = (
            node.code,
            tuple((line["sku"], line["qty"]) for line in answer["lines"]),
        )
        told = record_return_points(self.ledger, node.code, return_id, sale_id, answer)
        figures = self.sim.figures[node.code]
        figures.points_returns += 1
        figures.vouchers_reinstated += len(told.reinstated)

    async def refer(self, node: SimNode) -> None:
        """Someone signs up naming the member who brought them (one this store knows, or
        refuses): HQ pays the referrers up the chain when it sees the registration."""
        referrer = self._member(node)
        if referrer is None:
            return
        number = len(self.ledger.members) + 1
        phone = f"138{self.sim.seed % 1000:03d}{number:05d}"
        member_id = uuid7(node.wall_ms(), self.rng.randbytes(10))
        profile = {"name": f"Referred member {number}", "phone": phone, "referrer": referrer.member_id}
        try:
            await node.db.writer.run(register_job(member_id, node.code, profile))
        except Refused:
            self._refused(node)  # a referrer registered elsewhere, not yet heard of here
            return
        self.ledger.members.append(Member(member_id, phone, node.code, (member_id,)))
        self.told.referrals[member_id] = (node.code, referrer.member_id)
        figures = self.sim.figures[node.code]
        figures.registrations += 1
        figures.referrals += 1

    # -- checkpoints -------------------------------------------------------------------

    def start_checkpoints(self) -> None:
        """While branches trade, every CHECKPOINT_EVERY_MS: each live replica's points
        ledger adds up to its balances and each sale's points to its lines' (the laws of
        simulations/points_laws.py, which hold at any moment, not only once converged)."""
        sim = self.sim

        async def checkpoint() -> None:
            for code, node in sorted(sim.nodes.items()):
                if node.up:
                    found = await node.db.read(functools.partial(replica_problems, code))
                    self.told.checkpoint_problems += [(sim.now_ms, *problem) for problem in found]
            if sim.now_ms + CHECKPOINT_EVERY_MS < sim.scenario.duration_ms:
                sim.schedule(sim.now_ms + CHECKPOINT_EVERY_MS, checkpoint)

        sim.schedule(CHECKPOINT_EVERY_MS, checkpoint)
