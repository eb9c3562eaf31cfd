"""Member levels (FEATURES M2, L4): the levels HQ defines, each earned by spend or
visits over a period and, where HQ prices it, bought with points from the level just
below; the level HQ graded a member into, which every branch shows at its till; and a
level a till sold a member for points, which HQ counts in its grading."""

from __future__ import annotations

from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import AT_MS, CARD, CODE, ID, MASTER_NAME, PRICE_FEN
from protocol.limits import (
    MAX_INT64,
    MAX_LEDGER_AMOUNT,
    MAX_LEVEL_PERIOD_DAYS,
    MAX_LEVEL_RANK,
    MAX_LEVEL_VISITS,
)
from protocol.schema import Bool, Integer, Map, Nullable

# A level's price in points: at most what one ledger movement carries.
LEVEL_POINTS = Integer(1, MAX_LEDGER_AMOUNT)

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
            # The points that buy it from the level just below (null: not sold for points).
            "points_price": Nullable(LEVEL_POINTS),
        },
    ),
    "a member level: its rank, the spend or the visits over a period that earn it,"
    " and the points that buy it",
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
MEMBER_LEVEL_BUY = EntryType(
    "member",
    "buy_level",
    Writer.BRANCH,
    Map(
        {
            "member_id": ID,
            "level": CODE,
            # The level the member held when they bought (null: none), for the record.
            "from_level": Nullable(CODE),
            "points": LEVEL_POINTS,
            # The card the points came off; their ledger entry is `<entity id>-pts`.
            "card_id": CARD,
            "at_ms": AT_MS,
            # Bought levels last their level's period_days from the purchase, as a graded
            # one is earned over it (hq.levels rule 5).
            "valid_until_ms": AT_MS,
        }
    ),
    "a member level bought with points at a till, and until when it holds",
)
