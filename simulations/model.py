"""The shapes a simulation is described and reported in.

A `Scenario` is what an ops person writes (as TOML, see simulations/scenario.py);
a `RunResult` is what one seeded run produced, from which the terminal summary
and the HTML report are drawn. Times are simulated milliseconds from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


def format_duration(duration_ms: int) -> str:
    """4321 -> '4.321s', 90000 -> '1m 30s', 7200000 -> '2h 00m 00s'."""
    sign = "-" if duration_ms < 0 else ""
    left_ms = abs(duration_ms)
    if left_ms < SECOND_MS:
        return f"{sign}{left_ms} ms"
    hours, left_ms = divmod(left_ms, HOUR_MS)
    minutes, left_ms = divmod(left_ms, MINUTE_MS)
    seconds, millis = divmod(left_ms, SECOND_MS)
    fraction = f".{millis:03d}" if millis else ""
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {seconds:02d}{fraction}s"
    if minutes:
        return f"{sign}{minutes}m {seconds:02d}{fraction}s"
    return f"{sign}{seconds}{fraction}s"


# The node that runs HQ's main warehouse, like any branch (its warehouse is "HQ-MAIN").
# It joins a run only when the run moves stock between warehouses.
HQ_WAREHOUSE_NODE = "HQ"


@dataclass(frozen=True)
class Load:
    """Trading per branch. Rates are events per simulated minute (Poisson)."""

    sales_per_minute: float = 2.0
    registrations_per_minute: float = 0.2
    # Share of sales made by a member registered at another branch (roaming).
    roaming_share: float = 0.1
    # The shared member directory. Zero by default: a scenario that does not ask
    # for these operations trades as it did before the directory existed.
    # Share of registrations by someone who just signed up at another branch.
    duplicate_share: float = 0.0
    edits_per_minute: float = 0.0  # profile edits (name, birthday)
    top_ups_per_minute: float = 0.0
    # Sales paid (partly) in stored value: online with a hold when HQ answers, else offline.
    stored_value_sales_per_minute: float = 0.0
    status_changes_per_minute: float = 0.0  # report lost, unlock, suspend, resume
    voucher_sales_per_minute: float = 0.0  # sales paid partly with a single-use voucher
    # Share of voucher sales using a voucher already redeemed at another branch.
    voucher_reuse_share: float = 0.0
    # Inventory beyond sales. Zero by default, as for the directory.
    receipts_per_minute: float = 0.0  # goods from a supplier arrive at the warehouse
    transfers_per_minute: float = 0.0  # goods on hand sent to another warehouse
    stocktakes_per_minute: float = 0.0  # a count of a few products, differing a little from the books
    returns_per_minute: float = 0.0  # a customer brings back part of a recent sale
    # Cards of a type (README "Cards of a type"). Zero by default, as for the directory.
    card_sales_per_minute: float = 0.0  # a member buys a card of one of HQ's card types
    card_uses_per_minute: float = 0.0  # a service line paid with a count card's uses
    time_card_visits_per_minute: float = 0.0  # a service line a time card admits
    card_replacements_per_minute: float = 0.0  # a card (lost, worn) replaced by a new number
    card_renewals_per_minute: float = 0.0  # a card of a type renewed for its type's days
    card_top_ups_per_minute: float = 0.0  # stored value paid onto a stored-value card (with its bonus)
    card_spends_per_minute: float = 0.0  # goods paid with a stored-value card's balance
    card_payouts_per_minute: float = 0.0  # what was paid onto a card, paid back in cash
    card_credit_per_minute: float = 0.0  # a credit line granted, drawn on at checkout, or repaid
    card_upgrades_per_minute: float = 0.0  # a card made a card of a dearer type, for the difference
    card_password_changes_per_minute: float = 0.0  # a card given a password, or a new one
    card_returns_per_minute: float = 0.0  # a sale paid with a card's uses, visits or money returned
    # Share of card uses that go for a card's last uses as the tills were told, so two
    # stores cut off from each other spend the same last use.
    last_use_share: float = 0.0
    # Share of spends on a card with a password where the member keys in a wrong one.
    wrong_password_share: float = 0.0
    # Points and vouchers beyond earning at every member's sale (README "Points"). Zero by
    # default, as for the directory; asking for any has HQ author a small points rule set.
    points_sales_per_minute: float = 0.0  # a member pays part of a basket with points
    points_conversions_per_minute: float = 0.0  # points turned into stored value on the member's card
    # A sale that earned points, paid with points or took a voucher brought back (whole or in part).
    points_returns_per_minute: float = 0.0
    referrals_per_minute: float = 0.0  # a new member signs up naming a member who referred them

    @property
    def uses_cards(self) -> bool:
        return any(
            (
                self.card_sales_per_minute,
                self.card_uses_per_minute,
                self.time_card_visits_per_minute,
                self.card_replacements_per_minute,
                self.card_renewals_per_minute,
                self.card_top_ups_per_minute,
                self.card_spends_per_minute,
                self.card_payouts_per_minute,
                self.card_credit_per_minute,
                self.card_upgrades_per_minute,
                self.card_password_changes_per_minute,
                self.card_returns_per_minute,
            )
        )

    @property
    def uses_loyalty(self) -> bool:
        return any(
            (
                self.points_sales_per_minute,
                self.points_conversions_per_minute,
                self.points_returns_per_minute,
                self.referrals_per_minute,
            )
        )

    @property
    def uses_inventory(self) -> bool:
        return any(
            (
                self.receipts_per_minute,
                self.transfers_per_minute,
                self.stocktakes_per_minute,
                self.returns_per_minute,
            )
        )

    @property
    def uses_directory(self) -> bool:
        return any(
            (
                self.duplicate_share,
                self.edits_per_minute,
                self.top_ups_per_minute,
                self.stored_value_sales_per_minute,
                self.status_changes_per_minute,
                self.voucher_sales_per_minute,
            )
        )


# HQ's main warehouse has no tills: it only receives, transfers and counts stock.
HQ_WAREHOUSE_LOAD = Load(sales_per_minute=0.0, registrations_per_minute=0.0, roaming_share=0.0)


@dataclass(frozen=True)
class Busy:
    """A window of heavier trading, e.g. a promotion: rates multiplied."""

    start_ms: int
    duration_ms: int
    multiplier: float
    branches: tuple[str, ...] = ()  # empty: every branch


@dataclass(frozen=True)
class BranchSpec:
    code: str
    clock_skew_ms: int = 0  # the branch's wall clock minus true time
    load: Load | None = None  # None: the scenario's load


@dataclass(frozen=True)
class Partition:
    """The listed branches cannot reach HQ (nor HQ them) during the window."""

    branches: tuple[str, ...]
    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class LinkFaults:
    """Unreliable links between the listed branches (empty: all) and HQ."""

    start_ms: int
    duration_ms: int
    branches: tuple[str, ...] = ()
    loss: float = 0.0  # probability a message is dropped
    duplicate: float = 0.0  # probability a message is delivered twice
    reorder: float = 0.0  # probability a message is held back behind later ones
    extra_latency_ms: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Crash:
    """The branch's process dies at `at_ms` and restarts `down_ms` later,
    `repeat` times in all, `every_ms` apart."""

    branch: str
    at_ms: int
    down_ms: int
    repeat: int = 1
    every_ms: int = 0


@dataclass(frozen=True)
class HQOutage:
    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    duration_ms: int  # how long the branches trade
    heal_budget_ms: int  # after the last fault heals, everything converges within this
    branches: tuple[BranchSpec, ...]
    load: Load = Load()
    latency_ms: tuple[int, int] = (5, 40)  # one-way latency on a healthy link
    busy: tuple[Busy, ...] = ()
    partitions: tuple[Partition, ...] = ()
    link_faults: tuple[LinkFaults, ...] = ()
    crashes: tuple[Crash, ...] = ()
    hq_outages: tuple[HQOutage, ...] = ()
    # An operator at HQ works through the conflict queue while branches trade: an
    # open conflict is resolved (with an action it offers) this often, per minute.
    resolutions_per_minute: float = 0.0
    # HQ's main warehouse: receipts, transfers out and stocktakes there (no till trading).
    hq_warehouse: Load = HQ_WAREHOUSE_LOAD

    @property
    def uses_inventory(self) -> bool:
        loads = [self.load, self.hq_warehouse, *(b.load for b in self.branches if b.load is not None)]
        return any(load.uses_inventory for load in loads)

    @property
    def uses_cards(self) -> bool:
        return any(load.uses_cards for load in (self.load, *(b.load for b in self.branches if b.load)))

    @property
    def uses_loyalty(self) -> bool:
        return any(load.uses_loyalty for load in (self.load, *(b.load for b in self.branches if b.load)))

    @property
    def nodes(self) -> tuple[BranchSpec, ...]:
        """Every node the run starts: the branches, and HQ's main warehouse when stock moves."""
        if not self.uses_inventory:
            return self.branches
        return (*self.branches, BranchSpec(HQ_WAREHOUSE_NODE, load=self.hq_warehouse))

    def last_fault_end_ms(self) -> int:
        ends = [p.start_ms + p.duration_ms for p in self.partitions]
        ends += [f.start_ms + f.duration_ms for f in self.link_faults]
        ends += [c.at_ms + (c.repeat - 1) * c.every_ms + c.down_ms for c in self.crashes]
        ends += [o.start_ms + o.duration_ms for o in self.hq_outages]
        return max(ends, default=0)


@dataclass(frozen=True)
class Heal:
    """A fault's end and how long after it everything had converged (None: never, within budget)."""

    what: str
    healed_at_ms: int
    converged_after_ms: int | None
    # A fault that kept the same branches apart within the budget (a swarm draws
    # overlapping faults): convergence was owed after that one, not this one.
    superseded_by: str | None = None


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str


@dataclass
class BranchFigures:
    code: str
    sales: int = 0
    sales_total_fen: int = 0
    registrations: int = 0
    refused: int = 0  # tills refused (e.g. a roaming member not yet synced here)
    duplicate_registrations: int = 0  # a phone registered at another branch, accepted here
    edits: int = 0
    top_ups: int = 0
    spends_online: int = 0  # stored-value tenders with a hold at HQ
    spends_offline: int = 0  # stored-value tenders within the offline limit
    status_changes: int = 0
    voucher_redemptions: int = 0
    receipts: int = 0  # goods received from a supplier
    stocktakes: int = 0
    returns: int = 0  # customers' returns of goods sold here
    transfers_sent: int = 0
    transfers_refused: int = 0  # e.g. more than the warehouse had on hand
    transfers_received: int = 0  # booked here by the end of the run
    card_sales: int = 0  # cards of a type sold here
    card_sales_fen: int = 0  # their prices: takings, as the tills were told
    uses_spent: int = 0  # count-card uses spent here
    time_card_visits: int = 0
    card_replacements: int = 0  # cards replaced by a new number here
    card_renewals: int = 0
    card_top_ups: int = 0  # onto cards of a type here
    card_bonus_fen: int = 0  # the bonuses HQ's rules gave with them
    card_payouts: int = 0
    credit_granted: int = 0
    credit_charges: int = 0
    credit_repaid: int = 0
    card_upgrades: int = 0  # cards made cards of a dearer type here
    card_passwords_set: int = 0
    # Spends where the member keyed in a wrong password on purpose, refused as they must be.
    wrong_passwords_refused: int = 0
    card_returns: int = 0  # returns of sales paid with a card's uses, visits or money
    points_earned: int = 0  # by members' sales here, as the tills were told
    points_sales: int = 0  # sales paid partly with points
    points_spent: int = 0  # by those sales' points tenders
    points_converted: int = 0  # points turned into stored value here
    points_returns: int = 0  # returns of sales that earned or paid with points, or took a voucher
    vouchers_reinstated: int = 0  # by those returns: the sale's whole voucher share came back
    referrals: int = 0  # members registered here naming a referrer
    # Card operations refused here, by the refusal's code (uses_exhausted, unknown_card,
    # card_expired ...): ordinary outcomes at a till, not failures.
    card_refusals: dict[str, int] = field(default_factory=dict)
    peak_backlog: int = 0
    peak_lag_ms: int = 0  # age of the oldest entry HQ had not acknowledged, at its worst
    bytes_sent: int = 0
    batches_sent: int = 0
    crashes: int = 0


@dataclass(frozen=True)
class InventoryFigures:
    """Transfers over the whole run, read from the warehouses' nodes at its end."""

    sent: int
    received: int  # booked at their destination
    in_transit: int  # sent, not booked at the destination when the run ended
    # The longest a transfer spent between its send and its booking at the destination
    # (or the end of the run, for one still in transit).
    max_in_transit_ms: int


@dataclass
class RunResult:
    scenario: Scenario
    seed: int
    ended_at_ms: int
    converged_at_ms: int | None  # when all replicas last became equal; None if they never did
    branches: dict[str, BranchFigures]
    heals: list[Heal] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    # Samples of (time_ms, backlog per branch) taken every sample interval.
    backlog_samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    # Samples of (time_ms, replication lag in ms per branch): how long ago the
    # oldest change HQ has not acknowledged was made at the branch.
    lag_samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    messages_dropped: int = 0
    messages_duplicated: int = 0
    bytes_total: int = 0
    events_run: int = 0
    event_kinds: dict[str, int] = field(default_factory=dict)  # events run, by kind
    # Wall time per kind of event: differs run to run, so the terminal shows it and
    # the report (byte-identical per seed) does not.
    event_wall_s: dict[str, float] = field(default_factory=dict)
    # HQ's conflict queue at the end of the run: kind -> state (open, resolved,
    # cleared by later data) -> how many.
    conflicts: dict[str, dict[str, int]] = field(default_factory=dict)
    inventory: InventoryFigures | None = None  # None: the run moved no stock between warehouses

    def conflicts_found(self, kind: str) -> int:
        return sum(self.conflicts.get(kind, {}).values())

    @property
    def ok(self) -> bool:
        return not self.violations

    def replay_command(self, scenario_path: str) -> str:
        return f"branchline simulate {scenario_path} --seed {self.seed}"
