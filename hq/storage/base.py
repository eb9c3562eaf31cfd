"""The interface every HQ storage backend implements, and the records it returns.

A backend owns transactions and per-origin ordering; the decisions come from pure
modules (protocol.ingest, hq.plan, hq.conflicts, hq.holds, hq.enrollment and
conflict/), so backends cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

from conflict.voucher_use import IssuedVoucher
from hq.audit import AuditReport
from hq.conflicts import Conflict
from hq.log_proof import LogProof
from hq.member_stats import MemberPurchases
from hq.operation_log import LoggedOperation, Operation
from hq.storage.inventory_records import (
    InTransitLine,
    InTransitSummary,
    PayableDocument,
    StockAlert,
    StockLevel,
    TransferDiscrepancy,
    TransferView,
)
from hq.vouchers import Campaign
from loyalty import rules as loyalty_rules
from protocol.batch import SignedBatch
from protocol.business_day import DEFAULT, BusinessDay

FEED_ORIGIN_PREFIX = "hq:"


def feed_origin(branch: str) -> str:
    return FEED_ORIGIN_PREFIX + branch


@dataclass(frozen=True)
class BranchRecord:
    code: str
    public_key: bytes
    enrolled_at_ms: int
    acked_seq: int
    last_seen_ms: int | None
    reported_backlog: int
    quarantined_reason: str | None
    quarantined_at_ms: int | None
    effects_quarantined: int = 0  # its entries HQ stored but could not apply
    business_day: BusinessDay = DEFAULT  # where its sales count (protocol.business_day)
    # Its card reader and printer as its log last said (branch/devices); None: never said.
    devices: dict[str, Any] | None = None


@dataclass(frozen=True)
class QuarantinedEffect:
    """A validly signed entry HQ stored and acknowledged but did not apply, and why: the
    refusal's code and message. Nothing of the entry's effect is applied."""

    origin: str
    seq: int
    kind: str
    op: str
    entity_id: str
    code: str
    message: str
    at_ms: int  # when HQ set it aside

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "seq": self.seq,
            "kind": self.kind,
            "op": self.op,
            "entity_id": self.entity_id,
            "code": self.code,
            "message": self.message,
            "at_ms": self.at_ms,
        }


@dataclass(frozen=True)
class IngestResult:
    acked_seq: int
    applied: int  # entries stored new (their effects applied or quarantined)
    duplicates: int
    feeds_grown: tuple[str, ...] = ()  # branches whose feeds the batch added to
    quarantined: tuple[QuarantinedEffect, ...] = ()  # the batch's entries whose effects were set aside


class DirectoryDigest(NamedTuple):
    """SHA-256 of the directory's canonical bytes: equal at two replicas iff they agree."""

    sha256: str
    bytes: int


class FeedSlice(NamedTuple):
    """A page of a branch's feed, and how long the feed is."""

    entries: list[bytes]
    available_seq: int


@dataclass(frozen=True)
class FeedChange:
    """A change HQ publishes into branches' feeds."""

    kind: str
    entity_id: str
    op: str
    payload: Any
    actor: str = ""  # the HQ operator whose action it publishes; "" for HQ's own


@dataclass(frozen=True)
class OperatorRecord:
    """An operator as HQ holds them (hq.operators has the rules). `version` grows with
    every change, so a branch keeps the newest it was sent."""

    id: str
    login: str
    name: str
    role: str
    branch: str | None  # the branch of a branch role; None for an HQ role
    password_hash: str
    grants: tuple[str, ...]
    revokes: tuple[str, ...]
    disabled: bool
    version: int
    changed_at_ms: int


@dataclass(frozen=True)
class Product:
    """A product of HQ's catalogue; every field reaches the branches' catalogues.

    The fields after `active` came with purchase, sales and inventory; their
    defaults are what a product authored before them means."""

    sku: str
    name: str
    price_fen: int
    unit: str = "pcs"
    active: bool = True
    category: str | None = None
    spec: str | None = None
    model: str | None = None
    colour: str | None = None
    lower_limit: int | None = None
    upper_limit: int | None = None
    purchase_price_fen: int = 0
    discount_mode: str = "none"  # none | member | all
    discount_rate: int = 100  # percent of the price paid when the discount applies
    costing_method: str = "moving_average"
    specified_cost_fen: int | None = None
    supplier: str | None = None  # the default supplier's code
    service: bool = False  # a service item (a haircut): sold and used on cards, never stocked
    points_price: int | None = None  # points per unit to redeem it (FEATURES L7); None: not redeemable
    barcode: str | None = None  # what a scanner types for it, no other product's (hq.master_data)

    KIND: ClassVar[str] = "product"
    KEY: ClassVar[str] = "sku"

    def as_change(self) -> FeedChange:
        return FeedChange("product", self.sku, "upsert", asdict(self))


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    parent: str | None = None

    KIND: ClassVar[str] = "category"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("category", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class Supplier:
    code: str
    name: str
    contact: str | None = None
    phone: str | None = None
    active: bool = True

    KIND: ClassVar[str] = "supplier"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("supplier", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class Warehouse:
    code: str
    name: str
    branch: str  # the branch whose node keeps the warehouse's stock
    active: bool = True

    KIND: ClassVar[str] = "warehouse"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("warehouse", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class CardType:
    """A card HQ sells (FEATURES M2): its price is takings when a branch sells one; the
    card then holds `stored_value_fen`, a credit line, the uses of service items in
    `uses` and, as a time card, admits the `services` while it is valid; the `gifts`
    leave the selling branch's stock with it. Bundle lines are (sku, qty) pairs."""

    code: str
    name: str
    price_fen: int
    stored_value_fen: int = 0
    discount_rate: int = 100  # percent of list prices paid on this card: 100 is none
    validity_days: int | None = None  # from the day of sale; or a fixed last day; or neither
    valid_until: str | None = None
    credit_limit_fen: int = 0
    uses: tuple[tuple[str, int], ...] = ()
    gifts: tuple[tuple[str, int], ...] = ()
    services: tuple[str, ...] = ()
    level: str = ""
    active: bool = True
    # What a renewal by validity_days costs, and a replacement card (conflict.card_life).
    renew_fen: int = 0
    replace_fen: int = 0

    KIND: ClassVar[str] = "card_type"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        body = asdict(self)
        body["uses"] = [{"sku": sku, "qty": qty} for sku, qty in self.uses]
        body["gifts"] = [{"sku": sku, "qty": qty} for sku, qty in self.gifts]
        body["services"] = list(self.services)
        return FeedChange("card_type", self.code, "upsert", body)


@dataclass(frozen=True)
class TopUpRule:
    """A top-up bonus (FEATURES M3, "pay 1,000 yuan, get 100 more"): a top-up of at
    least `paid_fen` onto a card (of `card_type`, if named) within the dates gets
    `bonus_fen` more, booked apart from what was paid. Of the rules a top-up meets,
    the one with the highest threshold applies, once."""

    code: str
    name: str
    paid_fen: int
    bonus_fen: int
    card_type: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    active: bool = True

    KIND: ClassVar[str] = "top_up_rule"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("top_up_rule", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class Employee:
    """A salesperson (FEATURES B4): the code a till credits a sale, a registration or a
    card sale to, at the branch they work at; one no longer `active` is credited no more."""

    code: str
    name: str
    branch: str
    title: str | None = None  # "Sales associate / 导购", as the shop calls the post
    active: bool = True

    KIND: ClassVar[str] = "employee"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("employee", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class Level:
    """A member level HQ grades members into (hq.levels): earned by spending at least
    `min_spend_fen`, or visiting at least `min_visits` times, over the last `period_days`
    at every branch; of the levels a member earns, the highest `rank` is theirs. Where
    HQ prices it, a member of the level just below may buy it for `points_price` points
    (FEATURES L4; None: it is not sold), and holds it for `period_days`."""

    code: str
    name: str
    rank: int
    min_spend_fen: int | None = None
    min_visits: int | None = None
    period_days: int = 365
    active: bool = True
    points_price: int | None = None

    KIND: ClassVar[str] = "level"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("level", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class PointsRule:
    """A points rule as HQ authors it (loyalty.rules.PointsRule, with a name a person
    reads and a switch): a multiplier, or points per yuan, on what it names, while in
    force (`valid_from_ms` inclusive, `valid_until_ms` exclusive, 0 open-ended)."""

    code: str
    name: str
    kind: str
    factor_milli: int
    target: str = ""
    min_fen: int = 0
    max_fen: int = 0
    valid_from_ms: int = 0
    valid_until_ms: int = 0
    active: bool = True

    KIND: ClassVar[str] = "points_rule"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("points_rule", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class PointsSettings:
    """The chain's points settings (loyalty.rules.PointsSettings): one record, `chain`."""

    code: str
    combine: str = "multiply"
    expiry_days: int = 0
    referral_depth: int = 2
    referral_points: tuple[int, ...] = ()
    referral_trigger: str = "register"
    point_value_fen: int = 1

    KIND: ClassVar[str] = "points_settings"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange(
            "points_settings",
            self.code,
            "upsert",
            {**asdict(self), "referral_points": list(self.referral_points)},
        )


@dataclass(frozen=True)
class SpecialPrice:
    """A special unit price for a product while in force (loyalty.discounts.SpecialPrice,
    with a name a person reads and a switch); `valid_until_ms` exclusive, 0 open-ended."""

    code: str
    name: str
    sku: str
    price_fen: int
    valid_from_ms: int = 0
    valid_until_ms: int = 0
    active: bool = True

    KIND: ClassVar[str] = "special_price"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("special_price", self.code, "upsert", asdict(self))


@dataclass(frozen=True)
class Bundle:
    """Products sold together for one price a set (loyalty.discounts.Bundle); its lines
    are (sku, qty) pairs."""

    code: str
    name: str
    lines: tuple[tuple[str, int], ...]
    price_fen: int
    valid_from_ms: int = 0
    valid_until_ms: int = 0
    active: bool = True

    KIND: ClassVar[str] = "bundle"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        body = asdict(self)
        body["lines"] = [{"sku": sku, "qty": qty} for sku, qty in self.lines]
        return FeedChange("bundle", self.code, "upsert", body)


@dataclass(frozen=True)
class RebateRule:
    """Spend at least `min_spend_fen` after discounts in one sale, get `back_fen` back as
    stored value (loyalty.discounts.RebateRule)."""

    code: str
    name: str
    min_spend_fen: int
    back_fen: int
    kind: str = "stored_value"
    valid_from_ms: int = 0
    valid_until_ms: int = 0
    active: bool = True

    KIND: ClassVar[str] = "rebate_rule"
    KEY: ClassVar[str] = "code"

    def as_change(self) -> FeedChange:
        return FeedChange("rebate_rule", self.code, "upsert", asdict(self))


def points_settings(held: PointsSettings | None) -> loyalty_rules.PointsSettings:
    """The chain's points settings as the engine takes them (its defaults if HQ set none)."""
    if held is None:
        return loyalty_rules.PointsSettings()
    return loyalty_rules.PointsSettings(
        held.combine,
        held.expiry_days,
        held.referral_depth,
        held.referral_points,
        held.referral_trigger,
        held.point_value_fen,
    )


MasterRecord = (
    Product
    | Category
    | Supplier
    | Warehouse
    | CardType
    | TopUpRule
    | Employee
    | Level
    | PointsRule
    | PointsSettings
    | SpecialPrice
    | Bundle
    | RebateRule
)
MASTER_KINDS: dict[str, type[MasterRecord]] = {
    "product": Product,
    "category": Category,
    "supplier": Supplier,
    "warehouse": Warehouse,
    "card_type": CardType,
    "top_up_rule": TopUpRule,
    "employee": Employee,
    "level": Level,
    "points_rule": PointsRule,
    "points_settings": PointsSettings,
    "special_price": SpecialPrice,
    "bundle": Bundle,
    "rebate_rule": RebateRule,
}


def main_warehouse(branch: str) -> Warehouse:
    """The warehouse every branch keeps from its enrollment on (a node's default)."""
    return Warehouse(f"{branch}-MAIN", f"{branch} main warehouse", branch)


@dataclass(frozen=True)
class TopUpTotals:
    """One branch's top-ups of one kind on one day (stored_value, or uses bought)."""

    branch: str
    day: str
    kind: str
    count: int
    paid_fen: int
    bonus_fen: int


@dataclass(frozen=True)
class SalesTotals:
    """A branch's (or the chain's) sales with customers' returns netted out: `total_fen`
    is what the sales took, `returned_fen` what returns gave back; the cost of goods is
    the sales' less what the returns put back on the shelf."""

    count: int
    total_fen: int
    cost_fen: int  # cost of goods sold; sales recorded before costing count 0
    returns: int = 0
    returned_fen: int = 0
    returned_cost_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.total_fen - self.returned_fen

    @property
    def net_cost_fen(self) -> int:
        return self.cost_fen - self.returned_cost_fen

    @property
    def gross_profit_fen(self) -> int:
        return self.net_fen - self.net_cost_fen


@dataclass(frozen=True, slots=True)
class LiveSale:
    """A sale or a return as the console's live view shows it the moment HQ books it;
    (branch, seq) orders a branch's, as its log does."""

    branch: str
    seq: int
    kind: str  # "sale" or "return"
    id: str
    at_ms: int  # when the till booked it (0: booked before HQ kept the time)
    total_fen: int  # what the sale took, or the return gave back
    cost_fen: int
    salesperson: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "branch": self.branch,
            "seq": self.seq,
            "kind": self.kind,
            "id": self.id,
            "at_ms": self.at_ms,
            "total_fen": self.total_fen,
            "cost_fen": self.cost_fen,
            "salesperson": self.salesperson,
        }


@dataclass(frozen=True)
class ReportLine:
    """One line of a sales report: what `key` (a day, a branch, a salesperson, a product)
    sold, with returns netted. On a product's line, `totals.count` and `totals.returns`
    are units, and `group` is its category."""

    key: str
    label: str
    totals: SalesTotals
    group: str = ""


@dataclass(frozen=True)
class StoredValueLiability:
    """Stored value moved at one branch (the node that wrote each movement; "hq" for
    HQ's own adjustments), in fen: issued with cards sold, topped up, spent (shown as a
    positive figure), refunded onto cards by returns, and `other_fen`, the signed sum of
    every other kind (a bonus, a payout, a transfer, an operator's adjustment). What
    the cards still hold of it, the liability, is the sum of every movement."""

    branch: str
    issued_fen: int = 0
    topped_up_fen: int = 0
    spent_fen: int = 0
    refunded_fen: int = 0
    other_fen: int = 0

    @classmethod
    def of_movements(cls, branch: str, fen_by_kind: Mapping[str, int]) -> StoredValueLiability:
        """From the signed sum of each kind of stored-value entry (conflict.ledger)."""
        named = ("issue", "top_up", "spend", "refund")
        return cls(
            branch,
            issued_fen=fen_by_kind.get("issue", 0),
            topped_up_fen=fen_by_kind.get("top_up", 0),
            spent_fen=-fen_by_kind.get("spend", 0),
            refunded_fen=fen_by_kind.get("refund", 0),
            other_fen=sum(fen for kind, fen in fen_by_kind.items() if kind not in named),
        )

    @property
    def outstanding_fen(self) -> int:
        return self.issued_fen + self.topped_up_fen - self.spent_fen + self.refunded_fen + self.other_fen

    def as_json(self) -> dict[str, Any]:
        return {"branch": self.branch, "outstanding_fen": self.outstanding_fen, **asdict(self)}


@dataclass(frozen=True)
class HoldRecord:
    """An online authorisation of a stored-value spend: money set aside on a card
    until the spend's entry arrives (captured), the branch gives it back (released),
    or it expires."""

    hold_id: str
    branch: str
    card_id: str
    amount_fen: int
    expires_at_ms: int


class HQStore(Protocol):
    """HQ's storage: what a backend (SQLite, PostgreSQL) must implement, and no more.

    Every write is one transaction, and ingest is serialised per origin. Errors are
    `protocol.errors.Refused` leaves (hq.errors, protocol.errors, conflict.errors);
    a fork raises ForkedLog after recording the quarantine and its evidence.
    Decisions are not the backend's: what a batch is comes from protocol.ingest,
    what its entries mean from hq.plan, the queue's records and resolutions from
    hq.conflicts, holds from hq.holds, tokens from hq.enrollment; a backend reads,
    calls them and writes.
    """

    async def close(self) -> None: ...

    async def check_reachable(self) -> None:
        """Return if the store answers a query, else raise (StoreUnreachable)."""
        ...

    def watch_feeds(self, feeds_grown: Callable[[Iterable[str]], None]) -> None:
        """Have `feeds_grown(branches)` called when another HQ process sharing this
        store grows those feeds (this process's own growth it already knows)."""
        ...

    # enrollment
    # Every method that changes HQ's own data takes the Operation to log with it, in the
    # same transaction (hq.operation_log rule 1); None only where no operator acts.
    async def add_enroll_token(
        self, branch: str, token_hash: str, expires_at_ms: int, operation: Operation | None = None
    ) -> None: ...
    async def redeem_enroll_token(
        self,
        token_hash: str,
        branch: str,
        public_key: bytes,
        now_ms: int,
        wall_ms: int,
        main_warehouse: Warehouse | None = None,
    ) -> list[str]:
        """Enroll the branch and start its feed with a snapshot of master data, the
        directory and transfers already sent to it. `main_warehouse`, if HQ does not
        hold it, is created and published to the other branches; returns the
        branches whose feeds that grew."""
        ...

    # branches
    async def branch(self, code: str) -> BranchRecord | None: ...
    async def branches(self) -> list[BranchRecord]: ...
    async def touch(self, code: str, now_ms: int, reported_backlog: int | None) -> None: ...

    # the branches' logs
    async def ingest(self, batch: SignedBatch, now_ms: int, reported_backlog: int | None) -> IngestResult:
        """Store and apply the batch; `reported_backlog` None keeps the figure HQ has."""
        ...

    async def log_entries(self, origin: str, first_seq: int, last_seq: int) -> list[bytes]: ...
    async def log_proof(self, origin: str, seq: int) -> LogProof:
        """Entry `seq` and those after it up to the first signed head kept at or after it,
        that head and the branch's key (hq.log_proof); NotFound if HQ cannot prove it."""
        ...

    async def sale_entry(self, origin: str, sale_id: str) -> bytes | None:
        """The stored bytes of the entry that booked `origin`'s sale `sale_id`, or None."""
        ...

    async def quarantined_effects(self, branch: str | None) -> list[QuarantinedEffect]:
        """Entries stored but not applied, newest first; of one branch, or of all."""
        ...

    # HQ's feeds
    async def publish(self, changes: list[FeedChange], wall_ms: int) -> list[str]:
        """Append the changes to every branch's feed; the branches."""
        ...

    async def feed_after(self, branch: str, after_seq: int, max_entries: int, max_bytes: int) -> FeedSlice:
        """Entries after `after_seq`, at most `max_entries` and, past the first, `max_bytes`."""
        ...

    # master data and reports
    async def upsert_master(
        self, records: Sequence[MasterRecord], wall_ms: int, operation: Operation | None = None
    ) -> list[str]:
        """Write the records (checked by hq.master_data.check_update and references, in
        order, in one transaction) and publish them to every branch; the branches."""
        ...

    async def master_records(self, kind: str, keys: list[str] | None = None) -> list[MasterRecord]: ...
    async def sales_totals(
        self, branch: str | None, first_day: str = "0000-01-01", last_day: str = "9999-12-31"
    ) -> SalesTotals:
        """Sales and returns on the UTC days from `first_day` to `last_day` inclusive."""
        ...

    async def sales_by_branch(self, first_day: str, last_day: str) -> list[tuple[str, SalesTotals]]:
        """Each branch's sales and returns on those days, by code; idle branches left out."""
        ...

    async def sales_by_day(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        """Sales with returns netted by day, of `branch` or every branch (None)."""
        ...

    async def sales_by_salesperson(
        self, branch: str | None, first_day: str, last_day: str
    ) -> list[ReportLine]:
        """Sales with returns netted by the employee credited ('' for none)."""
        ...

    async def goods_by_product(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        """Units, takings and cost with returns netted by product, with its category."""
        ...

    async def category_names(self) -> dict[str, str]: ...

    async def joins_by(
        self, dimension: str, branch: str | None, first_day: str, last_day: str
    ) -> list[tuple[str, int]]:
        """Members registered by gender, age band or region, most first."""
        ...

    async def referrals(
        self, branch: str | None, first_day: str, last_day: str, limit: int
    ) -> list[tuple[str, str, int]]:
        """(referrer, name, members referred), the most first."""
        ...

    async def overdue_credit(self, now_ms: int, term_days: int) -> list[dict[str, Any]]:
        """Cards owing credit for longer than the term, the longest first (shared_tables.credit)."""
        ...

    async def off_cycle_members(
        self, branch: str | None, now_ms: int, min_visits: int, limit: int
    ) -> list[tuple[str, str, int, int, int]]:
        """Members overdue on their own visit cycle: (member, name, visits, usual
        interval ms, last visit ms), the most overdue first."""
        ...

    async def start_export(
        self, export_id: str, login: str, name: str, content_type: str, now_ms: int
    ) -> None: ...

    async def finish_export(self, export_id: str, body: bytes | None, error: str | None) -> None: ...

    async def export(self, export_id: str, login: str) -> tuple[str, str, bytes | None, str | None] | None:
        """`login`'s export: (name, content type, body or None while built, error)."""
        ...

    async def points_outstanding(self) -> tuple[list[tuple[int, int]], int]:
        """(expires at ms or 0, points left) per lot, and the points members owe."""
        ...

    async def narrowed_lines(
        self, column: str, value: str, grouping: str, branch: str | None, first_day: str, last_day: str
    ) -> list[ReportLine]:
        """Sales of one salesperson or member level (`column` = `value`), by `grouping`."""
        ...

    async def points_by_kind(self, branch: str | None, first_day: str, last_day: str) -> dict[str, int]:
        """Points moved over the days by kind (earn, redeem, expire...), signed."""
        ...

    async def rebuild_reports(self) -> int:
        """Derive the report tables afresh from the entries held; the entries replayed."""
        ...

    async def lapsed_members(
        self, branch: str | None, before_ms: int, limit: int
    ) -> list[tuple[str, str, str, int, int]]:
        """Members whose last visit was before `before_ms`: (member, name, home branch,
        last visit ms, visits), the longest lapsed first."""
        ...

    async def sales_by_member(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        """Members' sales with returns netted, by member."""
        ...

    async def sales_by_level(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        """Members' sales with returns netted, by the level the member held ('' for none)."""
        ...

    async def joins_by_day(self, branch: str | None, first_day: str, last_day: str) -> list[tuple[str, int]]:
        """Members registered on each business day that had any."""
        ...

    async def joins_by_salesperson(
        self, branch: str | None, first_day: str, last_day: str
    ) -> list[tuple[str, str, int]]:
        """(employee, name, members registered), most first; '' for none named."""
        ...

    async def cards_by_type(
        self, branch: str | None, first_day: str, last_day: str
    ) -> list[tuple[str, str, int, int]]:
        """(card type, name, cards sold, price fen), most sold first."""
        ...

    async def operator_language(self, login: str) -> str | None:
        """The language `login` chose for the console, if they chose one."""
        ...

    async def set_operator_language(self, login: str, language: str) -> None: ...

    async def live_sales(self, origin: str, after_seq: int, up_to_seq: int, limit: int) -> list[LiveSale]:
        """The branch's sales and returns of its entries after_seq < seq <= up_to_seq."""
        ...

    async def stored_value_liability(self, branch: str | None) -> list[StoredValueLiability]:
        """Stored value outstanding, per branch where each movement happened, by branch
        code; of `branch` alone (a row of zeros if it has none) if given."""
        ...

    async def top_up_totals(self, branch: str | None, first_day: str, last_day: str) -> list[TopUpTotals]:
        """Top-ups by branch, day and kind, the days given inclusive (UTC dates)."""
        ...

    # stock, transfers and payables, as the branches' entries tell them
    async def stock_levels(self, warehouse: str | None, sku: str | None) -> list[StockLevel]: ...
    async def in_transit_by_sku(self, to_warehouse: str | None, sku: str | None) -> list[InTransitLine]: ...
    async def in_transit_summary(self) -> InTransitSummary: ...
    async def stock_alerts(self, warehouse: str | None) -> list[StockAlert]: ...
    async def transfers(self, state: str | None) -> list[TransferView]:
        """Oldest first: the transfer longest in transit is the one to chase."""
        ...

    async def transfer(self, transfer_id: str) -> TransferView | None:
        """One transfer with its discrepancies."""
        ...

    async def discrepancies(self, transfer_id: str | None) -> list[TransferDiscrepancy]: ...
    async def payables(
        self, supplier: str | None, branch: str | None = None, from_ms: int = 0, to_ms: int = 2**62
    ) -> list[PayableDocument]:
        """Receipts and purchase returns, by supplier, then time; booked in [from_ms, to_ms)."""
        ...

    # the shared member directory; views are the JSON node and HQ both answer
    # (shared_tables.directory_store builds them from the same tables)
    async def member_by_phone(self, phone: str) -> list[dict[str, Any]]:
        """Members with this phone, each as the survivor of its duplicate group."""
        ...

    async def member(self, member_id: str) -> dict[str, Any] | None: ...
    async def grade_levels(
        self, wall_ms: int, operation: Operation | None = None
    ) -> tuple[list[FeedChange], list[str]]:
        """Grade every member into the levels HQ defines (hq.levels); the changed grades,
        published to every branch, and the branches whose feeds grew."""
        ...

    async def expire_points(self, wall_ms: int, due_ms: int) -> tuple[int, list[str]]:
        """Book, at `wall_ms`, the expiry of the points lots HQ earned members (referral
        awards) that are due by `due_ms`: the points expired, and the branches whose
        feeds grew."""
        ...

    async def run_voucher_campaign(
        self, campaign: Campaign, wall_ms: int, operation: Operation | None = None
    ) -> tuple[bool, list[IssuedVoucher], list[str]]:
        """Store the campaign, or check a run repeats its terms (CampaignTermsDiffer), and
        issue a voucher to each member who newly fits (hq.vouchers), published to every
        branch: whether the campaign is new, the vouchers issued, the branches whose
        feeds grew."""
        ...

    async def voucher_campaigns(self, now_ms: int) -> list[dict[str, Any]]:
        """Every campaign with its tracking on the UTC day of `now_ms`, newest first."""
        ...

    async def voucher_campaign(self, code: str, now_ms: int) -> dict[str, Any]:
        """One campaign with its tracking and every voucher's state; UnknownCampaign if none."""
        ...

    async def member_purchases(
        self, member_id: str, start_ms: int, end_ms: int, branch: str | None
    ) -> MemberPurchases | None:
        """The member's sales made in [start_ms, end_ms), at `branch` or every branch, under
        every id of its duplicate group (hq.member_stats); None for a member HQ does not know."""
        ...

    async def member_contacts(
        self, member_id: str, limit: int, before: tuple[int, str] | None
    ) -> dict[str, Any] | None:
        """The contact history of the member's duplicate group, newest first, a page of at
        most `limit` after `before` (shared_tables.directory_store.contact_history); None
        for a member HQ does not know."""
        ...

    async def photo(self, ref: str) -> tuple[str, bytes] | None:
        """The content type and bytes of the photo a profile names ("sha256:<hex>"), if a
        branch has sent them (shared_tables.photos)."""
        ...

    async def card(self, card_id: str) -> dict[str, Any] | None: ...
    async def directory_bytes(self) -> bytes: ...
    async def directory_digest(self) -> DirectoryDigest:
        """The digest of directory_bytes, computed again only when the store has changed
        since, and by one caller at a time (the others wait and share it): asking for it
        over and over cannot keep the store busy."""
        ...

    # online payment holds
    async def place_hold(self, hold: HoldRecord, unsynced_fen: int, now_ms: int) -> int:
        """Hold `hold.amount_fen` on the card if hq.holds allows it; what stays available.
        Placing the same hold again answers the same."""
        ...

    async def release_hold(self, branch: str, hold_id: str) -> bool: ...

    # operators and their sessions
    async def put_operator(
        self, record: OperatorRecord, expected_version: int, wall_ms: int, operation: Operation | None = None
    ) -> list[str]:
        """Write the operator if HQ holds version `expected_version` of them (0: none under
        that id or login), or RecordConflict; publish a branch operator to their branch's
        feed (if enrolled; otherwise the branch's first feed carries them). A disabled
        operator's sessions end with the write. The branches whose feeds grew."""
        ...

    async def operator(self, operator_id: str) -> OperatorRecord | None: ...
    async def operator_by_login(self, login: str) -> OperatorRecord | None: ...
    async def operators(self) -> list[OperatorRecord]: ...
    async def add_session(self, token_hash: str, operator_id: str, expires_at_ms: int) -> None: ...
    async def session_operator(self, token_hash: str, now_ms: int) -> OperatorRecord | None:
        """The operator of a live session; None if unknown, expired or the operator is disabled."""
        ...

    async def end_session(self, token_hash: str) -> None: ...

    # the operation log (hq.operation_log)
    async def operations(self, before_seq: int | None, limit: int) -> list[LoggedOperation]:
        """Newest first, at most `limit`, with seq below `before_seq` if given."""
        ...

    async def audit(self, hq_public_key: bytes) -> AuditReport:
        """Every chain HQ keeps, checked: the operation log, each branch's log as HQ
        holds it, and each branch's feed (hq.audit)."""
        ...

    # the conflict queue
    async def conflicts(self, state: str | None) -> list[Conflict]: ...
    async def conflict(self, conflict_id: str) -> Conflict | None: ...
    async def resolve_conflict(
        self,
        conflict_id: str,
        action: str,
        note: str,
        by: str,
        wall_ms: int,
        operation: Operation | None = None,
    ) -> tuple[Conflict, list[str]]:
        """Record the decision, write what it implies, and publish both to every branch;
        the conflict as resolved and the branches whose feeds grew."""
        ...
