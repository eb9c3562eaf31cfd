"""A branch's feed reads keep it shown online: its last_seen is written at most every
SEEN_EVERY_MS, not on every read (a busy chain's branches read about once a second)."""

from __future__ import annotations

from hq.api import HQ_KEY
from hq.service import SEEN_EVERY_MS
from protocol.limits import MAX_MESSAGE_BYTES
from tests.harness import Chain

NOW_MS = 1_764_547_200_000


async def test_feed_reads_write_last_seen_at_most_every_interval(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)
    hq = chain.hq.app[HQ_KEY]
    clock = [NOW_MS]
    hq.wall_ms = lambda: clock[0]
    _, available = await hq.store.feed_after("BR01", 0, 1, MAX_MESSAGE_BYTES)

    async def read_at(ms: int) -> int | None:
        clock[0] = ms
        await hq.feed_page("BR01", available, 0)
        record = await hq.store.branch("BR01")
        assert record is not None
        return record.last_seen_ms

    assert await read_at(NOW_MS) == NOW_MS
    assert await read_at(NOW_MS + SEEN_EVERY_MS - 1) == NOW_MS  # not written again so soon
    assert await read_at(NOW_MS + SEEN_EVERY_MS) == NOW_MS + SEEN_EVERY_MS
    # A clock set back is written at once, not after the time it went back.
    assert await read_at(NOW_MS) == NOW_MS
