"""Refusals of the loyalty rules, and the small checks that raise them.

Every error here is *theirs* (a `Refused`): a points rule or setting HQ authored
wrong, the facts of a sale a till sent, a return or spend a cashier asked for. A
bug of ours breaks an invariant and raises `protocol.errors.InvariantBroken`
through `protocol.errors.require`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from protocol.errors import Refused

__all__ = [
    "InvalidDiscount",
    "InvalidPointsRecord",
    "InvalidPointsSettings",
    "InvalidReturn",
    "InvalidRule",
    "InvalidSaleFacts",
    "PointsShort",
]


class InvalidRule(Refused):
    """HQ authored a points rule that cannot apply as written (a window that ends
    before it starts, a negative factor, an unknown kind, a tier whose top is below
    its bottom, a kind that needs a target without one). The message names the rule
    and the field; correct the rule at HQ and publish it again."""

    http_status = 422
    code = "invalid_points_rule"


class InvalidPointsSettings(Refused):
    """HQ's points settings are out of range (an unknown combination mode or
    referral trigger, a negative expiry, a referral chain deeper than the limit);
    the message names the setting. Correct it at HQ."""

    http_status = 422
    code = "invalid_points_settings"


class InvalidDiscount(Refused):
    """A special price, bundle, rebate rule or the lines handed to the discount rules
    cannot apply as written (a window that ends before it starts, a price of 0, a bundle
    naming a product twice, a rebate giving back more than was spent, a line priced
    below nothing). The message names the record and the field; correct it at HQ (or
    fix the checkout that built the lines)."""

    http_status = 422
    code = "invalid_discount"


class InvalidSaleFacts(Refused):
    """The facts of a sale handed to the points engine are malformed (a line with no
    quantity, a negative amount, a float where fen are integers). The till or the
    checkout that built them must be fixed; no points were computed."""

    http_status = 422
    code = "invalid_sale_facts"


class InvalidReturn(Refused):
    """A return asks for more than the sale or the spend holds (more units than the
    line sold, more points than a spend took or a lot earned). Check what was
    returned before; nothing was booked."""

    http_status = 409
    code = "invalid_points_return"


class InvalidPointsRecord(Refused):
    """A points lot, spend, return or expiry is malformed or names a lot that is not
    there (an empty id, a lot that expires before it was earned, two different
    records under one id). The node or store that wrote it must be fixed."""

    http_status = 422
    code = "invalid_points_record"


class PointsShort(Refused):
    """The member's unexpired points do not cover the spend. The message gives both
    figures: spend fewer points, or pay the rest another way."""

    http_status = 402
    code = "points_short"

    def __init__(self, available: int, asked: int) -> None:
        super().__init__(
            f"only {available:,} points are available (unexpired, less any points owed), "
            f"but {asked:,} were asked; spend at most {available:,} or pay the rest another way"
        )
        self.available = available
        self.asked = asked


def check_int(value: object, name: str, low: int, high: int, error: type[Refused]) -> int:
    """An integer (not a bool, never a float: money is integer fen) within [low, high]."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise error(f"{name} must be {low:,} to {high:,}, not {value:,}")
    return value


def check_text(value: object, name: str, high: int, error: type[Refused], *, empty: bool = False) -> str:
    """A string of at most `high` characters; empty only where `empty` allows it."""
    if not isinstance(value, str):
        raise error(f"{name} must be a string, not {type(value).__name__}")
    if not value and not empty:
        raise error(f"{name} must not be empty")
    if len(value) > high:
        raise error(f"{name} must be at most {high} characters, not {len(value)}")
    return value


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


Coded = TypeVar("Coded", bound=_Coded)


def one_per_code(
    records: Iterable[Coded], kind: type[Coded], what: str, error: type[Refused]
) -> dict[str, Coded]:
    """The records by code, each code once (a copy delivered twice is one); two different
    records under one code are refused, since which applied would depend on the order HQ
    sent them in."""
    by_code: dict[str, Coded] = {}
    for record in records:
        if not isinstance(record, kind):
            raise error(f"a {what} must be a {kind.__name__}, not {type(record).__name__}")
        held = by_code.setdefault(record.code, record)
        if held != record:
            raise error(f"two different {what}s share the code {record.code!r}: {held} and {record}")
    return by_code
