"""Single-use vouchers redeemed more than once while branches were apart.

Shop rule: the earliest redemption by stamp (hlc, then node, then redemption id)
wins; every other redemption of the same voucher is flagged with its amount for
review. Merge is the union of redemptions, so the outcome is order-independent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conflict.errors import InvalidRecord, RedemptionConflict, check_int, check_text, union_by_id

__all__ = ["Redemption", "VoucherOutcome", "add_redemption", "merge_redemptions", "settle_vouchers"]

Redemptions = Mapping[str, "Redemption"]


@dataclass(frozen=True, slots=True)
class Redemption:
    """One use of a voucher at a till; `amount_fen` is the value it took off a sale."""

    redemption_id: str
    voucher_id: str
    amount_fen: int
    hlc: int
    node: str

    def __post_init__(self) -> None:
        check_text(self.redemption_id, "redemption_id")
        check_text(self.voucher_id, "voucher_id")
        check_text(self.node, "node")
        check_int(self.hlc, "hlc")
        check_int(self.amount_fen, "amount_fen")
        if self.amount_fen < 0:
            raise InvalidRecord("a voucher's amount_fen cannot be negative")

    @property
    def stamp(self) -> tuple[int, str, str]:
        return (self.hlc, self.node, self.redemption_id)


@dataclass(frozen=True, slots=True)
class VoucherOutcome:
    winners: dict[str, Redemption]  # voucher id -> the redemption that stands
    flagged: tuple[Redemption, ...]  # the losing redemptions, by voucher id then stamp

    @property
    def flagged_fen(self) -> int:
        """What the flagged redemptions gave away: the sum to review or recover."""
        return sum(r.amount_fen for r in self.flagged)


def add_redemption(redemptions: Redemptions, redemption: Redemption) -> dict[str, Redemption]:
    return merge_redemptions(redemptions, {redemption.redemption_id: redemption})


def merge_redemptions(current: Redemptions, incoming: Redemptions) -> dict[str, Redemption]:
    for redemption_id, redemption in incoming.items():
        if redemption_id != redemption.redemption_id:
            raise InvalidRecord(
                f"redemption filed under {redemption_id!r} has id {redemption.redemption_id!r}"
            )
    return union_by_id(current, incoming, RedemptionConflict)


def settle_vouchers(redemptions: Iterable[Redemption]) -> VoucherOutcome:
    """The winning redemption of every voucher and the flagged others."""
    by_voucher: dict[str, list[Redemption]] = {}
    for redemption in redemptions:
        by_voucher.setdefault(redemption.voucher_id, []).append(redemption)
    winners: dict[str, Redemption] = {}
    flagged: list[Redemption] = []
    for voucher_id in sorted(by_voucher):
        # A duplicate delivery of one redemption is the same redemption, not a second use.
        uses = sorted(set(by_voucher[voucher_id]), key=lambda r: r.stamp)
        winners[voucher_id] = uses[0]
        flagged.extend(uses[1:])
    return VoucherOutcome(winners=winners, flagged=tuple(flagged))
