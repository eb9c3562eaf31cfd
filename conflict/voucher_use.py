"""Vouchers HQ issues to members: whether a till may take one, what state it is in, and
a return that gives a used voucher back.

Rules (every branch applies them offline alike, from what it has heard):
1. A voucher is HQ's: issued to one member, worth `value_fen`, usable on a sale of at
   least `min_spend_fen`, from `valid_from` to `valid_until` (both inclusive, the
   branch's own dates). A till takes only a voucher it has heard HQ issue.
2. It pays only for a sale naming its member, or a member of the same duplicate group
   (the two ids have one survivor): a voucher follows its member through a merge.
3. It is single-use: a redemption uses it, unless a return reinstated that redemption
   (`Reinstatement`). Two branches taking one voucher while apart both stand and HQ
   flags the later (conflict.vouchers, unchanged: it settles the standing redemptions).
4. A tender takes at most the voucher's value; what it leaves is forfeited (no change
   is given from a voucher, and a used voucher is used up).
5. The refusals are checked in this order, so a person is told the first that
   applies: another member's voucher (saying nothing more of it), outside its window,
   already used, a sale below its minimum, a tender above its value.

A reinstatement is a record like a redemption, minted by the branch that booked the
return and merged as a union by id; one id naming two different reinstatements is
refused (ReinstatementConflict). Pure: values in, values out.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conflict.errors import InvalidRecord, ReinstatementConflict, check_int, check_text, union_by_id
from conflict.vouchers import Redemption
from protocol.limits import DATE_PATTERN

__all__ = [
    "STATES",
    "IssuedVoucher",
    "Refusal",
    "Reinstatement",
    "check_use",
    "merge_reinstatements",
    "standing",
    "state",
    "state_on",
]

Reinstatements = Mapping[str, "Reinstatement"]
_DATE = re.compile(DATE_PATTERN)
# What a member's voucher list says of each (rule 3 and the window of rule 1).
STATES = ("unused", "used", "expired")


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    """A voucher as HQ issued it (protocol.contract.vouchers.VOUCHER_ISSUE)."""

    voucher_id: str
    campaign: str
    member_id: str
    value_fen: int
    min_spend_fen: int
    valid_from: str  # YYYY-MM-DD
    valid_until: str  # YYYY-MM-DD, the last day it may be used

    def __post_init__(self) -> None:
        for name in ("voucher_id", "campaign", "member_id"):
            check_text(getattr(self, name), name)
        if check_int(self.value_fen, "value_fen") < 1:
            raise InvalidRecord(f"a voucher is worth at least 1 fen, not {self.value_fen}")
        if check_int(self.min_spend_fen, "min_spend_fen") < 0:
            raise InvalidRecord(f"min_spend_fen cannot be below zero, not {self.min_spend_fen}")
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if not isinstance(value, str) or _DATE.fullmatch(value) is None:
                raise InvalidRecord(f"{name} must be a date YYYY-MM-DD, not {value!r}")
        if self.valid_until < self.valid_from:
            raise InvalidRecord(f"valid_until {self.valid_until} is before valid_from {self.valid_from}")

    def valid_on(self, day: str) -> bool:
        return self.valid_from <= day <= self.valid_until


@dataclass(frozen=True, slots=True)
class Reinstatement:
    """A return gave back the sale's use of a voucher: redemption `redemption_id` no
    longer uses it. Stamped with the entry that carried it."""

    reinstatement_id: str
    redemption_id: str
    voucher_id: str
    hlc: int
    node: str

    def __post_init__(self) -> None:
        for name in ("reinstatement_id", "redemption_id", "voucher_id", "node"):
            check_text(getattr(self, name), name)
        check_int(self.hlc, "hlc")


def merge_reinstatements(current: Reinstatements, incoming: Reinstatements) -> dict[str, Reinstatement]:
    """Union by id; commutative, associative and idempotent."""
    for reinstatement_id, reinstatement in incoming.items():
        if reinstatement_id != reinstatement.reinstatement_id:
            raise InvalidRecord(
                f"reinstatement filed under {reinstatement_id!r} has id {reinstatement.reinstatement_id!r}"
            )
    return union_by_id(current, incoming, ReinstatementConflict)


def standing(redemptions: Iterable[Redemption], reinstatements: Iterable[Reinstatement]) -> list[Redemption]:
    """The redemptions no return has reinstated (rule 3), in stamp order. A reinstatement
    counts only for the voucher it names: one naming another voucher's redemption is
    some branch's mistake and gives nothing back."""
    undone = {(r.redemption_id, r.voucher_id) for r in reinstatements}
    kept = {r for r in redemptions if (r.redemption_id, r.voucher_id) not in undone}
    return sorted(kept, key=lambda r: r.stamp)


def state(voucher: IssuedVoucher, day: str, used: bool) -> str:
    """`used` while a standing redemption uses it; else `expired` after its last day;
    else `unused` (one not valid yet is unused: its valid_from says from when)."""
    if used:
        return "used"
    return "expired" if day > voucher.valid_until else "unused"


def state_on(voucher: IssuedVoucher, day: str, uses: Iterable[Redemption]) -> str:
    """`state`, with the standing redemptions a replica knows of."""
    return state(voucher, day, any(use.voucher_id == voucher.voucher_id for use in uses))


class Refusal(enum.Enum):
    """Why a till may not take the voucher (rule 5), as the refusal's code says it."""

    NOT_YOURS = "voucher_not_yours"
    EXPIRED = "voucher_expired"
    USED = "voucher_used"
    MIN_SPEND = "voucher_min_spend"
    OVER_VALUE = "voucher_over_value"


def check_use(
    voucher: IssuedVoucher,
    *,
    holder: str,
    customer: str | None,
    day: str,
    total_fen: int,
    amount_fen: int,
    uses: Iterable[Redemption],
) -> tuple[Refusal, str] | None:
    """None if the till may take `amount_fen` off a `total_fen` sale with the voucher on
    `day`; else the first refusal of rule 5 with a message a cashier can act on.
    `holder` is the survivor of the voucher's member, `customer` of the sale's (None: a
    sale naming no member); `uses` the standing redemptions this branch knows of."""
    code = voucher.voucher_id
    if customer is None or customer != holder:
        who = "a sale naming no member" if customer is None else f"member {customer}"
        return Refusal.NOT_YOURS, (
            f"voucher {code} was issued to another member and cannot pay for {who};"
            " look the customer up and ring the sale up for them"
        )
    if day < voucher.valid_from:
        return Refusal.EXPIRED, (
            f"voucher {code} is valid from {voucher.valid_from} to {voucher.valid_until}; today is {day}."
            " It cannot be used yet"
        )
    if day > voucher.valid_until:
        return Refusal.EXPIRED, (
            f"voucher {code} was valid from {voucher.valid_from} to {voucher.valid_until}; today is {day}."
            " Take another tender"
        )
    used = [use for use in uses if use.voucher_id == code]
    if used:
        return Refusal.USED, f"voucher {code} was already used at {used[0].node}; a voucher is single-use"
    if total_fen < voucher.min_spend_fen:
        return Refusal.MIN_SPEND, (
            f"voucher {code} needs a sale of at least {voucher.min_spend_fen} fen;"
            f" this one is {total_fen} fen"
        )
    if amount_fen > voucher.value_fen:
        return Refusal.OVER_VALUE, (
            f"voucher {code} is worth {voucher.value_fen} fen; the tender asks {amount_fen}."
            " Take the rest in another tender"
        )
    return None
