"""Stored value as a liability at HQ (FEATURES F1): what the chain owes on its cards,
per branch where each movement happened, read from the directory's stored_value
ledger. Runs unchanged on PostgreSQL (hq.storage.postgres).

The ledger is read a page at a time in entry id order, inside the caller's one read
transaction: the pages add up to one state, and memory holds one page however long
the ledger grows. Each entry's kind is inside its record, so every record is decoded:
about 6 us an entry here, so a million entries hold HQ's SQLite thread some six
seconds. Past that, the sums want keeping per branch and kind as entries are applied.
"""

from __future__ import annotations

from collections.abc import Iterable

from conflict.ledger import LedgerEntry
from conflict.wire import from_payload
from hq.storage.base import StoredValueLiability
from protocol import codec
from protocol.errors import InvariantBroken
from shared_tables.sql import Connection

# Ledger rows decoded per query: a few megabytes of records at a time.
PAGE_ROWS = 10_000

_PAGE = (
    "SELECT entry_id, node, record FROM dir_ledger"
    " WHERE ledger = 'stored_value' AND entry_id > ? AND (CAST(? AS TEXT) IS NULL OR node = ?)"
    " ORDER BY entry_id LIMIT ?"
)


def stored_value_liability(conn: Connection, branch: str | None) -> list[StoredValueLiability]:
    """Every branch's stored-value movements (of `branch` alone if given, a row of
    zeros if it has none), by branch code."""
    fen_by_kind: dict[str, dict[str, int]] = {} if branch is None else {branch: {}}
    for entry in _stored_value_entries(conn, branch):
        kinds = fen_by_kind.setdefault(entry.node, {})
        kinds[entry.kind] = kinds.get(entry.kind, 0) + entry.amount
    return [StoredValueLiability.of_movements(code, fen_by_kind[code]) for code in sorted(fen_by_kind)]


def _stored_value_entries(conn: Connection, branch: str | None) -> Iterable[LedgerEntry]:
    # Bounded by the ledger: each page starts after the last id of the one before.
    after = ""
    while True:
        rows = conn.execute(_PAGE, (after, branch, branch, PAGE_ROWS)).fetchall()
        for entry_id, node, blob in rows:
            entry = from_payload(codec.unpack(bytes(blob)))
            if not isinstance(entry, LedgerEntry) or (entry.entry_id, entry.node, entry.ledger) != (
                entry_id,
                node,
                "stored_value",
            ):
                raise InvariantBroken(f"dir_ledger row {entry_id!r} does not hold the entry its columns name")
            yield entry
        if len(rows) < PAGE_ROWS:
            return
        after = str(rows[-1][0])
