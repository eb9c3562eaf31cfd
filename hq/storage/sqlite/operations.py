"""HQ's operation log on SQLite (hq.operation_log has the rules)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from hq.operation_log import LoggedOperation, Operation, chained
from shared_tables.sql import Connection

Signer = Callable[[bytes], bytes]
COLUMNS = "seq, at_ms, actor_id, actor, address, action, subject, detail, prev_hash, hash, signature"


def append(conn: Connection, sign: Signer, operation: Operation) -> LoggedOperation:
    """Append `operation` in the current transaction, after the newest row."""
    row = conn.execute("SELECT seq, hash FROM operation_log ORDER BY seq DESC LIMIT 1").fetchone()
    logged = chained(None if row is None else (int(row[0]), bytes(row[1])), operation, sign)
    conn.execute(
        f"INSERT INTO operation_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            logged.seq,
            logged.at_ms,
            logged.actor_id,
            logged.actor,
            logged.address,
            logged.action,
            logged.subject,
            json.dumps(logged.detail, ensure_ascii=False, sort_keys=True),
            logged.prev_hash,
            logged.hash,
            logged.signature,
        ),
    )
    return logged


def _logged(row: tuple[Any, ...]) -> LoggedOperation:
    seq, at_ms, actor_id, actor, address, action, subject, detail, prev_hash, digest, signature = row
    try:
        parsed = json.loads(str(detail))
    except ValueError:
        parsed = {"unreadable": str(detail)}  # an edit that broke the JSON: its hash will say so
    return LoggedOperation(
        int(seq),
        int(at_ms),
        str(actor_id),
        str(actor),
        str(address),
        str(action),
        str(subject),
        parsed if isinstance(parsed, dict) else {"unreadable": parsed},
        bytes(prev_hash),
        bytes(digest),
        bytes(signature),
    )


def newest(conn: Connection, before_seq: int | None, limit: int) -> list[LoggedOperation]:
    """Newest first, at most `limit`, with seq below `before_seq` if given."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM operation_log WHERE seq < ? ORDER BY seq DESC LIMIT ?",
        (before_seq if before_seq is not None else 2**62, limit),
    )
    return [_logged(row) for row in rows]


def every(conn: Connection) -> Iterator[LoggedOperation]:
    """Every row in seq order, for verifying the chain."""
    for row in conn.execute(f"SELECT {COLUMNS} FROM operation_log ORDER BY seq"):
        yield _logged(row)
