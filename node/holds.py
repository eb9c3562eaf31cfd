"""Stored-value spending: online with a hold at HQ when it answers, else bounded offline.

DESIGN 6. Online, HQ checks the card against every branch's entries and open
holds and places a hold, so two branches cannot spend the same money. The sale
then books the spend with the hold's id, and HQ captures the hold when the
entry arrives. Offline (HQ unreachable, or silent for HOLD_TIMEOUT_S), the
branch spends from the balance it last saw, up to its offline limit per card
per day. The mode is recorded on the tender and answered with the sale.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from node.context import NodeContext
from node.errors import CardBlocked, InsufficientBalance, UnknownCard
from node.replicator import auth_header
from node.store import sync_state

log = logging.getLogger(__name__)

# A cashier waits this long for HQ before the sale goes ahead offline.
HOLD_TIMEOUT_S = 3
# How long a hold waits for HQ to acknowledge this branch's own recent writes to
# the card (a registration or top-up a moment ago), which HQ must see to judge it.
HOLD_SYNC_WAIT_S = 2
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Authorisation:
    mode: str  # "online" | "offline"
    hold_id: str | None = None


OFFLINE = Authorisation("offline")

# HQ's refusals of a hold that are final for this sale: going offline instead
# would spend money HQ knows is not there, or a card HQ knows is blocked.
_FINAL_REFUSALS = {
    "insufficient_balance": InsufficientBalance,
    "card_blocked": CardBlocked,
    "unknown_card": UnknownCard,
}


def unsynced_debits(conn: sqlite3.Connection, branch: str, card_id: str) -> int:
    """This branch's stored-value debits on the card that HQ has not acknowledged yet
    (negative fen). Only debits: HQ may count one twice while a push lands, which
    can refuse a sale but never overdraw a card."""
    acked_hlc = _acked_hlc(conn)
    total = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM dir_ledger WHERE card_id = ? AND ledger = 'stored_value'"
        " AND node = ? AND amount < 0 AND hlc > ?",
        (card_id, branch, acked_hlc),
    ).fetchone()[0]
    return int(total)


def needs_sync(conn: sqlite3.Connection, branch: str, card_id: str) -> bool:
    """Whether HQ has yet to acknowledge a write of ours it needs to judge a hold on
    the card: its registration here or a ledger entry made here. A record's hlc is
    its change-log entry's, and a branch's hlcs grow with its log."""
    row = conn.execute(
        "SELECT MAX(hlc) FROM (SELECT hlc FROM dir_ledger WHERE card_id = ? AND node = ?"
        " UNION ALL SELECT r.hlc FROM dir_registrations r JOIN dir_keys k ON k.member_id = r.member_id"
        " WHERE k.key = ? AND r.node = ?)",
        (card_id, branch, "card:" + card_id, branch),
    ).fetchone()
    return row[0] is not None and row[0] > _acked_hlc(conn)


def _acked_hlc(conn: sqlite3.Connection) -> int:
    hlc_row = conn.execute(
        "SELECT hlc FROM change_log WHERE seq = ?", (sync_state.acked_seq(conn),)
    ).fetchone()
    return int(hlc_row[0]) if hlc_row is not None else 0


def offline_spent_today(conn: sqlite3.Connection, card_id: str, now_ms: int) -> int:
    """What the card has spent offline at this branch since midnight UTC."""
    day_start = now_ms - now_ms % DAY_MS
    row = conn.execute(
        "SELECT COALESCE(SUM(t.amount_fen), 0) FROM sale_tenders t JOIN sales s ON s.id = t.sale_id"
        " WHERE t.card_id = ? AND t.mode = 'offline' AND s.at_ms >= ?",
        (card_id, day_start),
    ).fetchone()
    return int(row[0])


async def authorise(context: NodeContext, hold_id: str, card_id: str, amount_fen: int) -> Authorisation:
    """Ask HQ to hold `amount_fen` on the card; OFFLINE when HQ cannot answer."""
    replicator = context.replicator
    if replicator is None or not replicator.hq_reachable or replicator.session is None:
        return OFFLINE
    branch = context.config.branch
    # Our log up to now holds every write HQ may need (the push drains it in order).
    head_seq = replicator.push.head_seq
    if await context.store.read(lambda conn: needs_sync(conn, branch, card_id)) and not (
        await replicator.wait_acked(head_seq, HOLD_SYNC_WAIT_S)
    ):
        log.warning("hold on card %s: HQ has not acknowledged our writes to it; selling offline", card_id)
        return OFFLINE
    pending = await context.store.read(lambda conn: unsynced_debits(conn, branch, card_id))
    query = urlencode({"hold": hold_id, "card": card_id, "amount_fen": amount_fen, "unsynced_fen": pending})
    path_qs = f"/api/holds?{query}"
    header = auth_header(replicator.key, branch, "POST", path_qs, replicator.wall_ms())
    try:
        async with replicator.session.post(
            context.config.hq_url + path_qs,
            headers={"Authorization": header},
            timeout=aiohttp.ClientTimeout(total=HOLD_TIMEOUT_S),
        ) as response:
            status, data = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("hold on card %s: HQ did not answer (%s); selling offline", card_id, exc)
        return OFFLINE
    if status == 201:
        return Authorisation("online", hold_id)
    try:
        body = json.loads(data)
        code, message = str(body.get("error")), str(body.get("message"))
    except (ValueError, AttributeError):
        code, message = "", data[:200].decode("utf-8", "replace")
    refusal = _FINAL_REFUSALS.get(code)
    if refusal is not None:
        raise refusal(f"HQ refused the payment: {message}")
    log.warning("hold on card %s refused by HQ (%d %s: %s); selling offline", card_id, status, code, message)
    return OFFLINE


async def release(context: NodeContext, hold_id: str) -> None:
    """Give a hold back (the sale did not happen); HQ also expires forgotten holds."""
    replicator = context.replicator
    if replicator is None or replicator.session is None:
        return
    path_qs = f"/api/holds/{hold_id}"
    header = auth_header(replicator.key, context.config.branch, "DELETE", path_qs, replicator.wall_ms())
    try:
        async with replicator.session.delete(
            context.config.hq_url + path_qs,
            headers={"Authorization": header},
            timeout=aiohttp.ClientTimeout(total=HOLD_TIMEOUT_S),
        ) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("hold %s not released (%s); HQ will expire it", hold_id, exc)
