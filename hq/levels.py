"""Grading members into levels by what they spent and how often they came (FEATURES M2:
levels graded automatically when HQ configures them, beside levels bought with points).

Rules:
1. A level is earned by spending at least its `min_spend_fen`, or by visiting on at least
   `min_visits` days, over the last `period_days` (each level its own period), at every
   branch together and under every id of the member's duplicate group.
2. Spend is what the member kept: sales less what returns refunded. A visit is a day
   with a purchase at a branch; two purchases on one day at one branch are one visit.
3. Of the active levels a member earns, the highest `rank` is theirs (ties by code);
   one that earns none has no graded level, and one who earned a level before and no
   longer does loses it at the next grading.
4. HQ is the only writer: grading publishes a member's new level to every branch only
   when it changes, so a daily run of an unchanged chain publishes nothing. Two HQ
   processes grading at once publish each change once (the store writes a level only
   where it differs).
5. A level bought with points at a till (FEATURES L4, node.services.level_purchase,
   entry member/buy_level) lasts like an earned one: its level's `period_days` from the
   purchase (`valid_until_ms`, fixed by the till when it sold it). While it holds it
   counts as earned, so the member's level is the highest of what they earn and what
   they bought, and no grading takes it away before its end; after it, the member
   keeps it only if they earn it. HQ grades the buyer as soon as the purchase reaches
   it, so every branch hears the level without waiting for the daily run. A bought
   level HQ has since switched off counts no more than an earned one would.

Pure: figures in, the level out; hq.storage reads the figures and keeps the grades.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hq.storage.base import Level
from protocol.entry import Entry

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Figures:
    """What a member spent (fen, net of returns) and on how many visits, over a period."""

    spend_fen: int = 0
    visits: int = 0


def earns(level: Level, figures: Figures) -> bool:
    by_spend = level.min_spend_fen is not None and figures.spend_fen >= level.min_spend_fen
    by_visits = level.min_visits is not None and figures.visits >= level.min_visits
    return by_spend or by_visits


@dataclass(frozen=True, slots=True)
class LevelPurchase:
    """A level a till sold a member for points (entry member/buy_level), as HQ keeps it."""

    origin: str
    purchase_id: str
    member_id: str
    level: str
    points: int
    at_ms: int
    valid_until_ms: int


def level_purchase(entry: Entry) -> LevelPurchase:
    """A member/buy_level entry the contract has passed (hq.plan)."""
    payload = entry.payload
    return LevelPurchase(
        entry.origin,
        entry.entity_id,
        payload["member_id"],
        payload["level"],
        payload["points"],
        payload["at_ms"],
        payload["valid_until_ms"],
    )


def grade(
    levels: Sequence[Level], figures_by_period: Mapping[int, Figures], bought: Iterable[str] = ()
) -> Level | None:
    """The member's level (rule 3) from their figures over each level's period (rule 1)
    and the levels they bought that still hold (rule 5)."""
    held = set(bought)
    earned = [
        level
        for level in levels
        if level.active
        and (level.code in held or earns(level, figures_by_period.get(level.period_days, Figures())))
    ]
    return max(earned, key=lambda level: (level.rank, level.code), default=None)
