"""Several HQ processes on one PostgreSQL database (hq.storage.postgres): each store
here is what one HQ process holds. A push applies once whichever process takes it,
and however many take it at once; a grown feed wakes readers on every process; a
hold placed through one process is captured through another; the database going
away and coming back is survived without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import asyncpg
import pytest

from conflict.directory import decode
from hq.errors import DatabaseUnfit
from hq.storage.base import FeedChange, HoldRecord, IngestResult
from hq.storage.postgres import PostgresHQStore
from protocol.errors import SequenceGap
from tests.hq.test_effect_quarantine import top_up
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll, feed, sales
from tests.postgres import Cluster

TEN_MINUTES_MS = 600_000


@pytest.fixture
async def pair(postgres: Cluster) -> AsyncIterator[tuple[PostgresHQStore, PostgresHQStore]]:
    url = await postgres.new_database()
    first = await PostgresHQStore.connect(url)
    second = await PostgresHQStore.connect(url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def two_branches(store: PostgresHQStore) -> tuple[Branch, Branch]:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    return br01, br02


async def wait_for(condition: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(condition.wait(), 10)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_the_same_push_on_two_processes_at_once_applies_once(
    pair: tuple[PostgresHQStore, PostgresHQStore],
) -> None:
    first, second = pair
    br = Branch("BR01")
    await enroll(first, br)
    for number in range(1, 41):
        br.sell(f"S{number}", 100 * number)
    # Each process gets the same batches in a different order, at the same time.
    batches = [br.batch(start, start + 9) for start in range(1, 41, 10)]
    results = await asyncio.gather(
        *(first.ingest(batch, NOW_MS, 0) for batch in batches),
        *(second.ingest(batch, NOW_MS, 0) for batch in reversed(batches)),
        return_exceptions=True,
    )
    applied = sum(r.applied for r in results if not isinstance(r, BaseException))
    # A batch that arrived before the one it follows is refused as a gap and re-sent
    # by the branch; nothing is applied twice and nothing is lost.
    for batch in batches:
        await first.ingest(batch, NOW_MS, 0)
    assert applied <= 40
    assert await sales(second, "BR01") == (40, 100 * sum(range(1, 41)))
    assert len(await second.log_entries("BR01", 1, 1_000)) == 40


async def test_writes_through_two_processes_at_once_keep_one_order(
    pair: tuple[PostgresHQStore, PostgresHQStore],
) -> None:
    # Two branches register members at once, each pushing through another process:
    # every push is applied, HQ's sightings are numbered 1..40 once each, and every
    # feed is one unbroken chain (no two processes appended the same number).
    first, second = pair
    br01, br02 = await two_branches(first)
    for number in range(20):
        for branch in (br01, br02):
            profile = {"home_branch": branch.code, "name": "M", "phone": f"139{branch.code}{number:04d}"}
            branch.write("member", f"{branch.code}-M{number}", "register", profile)

    async def push_all(store: PostgresHQStore, branch: Branch) -> None:
        for seq in range(1, 21):
            await store.ingest(branch.batch(seq, seq), NOW_MS + seq, 0)

    await asyncio.gather(push_all(first, br01), push_all(second, br02))
    directory = decode(await second.directory_bytes())
    assert len(directory.registrations) == 40
    assert sorted(s.seq for s in directory.sightings.values()) == list(range(1, 41))
    for code in ("BR01", "BR02"):
        # Its own 20 sightings; the other's 20 profiles, records and sightings.
        assert len(await feed(first, code)) == 20 + 20 * 3


async def test_a_feed_grown_by_one_process_wakes_readers_on_the_other(
    pair: tuple[PostgresHQStore, PostgresHQStore],
) -> None:
    first, second = pair
    br01, _ = await two_branches(first)
    woken, woken_self = asyncio.Event(), asyncio.Event()
    heard: list[str] = []

    def grown(branches: Iterable[str]) -> None:
        heard.extend(branches)
        if "BR02" in heard:
            woken.set()

    second.watch_feeds(grown)
    first.watch_feeds(lambda branches: woken_self.set() if "BR02" in branches else None)
    before = await second.directory_digest()
    changes_heard = (first._directory_changes, second._directory_changes)
    br01.write("member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "13900000001"})
    await first.ingest(br01.batch(1, 1), NOW_MS, 0)
    await wait_for(woken, "BR02's feed to be announced to the other process")
    await wait_for(woken_self, "BR02's feed to be announced to the process that grew it")
    # The registration's sighting went to both feeds; so did the other process's digest.
    assert {"BR01", "BR02"} <= set(heard)
    assert await second.directory_digest() != before
    assert await second.directory_digest() == await first.directory_digest()
    # The directory's announcement came in the same transaction as the feeds': the other
    # process counted a change; the writer had counted its own write already, not twice.
    assert second._directory_changes > changes_heard[1]
    assert first._directory_changes == changes_heard[0]


async def test_pushes_arriving_together_commit_as_one_group_and_a_refused_one_alone(
    pair: tuple[PostgresHQStore, PostgresHQStore],
) -> None:
    first, _ = pair
    br01, br02 = await two_branches(first)
    for number in range(1, 31):
        br01.sell(f"A{number}", number)
        br02.sell(f"B{number}", 1_000 + number)
    pushes = [
        br01.batch(1, 10),
        br02.batch(21, 30),  # starts past what HQ holds of BR02: refused as a gap
        br02.batch(1, 10),
        br01.batch(11, 20),
        br02.batch(11, 20),
        br01.batch(1, 10),  # held already: acknowledged, nothing applied
        br01.batch(21, 30),
    ]
    transactions_before = first._writes
    results = await asyncio.gather(
        *(first.ingest(batch, NOW_MS, 0) for batch in pushes), return_exceptions=True
    )
    # In arrival order, each seeing the ones before it: BR02's 21-30 came before 11-20.
    assert isinstance(results[1], SequenceGap)
    assert [r.acked_seq for r in results if isinstance(r, IngestResult)] == [10, 10, 20, 20, 20, 30]
    assert [r.applied for r in results if isinstance(r, IngestResult)] == [10, 10, 10, 10, 0, 10]
    assert await sales(first, "BR01") == (30, sum(range(1, 31)))
    assert await sales(first, "BR02") == (20, sum(1_000 + n for n in range(1, 21)))
    # Fewer transactions than pushes: they waited for one another and committed together.
    assert first._writes - transactions_before < len(pushes)


async def test_stamps_rise_along_a_feed_whichever_process_writes(
    pair: tuple[PostgresHQStore, PostgresHQStore],
) -> None:
    # The first process's clock runs an hour ahead; the second writes next with
    # its own wall time: its stamps still follow the first's, read from the
    # database after it took the write lock.
    first, second = pair
    await two_branches(first)
    notice = FeedChange("notice", "N1", "post", {"text": "stocktake on Monday"})
    await first.publish([notice], NOW_MS + 3_600_000)
    await second.publish([notice], NOW_MS)
    for code in ("BR01", "BR02"):
        stamps = [entry.hlc for entry in await feed(second, code)]
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == len(stamps)


async def test_a_hold_placed_through_one_process_is_captured_through_the_other(
    pair: tuple[PostgresHQStore, PostgresHQStore],
) -> None:
    first, second = pair
    br01, br02 = await two_branches(first)
    card = {"home_branch": "BR01", "name": "Li", "phone": "13900000001", "cards": ["K-1"]}
    br01.write("member", "M1", "register", card)
    top_up(br01, "L1", 10_000)
    await first.ingest(br01.batch(1, 2), NOW_MS, 0)

    hold = HoldRecord("S1-K-1", "BR02", "K-1", 3_000, NOW_MS + TEN_MINUTES_MS)
    assert await first.place_hold(hold, 0, NOW_MS) == 7_000
    spend = {
        "card_id": "K-1",
        "ledger": "stored_value",
        "kind": "spend",
        "amount": -3_000,
        "hold": hold.hold_id,
    }
    br02.write("ledger", "S1-t0", "entry", spend)
    await second.ingest(br02.batch(1, 1), NOW_MS + 1, 0)
    # Captured: the spend counts once, not again as an open hold.
    other = HoldRecord("S2-K-1", "BR01", "K-1", 100, NOW_MS + TEN_MINUTES_MS)
    assert await first.place_hold(other, 0, NOW_MS + 2) == 10_000 - 3_000 - 100
    card_view = await second.card("K-1")
    assert card_view is not None
    assert card_view["balances"]["stored_value"] == 7_000


async def test_a_database_that_sorts_text_by_locale_is_refused_with_the_fix(postgres: Cluster) -> None:
    admin = await asyncpg.connect(postgres.admin_url)
    try:
        await admin.execute(
            "CREATE DATABASE hq_by_locale TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
    finally:
        await admin.close()
    url = postgres.admin_url.rsplit("/", 1)[0] + "/hq_by_locale"
    with pytest.raises(DatabaseUnfit, match="LC_COLLATE 'C'"):
        await PostgresHQStore.connect(url)


async def test_the_database_restarting_is_survived_and_every_feed_woken(
    pair: tuple[PostgresHQStore, PostgresHQStore], postgres: Cluster
) -> None:
    first, second = pair
    br = Branch("BR01")
    await enroll(first, br)
    br.sell("S1", 100)
    br.sell("S2", 200)
    await first.ingest(br.batch(1, 1), NOW_MS, 0)
    woken = asyncio.Event()
    second.watch_feeds(lambda branches: woken.set() if "BR01" in list(branches) else None)

    await asyncio.to_thread(postgres.restart)

    # The pools' old connections died with the server; the next call still works.
    for _ in range(50):
        try:
            result = await first.ingest(br.batch(2, 2), NOW_MS, 0)
            break
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await asyncio.sleep(0.2)
    else:
        raise AssertionError("HQ's store never worked again after the database restarted")
    assert result.acked_seq == 2
    assert await sales(second, "BR01") == (2, 300)
    # Whatever was announced while the listener was away, its readers are woken.
    await wait_for(woken, "the feeds to be woken after the listener came back")
