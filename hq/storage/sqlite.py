"""HQ storage on one SQLite file: the embedded default.

All access goes through one thread and one connection, and each method runs
its whole transaction in one hop to that thread: a 500-entry ingest is one
hop, not one per statement. SQLite allows one writer at a time anyway, and the
single thread also serialises ingest per origin, as the interface requires.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from conflict.profile import StampedField, merge_profiles, values
from hq.errors import AlreadyEnrolled, EnrollmentRefused, Quarantined, UnknownBranch
from hq.plan import Plan, plan_entries
from hq.storage.base import BranchRecord, FeedChange, IngestResult, Product, feed_origin
from hq.storage.sqlite_schema import migrate
from protocol import codec
from protocol.batch import SignedBatch
from protocol.entry import GENESIS_HASH, check_chain, encode_entry
from protocol.errors import ChainBroken, ForkedLog, SequenceGap
from protocol.hlc import HybridLogicalClock

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
        self, token_hash: str, branch: str, public_key: bytes, now_ms: int, wall_ms: int
    ) -> None:
        def redeem(conn: sqlite3.Connection) -> None:
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
            # A new branch starts from the catalogue and directory as they are now.
            snapshot = [product.as_change() for product in self._products(conn)]
            snapshot += [
                _member_change(member_id, home, _load_profile(blob))
                for member_id, home, blob in conn.execute(
                    "SELECT id, home_branch, profile FROM members ORDER BY id"
                )
            ]
            self._append_feed(conn, branch, snapshot, wall_ms)

        await self._tx(redeem)

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
                "INSERT INTO sales (origin, sale_id, seq, day, total_fen, line_count)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(s.origin, s.sale_id, s.seq, s.day, s.total_fen, s.line_count) for s in plan.sales],
            )
            conn.executemany(
                "INSERT INTO sales_daily (branch, day, count, total_fen) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (branch, day) DO UPDATE SET count = count + 1,"
                " total_fen = total_fen + excluded.total_fen",
                [(s.origin, s.day, s.total_fen) for s in plan.sales],
            )
        for write in plan.members:
            row = conn.execute(
                "SELECT home_branch, profile FROM members WHERE id = ?", (write.member_id,)
            ).fetchone()
            held = {} if row is None else _load_profile(row[1])
            home = row[0] if row is not None else (write.home_branch or "?")
            merged = merge_profiles(held, write.profile)
            current = values(merged)
            conn.execute(
                "INSERT INTO members (id, home_branch, name, phone, birthday, profile)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " phone = excluded.phone, birthday = excluded.birthday, profile = excluded.profile",
                (
                    write.member_id,
                    home,
                    current.get("name", ""),
                    current.get("phone", ""),
                    current.get("birthday"),
                    _dump_profile(merged),
                ),
            )
            change = _member_change(write.member_id, home, merged)
            # The writing branch already holds its own write; everyone else learns it.
            others = conn.execute("SELECT code FROM nodes WHERE code != ?", (write.origin,))
            for (code,) in others.fetchall():
                self._append_feed(conn, code, [change], wall_ms)
                feeds_grown.add(code)
        return feeds_grown

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
    ) -> None:
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
        def upsert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO products (sku, name, price_fen, unit, active) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (sku) DO UPDATE SET name = excluded.name,"
                " price_fen = excluded.price_fen, unit = excluded.unit, active = excluded.active",
                [(p.sku, p.name, p.price_fen, p.unit, int(p.active)) for p in products],
            )
            changes = [product.as_change() for product in products]
            for (code,) in conn.execute("SELECT code FROM nodes ORDER BY code").fetchall():
                self._append_feed(conn, code, changes, wall_ms)

        await self._tx(upsert)

    def _products(self, conn: sqlite3.Connection) -> list[Product]:
        rows = conn.execute("SELECT sku, name, price_fen, unit, active FROM products ORDER BY sku")
        return [Product(sku, name, price, unit, bool(active)) for sku, name, price, unit, active in rows]

    async def products(self) -> list[Product]:
        return await self._run(self._products, self._conn)

    async def sales_summary(self, branch: str | None) -> tuple[int, int]:
        def read() -> tuple[int, int]:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(total_fen), 0) FROM sales_daily"
                " WHERE ? IS NULL OR branch = ?",
                (branch, branch),
            ).fetchone()
            return int(row[0]), int(row[1])

        return await self._run(read)

    async def member_by_phone(self, phone: str) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            rows = self._conn.execute(
                "SELECT id, home_branch, name, phone, birthday FROM members WHERE phone = ?",
                (phone,),
            )
            keys = ("id", "home_branch", "name", "phone", "birthday")
            return [dict(zip(keys, row, strict=True)) for row in rows]

        return await self._run(read)


class _Fork(Exception):
    def __init__(self, seq: int, held: bytes, offered: bytes) -> None:
        super().__init__(seq)
        self.seq = seq
        self.held = held
        self.offered = offered


def _load_profile(blob: bytes) -> dict[str, StampedField]:
    return {name: tuple(stamped) for name, stamped in codec.unpack(bytes(blob)).items()}


def _dump_profile(profile: dict[str, StampedField]) -> bytes:
    return codec.pack({name: list(stamped) for name, stamped in profile.items()})


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
