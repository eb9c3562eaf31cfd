"""A member's consumption over every branch (FEATURES M6): what a member's sales mean
for HQ's member tables, decided from the entries alone, and the answer HQ gives,
branch by branch and in all.

A sale that names a member is kept with its items summed per SKU and what each
tender kind paid (change out of the cash); a return of it adds what it took back to
the same rows, so the tables are only ever added to and a period's figures are what
the member kept of what they bought in it, as at a branch (node.services.member_stats).
HQ knows no branch's time zone: its days are UTC days, as in its other reports.
Card sales are not consumption here; what the cards later pay for is.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hq.errors import InvalidQuery
from protocol.contract import TENDER_KINDS
from protocol.entry import Entry

# Favourite items an operator asks for; the answer lists them per branch and in all.
DEFAULT_FAVOURITES = 5
MAX_FAVOURITES = 20
# The days whose UTC bounds HQ can compute and every stored stamp (to year 9999) fits.
FIRST_DAY = datetime.date(1970, 1, 1)
LAST_DAY = datetime.date(9999, 12, 30)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat alone takes 20250314 too
MS_PER_DAY = 86_400_000

# -- what an entry means for the member tables ------------------------------------------

Items = tuple[tuple[str, int, int], ...]  # (sku, qty, amount_fen), one per SKU
ByKind = tuple[tuple[str, int], ...]  # (tender kind, fen), one per kind


@dataclass(frozen=True, slots=True)
class MemberSale:
    """A sale that names a member, as the branch wrote it."""

    origin: str
    sale_id: str
    member_id: str
    at_ms: int
    day: str  # UTC date
    total_fen: int
    items: Items
    paid: ByKind  # what each tender kind paid toward the sale: cash less the change


@dataclass(frozen=True, slots=True)
class MemberReturn:
    """Goods a customer brought back; it counts only if its sale named a member."""

    origin: str
    sale_id: str
    refund_fen: int
    items: Items
    refunded: ByKind


def _items(lines: Sequence[Mapping[str, Any]]) -> Items:
    summed: dict[str, list[int]] = {}
    for line in lines:
        held = summed.setdefault(line["sku"], [0, 0])
        held[0] += line["qty"]
        held[1] += line["amount_fen"]
    return tuple((sku, qty, fen) for sku, (qty, fen) in sorted(summed.items()))


def _by_kind(amounts: Sequence[tuple[str, int]]) -> ByKind:
    summed: dict[str, int] = {}
    for kind, fen in amounts:
        summed[kind] = summed.get(kind, 0) + fen
    return tuple(sorted(summed.items()))


def member_sale(entry: Entry, day: str) -> MemberSale | None:
    """A checkout entry the contract and HQ's bounds have passed (hq.plan); None when it
    names no member."""
    payload = entry.payload
    member_id = payload["member_id"]
    if member_id is None:
        return None
    paid = [(tender["kind"], tender["amount_fen"]) for tender in payload["tenders"]]
    paid.append(("cash", -payload["change_fen"]))  # change is given in cash only
    return MemberSale(
        entry.origin,
        entry.entity_id,
        member_id,
        payload["at_ms"],
        day,
        payload["total_fen"],
        _items(payload["lines"]),
        _by_kind(paid),
    )


def member_return(entry: Entry) -> MemberReturn:
    """A sale return entry the contract has passed. Returns booked before refunds were
    recorded per tender carry no list: they refunded cash."""
    payload = entry.payload
    refunds = payload.get("refunds")
    if refunds is None:
        refunded = [("cash", payload["refund_fen"])]
    else:
        refunded = [(refund["kind"], refund["amount_fen"]) for refund in refunds]
    return MemberReturn(
        entry.origin,
        payload["sale_id"],
        payload["refund_fen"],
        _items(payload["lines"]),
        _by_kind(refunded),
    )


# -- what the tables hold of a member, and the answer ---------------------------------


@dataclass
class BranchPurchases:
    """A member's sales at one branch in a period, as HQ's tables sum them."""

    branch: str
    sales_count: int = 0
    total_fen: int = 0
    returns_count: int = 0
    refund_fen: int = 0
    days: set[str] = field(default_factory=set)
    last_at_ms: int | None = None
    # sku -> [qty, amount_fen, returned_qty, returned_fen]
    items: dict[str, list[int]] = field(default_factory=dict)
    paid_fen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TENDER_KINDS, 0))
    refunded_fen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TENDER_KINDS, 0))

    def add(self, other: BranchPurchases) -> None:
        """Fold another branch's figures into these (the totals)."""
        self.sales_count += other.sales_count
        self.total_fen += other.total_fen
        self.returns_count += other.returns_count
        self.refund_fen += other.refund_fen
        self.days |= other.days
        if other.last_at_ms is not None:
            self.last_at_ms = max(self.last_at_ms or 0, other.last_at_ms)
        for sku, figures in other.items.items():
            held = self.items.setdefault(sku, [0, 0, 0, 0])
            for n, figure in enumerate(figures):
                held[n] += figure
        for kind in TENDER_KINDS:
            self.paid_fen[kind] += other.paid_fen[kind]
            self.refunded_fen[kind] += other.refunded_fen[kind]


@dataclass(frozen=True)
class MemberPurchases:
    """A member (the survivor of its duplicate group) and its sales branch by branch."""

    member_id: str
    aliases: tuple[str, ...]
    branches: list[BranchPurchases]  # by branch code
    names: dict[str, str]  # product names by SKU, of every SKU bought


@dataclass(frozen=True, slots=True)
class Period:
    """UTC days, both inclusive; `first` None: since the member's first sale."""

    first: datetime.date | None
    last: datetime.date

    def bounds_ms(self) -> tuple[int, int]:
        """[start, end) in epoch milliseconds."""
        start = 0 if self.first is None else (self.first - FIRST_DAY).days * MS_PER_DAY
        return start, (self.last - FIRST_DAY).days * MS_PER_DAY + MS_PER_DAY


def parse_period(query: Mapping[str, str], today: datetime.date) -> Period:
    """?from=&to= as YYYY-MM-DD, both inclusive; `to` is today (UTC) when not given. As
    HQ's reports read a period (hq.http_common.period_query), but open at its start:
    the answer is a handful of figures whatever the period, not a row per day."""
    first = _day(query, "from")
    last = _day(query, "to") or today
    if first is not None and first > last:
        raise InvalidQuery(f"from {first} is after to {last}")
    return Period(first, last)


def _day(query: Mapping[str, str], name: str) -> datetime.date | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        raise InvalidQuery(f"{name} must be a date YYYY-MM-DD, not {raw[:20]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidQuery(f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def parse_top(query: Mapping[str, str]) -> int:
    raw = query.get("top")
    if raw is None:
        return DEFAULT_FAVOURITES
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 2 or not 1 <= int(raw) <= MAX_FAVOURITES:
        raise InvalidQuery(f"top must be a whole number from 1 to {MAX_FAVOURITES}")
    return int(raw)


def answer(
    found: MemberPurchases, looked_up_as: str, branch: str | None, period: Period, top: int
) -> dict[str, Any]:
    """GET /api/members/{id}/stats at HQ: each branch's figures (the same keys as a
    branch's own answer) and the totals over them."""
    totals = BranchPurchases("")
    for purchases in found.branches:
        totals.add(purchases)
    total_json = _figures(totals, found.names, top)
    if total_json["last_visit"] is not None:
        # The branch of the last visit: the latest stamp's, the greatest code on a tie.
        total_json["last_visit"]["branch"] = max(
            (p.last_at_ms, p.branch) for p in found.branches if p.last_at_ms is not None
        )[1]
    return {
        "member_id": found.member_id,
        "looked_up_as": looked_up_as,
        "aliases": list(found.aliases),
        "branch": branch,
        "scope": "all branches" if branch is None else f"branch {branch}",
        "timezone": "UTC",
        "from": None if period.first is None else period.first.isoformat(),
        "to": period.last.isoformat(),
        "totals": total_json,
        "branches": [
            {"branch": purchases.branch, **_figures(purchases, found.names, top)}
            for purchases in found.branches
        ],
    }


def _utc_day(at_ms: int) -> str:
    return (FIRST_DAY + datetime.timedelta(days=at_ms // MS_PER_DAY)).isoformat()


def _figures(found: BranchPurchases, names: Mapping[str, str], top: int) -> dict[str, Any]:
    kept = []
    for sku, (qty, amount_fen, returned_qty, returned_fen) in found.items.items():
        if qty > returned_qty:
            kept.append((sku, qty - returned_qty, amount_fen - returned_fen))
    kept.sort(key=lambda item: (-item[1], -item[2], item[0]))
    last = None
    if found.last_at_ms is not None:
        last = {"at_ms": found.last_at_ms, "day": _utc_day(found.last_at_ms)}
    return {
        "visits": {"sales": found.sales_count, "days": len(found.days)},
        "sales": {"count": found.sales_count, "total_fen": found.total_fen},
        "returns": {"count": found.returns_count, "refund_fen": found.refund_fen},
        "spend_fen": found.total_fen - found.refund_fen,
        "last_visit": last,
        "favourites": [
            {"sku": sku, "name": names.get(sku), "qty": qty, "amount_fen": amount_fen}
            for sku, qty, amount_fen in kept[:top]
        ],
        "tenders": {
            kind: {
                "paid_fen": found.paid_fen[kind],
                "refunded_fen": found.refunded_fen[kind],
                "net_fen": found.paid_fen[kind] - found.refunded_fen[kind],
            }
            for kind in TENDER_KINDS
        },
    }
