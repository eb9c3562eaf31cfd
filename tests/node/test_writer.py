"""Group commit: one transaction per group, a savepoint per job, the log in step."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from node.store.changelog import LogHead
from node.store.store import Store
from node.store.writer import AppendsOnly, Tx, UnsavedWrite, WriterOverloaded
from protocol.contract import SALE_CHECKOUT, EntryType, Writer
from protocol.entry import GENESIS_HASH, Entry, check_chain, decode_entry
from protocol.errors import PayloadInvalid
from protocol.schema import Map, Text

# An entry type of the writer's own tests, so they need no business document.
PRODUCT_TEST = EntryType("product", "test", Writer.BRANCH, Map({"sku": Text(64)}), "a writer test's entry")


@pytest.fixture(params=["threaded", "inline"])
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The writer as a node runs it (its own thread, groups) and as the simulator does
    (inline, in the caller's thread, a group per write): the same rules hold for both."""
    store = await Store.open(
        tmp_path / "node.sqlite", "BR01", wall_ms=lambda: 1_700_000_000_000, inline=request.param == "inline"
    )
    try:
        yield store
    finally:
        await store.close()


def insert_product(sku: str, fail: bool = False) -> Callable[[Tx], int]:
    def job(tx: Tx) -> int:
        tx.conn.execute(
            "INSERT INTO products (sku, name, price_fen, unit) VALUES (?, ?, ?, 'pcs')", (sku, sku, 100)
        )
        entry = tx.record(PRODUCT_TEST, sku, {"sku": sku})
        if fail:
            raise ValueError(f"job {sku} fails after writing")
        return entry.seq

    return job


class Blocking:
    """A write that holds the writer until released, so what is queued meanwhile waits
    behind it; it then adds the product `sku`."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, tx: Tx) -> int:
        self.started.set()
        self.release.wait(10)
        return insert_product(self.sku)(tx)

    async def running(self) -> None:
        await asyncio.to_thread(self.started.wait, 10)


def log_entries(conn: sqlite3.Connection) -> list[Entry]:
    return [decode_entry(bytes(row[0])) for row in conn.execute("SELECT entry FROM change_log ORDER BY seq")]


async def test_a_failing_job_rolls_back_alone_and_the_others_in_its_group_commit(store: Store) -> None:
    jobs = [insert_product(f"SKU-{n}", fail=(n == 3)) for n in range(6)]
    results: list[int | BaseException] = await asyncio.gather(
        *(store.writer.run(job) for job in jobs), return_exceptions=True
    )

    assert isinstance(results[3], ValueError)
    assert [r for n, r in enumerate(results) if n != 3] == [1, 2, 3, 4, 5]  # seq 3 was not burnt
    skus = await store.read(
        lambda conn: [row[0] for row in conn.execute("SELECT sku FROM products ORDER BY sku")]
    )
    assert skus == ["SKU-0", "SKU-1", "SKU-2", "SKU-4", "SKU-5"]
    entries = await store.read(log_entries)
    check_chain(entries, origin="BR01", prev_hash=GENESIS_HASH)
    assert [e.entity_id for e in entries] == ["SKU-0", "SKU-1", "SKU-2", "SKU-4", "SKU-5"]


async def test_concurrent_writes_share_groups_and_each_is_answered_after_commit(store: Store) -> None:
    results = await asyncio.gather(*(store.writer.run(insert_product(f"P{n:04d}")) for n in range(500)))

    assert sorted(results) == list(range(1, 501))
    assert store.writer.jobs_committed == 500
    if store.writer.inline:
        assert store.writer.groups_committed == 500, "inline, each write commits on its own"
    else:
        assert store.writer.groups_committed < 500, "queued writes should have shared commits"
    # Each answer came after its commit: a separate connection sees every row.
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM change_log").fetchone()[0] == 500


async def test_commit_callback_reports_the_new_head_once_per_group(tmp_path: Path) -> None:
    heads: list[LogHead] = []
    store = await Store.open(tmp_path / "n.sqlite", "BR01", on_commit=heads.append)
    try:
        await store.writer.run(insert_product("A"))
        await store.writer.run(lambda tx: None)  # a write with no entry reports nothing
    finally:
        await store.close()
    assert [head.seq for head in heads] == [1]


async def test_an_inline_store_runs_each_write_and_read_in_the_callers_thread_and_reports_at_once(
    tmp_path: Path,
) -> None:
    """The simulator's store: no hop to another thread, and the new head is reported
    before the write's caller hears of it, with no turn of the event loop between."""
    heads: list[LogHead] = []
    store = await Store.open(tmp_path / "n.sqlite", "BR01", on_commit=heads.append, inline=True)
    threads: list[int] = []

    def job(tx: Tx) -> int:
        threads.append(threading.get_ident())
        return insert_product("A")(tx)

    try:
        seq = await store.writer.run(job)
        assert [head.seq for head in heads] == [seq] == [1]
        await store.read(lambda conn: threads.append(threading.get_ident()))
    finally:
        await store.close()
    assert threads == [threading.get_ident()] * 2


async def test_the_log_resumes_its_chain_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite"
    first = await Store.open(path, "BR01")
    await first.writer.run(insert_product("A"))
    await first.close()
    second = await Store.open(path, "BR01")
    try:
        assert await second.writer.run(insert_product("B")) == 2
        entries = await second.read(log_entries)
        check_chain(entries, origin="BR01", prev_hash=GENESIS_HASH)
        assert entries[1].hlc > entries[0].hlc
    finally:
        await second.close()


async def test_writes_after_close_are_refused_clearly(store: Store) -> None:
    await store.writer.close()
    with pytest.raises(Exception, match="shutting down"):
        await store.writer.run(lambda tx: None)


async def test_an_entry_breaking_the_wire_contract_is_never_committed(store: Store) -> None:
    """The writer holds every payload to the contract HQ reads by: a sale whose total is
    a negative figure (the node's own checks drifted) fails its job, and nothing of it,
    neither its rows nor a log entry, is committed; the next write takes seq 1."""

    def broken_sale(tx: Tx) -> None:
        tx.conn.execute("INSERT INTO products (sku, name, price_fen, unit) VALUES ('CUP', 'Cup', 100, 'pcs')")
        tx.record(SALE_CHECKOUT, "S-1", {"lines": [], "tenders": [], "total_fen": -100, "change_fen": 0})

    with pytest.raises(PayloadInvalid, match="total_fen"):
        await store.writer.run(broken_sale)
    assert await store.read(lambda conn: conn.execute("SELECT COUNT(*) FROM products").fetchone()[0]) == 0
    assert await store.read(log_entries) == []
    assert await store.writer.run(insert_product("A")) == 1


async def test_writes_beyond_the_queue_bound_are_refused_at_once_and_the_queued_ones_commit(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "node.sqlite", "BR01", wall_ms=lambda: 1_700_000_000_000)
    store.writer._max_queued = 3
    blocking = Blocking("HELD")
    release = blocking.release

    try:
        held = asyncio.ensure_future(store.writer.run(blocking))
        await blocking.running()  # the writer is busy: what follows queues
        queued = [asyncio.ensure_future(store.writer.run(insert_product(f"Q{n}"))) for n in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(WriterOverloaded, match="3 writes are already queued"):
            await store.writer.run(insert_product("REFUSED"))
        release.set()
        assert await held == 1
        assert sorted(await asyncio.gather(*queued)) == [2, 3, 4]
        skus = await store.read(
            lambda conn: [r[0] for r in conn.execute("SELECT sku FROM products ORDER BY sku")]
        )
        assert skus == ["HELD", "Q0", "Q1", "Q2"]
    finally:
        release.set()
        await store.close()


async def _held_group_then_queued(
    store: Store, *queued_jobs: Callable[[Tx], int]
) -> tuple[asyncio.Task[int], list[asyncio.Task[int]]]:
    """A write whose group commits while `queued_jobs` wait behind it (the next group)."""
    first = Blocking("FIRST")
    held = asyncio.create_task(store.writer.run(first))
    await first.running()
    queued = [asyncio.create_task(store.writer.run(job)) for job in queued_jobs]
    await asyncio.sleep(0)  # each is in the writer's queue
    first.release.set()
    return held, queued


async def test_a_group_is_answered_after_its_commit_and_before_the_next_group_commits(
    tmp_path: Path,
) -> None:
    """Answers wait for the next group to reach its COMMIT (module docstring), never
    longer: by the time the second group's commit is announced the first group's
    caller has been answered, and that caller, once answered, finds its row in any
    connection."""
    first_answered = threading.Event()
    seen_at_second_commit: list[bool] = []

    def on_commit(head: LogHead) -> None:
        if head.seq == 2:
            seen_at_second_commit.append(first_answered.wait(5))

    store = await Store.open(tmp_path / "node.sqlite", "BR01", on_commit=on_commit)
    try:
        held, [queued] = await _held_group_then_queued(store, AppendsOnly(insert_product("NEXT")))
        assert await held == 1
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT 1 FROM products WHERE sku = 'FIRST'").fetchall() == [(1,)]
        first_answered.set()
        assert await queued == 2
    finally:
        await store.close()
    assert seen_at_second_commit == [True], "the first group's caller heard only after the next commit"


async def _answered_while_the_next_group_runs(
    tmp_path: Path, *before: Callable[[Tx], int], probe_waits_s: float, plain_probe: bool = False
) -> bool:
    """Whether a probe job of the group after a held one (after `before`) finds the held
    group's caller answered within `probe_waits_s`: the caller says so as soon as it hears."""
    first_answered = threading.Event()
    seen: list[bool] = []

    def probe(tx: Tx) -> int:
        seen.append(first_answered.wait(probe_waits_s))
        return insert_product("PROBE")(tx)

    store = await Store.open(tmp_path / "node.sqlite", "BR01")
    try:
        held, queued = await _held_group_then_queued(
            store, *before, probe if plain_probe else AppendsOnly(probe)
        )
        assert await held == 1
        first_answered.set()
        assert await asyncio.gather(*queued) == list(range(2, len(before) + 3))
    finally:
        await store.close()
    return seen == [True]


async def test_a_sales_job_in_the_next_group_runs_before_the_last_group_is_answered(
    tmp_path: Path,
) -> None:
    """The hold itself: a sale's job (AppendsOnly) starting at once after a commit runs
    while that commit's caller is still unanswered; answered at once, the caller's
    event loop would have had the answer within the probe's 200 ms."""
    assert not await _answered_while_the_next_group_runs(tmp_path, probe_waits_s=0.2)


async def test_answers_are_not_held_behind_a_long_running_next_group(tmp_path: Path) -> None:
    """A job that starts more than HOLD_ANSWERS_MS after the last commit has that
    commit's callers answered first: here the second group's first job takes 50 ms,
    and its second job finds the first group's caller answered while it runs."""

    def slow(tx: Tx) -> int:
        time.sleep(0.05)
        return insert_product("SLOW")(tx)

    assert await _answered_while_the_next_group_runs(tmp_path, AppendsOnly(slow), probe_waits_s=5)


async def test_answers_are_not_held_behind_a_job_that_is_not_a_sales(tmp_path: Path) -> None:
    """A job that is not AppendsOnly (a feed page, an import: no telling how long it
    runs) has the last commit's callers answered before it starts, however soon."""
    assert await _answered_while_the_next_group_runs(tmp_path, probe_waits_s=5, plain_probe=True)


async def test_a_group_failing_whole_still_answers_the_group_before_it(tmp_path: Path) -> None:
    """The next group fails before its COMMIT (here a job that promised to write only at
    the group's end wrote at once, which fails its group loudly): the committed group
    before it is answered all the same, and its write stands."""

    def breaks_its_promise(tx: Tx) -> int:
        tx.conn.execute("INSERT INTO products (sku, name, price_fen, unit) VALUES ('X', 'X', 1, 'pcs')")
        return 0

    store = await Store.open(tmp_path / "node.sqlite", "BR01")
    try:
        held, [failed] = await _held_group_then_queued(
            store, AppendsOnly(breaks_its_promise, savepoint=False)
        )
        assert await asyncio.wait_for(held, 5) == 1
        with pytest.raises(UnsavedWrite):
            await failed
        skus = await store.read(lambda conn: [row[0] for row in conn.execute("SELECT sku FROM products")])
        assert skus == ["FIRST"]
    finally:
        await store.close()


async def test_writes_queued_when_the_node_closes_are_committed_and_answered(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "node.sqlite", "BR01")
    try:
        held, queued = await _held_group_then_queued(store, *(insert_product(f"Q{n}") for n in range(3)))
        await store.writer.close()  # its stop comes behind what is queued
        assert await asyncio.wait_for(asyncio.gather(held, *queued), 5) == [1, 2, 3, 4]
    finally:
        await store.close()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM change_log").fetchone()[0] == 4
