"""Member levels graded by HQ (FEATURES M2, issue item "levels graded automatically"):
the levels HQ defines, each earned by spend or visits over a period, and the level HQ
graded a member into, which every branch shows at its till."""

from __future__ import annotations

from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import AT_MS, CODE, ID, MASTER_NAME, PRICE_FEN
from protocol.limits import MAX_INT64, MAX_LEVEL_PERIOD_DAYS, MAX_LEVEL_RANK, MAX_LEVEL_VISITS
from protocol.schema import Bool, Integer, Map, Nullable

LEVEL_UPSERT = EntryType(
    "level",
    "upsert",
    Writer.HQ,
    Map(
        {"code": CODE, "name": MASTER_NAME, "rank": Integer(1, MAX_LEVEL_RANK)},
        {
            "min_spend_fen": Nullable(PRICE_FEN),
            "min_visits": Nullable(Integer(1, MAX_LEVEL_VISITS)),
            "period_days": Integer(1, MAX_LEVEL_PERIOD_DAYS),
            "active": Bool(),
        },
    ),
    "a member level: its rank, and the spend or the visits over a period that earn it",
)
MEMBER_LEVEL = EntryType(
    "member",
    "level",
    Writer.HQ,
    Map(
        {
            "member_id": ID,
            "level": Nullable(CODE),
            "spend_fen": Integer(-MAX_INT64, MAX_INT64),
            "visits": Integer(0, MAX_INT64),
            "graded_at_ms": AT_MS,
        }
    ),
    "the level HQ graded a member into from their spend and visits at every branch (null: none)",
)
