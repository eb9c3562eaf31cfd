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

Pure: figures in, the level out; hq.storage reads the figures and keeps the grades.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hq.storage.base import Level

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


def grade(levels: Sequence[Level], figures_by_period: Mapping[int, Figures]) -> Level | None:
    """The member's level (rule 3) from their figures over each level's period (rule 1)."""
    earned = [
        level
        for level in levels
        if level.active and earns(level, figures_by_period.get(level.period_days, Figures()))
    ]
    return max(earned, key=lambda level: (level.rank, level.code), default=None)
