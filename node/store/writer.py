"""Group commit: every write of the node goes through one thread and one connection.

Jobs queued while a group commits form the next group: one BEGIN, a SAVEPOINT
per job (one bad checkout never fails the others), one COMMIT and so one fsync
for the whole group. A job's caller is answered only after its group commits,
so an acknowledged write is durable. Under light load a group is one job and
nothing waits; under load groups grow by themselves (TigerBeetle batches the
same way). A library that hops threads per statement (aiosqlite) cannot run a
group in one hop, which is why writes have this thread of their own; reads run
whole on the store's read threads (node.store.store).

Rows a job only adds (a sale's rows, its log entry) and rows whose last write is
all that counts (a stock level) may wait for the group's end and go in with one
statement per table (`Tx.append`, `Tx.upsert`), which halves the SQL a cash sale
costs. That is safe only for jobs that read none of the rows waiting, so it is
opt-in: a job wrapped in `AppendsOnly` runs with them waiting; before any other
job runs, they go in first. They are in the group's transaction either way, so
what is acknowledged is exactly what is durable.

A committed group's callers are answered just before the next group commits, if
one was already queued, rather than at once (`_HeldAnswers`). Answering wakes
their event loop, which then wants the interpreter lock for as long as its
callers take to act on the answers; woken at once, it takes the lock at the next
group's first statement and the writer waits it out, one stall per group (a
sixth of the writer's time at 64 tills). Woken just before COMMIT, it runs while
the writer waits on the disk without the lock. The hold is short and bounded:
answers wait only behind AppendsOnly jobs (a sale's, short and alike), and not
past HOLD_ANSWERS_MS after the commit; any other job (a feed page, an import,
whose length nobody knows) has them given before it starts, and with nothing
queued they go at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from node.store.changelog import LogHead, LogWriter
from node.store.row_cache import WriterConnection
from protocol.contract import EntryType
from protocol.entry import Entry
from protocol.errors import InvariantBroken, Overloaded, PayloadInvalid, ShuttingDown

log = logging.getLogger(__name__)

T = TypeVar("T")

# Bounds the time one group holds the write lock and the work lost to a
# failed COMMIT; 256 checkouts commit in a few milliseconds here.
MAX_GROUP_JOBS = 256
# Tills beyond this many queued writes get a 503 rather than an unbounded wait.
MAX_QUEUED_JOBS = 10_000
# The longest a committed group's answers wait for the next group to reach its
# COMMIT before its next job starts (module docstring); 64 checkouts take about 4.
HOLD_ANSWERS_MS = 5


# The operator whose request a job runs for: set once per request by the app's
# session check, read when the job is queued, and written into every entry the job
# records, so no service passes it along by hand and none can forget it.
ACTING_OPERATOR: contextvars.ContextVar[str] = contextvars.ContextVar("acting_operator", default="")


class WriterOverloaded(Overloaded):
    """More writes are queued than the writer takes; the till retries shortly."""


class WriterClosed(ShuttingDown):
    """The node is shutting down and takes no more writes."""


_LOG_INSERT = "INSERT INTO change_log (seq, hlc, hash, entry) VALUES (?, ?, ?, ?)"

Rows = list[tuple[Any, ...]]
RowOf = Callable[[Any], tuple[Any, ...]]


@dataclass(slots=True)
class Upserts:
    """One upsert statement's writes waiting for the group's end: the last value of
    each key, and how a value is made its row."""

    row: RowOf
    values: dict[Hashable, Any] = field(default_factory=dict)

    def add(self, values: dict[Hashable, Any], row: RowOf) -> None:
        # Their rows are made in one go at the end: one way of making them, or the
        # last write of a key could be made the wrong way.
        if row is not self.row:
            raise InvariantBroken("one upsert statement is given its rows by one function")
        self.values.update(values)

    def rows(self) -> Rows:
        row = self.row
        return [row(value) for value in self.values.values()]


@dataclass(slots=True)
class Tx:
    """What a job sees: the connection inside its savepoint, and the log."""

    conn: sqlite3.Connection
    log: LogWriter
    wall_ms: int
    entries: list[Entry] = field(default_factory=list)
    actor: str = ""  # the operator acting; "" for the node's own work
    # The rows this job adds at the group's end (an AppendsOnly job's); None: at once.
    later: list[tuple[str, Rows]] | None = None
    # Rows it writes over at the group's end, the last write of each key kept.
    later_by_key: dict[str, Upserts] | None = None

    def append(self, sql: str, rows: Rows) -> None:
        """Add `rows` with the INSERT `sql`: at the group's end if this job runs as
        AppendsOnly (nothing reads them before then), else now."""
        if self.later is None:
            self.conn.executemany(sql, rows)
        else:
            self.later.append((sql, rows))

    @property
    def writes_later(self) -> bool:
        return self.later is not None

    def upsert(self, sql: str, values: dict[Hashable, Any], row: RowOf = tuple) -> None:
        """Write `values` (key: what its row says, made a row by `row`) with the upsert
        `sql`, whose outcome depends only on each key's last write: at the group's end,
        once per key, for an AppendsOnly job (whose reads of them go through the
        writer's row cache), else now. A row costly to make (a packed cost state) is
        then made once per key and group, not once per write of it."""
        if self.later_by_key is None:
            self.conn.executemany(sql, [row(value) for value in values.values()])
        else:
            upserts = self.later_by_key.get(sql)
            if upserts is None:
                upserts = self.later_by_key[sql] = Upserts(row)
            upserts.add(values, row)

    def record(self, entry_type: EntryType, entity_id: str, payload: Any) -> Entry:
        """Append an entry of `entry_type` to the log in this job's savepoint. The payload
        is held to the wire contract first, so nothing HQ cannot read is ever committed:
        a refusal here means a till's input passed the node's own checks but not the
        contract (the node's validation has drifted from it), and the job fails whole."""
        try:
            # A payload whose maps are already in canonical order (every sale's) is
            # packed as it stands, without the codec's walk.
            canonical = entry_type.check_canonical(payload)
        except PayloadInvalid:
            log.error("a %s entry broke the wire contract; the node's checks let it through", entry_type.name)
            raise
        entry = self.log.mint(
            self.wall_ms, entry_type.kind, entity_id, entry_type.op, payload, canonical, self.actor
        )
        self.append(_LOG_INSERT, [(entry.seq, entry.hlc, entry.hash, entry.raw)])
        self.entries.append(entry)
        return entry


Job = Callable[[Tx], T]


@dataclass(frozen=True, slots=True)
class AppendsOnly(Generic[T]):
    """A job that reads none of the rows other jobs of its group add with `Tx.append`
    (a cash sale: it reads products, stock and prices, never another sale), so its own
    and their rows wait for the group's end. `key`: the one such row it does look
    for (a sale's Idempotency-Key); if an earlier job of the group added it, the rows
    waiting go in before this job runs, and it finds it as usual. `savepoint` False:
    the job writes nothing but through `Tx.append` and `Tx.upsert` (a sale to no
    member), so its failure leaves SQLite as it was and it runs without a savepoint
    of its own; one that writes all the same fails its whole group, loudly."""

    job: Job[T]
    key: Hashable | None = None
    savepoint: bool = True

    def __call__(self, tx: Tx) -> T:
        return self.job(tx)


class _Waiting:
    """The rows a group's jobs added with `Tx.append` that have not gone in yet,
    in the order they were added, per statement."""

    __slots__ = ("by_key", "keys", "rows")

    def __init__(self) -> None:
        self.rows: dict[str, Rows] = {}
        self.by_key: dict[str, Upserts] = {}
        self.keys: set[Hashable] = set()

    def __bool__(self) -> bool:
        return bool(self.rows or self.by_key)

    def keep(self, tx: Tx, key: Hashable | None) -> None:
        """A job's rows, once its savepoint is released."""
        for sql, rows in tx.later or ():
            self.rows.setdefault(sql, []).extend(rows)
        for sql, upserts in (tx.later_by_key or {}).items():
            held = self.by_key.get(sql)
            if held is None:
                self.by_key[sql] = upserts
            else:
                held.add(upserts.values, upserts.row)
        if key is not None:
            self.keys.add(key)

    def write(self, conn: sqlite3.Connection) -> None:
        """In they go, one statement per table, in the group's transaction."""
        rows, by_key = self.rows, self.by_key
        self.clear()
        for sql, batch in rows.items():
            conn.executemany(sql, batch)
        for sql, upserts in by_key.items():
            conn.executemany(sql, upserts.rows())

    def clear(self) -> None:
        self.rows = {}
        self.by_key = {}
        self.keys.clear()


@dataclass(slots=True)
class _Pending(Generic[T]):
    job: Job[T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    actor: str


Settlement = tuple[_Pending[Any], bool, Any]  # the job, whether it succeeded, its result or error


class _HeldAnswers:
    """A committed group's answers, not given yet (module docstring)."""

    __slots__ = ("due", "settlements")

    NONE: _HeldAnswers  # nothing held

    def __init__(self, settlements: list[Settlement], due: float) -> None:
        self.settlements = settlements
        self.due = due  # perf_counter() after which no job of the next group starts first

    def __bool__(self) -> bool:
        return bool(self.settlements)

    def give(self) -> None:
        if self.settlements:
            settlements, self.settlements = self.settlements, []
            _settle(settlements)


_HeldAnswers.NONE = _HeldAnswers([], 0.0)


class Writer:
    def __init__(
        self,
        conn: WriterConnection,
        log_writer: LogWriter,
        *,
        wall_ms: Callable[[], int] | None = None,
        on_commit: Callable[[LogHead], None] | None = None,
        inline: bool = False,
        max_queued: int = MAX_QUEUED_JOBS,
    ) -> None:
        self._conn = conn
        self.log = log_writer
        self._wall_ms = wall_ms if wall_ms is not None else lambda: time.time_ns() // 1_000_000
        self._on_commit = on_commit
        # A count read before each put bounds the queue (loose by at most the puts of
        # other event loops at that instant) without queue.Queue's lock and condition
        # on every put and every get: the writer takes each job of a group on its own.
        self._queue: queue.SimpleQueue[_Pending[Any] | None] = queue.SimpleQueue()
        self._max_queued = max_queued
        self._closed = False
        self._waiting = _Waiting()
        self.groups_committed = 0
        self.jobs_committed = 0
        # Inline (the simulator's world, which runs one event at a time): each job is a
        # group of its own, run in the caller's thread. The statements are the same;
        # what goes is the hop to the writer thread and back, which on a loop busy with
        # many stores costs a switch interval of the interpreter lock each way.
        self._thread: threading.Thread | None = None
        if not inline:
            self._thread = threading.Thread(target=self._run, name="branchline-writer", daemon=True)
            self._thread.start()

    def now_ms(self) -> int:
        """The wall time a job would see now (the simulator's, in a simulation)."""
        return self._wall_ms()

    @property
    def inline(self) -> bool:
        return self._thread is None

    async def run(self, job: Job[T]) -> T:
        """Run `job` in the next group; return its result once durably committed."""
        if self._closed:
            raise WriterClosed("the node is shutting down; retry in a moment")
        if self._thread is None:
            [(ok, value)] = self._apply([(job, ACTING_OPERATOR.get())])
            if not ok:
                raise value
            return value  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        pending: _Pending[T] = _Pending(job, loop.create_future(), loop, ACTING_OPERATOR.get())
        if self._queue.qsize() >= self._max_queued:
            raise WriterOverloaded(f"{self._max_queued} writes are already queued; retry shortly")
        self._queue.put(pending)
        return await pending.future

    async def close(self) -> None:
        """Commit what is queued, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
        self._conn.close()

    def _run(self) -> None:
        held = _HeldAnswers.NONE
        stopping = False
        while not stopping:
            group, stopping = self._take_group(wait=not held)
            if group:
                held = self._commit_group(group, held)
            else:
                held.give()
                held = _HeldAnswers.NONE
        held.give()

    def _take_group(self, *, wait: bool) -> tuple[list[_Pending[Any]], bool]:
        """The jobs queued now (the first waited for if `wait`, else none may be), and
        whether close() was among them."""
        try:
            first = self._queue.get() if wait else self._queue.get_nowait()
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        group: list[_Pending[Any]] = [first]
        while len(group) < MAX_GROUP_JOBS:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return group, True
            group.append(nxt)
        return group, False

    def _commit_group(self, group: list[_Pending[Any]], earlier: _HeldAnswers) -> _HeldAnswers:
        """Commit `group`, answering `earlier` on the way (by its COMMIT at the latest);
        returns the group's own answers, held."""
        try:
            outcomes = self._apply([(pending.job, pending.actor) for pending in group], earlier)
        finally:
            earlier.give()  # the group failed before its COMMIT, or a bug escaped
        settlements = [(pending, ok, value) for pending, (ok, value) in zip(group, outcomes, strict=True)]
        return _HeldAnswers(settlements, time.perf_counter() + HOLD_ANSWERS_MS / 1000)

    def _apply(
        self, jobs: list[tuple[Job[Any], str]], held: _HeldAnswers = _HeldAnswers.NONE
    ) -> list[tuple[bool, Any]]:
        """Run `jobs` (each with its acting operator) as one group: one transaction, a
        savepoint each. Returns, per job, whether it succeeded and its result or error.
        `held`: the last group's answers, given before this one commits."""
        conn = self._conn
        group_start = self.log.head
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job, actor in jobs:
                if held and (not isinstance(job, AppendsOnly) or time.perf_counter() > held.due):
                    held.give()
                outcomes.append(self._run_job(job, actor))
            self._waiting.write(conn)
            held.give()
            conn.execute("COMMIT")
        except (sqlite3.Error, InvariantBroken) as exc:
            # The group as a whole failed (disk full, I/O error, or a bug: a job
            # broke its AppendsOnly promise, or two made one upsert's rows two
            # ways): nothing of it is durable, so every caller hears so and the
            # log head and the rows kept in memory go back.
            log.error("group commit of %d writes failed: %s", len(jobs), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._waiting.clear()
            conn.rows.group_undone()
            self.log.rewind(group_start)
            return [(False, exc)] * len(jobs)
        conn.rows.group_committed()
        self.groups_committed += 1
        self.jobs_committed += len(jobs)
        # The new head is announced before any caller is answered, so whoever
        # hears "committed" and then asks for the sync state sees it counted.
        if self._on_commit is not None and self.log.head.seq != group_start.seq:
            self._on_commit(self.log.head)
        return outcomes

    def _unsaved_changes(self, changes: int) -> None:
        if self._conn.total_changes != changes:
            log.error("a job run without a savepoint wrote at once; its group fails")
            raise UnsavedWrite("a job declared AppendsOnly(savepoint=False) wrote outside Tx.append")

    def _run_job(self, job: Job[Any], actor: str) -> tuple[bool, Any]:
        conn = self._conn
        waiting = self._waiting
        appends_only = job if isinstance(job, AppendsOnly) else None
        key = None if appends_only is None else appends_only.key
        if waiting and (appends_only is None or key in waiting.keys):
            # This job may read what waits: in it goes first, outside the job's
            # savepoint, so the job's failure cannot take it back.
            waiting.write(conn)
        tx = Tx(conn, self.log, self._wall_ms(), actor=actor)
        if appends_only is not None:
            tx.later, tx.later_by_key = [], {}
        savepoint = appends_only is None or appends_only.savepoint
        before = self.log.head
        changes = conn.total_changes
        if savepoint:
            conn.execute("SAVEPOINT job")
        try:
            result = job(tx)
        except Exception as exc:  # the job's own failure goes to its caller, not the group
            conn.rows.job_undone()
            self.log.rewind(before)
            if savepoint:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            else:
                self._unsaved_changes(changes)
            return False, exc
        if savepoint:
            conn.execute("RELEASE job")
        else:
            self._unsaved_changes(changes)
        conn.rows.job_kept()
        if appends_only is not None:
            waiting.keep(tx, key)
        return True, result


class UnsavedWrite(InvariantBroken):
    """Ours: a job that said it writes only at its group's end wrote at once, so without
    a savepoint its failure could not have been undone alone. The group fails whole."""


def _settle(settlements: list[Settlement]) -> None:
    """Answer a group's callers: one wake-up of each event loop for the whole group,
    not one per job (each wake-up is a write to the loop's self-pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Settlement]] = {}
    for settlement in settlements:
        by_loop.setdefault(settlement[0].loop, []).append(settlement)
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, batch)
        except RuntimeError:
            log.warning("%d writes committed after their event loop closed", len(batch))


def _deliver(batch: list[Settlement]) -> None:
    for pending, ok, value in batch:
        if pending.future.done():  # the caller went away (request cancelled)
            continue
        if ok:
            pending.future.set_result(value)
        else:
            pending.future.set_exception(value)
