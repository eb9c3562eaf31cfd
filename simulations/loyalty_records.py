"""What the tills were told of points and vouchers in a simulated run, beyond the shop's
Ledger (whose `entries` hold every points movement a till was told of, under the
entry ids the node gives them): each sale's points and what paid for it, conversions
of points into stored value, returns with the points and vouchers they gave back, and
referrals. simulations/loyalty_ops.py keeps it; simulations/loyalty_invariants.py
judges the run against it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SalePoints:
    """A sale a till was told it booked, as its receipt showed its points and tenders."""

    branch: str
    member_id: str | None
    points_earned: int
    # Each line's points as the receipt showed them (0 on a line without any), its sku, qty.
    lines: tuple[tuple[str, int, int], ...]
    tender_kinds: tuple[str, ...]  # in the receipt's order
    points_paid: tuple[tuple[int, str, int], ...]  # (tender no, card's root, points)
    vouchers: tuple[tuple[int, str], ...]  # (tender no, voucher)
    rules: tuple[str, ...] = ()  # the codes of HQ's points rules its reasons name

    @property
    def line_points(self) -> int:
        return sum(points for _, _, points in self.lines)


@dataclass(frozen=True)
class PointsConverted:
    """Points turned into stored value, as the till was told."""

    branch: str
    points_card: str  # root
    to_card: str  # root
    points: int
    value_fen: int


@dataclass(frozen=True)
class PointsReturned:
    """A return a till was told it booked, with what it gave back and took back of points
    and which of the sale's voucher uses it undid (redemption ids)."""

    branch: str
    sale_id: str
    lines: tuple[tuple[int, int], ...]  # (line no, qty)
    points_taken_back: int
    points_refunded: int
    reinstated: tuple[str, ...]


@dataclass
class LoyaltyLedger:
    """Points and vouchers as the tills were told of them (the movements themselves are
    in the shop Ledger's `entries`; the voucher uses in its `redemptions`)."""

    sales: dict[str, SalePoints] = field(default_factory=dict)  # sale id ->
    conversions: dict[str, PointsConverted] = field(default_factory=dict)  # conversion id ->
    returns: dict[str, PointsReturned] = field(default_factory=dict)  # return id ->
    # Redemption id -> (branch, return id): voucher uses a return gave back.
    reinstated: dict[str, tuple[str, str]] = field(default_factory=dict)
    referrals: dict[str, tuple[str, str]] = field(default_factory=dict)  # member id -> (branch, referrer)
    # What the checkpoints found during the run: (simulated ms, invariant, problem).
    checkpoint_problems: list[tuple[int, str, str]] = field(default_factory=list)

    def returned_qty(self, sale_id: str) -> dict[int, int]:
        """Line no -> the units of the sale the tills were told came back."""
        back: dict[int, int] = {}
        for told in self.returns.values():
            if told.sale_id == sale_id:
                for line_no, qty in told.lines:
                    back[line_no] = back.get(line_no, 0) + qty
        return back
