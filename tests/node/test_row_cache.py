"""The writer's row cache holds what SQLite holds, whatever jobs and groups fail.

Worked examples of the undo rules first, then a property through the real writer:
jobs move stock (one line, several lines, HQ changing a product's costing method
in between), some fail after writing, some groups fail at COMMIT; after every
group, every product and stock row read through the cache equals the same read
of SQLite on a connection with no cache, and the store at the end equals the
committed jobs replayed on a plain connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.costing import METHODS
from node.services import catalogue, stock_ledger
from node.store.changelog import GENESIS, LogWriter
from node.store.row_cache import ABSENT, RowCache, WriterConnection
from node.store.writer import Tx, Writer
from tests.node.test_stock_ledger_property import SKUS, open_store, product

WAREHOUSES = ("W1", "W2")


def test_a_job_rolled_back_puts_back_what_it_replaced_newest_first() -> None:
    rows = RowCache()
    rows.remember("a", 1)  # read from SQLite
    rows.put("a", 2)
    rows.job_kept()  # job 1 released
    rows.put("a", 3)
    rows.put("a", 4)
    rows.put("b", 5)
    rows.job_undone()  # job 2 rolled back to its savepoint

    assert (rows.get("a"), rows.get("b")) == (2, ABSENT)


def test_a_group_rolled_back_puts_back_what_it_found_and_a_commit_keeps_it() -> None:
    rows = RowCache()
    rows.remember("a", 1)
    rows.put("a", 2)
    rows.job_kept()
    rows.drop("a")  # written without saying what it holds now
    rows.remember("a", 3)  # read back inside the same job
    rows.group_undone()  # the group failed: SQLite holds 1 again

    assert rows.get("a") == 1
    rows.put("a", 7)
    rows.job_kept()
    rows.group_committed()
    rows.group_undone()  # nothing left to undo once committed
    assert rows.get("a") == 7


def test_beyond_its_bound_the_cache_empties_between_groups() -> None:
    rows = RowCache(max_rows=2)
    for key in "abc":
        rows.remember(key, key)
    assert len(rows) == 3  # never mid-group
    rows.group_committed()
    assert len(rows) == 0


class FailingCommit(WriterConnection):
    """The writer's connection whose next COMMIT fails when a job asks it to, as a full
    disk would fail it."""

    fail_next_commit = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.fail_next_commit:
            self.fail_next_commit = False
            raise sqlite3.OperationalError("disk I/O error (the test's)")
        return super().execute(sql, *args)


# One movement of a job: ("receive", sku, warehouse, qty, cost_fen), ("issue", sku,
# warehouse, qty, 0), ("issue_many", ...) issuing qty of sku and 1 of the next sku
# together, or ("rethink", sku, method index, 0, 0): HQ changes its costing method.
Step = tuple[str, str, str, int, int]
step = st.one_of(
    st.tuples(
        st.just("receive"),
        st.sampled_from(SKUS),
        st.sampled_from(WAREHOUSES),
        st.integers(1, 30),
        st.integers(0, 40_000),
    ),
    st.tuples(
        st.sampled_from(("issue", "issue_many")),
        st.sampled_from(SKUS),
        st.sampled_from(WAREHOUSES),
        st.integers(1, 30),
        st.just(0),
    ),
    st.tuples(st.just("rethink"), st.sampled_from(SKUS), st.just(""), st.integers(0, 3), st.just(0)),
)
# A job: its steps, and whether it fails after them, or fails its whole group at COMMIT.
job_plan = st.tuples(
    st.lists(step, min_size=1, max_size=4), st.sampled_from(("ok", "ok", "fails", "poisons"))
)


def apply_steps(
    conn: sqlite3.Connection, steps: list[Step], number: int, presets: dict[str, int]
) -> list[Any]:
    moves: list[Any] = []
    for kind, sku, warehouse, qty, cost in steps:
        ref = f"doc-{number}"
        if kind == "receive":
            moves.append(stock_ledger.receive(conn, warehouse, sku, qty, cost, "purchase", ref, number))
        elif kind == "issue":
            moves.append(stock_ledger.issue(conn, warehouse, sku, qty, "sale", ref, number))
        elif kind == "issue_many":
            other = SKUS[(SKUS.index(sku) + 1) % len(SKUS)]
            lines = [(catalogue.product(conn, sku, active_only=False), qty)]
            lines.append((catalogue.product(conn, other, active_only=False), 1))
            moves.extend(stock_ledger.issue_many(conn, warehouse, lines, "sale", ref, number))
        else:
            catalogue.apply_product(conn, product(sku, METHODS[qty], presets[sku]))
    return moves


def read_through(conn: sqlite3.Connection) -> list[Any]:
    """Every product and stock row as the stock ledger and the catalogue read them."""
    seen: list[Any] = []
    for sku in SKUS:
        item = catalogue.product(conn, sku, active_only=False)
        seen.append(item)
        seen.extend(stock_ledger.cost_state(conn, warehouse, item) for warehouse in WAREHOUSES)
    seen.append(catalogue.active_products(conn, SKUS))
    return seen


def store_rows(conn: sqlite3.Connection) -> list[Any]:
    return [
        [tuple(row) for row in conn.execute(sql)]
        for sql in (
            "SELECT warehouse, sku, qty, cost_fen, cost_state FROM stock ORDER BY warehouse, sku",
            "SELECT warehouse, sku, qty_delta, cause, ref_id, at_ms, cost_fen, correction_fen, variance_fen"
            " FROM stock_moves ORDER BY id",
            "SELECT * FROM products ORDER BY sku",
        )
    ]


class Failed(Exception):
    """A job failing after its writes, as a refused checkout would."""


async def run_groups(
    path: Path, groups: list[list[tuple[list[Step], str]]], presets: dict[str, int]
) -> list[tuple[int, list[Any]]]:
    """Run each group as one group of the writer; after each, check the cache against
    SQLite. Returns the jobs that committed, in order, with the moves they made."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, factory=FailingCommit)
    conn.execute("PRAGMA journal_mode=WAL")
    writer = Writer(conn, LogWriter("BR01", GENESIS))
    plain = sqlite3.connect(str(path))
    committed: list[tuple[int, list[Any]]] = []
    number = 0
    try:
        for group in groups:
            started, release = threading.Event(), threading.Event()

            def hold(tx: Tx, started: threading.Event = started, release: threading.Event = release) -> None:
                started.set()  # the writer is busy with this while the group queues up
                release.wait(5)

            held = asyncio.ensure_future(writer.run(hold))
            await asyncio.to_thread(started.wait, 5)
            calls = []
            for steps, fate in group:
                number += 1

                def job(tx: Tx, steps: list[Step] = steps, fate: str = fate, n: int = number) -> list[Any]:
                    moves = apply_steps(tx.conn, steps, n, presets)
                    if fate == "fails":
                        raise Failed(f"job {n}")
                    if fate == "poisons" and isinstance(tx.conn, FailingCommit):
                        tx.conn.fail_next_commit = True
                    return moves

                calls.append((number, asyncio.ensure_future(writer.run(job))))
            await asyncio.sleep(0)  # one turn of the loop: every job of the group is queued
            release.set()
            await held
            for n, call in calls:
                with contextlib.suppress(Failed, sqlite3.OperationalError):
                    committed.append((n, await call))
            # Every read through the cache equals the same read of SQLite alone.
            through_cache = await writer.run(lambda tx: read_through(tx.conn))
            plain.execute("BEGIN")
            assert through_cache == read_through(plain)
            plain.execute("ROLLBACK")
    finally:
        await writer.close()
        plain.close()
    return committed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    presets=st.fixed_dictionaries({sku: st.integers(0, 2_000) for sku in SKUS}),
    groups=st.lists(st.lists(job_plan, min_size=1, max_size=5), min_size=1, max_size=5),
)
def test_the_cache_equals_sqlite_whatever_jobs_and_groups_fail(
    tmp_path_factory: Any, presets: dict[str, int], groups: list[list[tuple[list[Step], str]]]
) -> None:
    folder = tmp_path_factory.mktemp("cache")
    seeded = open_store(folder, presets)  # the catalogue, on the writer's file
    cached_path = Path(seeded.execute("PRAGMA database_list").fetchone()[2])
    seeded.close()
    reference = open_store(folder, presets)
    try:
        committed = asyncio.run(run_groups(cached_path, groups, presets))
        plans = [plan for group in groups for plan in group]
        for n, moves in committed:  # the committed jobs replayed without a cache
            reference.execute("BEGIN")
            assert apply_steps(reference, plans[n - 1][0], n, presets) == moves
            reference.execute("COMMIT")
        with sqlite3.connect(cached_path) as cached:
            assert store_rows(cached) == store_rows(reference)
    finally:
        reference.close()
