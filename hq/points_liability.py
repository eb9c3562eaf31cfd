"""The chain's points outstanding as a liability (FEATURES F1), by the month their lots
expire: what members could still spend, valued at the points settings' value of a
point (integer fen), and the points members owe back (returns of earnings not yet
settled). Read off the points ledger every replica holds (shared_tables.points_lots).

No aiohttp here: hq.report_api answers with what this computes."""

from __future__ import annotations

from typing import Any

from hq.storage.base import HQStore, PointsSettings
from protocol.business_day import DEFAULT

NEVER = "never"


def by_expiry_month(lots: list[tuple[int, int]], owed: int, point_value_fen: int) -> dict[str, Any]:
    """`lots`: (expires at ms, 0 for never; points left). A lot's month is the month of
    its last moment in the chain's default zone; those that never expire come last."""
    months: dict[str, int] = {}
    for expires_at_ms, points in lots:
        month = NEVER if expires_at_ms == 0 else DEFAULT.day_of(expires_at_ms - 1).isoformat()[:7]
        months[month] = months.get(month, 0) + points
    total = sum(months.values())
    return {
        "point_value_fen": point_value_fen,
        "points": total,
        "value_fen": total * point_value_fen,
        "owed_points": owed,
        "months": [
            {"month": month, "points": points, "value_fen": points * point_value_fen}
            for month, points in sorted(months.items(), key=lambda item: (item[0] == NEVER, item[0]))
        ],
    }


async def points_liability(store: HQStore) -> dict[str, Any]:
    lots, owed = await store.points_outstanding()
    settings = [s for s in await store.master_records("points_settings") if isinstance(s, PointsSettings)]
    point_value_fen = settings[0].point_value_fen if settings else PointsSettings("chain").point_value_fen
    return by_expiry_month(lots, owed, point_value_fen)
