"""Points for referring members, several levels up the chain (FEATURES L5).

Rules:
1. The chain is the referred member's referrers, nearest first: who referred them,
   who referred that one, and so on (the caller walks the directory). Level 1 is the
   nearest. A referrer at level i (i <= `referral_depth`) earns
   `referral_points[i - 1]`; a level with 0 points or none listed earns nothing, and
   the walk goes on to the next.
2. A member never earns for referring themselves, and a chain that comes back to a
   member already seen (the referred member or a referrer) is a cycle: the walk stops
   at the first repeat, before paying it.
3. An award's id is derived from the referred member and the level alone
   (`referral:<member>:<level>`). The same referral computed at two branches,
   replicated twice or merged gives the same ids, and equal ids are one award: it
   pays once (`one_per_id`). Should two copies under one id differ (settings or the
   directory changed between two computations), the larger award stands, then the
   smaller referrer id: a deterministic choice, never against the member.
4. When awards are due (`referral_trigger`: at registration, or at the referred
   member's first purchase) is the caller's to check; this module says what they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loyalty.errors import InvalidPointsRecord, check_int, check_text
from loyalty.rules import MAX_REFERRAL_DEPTH, PointsSettings
from protocol.limits import MAX_LEDGER_AMOUNT, MAX_NAME_CHARS

__all__ = ["ReferralAward", "award_id", "one_per_id", "referral_awards"]


@dataclass(frozen=True, slots=True)
class ReferralAward:
    """Points a referrer earns because `referred_member` joined, `level` steps down
    from them (1: they referred the member themselves)."""

    award_id: str
    referrer: str
    referred_member: str
    level: int
    points: int

    def __post_init__(self) -> None:
        check_text(self.referrer, "a referral award's referrer", MAX_NAME_CHARS, InvalidPointsRecord)
        check_text(self.referred_member, "the referred member", MAX_NAME_CHARS, InvalidPointsRecord)
        check_int(self.level, "a referral award's level", 1, MAX_REFERRAL_DEPTH, InvalidPointsRecord)
        check_int(self.points, "a referral award's points", 1, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
        expected = award_id(self.referred_member, self.level)
        if self.award_id != expected:
            raise InvalidPointsRecord(f"a referral award's id is {expected!r}, not {self.award_id!r}")
        if self.referrer == self.referred_member:
            raise InvalidPointsRecord(f"member {self.referrer} cannot earn for referring themselves")


def award_id(referred_member: str, level: int) -> str:
    """Rule 3: one id per (referred member, level), whoever computes it."""
    return f"referral:{referred_member}:{level}"


def referral_awards(
    referred_member: str, chain: Sequence[str], settings: PointsSettings
) -> tuple[ReferralAward, ...]:
    """The awards `referred_member` joining gives up `chain` (rules 1 and 2)."""
    check_text(referred_member, "the referred member", MAX_NAME_CHARS, InvalidPointsRecord)
    seen = {referred_member}
    awards = []
    for index, referrer in enumerate(chain[: settings.referral_depth]):
        check_text(referrer, f"referrer at level {index + 1}", MAX_NAME_CHARS, InvalidPointsRecord)
        if referrer in seen:
            break
        seen.add(referrer)
        points = settings.referral_points[index] if index < len(settings.referral_points) else 0
        if points:
            level = index + 1
            awards.append(
                ReferralAward(award_id(referred_member, level), referrer, referred_member, level, points)
            )
    return tuple(awards)


def one_per_id(awards: Iterable[ReferralAward]) -> dict[str, ReferralAward]:
    """Rule 3: the awards that pay, one per id, whatever order and however often they came."""
    chosen: dict[str, ReferralAward] = {}
    for award in awards:
        known = chosen.get(award.award_id)
        if known is None or (-award.points, award.referrer) < (-known.points, known.referrer):
            chosen[award.award_id] = award
    return chosen
