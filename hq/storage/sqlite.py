"""HQ storage on one SQLite file: the embedded default.

All access goes through one thread and one connection, and each method runs
its whole transaction in one hop to that thread: a 500-entry ingest is one
hop, not one per statement. SQLite allows one writer at a time anyway, and the
single thread also serialises ingest per origin, as the interface requires.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from conflict.duplicates import Registration
from conflict.ledger import LedgerEntry
from conflict.overdraft import find_overdrafts
from conflict.profile import StampedField
from conflict.vouchers import Redemption, settle_vouchers
from conflict.wire import DirectoryRecord, record_id, records_of, to_payload
from hq import conflicts as queue
from hq.errors import (
    AlreadyEnrolled,
    CardBlocked,
    EnrollmentRefused,
    HoldConflict,
    InsufficientBalance,
    Quarantined,
    UnknownBranch,
    UnknownCard,
)
from hq.plan import DirectoryWrite, Plan, plan_entries
from hq.storage import sqlite_inventory as inventory
from hq.storage.base import (
    BranchRecord,
    FeedChange,
    HoldRecord,
    IngestResult,
    MasterRecord,
    Product,
    SalesTotals,
    Warehouse,
    feed_origin,
)
from hq.storage.sqlite_schema import migrate
from protocol.batch import SignedBatch
from protocol.entry import GENESIS_HASH, check_chain, encode_entry
from protocol.errors import ChainBroken, ForkedLog, SequenceGap
from protocol.hlc import HybridLogicalClock
from protocol.limits import MAX_NAME_CHARS
from shared_tables import directory_store

T = TypeVar("T")

BRANCH_COLUMNS = (
    "code, public_key, enrolled_at_ms, acked_seq, last_seen_ms, reported_backlog,"
    " quarantined_reason, quarantined_at_ms"
)


class SqliteHQStore:
    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor
        row = conn.execute("SELECT COALESCE(MAX(hlc), 0) FROM feed").fetchone()
        self.clock = HybridLogicalClock(row[0])

    @classmethod
    async def open(cls, path: Path, *, synchronous: str = "FULL") -> SqliteHQStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hq-sqlite")

        def connect() -> SqliteHQStore:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA busy_timeout=5000")
            migrate(conn)
            return cls(conn, executor)

        return await asyncio.get_running_loop().run_in_executor(executor, connect)

    async def close(self) -> None:
        await self._run(self._conn.close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._transaction, fn)

    # -- enrollment ----------------------------------------------------------

    async def add_enroll_token(self, branch: str, token_hash: str, expires_at_ms: int) -> None:
        def add(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT acked_seq FROM nodes WHERE code = ?", (branch,)).fetchone()
            if row is not None:
                raise AlreadyEnrolled(
                    f"branch {branch} is enrolled and HQ holds {row[0]} entries of its log;"
                    " a second node under that code would fork it"
                )
            conn.execute(
                "INSERT INTO enroll_tokens (token_hash, branch, expires_at_ms) VALUES (?, ?, ?)",
                (token_hash, branch, expires_at_ms),
            )

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
        def redeem(conn: sqlite3.Connection) -> list[str]:
            row = conn.execute(
                "SELECT branch, expires_at_ms, used_at_ms FROM enroll_tokens WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None:
                raise EnrollmentRefused("unknown enrollment token; ask HQ for a new one")
            token_branch, expires_at_ms, used_at_ms = row
            if used_at_ms is not None:
                raise EnrollmentRefused("this enrollment token was already used; tokens work once")
            if now_ms > expires_at_ms:
                raise EnrollmentRefused("this enrollment token has expired; ask HQ for a new one")
            if token_branch != branch:
                raise EnrollmentRefused(f"this token enrolls branch {token_branch}, not {branch}")
            if conn.execute("SELECT 1 FROM nodes WHERE code = ?", (branch,)).fetchone():
                raise AlreadyEnrolled(f"branch {branch} is already enrolled")
            conn.execute("UPDATE enroll_tokens SET used_at_ms = ? WHERE token_hash = ?", (now_ms, token_hash))
            conn.execute(
                "INSERT INTO nodes (code, public_key, enrolled_at_ms, head_hash) VALUES (?, ?, ?, ?)",
                (branch, public_key, now_ms, GENESIS_HASH),
            )
            grown: list[str] = []
            if main_warehouse is not None and not inventory.read_master(
                conn, "warehouse", [main_warehouse.code]
            ):
                # The other branches learn the new warehouse now, the new branch with its snapshot.
                changes = inventory.write_master(conn, [main_warehouse])
                grown = [
                    code for (code,) in conn.execute("SELECT code FROM nodes WHERE code != ?", (branch,))
                ]
                for code in grown:
                    self._append_feed(conn, code, changes, wall_ms)
            # A new branch starts from the master data and directory as they are now.
            snapshot = inventory.master_snapshot(conn)
            snapshot += [
                _member_change(member_id, home, directory_store.decode_profile(blob))
                for member_id, home, blob in conn.execute(
                    "SELECT id, home_branch, profile FROM members ORDER BY id"
                )
            ]
            snapshot += [_record_change(record) for record in _all_records(conn)]
            snapshot += [
                FeedChange("conflict", conflict_id, "resolve", json.loads(resolution))
                for conflict_id, resolution in conn.execute(
                    "SELECT id, resolution FROM conflicts WHERE state = 'resolved'"
                    " ORDER BY resolved_at_ms, id"
                )
            ]
            self._append_feed(conn, branch, snapshot, wall_ms)
            inventory.deliver_pending(conn, branch, self._appender(wall_ms))
            return grown

        return await self._tx(redeem)

    # -- branches ----------------------------------------------------------------

    async def branch(self, code: str) -> BranchRecord | None:
        def read() -> BranchRecord | None:
            row = self._conn.execute(f"SELECT {BRANCH_COLUMNS} FROM nodes WHERE code = ?", (code,)).fetchone()
            return None if row is None else BranchRecord(*row)

        return await self._run(read)

    async def branches(self) -> list[BranchRecord]:
        def read() -> list[BranchRecord]:
            rows = self._conn.execute(f"SELECT {BRANCH_COLUMNS} FROM nodes ORDER BY code")
            return [BranchRecord(*row) for row in rows]

        return await self._run(read)

    async def touch(self, code: str, now_ms: int, reported_backlog: int | None) -> None:
        def touch(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE nodes SET last_seen_ms = ?,"
                " reported_backlog = COALESCE(?, reported_backlog) WHERE code = ?",
                (now_ms, reported_backlog, code),
            )

        await self._tx(touch)

    # -- ingest ------------------------------------------------------------------

    async def ingest(self, batch: SignedBatch, now_ms: int, reported_backlog: int) -> IngestResult:
        try:
            return await self._tx(lambda conn: self._ingest(conn, batch, now_ms, reported_backlog))
        except _Fork as fork:
            evidence = fork
            await self._tx(lambda conn: self._quarantine(conn, batch, evidence, now_ms))
            raise ForkedLog(
                f"branch {batch.origin} signed a different entry {fork.seq} than HQ holds; "
                "the branch is quarantined and its pushes are refused until an operator reviews "
                "(evidence kept)"
            ) from None

    def _ingest(
        self, conn: sqlite3.Connection, batch: SignedBatch, now_ms: int, reported_backlog: int
    ) -> IngestResult:
        origin = batch.origin
        row = conn.execute(
            "SELECT acked_seq, head_hash, quarantined_reason FROM nodes WHERE code = ?", (origin,)
        ).fetchone()
        if row is None:
            raise UnknownBranch(f"no node is enrolled as {origin}")
        acked_seq, head_hash, quarantined = row[0], bytes(row[1]), row[2]
        if quarantined is not None:
            raise Quarantined(f"branch {origin} is quarantined: {quarantined}")
        if batch.first_seq > acked_seq + 1:
            raise SequenceGap(
                f"HQ holds {origin} up to {acked_seq}; the batch starts at {batch.first_seq}",
                expected_seq=acked_seq + 1,
            )
        feeds_grown: set[str] = set()
        known = [entry for entry in batch.entries if entry.seq <= acked_seq]
        fresh = [entry for entry in batch.entries if entry.seq > acked_seq]
        if known:
            held = dict(
                conn.execute(
                    "SELECT seq, entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ?",
                    (origin, known[0].seq, known[-1].seq),
                )
            )
            for entry in known:
                if bytes(held[entry.seq]) != entry.raw:
                    raise _Fork(entry.seq, bytes(held[entry.seq]), entry.raw)
        if fresh:
            try:
                check_chain(fresh, origin=origin, prev_hash=head_hash)
            except ChainBroken:
                # The batch verified against its own signature, so the branch
                # signed a history whose entry acked_seq differs from ours.
                held_raw = conn.execute(
                    "SELECT entry FROM log_entries WHERE origin = ? AND seq = ?",
                    (origin, acked_seq),
                ).fetchone()
                raise _Fork(acked_seq, bytes(held_raw[0]) if held_raw else b"", fresh[0].raw) from None
            conn.executemany(
                "INSERT INTO log_entries (origin, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)",
                [(origin, e.seq, e.hlc, e.hash, e.raw) for e in fresh],
            )
            for entry in fresh:
                self.clock.observe(entry.hlc, now_ms)
            feeds_grown = self._execute_plan(conn, plan_entries(fresh), now_ms)
            last = fresh[-1]
            conn.execute(
                "UPDATE nodes SET acked_seq = ?, head_hash = ?, head_signature = ? WHERE code = ?",
                (last.seq, last.hash, batch.signature, origin),
            )
            acked_seq = last.seq
        conn.execute(
            "UPDATE nodes SET last_seen_ms = ?, reported_backlog = ? WHERE code = ?",
            (now_ms, reported_backlog, origin),
        )
        return IngestResult(acked_seq, len(fresh), len(known), tuple(sorted(feeds_grown)))

    def _execute_plan(self, conn: sqlite3.Connection, plan: Plan, wall_ms: int) -> set[str]:
        feeds_grown: set[str] = set()
        if plan.sales:
            conn.executemany(
                "INSERT INTO sales (origin, sale_id, seq, day, total_fen, line_count, cost_fen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (s.origin, s.sale_id, s.seq, s.day, s.total_fen, s.line_count, s.cost_fen)
                    for s in plan.sales
                ],
            )
            conn.executemany(
                "INSERT INTO sales_daily (branch, day, count, total_fen, cost_fen) VALUES (?, ?, 1, ?, ?)"
                " ON CONFLICT (branch, day) DO UPDATE SET count = count + 1,"
                " total_fen = total_fen + excluded.total_fen, cost_fen = cost_fen + excluded.cost_fen",
                [(s.origin, s.day, s.total_fen, s.cost_fen) for s in plan.sales],
            )
        for write in plan.members:
            home, merged = directory_store.merge_profile(
                conn, write.member_id, write.home_branch or "?", write.profile
            )
            change = _member_change(write.member_id, home, merged)
            # The writing branch already holds its own write; everyone else learns it.
            others = conn.execute("SELECT code FROM nodes WHERE code != ?", (write.origin,))
            for (code,) in others.fetchall():
                self._append_feed(conn, code, [change], wall_ms)
                feeds_grown.add(code)
        if plan.directory:
            feeds_grown |= self._merge_directory(conn, plan.directory, wall_ms)
        enrolled = {code for (code,) in conn.execute("SELECT code FROM nodes")}
        feeds_grown |= inventory.execute(conn, plan.inventory, self._appender(wall_ms), enrolled)
        return feeds_grown

    def _merge_directory(
        self, conn: sqlite3.Connection, writes: list[DirectoryWrite], wall_ms: int
    ) -> set[str]:
        """Union the branches' directory records into HQ's, forward the new ones to
        every other branch, capture the holds they spend, and refresh the queue."""
        feeds_grown: set[str] = set()
        codes = [code for (code,) in conn.execute("SELECT code FROM nodes ORDER BY code")]
        for write in writes:
            if not directory_store.add_records(conn, [write.record]):
                continue  # already held (a resolution HQ wrote, echoed back)
            for code in codes:
                if code != write.origin:
                    self._append_feed(conn, code, [_record_change(write.record)], wall_ms)
                    feeds_grown.add(code)
            if write.hold_id is not None:
                conn.execute(
                    "UPDATE holds SET state = 'captured' WHERE hold_id = ? AND branch = ? AND state = 'open'",
                    (write.hold_id, write.origin),
                )
        self._refresh_conflicts(conn, [w.record for w in writes], wall_ms)
        return feeds_grown

    def _refresh_conflicts(
        self, conn: sqlite3.Connection, records: list[DirectoryRecord], now_ms: int
    ) -> None:
        cards = sorted({r.card_id for r in records if isinstance(r, LedgerEntry)})
        members = {r.member_id for r in records if isinstance(r, Registration)}
        # A separation regroups its two members (and whoever they joined through).
        members |= {m for r in records if isinstance(r, tuple) for m in r}
        vouchers = sorted({r.voucher_id for r in records if isinstance(r, Redemption)})
        for card in cards:
            entries = directory_store.card_entries(conn, card)
            by_id = {e.entry_id: e for e in entries}
            found = [
                queue.overdraft_conflict(record, by_id)
                for ledger in sorted({e.ledger for e in entries})
                for record in find_overdrafts(entries, card, ledger)
            ]
            self._sync_conflicts(conn, found, now_ms, stale=("overdraft", card))
        done: set[str] = set()
        for member in sorted(members):
            if member in done:
                continue
            group = directory_store.group_of(conn, member)
            done |= set(group.registrations)
            found = []
            for members_of_group in group.resolution.groups:
                survivor = group.registrations[members_of_group[0]]
                for alias_id in members_of_group[1:]:
                    alias = group.registrations[alias_id]
                    balances = {
                        card: directory_store.card_json(conn, card)["balances"]
                        for card in sorted(survivor.card_numbers | alias.card_numbers)
                    }
                    found.append(queue.duplicate_conflict(survivor, alias, balances))
            self._sync_conflicts(conn, found, now_ms)
            # A member that is no alias any more (an earlier registration or a
            # separation changed the group) no longer stands for a conflict.
            not_aliases = [f"duplicate:{m}" for m in group.registrations if m not in group.resolution.aliases]
            conn.executemany(
                "UPDATE conflicts SET state = 'cleared', updated_at_ms = ? WHERE id = ? AND state = 'open'",
                [(now_ms, conflict_id) for conflict_id in not_aliases],
            )
        for voucher in vouchers:
            outcome = settle_vouchers(directory_store.redemptions_of(conn, voucher))
            winner = outcome.winners[voucher]
            found = [queue.voucher_conflict(flagged, winner) for flagged in outcome.flagged]
            self._sync_conflicts(conn, found, now_ms, stale=("voucher_reused", voucher))

    def _sync_conflicts(
        self,
        conn: sqlite3.Connection,
        found: list[queue.ConflictRecord],
        now_ms: int,
        stale: tuple[str, str] | None = None,
    ) -> None:
        """Insert new conflicts, refresh open ones, reopen cleared ones that are back;
        with `stale` (kind, subject), clear that subject's open ones not found again
        (a top-up that arrived late covered the shortfall)."""
        conn.executemany(
            "INSERT INTO conflicts (id, kind, state, subject, branches, amount_fen, summary, details,"
            " detected_at_ms, updated_at_ms) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET state = 'open', subject = excluded.subject,"
            " branches = excluded.branches, amount_fen = excluded.amount_fen, summary = excluded.summary,"
            " details = excluded.details, updated_at_ms = excluded.updated_at_ms"
            " WHERE conflicts.state != 'resolved' AND (conflicts.details != excluded.details"
            " OR conflicts.state != 'open')",
            [
                (
                    c.id,
                    c.kind,
                    c.subject,
                    ",".join(c.branches),
                    c.amount_fen,
                    c.summary,
                    json.dumps(c.details, sort_keys=True),
                    now_ms,
                    now_ms,
                )
                for c in found
            ],
        )
        if stale is not None:
            kind, subject = stale
            current = {c.id for c in found}
            rows = conn.execute(
                "SELECT id FROM conflicts WHERE kind = ? AND subject = ? AND state = 'open'", (kind, subject)
            ).fetchall()
            conn.executemany(
                "UPDATE conflicts SET state = 'cleared', updated_at_ms = ? WHERE id = ?",
                [(now_ms, conflict_id) for (conflict_id,) in rows if conflict_id not in current],
            )

    def _quarantine(self, conn: sqlite3.Connection, batch: SignedBatch, fork: _Fork, now_ms: int) -> None:
        reason = f"forked log at entry {fork.seq}, detected {now_ms} ms since epoch"
        conn.execute(
            "UPDATE nodes SET quarantined_reason = ?, quarantined_at_ms = ?"
            " WHERE code = ? AND quarantined_reason IS NULL",
            (reason, now_ms, batch.origin),
        )
        conn.execute(
            "INSERT INTO forks (origin, seq, held_entry, offered_entry, offered_head_seq,"
            " offered_head_hash, offered_signature, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                batch.origin,
                fork.seq,
                fork.held,
                fork.offered,
                batch.head.seq,
                batch.head.hash,
                batch.signature,
                now_ms,
            ),
        )

    async def log_entries(self, origin: str, first_seq: int, last_seq: int) -> list[bytes]:
        def read() -> list[bytes]:
            rows = self._conn.execute(
                "SELECT entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (origin, first_seq, last_seq),
            )
            return [bytes(row[0]) for row in rows]

        return await self._run(read)

    # -- feeds ---------------------------------------------------------------------

    def _append_feed(
        self, conn: sqlite3.Connection, branch: str, changes: Iterable[FeedChange], wall_ms: int
    ) -> int:
        """Append to `branch`'s feed; the sequence of its last entry."""
        row = conn.execute(
            "SELECT seq, hash FROM feed WHERE branch = ? ORDER BY seq DESC LIMIT 1", (branch,)
        ).fetchone()
        seq, prev_hash = (0, GENESIS_HASH) if row is None else (row[0], bytes(row[1]))
        rows = []
        for change in changes:
            seq += 1
            entry = encode_entry(
                origin=feed_origin(branch),
                seq=seq,
                hlc=self.clock.tick(wall_ms),
                prev_hash=prev_hash,
                kind=change.kind,
                entity_id=change.entity_id,
                op=change.op,
                payload=change.payload,
            )
            rows.append((branch, seq, entry.hlc, entry.hash, entry.raw))
            prev_hash = entry.hash
        conn.executemany("INSERT INTO feed (branch, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)", rows)
        return seq

    def _appender(self, wall_ms: int) -> inventory.AppendFeed:
        def append(conn: sqlite3.Connection, branch: str, changes: Sequence[FeedChange]) -> int:
            return self._append_feed(conn, branch, changes, wall_ms)

        return append

    async def publish(self, changes: list[FeedChange], wall_ms: int) -> list[str]:
        def publish(conn: sqlite3.Connection) -> list[str]:
            codes = [row[0] for row in conn.execute("SELECT code FROM nodes ORDER BY code")]
            for code in codes:
                self._append_feed(conn, code, changes, wall_ms)
            return codes

        return await self._tx(publish)

    async def feed_after(
        self, branch: str, after_seq: int, max_entries: int, max_bytes: int
    ) -> tuple[list[bytes], int]:
        def read() -> tuple[list[bytes], int]:
            available = self._conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM feed WHERE branch = ?", (branch,)
            ).fetchone()[0]
            raws: list[bytes] = []
            size = 0
            for (raw,) in self._conn.execute(
                "SELECT entry FROM feed WHERE branch = ? AND seq > ? ORDER BY seq LIMIT ?",
                (branch, after_seq, max_entries),
            ):
                if raws and size + len(raw) > max_bytes:
                    break
                raws.append(bytes(raw))
                size += len(raw)
            return raws, available

        return await self._run(read)

    # -- master data and reports ---------------------------------------------------

    async def upsert_products(self, products: list[Product], wall_ms: int) -> None:
        await self.upsert_master(products, wall_ms)

    async def upsert_master(self, records: Sequence[MasterRecord], wall_ms: int) -> list[str]:
        def upsert(conn: sqlite3.Connection) -> list[str]:
            changes = inventory.write_master(conn, records)
            codes = [code for (code,) in conn.execute("SELECT code FROM nodes ORDER BY code").fetchall()]
            for code in codes:
                self._append_feed(conn, code, changes, wall_ms)
            return codes

        return await self._tx(upsert)

    async def master_records(self, kind: str, keys: list[str] | None = None) -> list[MasterRecord]:
        return await self._run(inventory.read_master, self._conn, kind, keys)

    async def products(self) -> list[Product]:
        return await self._run(inventory.products, self._conn)

    async def sales_summary(self, branch: str | None) -> tuple[int, int]:
        totals = await self.sales_totals(branch)
        return totals.count, totals.total_fen

    async def sales_totals(self, branch: str | None) -> SalesTotals:
        def read() -> SalesTotals:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(total_fen), 0), COALESCE(SUM(cost_fen), 0)"
                " FROM sales_daily WHERE ? IS NULL OR branch = ?",
                (branch, branch),
            ).fetchone()
            return SalesTotals(int(row[0]), int(row[1]), int(row[2]))

        return await self._run(read)

    # -- stock, transfers and payables -------------------------------------------------

    async def stock_levels(self, warehouse: str | None, sku: str | None) -> list[dict[str, Any]]:
        return await self._run(inventory.stock_levels, self._conn, warehouse, sku)

    async def in_transit_by_sku(self, to_warehouse: str | None, sku: str | None) -> list[dict[str, Any]]:
        return await self._run(inventory.in_transit_by_sku, self._conn, to_warehouse, sku)

    async def stock_alerts(self, warehouse: str | None) -> list[dict[str, Any]]:
        return await self._run(inventory.stock_alerts, self._conn, warehouse)

    async def transfers(self, state: str | None) -> list[dict[str, Any]]:
        return await self._run(inventory.transfers, self._conn, state)

    async def transfer(self, transfer_id: str) -> dict[str, Any] | None:
        return await self._run(inventory.transfer, self._conn, transfer_id)

    async def discrepancies(self, transfer_id: str | None) -> list[dict[str, Any]]:
        return await self._run(inventory.discrepancies, self._conn, transfer_id)

    async def in_transit_summary(self) -> tuple[int, int | None]:
        return await self._run(inventory.in_transit_summary, self._conn)

    async def payables(self, supplier: str | None) -> list[dict[str, Any]]:
        return await self._run(inventory.payables, self._conn, supplier)

    async def member_by_phone(self, phone: str) -> list[dict[str, Any]]:
        """Members with this phone, each as the survivor of its duplicate group."""

        def read() -> list[dict[str, Any]]:
            conn = self._conn
            found = set(directory_store.members_with_key(conn, "phone:" + phone))
            for (member_id,) in conn.execute("SELECT id FROM members WHERE phone = ?", (phone,)).fetchall():
                found.add(directory_store.group_of(conn, member_id).survivor(member_id))
            views = [directory_store.member_json(conn, member_id) for member_id in sorted(found)]
            return [view for view in views if view is not None]

        return await self._run(read)

    # -- the shared member directory ------------------------------------------------

    async def member(self, member_id: str) -> dict[str, Any] | None:
        return await self._run(lambda: directory_store.member_json(self._conn, member_id))

    async def card(self, card_id: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            owner = directory_store.card_owner(self._conn, card_id)
            if owner is None:
                return None
            survivor = directory_store.group_of(self._conn, owner).survivor(owner)
            return {**directory_store.card_json(self._conn, card_id), "member_id": survivor}

        return await self._run(read)

    async def directory_bytes(self) -> bytes:
        return await self._run(lambda: directory_store.load_directory(self._conn).encode())

    # -- online payment holds --------------------------------------------------------

    async def place_hold(self, hold: HoldRecord, unsynced_fen: int, now_ms: int) -> int:
        """Hold `hold.amount_fen` on the card if its balance, less open holds, covers it;
        return what stays available. Placing the same hold again answers the same."""

        def place(conn: sqlite3.Connection) -> int:
            held = conn.execute(
                "SELECT branch, card_id, amount_fen FROM holds WHERE hold_id = ?", (hold.hold_id,)
            ).fetchone()
            if held is not None:
                if tuple(held) != (hold.branch, hold.card_id, hold.amount_fen):
                    raise HoldConflict(f"hold {hold.hold_id} exists with other terms")
                return _available(conn, hold.card_id, unsynced_fen, now_ms)
            if directory_store.card_owner(conn, hold.card_id) is None:
                raise UnknownCard(f"HQ knows no member holding card {hold.card_id}")
            state = directory_store.card_status(conn, hold.card_id)
            if state != "active":
                raise CardBlocked(f"card {hold.card_id} is {state} at HQ")
            available = _available(conn, hold.card_id, unsynced_fen, now_ms)
            if available < hold.amount_fen:
                raise InsufficientBalance(
                    f"card {hold.card_id} has {available} fen available (balance less open holds),"
                    f" less than {hold.amount_fen} fen"
                )
            conn.execute(
                "INSERT INTO holds (hold_id, branch, card_id, amount_fen, created_at_ms, expires_at_ms,"
                " state)"
                " VALUES (?, ?, ?, ?, ?, ?, 'open')",
                (hold.hold_id, hold.branch, hold.card_id, hold.amount_fen, now_ms, hold.expires_at_ms),
            )
            return available - hold.amount_fen

        return await self._tx(place)

    async def release_hold(self, branch: str, hold_id: str) -> bool:
        def release(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE holds SET state = 'released' WHERE hold_id = ? AND branch = ? AND state = 'open'",
                (hold_id, branch),
            )
            return cursor.rowcount > 0

        return await self._tx(release)

    # -- the conflict queue ------------------------------------------------------------

    async def conflicts(self, state: str | None) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            rows = self._conn.execute(
                f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE ? IS NULL OR state = ?"
                " ORDER BY detected_at_ms, id",
                (state, state),
            )
            return [_conflict_json(row) for row in rows]

        return await self._run(read)

    async def conflict(self, conflict_id: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            row = self._conn.execute(
                f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?", (conflict_id,)
            ).fetchone()
            return None if row is None else _conflict_json(row)

        return await self._run(read)

    async def resolve_conflict(
        self, conflict_id: str, action: str, note: str, by: str, wall_ms: int
    ) -> tuple[dict[str, Any], list[str]]:
        """Record the decision, write what it implies, and publish both to every branch."""

        def resolve(conn: sqlite3.Connection) -> tuple[dict[str, Any], list[str]]:
            row = conn.execute(
                f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?", (conflict_id,)
            ).fetchone()
            if row is None:
                raise queue.UnknownConflict(f"no conflict {conflict_id}")
            held = _conflict_json(row)
            if held["state"] != "open":
                raise queue.ConflictClosed(f"conflict {conflict_id} is {held['state']}; nothing to resolve")
            record = queue.ConflictRecord(
                held["id"],
                held["kind"],
                held["subject"],
                tuple(held["branches"]),
                held["amount_fen"],
                held["summary"],
                held["details"],
            )
            records = queue.resolution_records(
                record, action, f"resolution:{conflict_id}", self.clock.tick(wall_ms)
            )
            directory_store.add_records(conn, records)
            resolution = {
                "id": conflict_id,
                "kind": held["kind"],
                "action": action,
                "note": note,
                "by": by,
                "at_ms": wall_ms,
                "records": [to_payload(r) for r in records],
            }
            conn.execute(
                "UPDATE conflicts SET state = 'resolved', resolution = ?, resolved_at_ms = ?,"
                " updated_at_ms = ?"
                " WHERE id = ?",
                (json.dumps(resolution, sort_keys=True), wall_ms, wall_ms, conflict_id),
            )
            changes = [_record_change(r) for r in records]
            changes.append(FeedChange("conflict", conflict_id, "resolve", resolution))
            codes = [code for (code,) in conn.execute("SELECT code FROM nodes ORDER BY code")]
            for code in codes:
                self._append_feed(conn, code, changes, wall_ms)
            # What the decision changed may raise or clear other conflicts (a
            # separation splits a group; a write-off lifts a balance).
            self._refresh_conflicts(conn, records, wall_ms)
            return {**held, "state": "resolved", "resolution": resolution}, codes

        return await self._tx(resolve)


class _Fork(Exception):
    def __init__(self, seq: int, held: bytes, offered: bytes) -> None:
        super().__init__(seq)
        self.seq = seq
        self.held = held
        self.offered = offered


CONFLICT_COLUMNS = (
    "id, kind, state, subject, branches, amount_fen, summary, details, detected_at_ms, updated_at_ms,"
    " resolution, resolved_at_ms"
)


def _conflict_json(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = CONFLICT_COLUMNS.replace(" ", "").split(",")
    conflict = dict(zip(keys, row, strict=True))
    conflict["branches"] = conflict["branches"].split(",") if conflict["branches"] else []
    conflict["details"] = json.loads(conflict["details"])
    conflict["resolution"] = None if conflict["resolution"] is None else json.loads(conflict["resolution"])
    conflict["actions"] = list(queue.ACTIONS[conflict["kind"]]) if conflict["state"] == "open" else []
    return conflict


def _available(conn: sqlite3.Connection, card_id: str, unsynced_fen: int, now_ms: int) -> int:
    held = conn.execute(
        "SELECT COALESCE(SUM(amount_fen), 0) FROM holds"
        " WHERE card_id = ? AND state = 'open' AND expires_at_ms > ?",
        (card_id, now_ms),
    ).fetchone()[0]
    balance = directory_store.card_balance(conn, card_id, "stored_value")
    return balance + min(0, unsynced_fen) - int(held)


def _record_change(record: DirectoryRecord) -> FeedChange:
    payload = to_payload(record)
    entity_id = f"{payload['type']}:{record_id(record)}"
    if len(entity_id) > MAX_NAME_CHARS:
        # The payload names the record; the entity id only labels the entry.
        entity_id = hashlib.blake2b(entity_id.encode(), digest_size=16).hexdigest()
    return FeedChange("directory", entity_id, "record", payload)


def _all_records(conn: sqlite3.Connection) -> list[DirectoryRecord]:
    return records_of(directory_store.load_directory(conn))


def _member_change(member_id: str, home_branch: str, profile: dict[str, StampedField]) -> FeedChange:
    return FeedChange(
        "member",
        member_id,
        "upsert",
        {
            "id": member_id,
            "home_branch": home_branch,
            "profile": {name: list(stamped) for name, stamped in profile.items()},
        },
    )
