"""HQ storage on one SQLite file: the embedded default.

All access goes through one thread and one connection, and each method runs
its whole transaction in one hop to that thread: a 500-entry ingest is one
hop, not one per statement. SQLite allows one writer at a time anyway, and the
single thread also serialises ingest per origin, as the interface requires.

The work is plain functions of a connection, one module per concern
(enrollment, ingest, logs, feeds, directory, holds, inventory, reports); the class
here only opens the file, owns the thread and HQ's clock, and runs those
functions in transactions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from conflict.voucher_use import IssuedVoucher
from hq import quarantine
from hq.audit import AuditReport
from hq.conflicts import Conflict
from hq.errors import StoreUnreachable
from hq.log_proof import LogProof
from hq.member_stats import MemberPurchases
from hq.operation_log import LoggedOperation, Operation
from hq.storage.base import (
    BranchRecord,
    DirectoryDigest,
    FeedChange,
    FeedSlice,
    HoldRecord,
    IngestResult,
    LiveSale,
    MasterRecord,
    OperatorRecord,
    QuarantinedEffect,
    ReportLine,
    SalesTotals,
    StoredValueLiability,
    TopUpTotals,
    Warehouse,
)
from hq.storage.inventory_records import (
    InTransitLine,
    InTransitSummary,
    PayableDocument,
    StockAlert,
    StockLevel,
    TransferDiscrepancy,
    TransferView,
)
from hq.storage.sqlite import (
    audit as chains,
)
from hq.storage.sqlite import (
    directory,
    enrollment,
    exports,
    feeds,
    holds,
    ingest,
    inventory,
    levels,
    liability,
    logs,
    member_stats,
    operations,
    operators,
    reports,
    vouchers,
)
from hq.storage.sqlite.schema import migrate
from hq.vouchers import Campaign
from protocol.batch import SignedBatch
from protocol.errors import InvariantBroken
from protocol.hlc import HybridLogicalClock
from protocol.ingest import Fork
from shared_tables import credit, directory_store, photos, points_lots
from shared_tables.private_files import private_database
from shared_tables.sql import Connection

T = TypeVar("T")
# Sessions that expired this long before a new one's expiry are swept as it is added:
# the table stays the size of a shift's log-ins without a timer of its own.
SESSION_SWEEP_MS = 7 * 24 * 3600 * 1000
P = ParamSpec("P")


def _select_one(conn: Connection) -> None:
    conn.execute("SELECT 1").fetchone()


class SqliteHQStore:
    """HQStore (hq.storage.base) on one SQLite file."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: ThreadPoolExecutor | None,
        signer: operations.Signer | None = None,
    ) -> None:
        self._conn = conn
        self._executor = executor
        self._started(signer, feeds.latest_hlc(conn))

    def _started(self, signer: operations.Signer | None, latest_hlc: int) -> None:
        # Signs each operation logged (hq.operation_log rule 3); a store opened without
        # HQ's key (a test of one table) can log none.
        self._signer = signer
        # HQ's stamps on its feeds; only ever touched inside the store's transactions.
        self.clock = HybridLogicalClock(latest_hlc)
        self._digest_lock = asyncio.Lock()
        self._digest: tuple[object, DirectoryDigest] | None = None  # (version, digest at that version)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        synchronous: str = "FULL",
        signer: operations.Signer | None = None,
        inline: bool = False,
    ) -> SqliteHQStore:
        """`inline`: every transaction runs in the caller's thread, not the store's own
        (the simulator, which runs one event at a time and would only pay for the hops)."""
        executor = None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="hq-sqlite")

        def connect() -> SqliteHQStore:
            conn = sqlite3.connect(str(private_database(path)), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA busy_timeout=5000")
            migrate(conn)
            store = cls(conn, executor, signer)
            # A store from before sightings holds registrations HQ never ordered.
            now_ms = time.time_ns() // 1_000_000
            store._in_transaction(directory.sight_backlog, store._append(now_ms), now_ms)
            return store

        if executor is None:
            return connect()
        return await asyncio.get_running_loop().run_in_executor(executor, connect)

    async def close(self) -> None:
        if self._executor is None:
            self._conn.close()
            return
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)

    async def check_reachable(self) -> None:
        try:
            await self._read(_select_one)
        except Exception as exc:
            raise StoreUnreachable(f"HQ's store does not answer: {exc}") from exc

    def watch_feeds(self, feeds_grown: Callable[[Iterable[str]], None]) -> None:
        """One process owns a SQLite store: nobody else grows its feeds."""

    def _in_transaction(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn, *args, **kwargs)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _tx(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, ...)` in one transaction on the store's thread."""
        if self._executor is None:
            return self._in_transaction(fn, *args, **kwargs)
        call = functools.partial(self._in_transaction, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(conn, ...)` on the store's thread; no write runs while it reads."""
        if self._executor is None:
            return fn(self._conn, *args, **kwargs)
        call = functools.partial(fn, self._conn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _append(self, wall_ms: int) -> feeds.FeedAppender:
        return feeds.FeedAppender(self.clock, wall_ms)

    def _log(self, conn: Connection, operation: Operation | None) -> None:
        """Log the operation in the change's own transaction (hq.operation_log rule 1)."""
        if operation is None:
            return
        if self._signer is None:
            raise InvariantBroken("HQ's store was opened without HQ's key, so it cannot log an operation")
        operations.append(conn, self._signer, operation)

    # -- enrollment and branches ------------------------------------------------------

    async def add_enroll_token(
        self, branch: str, token_hash: str, expires_at_ms: int, operation: Operation | None = None
    ) -> None:
        def add(conn: Connection) -> None:
            enrollment.add_token(conn, branch, token_hash, expires_at_ms)
            self._log(conn, operation)

        await self._tx(add)

    async def redeem_enroll_token(
        self,
        token_hash: str,
        branch: str,
        public_key: bytes,
        now_ms: int,
        wall_ms: int,
        main_warehouse: Warehouse | None = None,
    ) -> list[str]:
        return await self._tx(
            enrollment.redeem, self._append(wall_ms), token_hash, branch, public_key, now_ms, main_warehouse
        )

    async def branch(self, code: str) -> BranchRecord | None:
        return await self._read(enrollment.branch, code)

    async def branches(self) -> list[BranchRecord]:
        return await self._read(enrollment.branches)

    async def touch(self, code: str, now_ms: int, reported_backlog: int | None) -> None:
        await self._tx(enrollment.touch, code, now_ms, reported_backlog)

    # -- the branches' logs -------------------------------------------------------------

    async def ingest(self, batch: SignedBatch, now_ms: int, reported_backlog: int | None) -> IngestResult:
        result = await self._tx(ingest.ingest, self.clock, batch, now_ms, reported_backlog)
        if isinstance(result, Fork):
            raise quarantine.forked_log(batch.origin, result)
        return result

    async def log_entries(self, origin: str, first_seq: int, last_seq: int) -> list[bytes]:
        return await self._read(logs.log_entries, origin, first_seq, last_seq)

    async def log_proof(self, origin: str, seq: int) -> LogProof:
        return await self._read(logs.log_proof, origin, seq)

    async def sale_entry(self, origin: str, sale_id: str) -> bytes | None:
        return await self._read(reports.sale_entry, origin, sale_id)

    async def quarantined_effects(self, branch: str | None) -> list[QuarantinedEffect]:
        return await self._read(logs.quarantined_effects, branch)

    # -- feeds ------------------------------------------------------------------------------

    async def publish(self, changes: list[FeedChange], wall_ms: int) -> list[str]:
        return await self._tx(feeds.publish, self._append(wall_ms), changes)

    async def feed_after(self, branch: str, after_seq: int, max_entries: int, max_bytes: int) -> FeedSlice:
        return await self._read(feeds.feed_after, branch, after_seq, max_entries, max_bytes)

    # -- master data and reports ------------------------------------------------------------

    async def upsert_master(
        self, records: Sequence[MasterRecord], wall_ms: int, operation: Operation | None = None
    ) -> list[str]:
        def upsert(conn: Connection) -> list[str]:
            self._log(conn, operation)
            changes = inventory.write_master(conn, records)
            if operation is not None:
                changes = [dataclasses.replace(c, actor=operation.doer.actor_id) for c in changes]
            return feeds.publish(conn, self._append(wall_ms), changes)

        return await self._tx(upsert)

    async def master_records(self, kind: str, keys: list[str] | None = None) -> list[MasterRecord]:
        return await self._read(inventory.read_master, kind, keys)

    async def sales_totals(
        self, branch: str | None, first_day: str = "0000-01-01", last_day: str = "9999-12-31"
    ) -> SalesTotals:
        return await self._read(reports.sales_totals, branch, first_day, last_day)

    async def sales_by_branch(self, first_day: str, last_day: str) -> list[tuple[str, SalesTotals]]:
        return await self._read(reports.sales_by_branch, first_day, last_day)

    async def sales_by_day(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        return await self._read(reports.sales_by_day, branch, first_day, last_day)

    async def sales_by_salesperson(
        self, branch: str | None, first_day: str, last_day: str
    ) -> list[ReportLine]:
        return await self._read(reports.sales_by_salesperson, branch, first_day, last_day)

    async def goods_by_product(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        return await self._read(reports.goods_by_product, branch, first_day, last_day)

    async def category_names(self) -> dict[str, str]:
        return await self._read(reports.category_names)

    async def joins_by(
        self, dimension: str, branch: str | None, first_day: str, last_day: str
    ) -> list[tuple[str, int]]:
        return await self._read(reports.joins_by, dimension, branch, first_day, last_day)

    async def referrals(
        self, branch: str | None, first_day: str, last_day: str, limit: int
    ) -> list[tuple[str, str, int]]:
        return await self._read(reports.referrals, branch, first_day, last_day, limit)

    async def overdue_credit(self, now_ms: int, term_days: int) -> list[dict[str, Any]]:
        return await self._read(credit.overdue, now_ms, term_days)

    async def off_cycle_members(
        self, branch: str | None, now_ms: int, min_visits: int, limit: int
    ) -> list[tuple[str, str, int, int, int]]:
        return await self._read(member_stats.off_cycle, branch, now_ms, min_visits, limit)

    async def start_export(
        self, export_id: str, login: str, name: str, content_type: str, now_ms: int
    ) -> None:
        await self._tx(exports.start_export, export_id, login, name, content_type, now_ms)

    async def finish_export(self, export_id: str, body: bytes | None, error: str | None) -> None:
        await self._tx(exports.finish_export, export_id, body, error)

    async def export(self, export_id: str, login: str) -> tuple[str, str, bytes | None, str | None] | None:
        return await self._read(exports.export, export_id, login)

    async def points_outstanding(self) -> tuple[list[tuple[int, int]], int]:
        return await self._read(points_lots.outstanding)

    async def narrowed_lines(
        self, column: str, value: str, grouping: str, branch: str | None, first_day: str, last_day: str
    ) -> list[ReportLine]:
        return await self._read(reports.narrowed_lines, column, value, grouping, branch, first_day, last_day)

    async def points_by_kind(self, branch: str | None, first_day: str, last_day: str) -> dict[str, int]:
        return await self._read(reports.points_by_kind, branch, first_day, last_day)

    async def rebuild_reports(self) -> int:
        return await self._tx(reports.rebuild)

    async def lapsed_members(
        self, branch: str | None, before_ms: int, limit: int
    ) -> list[tuple[str, str, str, int, int]]:
        return await self._read(member_stats.lapsed, branch, before_ms, limit)

    async def sales_by_member(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        return await self._read(reports.sales_by_member, branch, first_day, last_day)

    async def sales_by_level(self, branch: str | None, first_day: str, last_day: str) -> list[ReportLine]:
        return await self._read(reports.sales_by_level, branch, first_day, last_day)

    async def joins_by_day(self, branch: str | None, first_day: str, last_day: str) -> list[tuple[str, int]]:
        return await self._read(reports.joins_by_day, branch, first_day, last_day)

    async def joins_by_salesperson(
        self, branch: str | None, first_day: str, last_day: str
    ) -> list[tuple[str, str, int]]:
        return await self._read(reports.joins_by_salesperson, branch, first_day, last_day)

    async def cards_by_type(
        self, branch: str | None, first_day: str, last_day: str
    ) -> list[tuple[str, str, int, int]]:
        return await self._read(reports.cards_by_type, branch, first_day, last_day)

    async def operator_language(self, login: str) -> str | None:
        return await self._read(operators.language, login)

    async def set_operator_language(self, login: str, language: str) -> None:
        await self._tx(operators.set_language, login, language)

    async def live_sales(self, origin: str, after_seq: int, up_to_seq: int, limit: int) -> list[LiveSale]:
        return await self._read(reports.live_sales, origin, after_seq, up_to_seq, limit)

    async def stored_value_liability(self, branch: str | None) -> list[StoredValueLiability]:
        return await self._read(liability.stored_value_liability, branch)

    async def top_up_totals(self, branch: str | None, first_day: str, last_day: str) -> list[TopUpTotals]:
        return await self._read(reports.top_up_totals, branch, first_day, last_day)

    # -- stock, transfers and payables --------------------------------------------------------

    async def stock_levels(self, warehouse: str | None, sku: str | None) -> list[StockLevel]:
        return await self._read(inventory.stock_levels, warehouse, sku)

    async def in_transit_by_sku(self, to_warehouse: str | None, sku: str | None) -> list[InTransitLine]:
        return await self._read(inventory.in_transit_by_sku, to_warehouse, sku)

    async def in_transit_summary(self) -> InTransitSummary:
        return await self._read(inventory.in_transit_summary)

    async def stock_alerts(self, warehouse: str | None) -> list[StockAlert]:
        return await self._read(inventory.stock_alerts, warehouse)

    async def transfers(self, state: str | None) -> list[TransferView]:
        return await self._read(inventory.transfers, state)

    async def transfer(self, transfer_id: str) -> TransferView | None:
        return await self._read(inventory.transfer, transfer_id)

    async def discrepancies(self, transfer_id: str | None) -> list[TransferDiscrepancy]:
        return await self._read(inventory.discrepancies, transfer_id)

    async def payables(
        self, supplier: str | None, branch: str | None = None, from_ms: int = 0, to_ms: int = 2**62
    ) -> list[PayableDocument]:
        return await self._read(inventory.payables, supplier, branch, from_ms, to_ms)

    # -- the shared member directory ------------------------------------------------------------

    async def member_by_phone(self, phone: str) -> list[dict[str, Any]]:
        return await self._read(directory.member_by_phone, phone)

    async def member(self, member_id: str) -> dict[str, Any] | None:
        return await self._read(directory_store.member_json, member_id)

    async def grade_levels(
        self, wall_ms: int, operation: Operation | None = None
    ) -> tuple[list[FeedChange], list[str]]:
        def grading(conn: Connection) -> tuple[list[FeedChange], list[str]]:
            self._log(conn, operation)
            return levels.grade_members(conn, self._append(wall_ms), wall_ms)

        return await self._tx(grading)

    async def expire_points(self, wall_ms: int, due_ms: int) -> tuple[int, list[str]]:
        expired, grown = await self._tx(directory.expire_points, self._append(wall_ms), wall_ms, due_ms)
        return expired, sorted(grown)

    async def run_voucher_campaign(
        self, campaign: Campaign, wall_ms: int, operation: Operation | None = None
    ) -> tuple[bool, list[IssuedVoucher], list[str]]:
        def run(conn: Connection) -> tuple[bool, list[IssuedVoucher], list[str]]:
            self._log(conn, operation)
            actor = "" if operation is None else operation.doer.actor_id
            return vouchers.run_campaign(conn, self._append(wall_ms), campaign, wall_ms, actor)

        return await self._tx(run)

    async def voucher_campaigns(self, now_ms: int) -> list[dict[str, Any]]:
        return await self._read(vouchers.campaigns, now_ms)

    async def voucher_campaign(self, code: str, now_ms: int) -> dict[str, Any]:
        return await self._read(vouchers.campaign, code, now_ms)

    async def member_purchases(
        self, member_id: str, start_ms: int, end_ms: int, branch: str | None
    ) -> MemberPurchases | None:
        return await self._read(member_stats.member_purchases, member_id, start_ms, end_ms, branch)

    async def member_contacts(
        self, member_id: str, limit: int, before: tuple[int, str] | None
    ) -> dict[str, Any] | None:
        return await self._read(directory_store.contact_history, member_id, limit, before)

    async def photo(self, ref: str) -> tuple[str, bytes] | None:
        return await self._read(photos.get, ref)

    async def card(self, card_id: str) -> dict[str, Any] | None:
        return await self._read(directory.card, card_id)

    async def directory_bytes(self) -> bytes:
        return await self._read(directory.directory_bytes)

    async def directory_digest(self) -> DirectoryDigest:
        async with self._digest_lock:
            # The version is read before the digest is computed: a write landing in
            # between makes the key older than the digest, never newer, so the next
            # caller computes it again.
            version = await self._version()
            if self._digest is None or self._digest[0] != version:
                data = await self.directory_bytes()
                self._digest = (version, DirectoryDigest(hashlib.sha256(data).hexdigest(), len(data)))
            return self._digest[1]

    async def _version(self) -> object:
        """A value that changes whenever anything is written: every write goes through
        this one connection, so its count of changes."""
        return self._conn.total_changes

    # -- online payment holds -----------------------------------------------------------------

    async def place_hold(self, hold: HoldRecord, unsynced_fen: int, now_ms: int) -> int:
        return await self._tx(holds.place, hold, unsynced_fen, now_ms)

    async def release_hold(self, branch: str, hold_id: str) -> bool:
        return await self._tx(holds.release, branch, hold_id)

    # -- operators and their sessions ----------------------------------------------------------

    async def put_operator(
        self, record: OperatorRecord, expected_version: int, wall_ms: int, operation: Operation | None = None
    ) -> list[str]:
        def put(conn: Connection) -> list[str]:
            self._log(conn, operation)
            return operators.put(conn, self._append(wall_ms), record, expected_version)

        return await self._tx(put)

    async def operations(self, before_seq: int | None, limit: int) -> list[LoggedOperation]:
        return await self._read(operations.newest, before_seq, limit)

    async def audit(self, hq_public_key: bytes) -> AuditReport:
        return await self._read(chains.audit_all, hq_public_key)

    async def operator(self, operator_id: str) -> OperatorRecord | None:
        return await self._read(operators.by_id, operator_id)

    async def operator_by_login(self, login: str) -> OperatorRecord | None:
        return await self._read(operators.by_login, login)

    async def operators(self) -> list[OperatorRecord]:
        return await self._read(operators.every)

    async def add_session(self, token_hash: str, operator_id: str, expires_at_ms: int) -> None:
        def add(conn: Connection) -> None:
            operators.end_expired(conn, expires_at_ms - SESSION_SWEEP_MS)
            operators.add_session(conn, token_hash, operator_id, expires_at_ms)

        await self._tx(add)

    async def session_operator(self, token_hash: str, now_ms: int) -> OperatorRecord | None:
        return await self._read(operators.session_operator, token_hash, now_ms)

    async def end_session(self, token_hash: str) -> None:
        await self._tx(operators.end_session, token_hash)

    # -- the conflict queue --------------------------------------------------------------------

    async def conflicts(self, state: str | None) -> list[Conflict]:
        return await self._read(directory.conflicts, state)

    async def conflict(self, conflict_id: str) -> Conflict | None:
        return await self._read(directory.conflict, conflict_id)

    async def resolve_conflict(
        self,
        conflict_id: str,
        action: str,
        note: str,
        by: str,
        wall_ms: int,
        operation: Operation | None = None,
    ) -> tuple[Conflict, list[str]]:
        def resolve(conn: Connection) -> tuple[Conflict, list[str]]:
            self._log(conn, operation)
            return directory.resolve(
                conn, self.clock, self._append(wall_ms), conflict_id, action, note, by, wall_ms
            )

        return await self._tx(resolve)
