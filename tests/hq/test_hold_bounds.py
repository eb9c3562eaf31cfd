"""A node's key may hold a card for its own tills' sales, not against the chain: at most
MAX_OPEN_HOLDS_PER_BRANCH open holds per branch on one card, together at most
MAX_OPEN_HOLD_FEN_PER_BRANCH, on every backend."""

from __future__ import annotations

import pytest

from hq.errors import TooManyHolds
from hq.holds import MAX_OPEN_HOLD_FEN_PER_BRANCH, MAX_OPEN_HOLDS_PER_BRANCH
from hq.storage.base import HoldRecord, HQStore
from tests.hq.test_effect_quarantine import top_up
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll

TEN_MINUTES_MS = 600_000


def hold(hold_id: str, branch: str, amount_fen: int = 100) -> HoldRecord:
    return HoldRecord(hold_id, branch, "K-1", amount_fen, NOW_MS + TEN_MINUTES_MS)


async def test_a_branch_may_hold_a_card_only_so_many_times_at_once(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    br01.write(
        "member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "139", "cards": ["K-1"]}
    )
    top_up(br01, "L1", 10_000)
    await store.ingest(br01.batch(1, 2), NOW_MS, 0)

    for number in range(MAX_OPEN_HOLDS_PER_BRANCH):
        await store.place_hold(hold(f"H{number}", "BR03"), 0, NOW_MS)
    with pytest.raises(TooManyHolds, match="BR03 already holds 2 open holds on card K-1"):
        await store.place_hold(hold("H-more", "BR03"), 0, NOW_MS)

    # Other branches' tills still sell to the card; a hold asked again answers alike.
    assert await store.place_hold(hold("H-br02", "BR02"), 0, NOW_MS) == 10_000 - 3 * 100
    assert await store.place_hold(hold("H0", "BR03"), 0, NOW_MS) == 10_000 - 3 * 100
    # Released or expired, a hold no longer counts.
    assert await store.release_hold("BR03", "H0")
    await store.place_hold(hold("H-after-release", "BR03"), 0, NOW_MS)
    # At their expiry every hold above is gone: only this one is set aside.
    assert await store.place_hold(hold("H-after-expiry", "BR03"), 0, NOW_MS + TEN_MINUTES_MS) == 10_000 - 100


async def test_a_branch_may_hold_only_so_much_of_a_rich_card_at_once(store: HQStore) -> None:
    br01 = Branch("BR01")
    await enroll(store, br01)
    br01.write(
        "member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "139", "cards": ["K-1"]}
    )
    top_up(br01, "L1", 3 * MAX_OPEN_HOLD_FEN_PER_BRANCH)
    await store.ingest(br01.batch(1, 2), NOW_MS, 0)

    with pytest.raises(TooManyHolds, match="at most 5000000 fen may be held by one branch"):
        await store.place_hold(hold("H-all", "BR03", 3 * MAX_OPEN_HOLD_FEN_PER_BRANCH), 0, NOW_MS)
    await store.place_hold(hold("H-most", "BR03", MAX_OPEN_HOLD_FEN_PER_BRANCH - 1), 0, NOW_MS)
    with pytest.raises(TooManyHolds, match="would hold 5000001 fen"):
        await store.place_hold(hold("H-more", "BR03", 2), 0, NOW_MS)
    # The card's other money is still there for every other branch's tills.
    left = await store.place_hold(hold("H-br02", "BR02", MAX_OPEN_HOLD_FEN_PER_BRANCH), 0, NOW_MS)
    assert left == 3 * MAX_OPEN_HOLD_FEN_PER_BRANCH - 2 * MAX_OPEN_HOLD_FEN_PER_BRANCH + 1
