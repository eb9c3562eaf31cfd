"""Rows that wait for the group's end (node.store.writer.AppendsOnly, Tx.append and
Tx.upsert): one statement per table at the end of the group, yet every job reads what
it would have read had each row gone in at once, a failed job's rows never go in, and
a job that breaks its promise fails its group loudly instead of half-committing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from node.services.checkout import SaleRequest, Tender, checkout_job
from node.store.store import Store
from node.store.writer import AppendsOnly, Tx, UnsavedWrite
from protocol.contract import EntryType, Writer
from protocol.errors import InvariantBroken
from protocol.schema import Map, Text
from tests.node import test_writer
from tests.node.test_writer import log_entries

NOTE = EntryType("product", "test", Writer.BRANCH, Map({"sku": Text(64)}), "a writer test's entry")
ADD = "INSERT INTO sync_state (key, value) VALUES (?, ?)"
SET = ADD + " ON CONFLICT (key) DO UPDATE SET value = excluded.value"

store = test_writer.store  # the writer's own fixture: threaded, and inline as the simulator runs it


def adds(
    key: str, *, fail: bool = False, savepoint: bool = True, claim: str | None = None
) -> AppendsOnly[int]:
    """An AppendsOnly job adding one row (and one entry) that waits for the group's end."""

    def job(tx: Tx) -> int:
        tx.append(ADD, [(key, "added")])
        entry = tx.record(NOTE, key, {"sku": key})
        if fail:
            raise ValueError(f"{key} fails after adding")
        return entry.seq

    return AppendsOnly(job, claim, savepoint=savepoint)


def reads(key: str) -> Callable[[Tx], Any]:
    """A plain job: reads the row as SQLite holds it."""

    def job(tx: Tx) -> Any:
        row = tx.conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    return job


async def one_group(store: Store, jobs: list[Callable[[Tx], Any]]) -> list[Any]:
    """Run `jobs` as one group: the writer thread is held until all are queued."""
    if store.writer.inline:
        outcomes: list[Any] = []
        for job in jobs:
            try:
                outcomes.append(await store.writer.run(job))
            except Exception as exc:  # as gather(return_exceptions=True) gives it
                outcomes.append(exc)
        return outcomes
    gate = threading.Event()
    held = asyncio.ensure_future(store.writer.run(lambda tx: gate.wait(5)))
    await asyncio.sleep(0.05)  # the writer thread is inside the holding job
    runs = [asyncio.ensure_future(store.writer.run(job)) for job in jobs]
    await asyncio.sleep(0)
    gate.set()
    await held
    return list(await asyncio.gather(*runs, return_exceptions=True))


def stored(store: Store, key: str) -> Any:
    with sqlite3.connect(store.path) as conn:
        row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


async def test_a_plain_job_reads_what_earlier_jobs_of_its_group_added_and_a_failed_job_adds_nothing(
    store: Store,
) -> None:
    groups_before = store.writer.groups_committed
    results = await one_group(store, [adds("a"), adds("b", fail=True), reads("a"), reads("b"), adds("c")])

    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert results[2:4] == ["added", None]  # a's row went in before the reader ran; b's never
    assert results[4] == 2  # b's entry was not burnt
    assert [stored(store, key) for key in "abc"] == ["added", None, "added"]
    assert [entry.entity_id for entry in await store.read(log_entries)] == ["a", "c"]
    if not store.writer.inline:
        assert store.writer.groups_committed - groups_before == 2  # the holding job's and ours


async def test_a_job_naming_a_key_that_waits_sees_it_in_sqlite(store: Store) -> None:
    seen: list[Any] = []

    def looks(tx: Tx) -> None:
        seen.append(reads("k")(tx))

    results = await one_group(
        store, [adds("k", claim="k"), AppendsOnly(looks, "other"), AppendsOnly(looks, "k")]
    )

    assert results[0] == 1
    if store.writer.inline:  # each job is its own group: nothing waits past its job
        assert seen == ["added", "added"]
    else:  # not named, it still waits, unseen as promised; named, in it went first
        assert seen == [None, "added"]
    assert stored(store, "k") == "added"


async def test_an_upsert_that_waits_keeps_each_keys_last_write(store: Store) -> None:
    def sets(value: str) -> AppendsOnly[None]:
        def job(tx: Tx) -> None:
            tx.upsert(SET, {"level": ("level", value)})

        return AppendsOnly(job)

    def sets_then_fails(tx: Tx) -> None:
        tx.upsert(SET, {"level": ("level", "lost")})
        raise ValueError("fails after setting")

    await one_group(store, [sets("1"), sets("2"), AppendsOnly(sets_then_fails)])

    assert stored(store, "level") == "2"


async def test_an_upserts_row_is_made_once_per_key_in_a_group_from_its_last_value(store: Store) -> None:
    made: list[str] = []

    def row(value: tuple[str, str]) -> tuple[str, str]:
        made.append(value[1])
        return (value[0], f"made of {value[1]}")

    def sets(key: str, value: str) -> AppendsOnly[None]:
        def job(tx: Tx) -> None:
            tx.upsert(SET, {key: (key, value)}, row)

        return AppendsOnly(job)

    await one_group(store, [sets("mode", "m"), sets("level", "1"), sets("level", "2"), sets("level", "3")])

    assert stored(store, "level") == "made of 3"
    assert stored(store, "mode") == "made of m"
    # Threaded, the four are one group; inline, each job is its own.
    assert made == (["m", "1", "2", "3"] if store.writer.inline else ["m", "3"])


async def test_one_upserts_rows_made_two_ways_fail_the_job_or_the_group(store: Store) -> None:
    def sets(value: str, row: Callable[[str], tuple[str, str]]) -> Callable[[Tx], None]:
        return lambda tx: tx.upsert(SET, {"level": value}, row)

    def plain(value: str) -> tuple[str, str]:
        return ("level", value)

    def loud(value: str) -> tuple[str, str]:
        return ("level", value.upper())

    def both_ways(tx: Tx) -> None:
        sets("a", plain)(tx)
        sets("b", loud)(tx)

    # Within one job: the job fails, and the rest of its group commits.
    results = await one_group(store, [AppendsOnly(both_ways), adds("after")])
    assert isinstance(results[0], InvariantBroken)
    assert (stored(store, "level"), stored(store, "after")) == (None, "added")

    # Across a group's jobs (threaded; inline each job is its own group): the group fails whole.
    results = await one_group(store, [AppendsOnly(sets("c", plain)), AppendsOnly(sets("d", loud))])
    if store.writer.inline:
        assert results == [None, None]
        assert stored(store, "level") == "D"
    else:
        assert all(isinstance(result, InvariantBroken) for result in results)
        assert stored(store, "level") is None


async def test_a_plain_jobs_upsert_makes_its_row_at_once(store: Store) -> None:
    def sets(tx: Tx) -> None:
        tx.upsert(SET, {"level": "now"}, lambda value: ("level", value.upper()))

    await store.writer.run(sets)

    assert stored(store, "level") == "NOW"


async def test_a_job_without_a_savepoint_that_writes_at_once_fails_its_whole_group(store: Store) -> None:
    def breaks_its_promise(tx: Tx) -> None:
        tx.conn.execute(ADD, ("at-once", "x"))

    results = await one_group(
        store, [adds("before"), AppendsOnly(breaks_its_promise, savepoint=False), adds("after")]
    )

    if store.writer.inline:  # each job is its own group: only the breaker's fails
        assert isinstance(results[1], UnsavedWrite)
        assert [stored(store, key) for key in ("before", "at-once", "after")] == ["added", None, "added"]
    else:
        assert all(isinstance(result, UnsavedWrite) for result in results), results
        assert [stored(store, key) for key in ("before", "at-once", "after")] == [None, None, None]
        assert await store.read(log_entries) == []
    assert await store.writer.run(adds("next")) == (3 if store.writer.inline else 1)


async def test_two_cash_sales_with_one_idempotency_key_in_one_group_book_once(store: Store) -> None:
    await store.writer.run(
        lambda tx: tx.conn.execute(
            "INSERT INTO products (sku, name, price_fen, unit) VALUES ('CUP', 'Cup', 2500, 'pcs')"
        )
    )
    sale = SaleRequest(
        member_id=None, lines=(("CUP", 1),), tenders=(Tender("cash", 2500),), request_key="K-1"
    )
    first, again = await one_group(
        store, [checkout_job(sale, "S-1", "BR01-MAIN"), checkout_job(sale, "S-2", "BR01-MAIN")]
    )

    assert (first["id"], first["replayed"]) == ("S-1", False)
    assert (again["id"], again["replayed"]) == ("S-1", True)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT id FROM sales").fetchall() == [("S-1",)]
        assert conn.execute("SELECT COUNT(*) FROM sale_lines").fetchone()[0] == 1
        assert conn.execute("SELECT SUM(qty_delta) FROM stock_moves").fetchone()[0] == -1
        assert conn.execute("SELECT qty FROM stock WHERE sku = 'CUP'").fetchone()[0] == -1


async def test_a_job_that_writes_at_once_keeps_its_savepoint_and_fails_alone(store: Store) -> None:
    """AppendsOnly with a savepoint (a sale to a member books points at once): its rows
    written at once go back with its failure, and the rest of its group commits."""

    def writes_then_fails(tx: Tx) -> None:
        tx.conn.execute(ADD, ("at-once", "x"))
        tx.append(ADD, [("waiting", "x")])
        raise ValueError("fails after writing")

    results = await one_group(store, [adds("before"), AppendsOnly(writes_then_fails), adds("after")])

    assert isinstance(results[1], ValueError)
    assert (results[0], results[2]) == (1, 2)
    assert [stored(store, key) for key in ("before", "at-once", "waiting", "after")] == [
        "added",
        None,
        None,
        "added",
    ]
