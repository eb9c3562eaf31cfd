"""What an ingested batch changes at HQ, computed from its entries alone.

The storage backends execute a plan inside the ingest transaction; keeping the
decisions here means SQLite and PostgreSQL cannot disagree about them.

Each entry is planned on its own. A validly signed entry whose effect HQ cannot
plan (a payload it cannot read, a figure beyond its bounds) is left out of the
plan whole and listed in `Plan.refused` with its refusal: HQ stores it and sets
its effect aside, and the entries after it are planned as usual, so one bad
entry never wedges a branch's replication.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from conflict.profile import PROFILE_FIELDS, StampedField, stamp_fields
from conflict.wire import DirectoryRecord, from_entry, records_from_entry
from hq import inventory_plan, levels, member_stats
from hq.errors import BeyondItsBranch, OutOfBounds
from hq.inventory_plan import InventoryPlan
from protocol.business_day import DEFAULT, BusinessDay
from protocol.contract import (
    BRANCH_BUSINESS_DAY,
    BRANCH_DEVICES,
    CARD_CHANGE,
    CARD_EVENT,
    CARD_ISSUE,
    LEDGER_ENTRY,
    MEMBER_CONTACT,
    MEMBER_EDIT,
    MEMBER_LEVEL_BUY,
    MEMBER_PHOTO,
    MEMBER_REGISTER,
    SALE_CHECKOUT,
    SALE_RETURN_POST,
    VOUCHER_REDEEM,
    VOUCHER_REINSTATE,
    Writer,
    check_entry,
)
from protocol.entry import Entry
from protocol.errors import MalformedMessage, Refused
from protocol.limits import MAX_MEMBER_NOTES_CHARS

PROFILE_KEYS = PROFILE_FIELDS
# A member always has these; every other profile field may be null (a till cleared it).
REQUIRED_PROFILE_KEYS = ("name", "phone")
# A sale timestamp must be a date Python can represent (year 9999); a signed
# entry beyond it is a broken node, refused before it reaches a report.
MAX_AT_MS = 253_402_300_799_999
# A hundred billion yuan: far above any sale, far below SQLite's 64-bit integers
# even when a year of such sales is summed.
MAX_SALE_TOTAL_FEN = 10**13
# HQ's own bound on a profile text it stores and forwards: the contract's longest
# (a member's notes), so a profile a branch may write is never refused here.
MAX_PROFILE_CHARS = MAX_MEMBER_NOTES_CHARS


class GoodsLine(NamedTuple):
    """Goods on a sale or a return, as the product reports add them up."""

    sku: str
    qty: int
    amount_fen: int  # what the customer paid for them (or was given back)
    cost_fen: int


@dataclass(frozen=True, slots=True)
class SaleRow:
    origin: str
    sale_id: str
    seq: int
    day: str  # UTC date of the sale, the unit of daily aggregates
    total_fen: int
    line_count: int
    cost_fen: int = 0  # cost of goods sold; a sale recorded before costing counts 0
    # The employee code the branch credited the sale to, as written: HQ keeps a code it
    # does not know (its employee may reach HQ later), never refusing the sale for it.
    salesperson: str | None = None
    at_ms: int = 0  # when the till booked it, for the live view
    lines: tuple[GoodsLine, ...] = ()  # the goods sold, for the product reports
    member_id: str | None = None  # the member it was sold to, for the reports by member and level


@dataclass(frozen=True, slots=True)
class ReturnRow:
    """A customer's return of goods, netted out of its branch's day (the day of the
    return, not of the sale: takings go back when the money does)."""

    origin: str
    return_id: str
    seq: int
    day: str  # UTC date of the return
    refund_fen: int  # what the customer was given back
    cost_fen: int  # the cost of the goods put back on the shelf
    sale_id: str = ""  # the sale it returns goods of: its salesperson's figures are netted
    at_ms: int = 0
    lines: tuple[GoodsLine, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberJoin:
    """A member registered at a branch on its business day, credited to a salesperson
    and referred by another member ('' for none), with the gender, age band and region
    the registration gave ('' where it gave none): what the members report adds up."""

    origin: str
    day: str
    salesperson: str
    gender: str = ""
    age_band: str = ""
    region: str = ""
    referrer: str = ""


# Age bands of the members report, by the lowest age in each, as of the day a member
# registered (ages change; a band kept at registration does not have to).
AGE_BANDS = (
    (65, "65+"),
    (55, "55-64"),
    (45, "45-54"),
    (35, "35-44"),
    (25, "25-34"),
    (18, "18-24"),
    (0, "0-17"),
)


def age_band(birthday: object, day: str) -> str:
    """The band of a member born on `birthday` (YYYY-MM-DD) on `day`; '' if unknown."""
    if not isinstance(birthday, str):
        return ""
    try:
        born, on = datetime.date.fromisoformat(birthday), datetime.date.fromisoformat(day)
    except ValueError:
        return ""
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return next((band for lowest, band in AGE_BANDS if age >= lowest), "")


@dataclass(frozen=True, slots=True)
class CardSaleRow:
    """A card of a type sold on a branch's business day, and its price."""

    origin: str
    day: str
    card_type: str
    price_fen: int


@dataclass(frozen=True, slots=True)
class PointsRow:
    """A points movement (earned, referral, redeemed, refunded, returned, expired,
    adjusted; signed as the ledger signs it) on its branch's business day."""

    origin: str
    day: str
    kind: str
    points: int


@dataclass(frozen=True, slots=True)
class TopUpRow:
    """Money paid onto a card, or a bonus given with it, for the top-up report: kind
    stored_value (paid or bonus) or uses (a service item's uses bought)."""

    origin: str
    entry_id: str
    day: str  # UTC date of the entry's stamp
    kind: str
    card_id: str
    paid_fen: int
    bonus_fen: int


@dataclass(frozen=True, slots=True)
class MemberWrite:
    origin: str
    member_id: str
    home_branch: str | None  # set by a registration, None for an edit
    profile: dict[str, StampedField]


@dataclass(frozen=True, slots=True)
class DirectoryWrite:
    origin: str
    record: DirectoryRecord
    hold_id: str | None = None  # a stored-value spend authorised online captures its hold


@dataclass(frozen=True, slots=True)
class PhotoWrite:
    """A member's photo as a branch sent it: kept by the SHA-256 HQ computes of its bytes."""

    origin: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class VoucherUse:
    """A voucher taken at a till, with the sale it paid for: what a campaign's tracking
    counts (hq.storage.sqlite.vouchers). The use itself joins the directory."""

    origin: str
    redemption_id: str
    voucher_id: str
    sale_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class RefusedEffect:
    """An entry HQ stores but does not apply, and why."""

    entry: Entry
    refusal: Refused


# How far each of a plan's lists had grown: an entry refused half-way is cut back to it.
Mark = tuple[int, ...]


@dataclass
class Plan:
    sales: list[SaleRow] = field(default_factory=list)
    returns: list[ReturnRow] = field(default_factory=list)
    members: list[MemberWrite] = field(default_factory=list)
    directory: list[DirectoryWrite] = field(default_factory=list)
    inventory: InventoryPlan = field(default_factory=InventoryPlan)
    top_ups: list[TopUpRow] = field(default_factory=list)
    # Members' sales and the returns of sales, in log order (hq.member_stats).
    member_purchases: list[member_stats.MemberSale | member_stats.MemberReturn] = field(default_factory=list)
    photos: list[PhotoWrite] = field(default_factory=list)
    voucher_uses: list[VoucherUse] = field(default_factory=list)
    level_purchases: list[levels.LevelPurchase] = field(default_factory=list)
    joins: list[MemberJoin] = field(default_factory=list)
    card_sales: list[CardSaleRow] = field(default_factory=list)
    points: list[PointsRow] = field(default_factory=list)
    refused: list[RefusedEffect] = field(default_factory=list)  # in log order
    # The branch's business day as its entries go (protocol.business_day, rule 3), and
    # the one its log set in this batch, for the store to keep under the branch's code.
    days: BusinessDay = DEFAULT
    days_set: tuple[str, BusinessDay] | None = None
    # The branch's devices as its log last said in this batch (branch/devices): kept
    # under its code for the branch's health.
    devices_set: tuple[str, dict[str, Any]] | None = None

    def mark(self) -> Mark:
        stock = self.inventory
        return (
            len(self.sales),
            len(self.members),
            len(self.directory),
            len(stock.moves),
            len(stock.transfers),
            len(stock.discrepancies),
            len(stock.payables),
            len(self.top_ups),
            len(self.member_purchases),
            len(self.photos),
            len(self.voucher_uses),
            len(self.level_purchases),
            len(self.returns),
            len(self.joins),
            len(self.card_sales),
            len(self.points),
        )

    def cut_back(self, mark: Mark) -> None:
        stock = self.inventory
        del self.sales[mark[0] :]
        del self.members[mark[1] :]
        del self.directory[mark[2] :]
        del stock.moves[mark[3] :]
        del stock.transfers[mark[4] :]
        del stock.discrepancies[mark[5] :]
        del stock.payables[mark[6] :]
        del self.top_ups[mark[7] :]
        del self.member_purchases[mark[8] :]
        del self.photos[mark[9] :]
        del self.voucher_uses[mark[10] :]
        del self.level_purchases[mark[11] :]
        del self.returns[mark[12] :]
        del self.joins[mark[13] :]
        del self.card_sales[mark[14] :]
        del self.points[mark[15] :]


def plan_entries(entries: Iterable[Entry], days: BusinessDay = DEFAULT) -> Plan:
    """What the entries change at HQ; an entry refused is left out whole (`Plan.refused`).
    `days`: the branch's business day before the first of them.

    The batch is planned in one go first; only if an entry is refused is it planned
    again entry by entry, each cut back to where it began if it is refused, so the
    common batch pays nothing for the rare bad entry."""
    entries = list(entries)
    plan = Plan(days=days)
    try:
        for entry in entries:
            _plan_entry(plan, entry)
    except Refused:
        plan = Plan(days=days)
        for entry in entries:
            mark = plan.mark()
            try:
                _plan_entry(plan, entry)
            except Refused as refusal:
                plan.cut_back(mark)
                plan.refused.append(RefusedEffect(entry, refusal))
    return plan


def _plan_entry(plan: Plan, entry: Entry) -> None:
    # The wire contract first, as the branch checked it when it wrote the entry: its
    # shape and structural bounds. What is left below are HQ's own rules (its
    # business bounds, a branch writing only its own side).
    entry_type = check_entry(entry, Writer.BRANCH)
    if entry_type is None:
        return  # a kind this build does not read (a newer node's): stored, no effect
    handler = _HANDLERS.get(entry_type.key)
    if handler is not None:
        handler(plan, entry)
    stock_handler = inventory_plan.HANDLERS.get(entry_type.key)
    if stock_handler is not None:
        stock_handler(plan.inventory, entry)
    inventory_plan.plan_moves(plan.inventory, entry)
    # Kinds with no HQ-side effect yet (a purchase order, say) are stored
    # verbatim all the same, so a later HQ can replay them.


def _business_day(plan: Plan, entry: Entry) -> str:
    """The business day of the branch an entry's sale, return or fee counts on."""
    return _day_of(plan, entry, _bounded(entry, "at_ms", 0, MAX_AT_MS))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _stamp_day(plan: Plan, entry: Entry) -> str:
    """The business day of an entry with no time of its own: its stamp's wall time."""
    return _day_of(plan, entry, min(entry.hlc >> 16, MAX_AT_MS))


def _day_of(plan: Plan, entry: Entry, at_ms: int) -> str:
    try:
        return plan.days.day_text(at_ms)
    except (OverflowError, ValueError):  # a time the zone puts past the year 9999
        raise OutOfBounds(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}): {at_ms} ms has no date"
            f" in {plan.days.timezone}"
        ) from None


def _days_set(plan: Plan, entry: Entry) -> None:
    payload = entry.payload
    try:
        days = BusinessDay(payload["timezone"], payload["starts_at"])
    except MalformedMessage as refusal:
        # The contract takes any zone name (a newer tz database may know more), so a
        # zone HQ's does not know is HQ's own bound: set aside, the log flows on.
        raise OutOfBounds(f"entry {entry.origin}#{entry.seq} (branch/business_day): {refusal}") from None
    plan.days = days
    plan.days_set = (entry.origin, days)


def _devices_set(plan: Plan, entry: Entry) -> None:
    plan.devices_set = (entry.origin, dict(entry.payload))


def utc_day(at_ms: int) -> str:
    return _day_named(at_ms // MS_PER_DAY)


MS_PER_DAY = 86_400_000


@functools.lru_cache(maxsize=64)
def _day_named(day_number: int) -> str:
    # A batch's sales fall on a day or two, so the date is worked out once per day.
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day_number)).isoformat()


def _require(entry: Entry, key: str, kind: type) -> Any:
    """A payload field of the expected type; a signed but ill-formed entry's effect is refused."""
    payload = entry.payload
    value = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedMessage(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}): "
            f"payload field {key!r} must be {kind.__name__}"
        )
    return value


def _bounded(entry: Entry, key: str, low: int, high: int) -> int:
    value: int = _require(entry, key, int)
    if not low <= value <= high:
        raise OutOfBounds(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}): "
            f"payload field {key!r} is {value}, outside {low}..{high}"
        )
    return value


def _sale(plan: Plan, entry: Entry) -> None:
    lines = entry.payload["lines"]
    cost_fen = sum(line.get("cost_fen") or 0 for line in lines)
    _book_sale(plan, entry, "total_fen", lines, cost_fen, "its lines", _goods(entry))
    purchase = member_stats.member_sale(entry, utc_day(entry.payload["at_ms"]))  # bounded just now
    if purchase is not None:
        plan.member_purchases.append(purchase)


def _sale_return(plan: Plan, entry: Entry) -> None:
    cost_fen = _bounded(entry, "cost_fen", -MAX_SALE_TOTAL_FEN, MAX_SALE_TOTAL_FEN)
    plan.returns.append(
        ReturnRow(
            entry.origin,
            entry.entity_id,
            entry.seq,
            _business_day(plan, entry),
            _bounded(entry, "refund_fen", 0, MAX_SALE_TOTAL_FEN),
            cost_fen,
            entry.payload["sale_id"],
            entry.payload["at_ms"],
            _goods(entry),
        )
    )
    plan.member_purchases.append(member_stats.member_return(entry))


def _goods(entry: Entry) -> tuple[GoodsLine, ...]:
    """A sale's or a return's lines as the product reports add them up. The contract
    bounds quantities and amounts; a line's cost is any 64-bit figure there, so HQ
    bounds it as it bounds a sale's, keeping a year's sum of them inside 64 bits."""
    goods = []
    for line in entry.payload["lines"]:
        cost_fen = line.get("cost_fen") or 0
        if not -MAX_SALE_TOTAL_FEN <= cost_fen <= MAX_SALE_TOTAL_FEN:
            raise OutOfBounds(
                f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}): a line of {line['sku']}"
                f" costs {cost_fen} fen, outside {-MAX_SALE_TOTAL_FEN}..{MAX_SALE_TOTAL_FEN}"
            )
        goods.append(GoodsLine(line["sku"], line["qty"], line["amount_fen"], cost_fen))
    return tuple(goods)


def _book_sale(
    plan: Plan,
    entry: Entry,
    total_field: str,
    lines: list[Any],
    cost_fen: int,
    what: str,
    goods: tuple[GoodsLine, ...] = (),
) -> None:
    # The contract has checked every field's type; HQ bounds the figures it adds up.
    if not -MAX_SALE_TOTAL_FEN <= cost_fen <= MAX_SALE_TOTAL_FEN:
        raise OutOfBounds(
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}): {what} cost {cost_fen} fen,"
            f" outside {-MAX_SALE_TOTAL_FEN}..{MAX_SALE_TOTAL_FEN}"
        )
    plan.sales.append(
        SaleRow(
            entry.origin,
            entry.entity_id,
            entry.seq,
            _business_day(plan, entry),
            _bounded(entry, total_field, 0, MAX_SALE_TOTAL_FEN),
            len(lines),
            cost_fen,
            entry.payload.get("salesperson"),
            entry.payload["at_ms"],
            goods,
            entry.payload.get("member_id"),
        )
    )


def _member(plan: Plan, entry: Entry) -> None:
    payload: dict[str, Any] = entry.payload if isinstance(entry.payload, dict) else {}
    changes = {key: payload[key] for key in PROFILE_KEYS if key in payload}
    if entry.op == "register":
        _require(entry, "home_branch", str)
        _require(entry, "phone", str)
    for key, value in changes.items():
        if not (isinstance(value, str) and len(value) <= MAX_PROFILE_CHARS) and not (
            key not in REQUIRED_PROFILE_KEYS and value is None
        ):
            raise MalformedMessage(
                f"entry {entry.origin}#{entry.seq} (member/{entry.op}): "
                f"{key} must be text of at most {MAX_PROFILE_CHARS} characters"
            )
    home_branch = payload.get("home_branch") if entry.op == "register" else None
    if entry.op == "register":
        _directory(plan, entry)
        day = _stamp_day(plan, entry)
        plan.joins.append(
            MemberJoin(
                entry.origin,
                day,
                _text(payload.get("salesperson")),
                _text(payload.get("gender")),
                age_band(payload.get("birthday"), day),
                _text(payload.get("region")),
                _text(payload.get("referrer")),
            )
        )
    plan.members.append(
        MemberWrite(
            entry.origin,
            entry.entity_id,
            home_branch,
            stamp_fields(changes, entry.hlc, entry.origin),
        )
    )


def _directory(plan: Plan, entry: Entry) -> None:
    record = from_entry(entry.kind, entry.op, entry.entity_id, entry.hlc, entry.origin, entry.payload)
    hold = entry.payload.get("hold") if isinstance(entry.payload, dict) else None
    plan.directory.append(DirectoryWrite(entry.origin, record, hold if isinstance(hold, str) else None))


def _ledger(plan: Plan, entry: Entry) -> None:
    """A ledger movement joins the directory; money paid onto a card (a top-up, uses
    bought) and a top-up's bonus also go to the top-up report, and every points
    movement to the points by day."""
    _directory(plan, entry)
    payload = entry.payload
    ledger, kind, amount = payload["ledger"], payload["kind"], payload["amount"]
    if ledger == "points":
        plan.points.append(PointsRow(entry.origin, _stamp_day(plan, entry), kind, amount))
    row = None
    if ledger == "stored_value" and kind in ("top_up", "bonus"):
        paid, bonus = (amount, 0) if kind == "top_up" else (0, amount)
        row = ("stored_value", paid, bonus)
    elif ledger == "uses" and kind == "grant" and "paid_fen" in payload:
        row = ("uses", payload["paid_fen"], 0)
    if row is not None:
        day = _stamp_day(plan, entry)  # the branch's business day of the stamp's wall time
        plan.top_ups.append(
            TopUpRow(entry.origin, entry.entity_id, day, row[0], payload["card_id"], row[1], row[2])
        )


def _card_issue(plan: Plan, entry: Entry) -> None:
    """A card sold from a type is a sale: its price is takings, its gifts' cost is the
    cost of goods; the card record and the ledger entries that fill it join the directory."""
    gifts = entry.payload["gifts"]
    _book_sale(plan, entry, "price_fen", gifts, sum(gift["cost_fen"] for gift in gifts), "its gifts")
    sold = plan.sales[-1]  # just booked, its price bounded
    plan.card_sales.append(CardSaleRow(entry.origin, sold.day, entry.payload["card_type"], sold.total_fen))
    records = records_from_entry(
        entry.kind, entry.op, entry.entity_id, entry.hlc, entry.origin, entry.payload
    )
    plan.directory.extend(DirectoryWrite(entry.origin, record) for record in records)


def _card_change(plan: Plan, entry: Entry) -> None:
    """A card renewed, replaced or upgraded is a sale of its fee (nothing leaves stock);
    the change, and an upgrade's stored value and credit, join the directory."""
    if entry.payload["fee_fen"]:
        _book_sale(plan, entry, "fee_fen", [], 0, "its fee")
    records = records_from_entry(
        entry.kind, entry.op, entry.entity_id, entry.hlc, entry.origin, entry.payload
    )
    plan.directory.extend(DirectoryWrite(entry.origin, record) for record in records)


def _voucher(plan: Plan, entry: Entry) -> None:
    # What a voucher takes off is part of a sale, so it keeps a sale's bound; the queue
    # records a reused voucher's amount, which must fit HQ's integers.
    amount_fen = _bounded(entry, "amount_fen", 0, MAX_SALE_TOTAL_FEN)
    _directory(plan, entry)
    payload = entry.payload
    plan.voucher_uses.append(
        VoucherUse(entry.origin, entry.entity_id, payload["voucher_id"], payload["sale_id"], amount_fen)
    )


def _contact(plan: Plan, entry: Entry) -> None:
    """A contact with a member joins the directory. Its operator is the one whose session
    wrote the entry (trust rule 3 holds that one to the branch's own): a contact naming
    anyone else is a branch claiming what it cannot know."""
    operator = entry.payload["operator"]
    if entry.actor and operator != entry.actor:
        raise BeyondItsBranch(
            f"entry {entry.origin}#{entry.seq} (member/contact) names operator {operator!r} as"
            f" making the contact, but {entry.actor!r} wrote it"
        )
    _directory(plan, entry)


def _photo(plan: Plan, entry: Entry) -> None:
    plan.photos.append(PhotoWrite(entry.origin, entry.payload["content_type"], entry.payload["data"]))


def _level_purchase(plan: Plan, entry: Entry) -> None:
    """A level bought with points: its points are a ledger entry of their own; the
    level counts in HQ's grading while it holds (hq.levels rule 5)."""
    plan.level_purchases.append(levels.level_purchase(entry))


_HANDLERS = {
    BRANCH_BUSINESS_DAY.key: _days_set,
    BRANCH_DEVICES.key: _devices_set,
    SALE_CHECKOUT.key: _sale,
    SALE_RETURN_POST.key: _sale_return,
    MEMBER_REGISTER.key: _member,
    MEMBER_EDIT.key: _member,
    CARD_EVENT.key: _directory,
    LEDGER_ENTRY.key: _ledger,
    VOUCHER_REDEEM.key: _voucher,
    # A return gave a voucher's use back: a directory record, forwarded like the use.
    VOUCHER_REINSTATE.key: _directory,
    CARD_ISSUE.key: _card_issue,
    CARD_CHANGE.key: _card_change,
    MEMBER_CONTACT.key: _contact,
    MEMBER_PHOTO.key: _photo,
    MEMBER_LEVEL_BUY.key: _level_purchase,
}
