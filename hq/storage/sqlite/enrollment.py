"""Enrollment and the branches HQ knows, on SQLite: tokens, the nodes table, and the
snapshot a new branch's feed starts with."""

from __future__ import annotations

import json
from typing import Any

from hq import enrollment
from hq.feed_changes import member_change, record_change
from hq.storage.base import BranchRecord, FeedChange, Warehouse
from hq.storage.sqlite import directory, feeds, inventory, operators
from hq.storage.sqlite.feeds import FeedAppender
from protocol.business_day import DEFAULT, BusinessDay
from protocol.entry import GENESIS_HASH
from shared_tables import directory_store, vouchers
from shared_tables.sql import Connection

BRANCH_COLUMNS = (
    "code, public_key, enrolled_at_ms, acked_seq, last_seen_ms, reported_backlog,"
    " quarantined_reason, quarantined_at_ms,"
    " (SELECT COUNT(*) FROM effect_quarantine q WHERE q.origin = nodes.code), day_timezone, day_starts_at,"
    " devices"
)


def add_token(conn: Connection, branch: str, token_hash: str, expires_at_ms: int) -> None:
    row = conn.execute("SELECT acked_seq FROM nodes WHERE code = ?", (branch,)).fetchone()
    enrollment.refuse_second_node(branch, None if row is None else row[0])
    conn.execute(
        "INSERT INTO enroll_tokens (token_hash, branch, expires_at_ms) VALUES (?, ?, ?)",
        (token_hash, branch, expires_at_ms),
    )


def redeem(
    conn: Connection,
    append: FeedAppender,
    token_hash: str,
    branch: str,
    public_key: bytes,
    now_ms: int,
    main_warehouse: Warehouse | None,
) -> list[str]:
    row = conn.execute(
        "SELECT branch, expires_at_ms, used_at_ms FROM enroll_tokens WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    enrolled = conn.execute("SELECT 1 FROM nodes WHERE code = ?", (branch,)).fetchone() is not None
    enrollment.check_token(
        None if row is None else enrollment.EnrollToken(*row), branch, now_ms, enrolled=enrolled
    )
    conn.execute("UPDATE enroll_tokens SET used_at_ms = ? WHERE token_hash = ?", (now_ms, token_hash))
    conn.execute(
        "INSERT INTO nodes (code, public_key, enrolled_at_ms, head_hash) VALUES (?, ?, ?, ?)",
        (branch, public_key, now_ms, GENESIS_HASH),
    )
    grown: list[str] = []
    if main_warehouse is not None and not inventory.read_master(conn, "warehouse", [main_warehouse.code]):
        # The other branches learn the new warehouse now, the new branch with its snapshot.
        changes = inventory.write_master(conn, [main_warehouse])
        grown = [code for code in feeds.enrolled(conn) if code != branch]
        append.to_each(conn, grown, changes)
    append(conn, branch, snapshot(conn) + operators.for_branch(conn, branch))
    inventory.deliver_pending(conn, branch, append)
    return grown


def snapshot(conn: Connection) -> list[FeedChange]:
    """What a new branch starts from: the master data and the directory as they are now,
    the vouchers issued, and the conflicts resolved so far."""
    changes = inventory.master_snapshot(conn)
    changes += [
        FeedChange("voucher", voucher.voucher_id, "issue", vouchers.payload(voucher, name))
        for voucher, name in vouchers.every(conn)
    ]
    changes += [
        member_change(member_id, home, directory_store.decode_profile(blob))
        for member_id, home, blob in conn.execute("SELECT id, home_branch, profile FROM members ORDER BY id")
    ]
    changes += [record_change(record) for record in directory.all_records(conn)]
    changes += [
        FeedChange("conflict", conflict_id, "resolve", json.loads(resolution))
        for conflict_id, resolution in conn.execute(
            "SELECT id, resolution FROM conflicts WHERE state = 'resolved' ORDER BY resolved_at_ms, id"
        )
    ]
    return changes


def branch(conn: Connection, code: str) -> BranchRecord | None:
    row = conn.execute(f"SELECT {BRANCH_COLUMNS} FROM nodes WHERE code = ?", (code,)).fetchone()
    return None if row is None else _record(row)


def branches(conn: Connection) -> list[BranchRecord]:
    return [_record(row) for row in conn.execute(f"SELECT {BRANCH_COLUMNS} FROM nodes ORDER BY code")]


def _record(row: tuple[Any, ...]) -> BranchRecord:
    code, key, enrolled, acked, seen, backlog, reason, quarantined_at, set_aside, zone, starts_at, devices = (
        row
    )
    return BranchRecord(
        code,
        bytes(key),
        enrolled,
        acked,
        seen,
        backlog,
        reason,
        quarantined_at,
        set_aside,
        business_day_of(zone, starts_at),
        None if devices is None else json.loads(devices),
    )


def business_day_of(zone: str | None, starts_at: str | None) -> BusinessDay:
    """A branch's business day as the nodes table keeps it (none said: DEFAULT)."""
    return DEFAULT if zone is None or starts_at is None else BusinessDay(zone, starts_at)


def touch(conn: Connection, code: str, now_ms: int, reported_backlog: int | None) -> None:
    conn.execute(
        "UPDATE nodes SET last_seen_ms = ?, reported_backlog = COALESCE(?, reported_backlog) WHERE code = ?",
        (now_ms, reported_backlog, code),
    )
