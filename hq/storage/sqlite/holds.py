"""Online payment holds at HQ on SQLite: money set aside on a card until the spend's
entry captures it, the branch releases it, or it expires. The rules are hq.holds'."""

from __future__ import annotations

from hq import holds
from hq.storage.base import HoldRecord
from shared_tables import directory_store
from shared_tables.sql import Connection


def _funds(conn: Connection, card_id: str, branch: str, now_ms: int) -> holds.CardFunds:
    held, branch_holds, branch_held = conn.execute(
        "SELECT COALESCE(SUM(amount_fen), 0), COUNT(CASE WHEN branch = ? THEN 1 END),"
        " COALESCE(SUM(CASE WHEN branch = ? THEN amount_fen END), 0) FROM holds"
        " WHERE card_id = ? AND state = 'open' AND expires_at_ms > ?",
        (branch, branch, card_id, now_ms),
    ).fetchone()
    return holds.CardFunds(
        known=directory_store.card_owner(conn, card_id) is not None,
        status=directory_store.card_status(conn, card_id),
        balance_fen=directory_store.card_balance(conn, card_id, "stored_value"),
        open_holds_fen=int(held),
        branch_open_holds=int(branch_holds),
        branch_open_holds_fen=int(branch_held),
    )


def place(conn: Connection, hold: HoldRecord, unsynced_fen: int, now_ms: int) -> int:
    held = conn.execute(
        "SELECT branch, card_id, amount_fen FROM holds WHERE hold_id = ?", (hold.hold_id,)
    ).fetchone()
    if held is not None:
        holds.same_terms(hold, (held[0], held[1], held[2]))
        return holds.available_fen(_funds(conn, hold.card_id, hold.branch, now_ms), unsynced_fen)
    available = holds.check_hold(hold, _funds(conn, hold.card_id, hold.branch, now_ms), unsynced_fen)
    conn.execute(
        "INSERT INTO holds (hold_id, branch, card_id, amount_fen, created_at_ms, expires_at_ms, state)"
        " VALUES (?, ?, ?, ?, ?, ?, 'open')",
        (hold.hold_id, hold.branch, hold.card_id, hold.amount_fen, now_ms, hold.expires_at_ms),
    )
    return available


def release(conn: Connection, branch: str, hold_id: str) -> bool:
    cursor = conn.execute(
        "UPDATE holds SET state = 'released' WHERE hold_id = ? AND branch = ? AND state = 'open'",
        (hold_id, branch),
    )
    return cursor.rowcount > 0
