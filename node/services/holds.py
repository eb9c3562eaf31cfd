"""Stored-value spending: online with a hold at HQ when it answers, else bounded offline.

DESIGN 6. Online, HQ checks the card against every branch's entries and open
holds and places a hold, so two branches cannot spend the same money. The sale
then books the spend with the hold's id, and HQ captures the hold when the
entry arrives. Offline (HQ unreachable, or silent for HOLD_TIMEOUT_S), the
branch spends from the balance it last saw, up to its offline limit per card
per day. The mode is recorded on the tender and answered with the sale.

How HQ is reached is not this module's business: `authorise` talks to an
`HQLink`, which the node's HTTP client to HQ implements (node.sync.hq_client)
and the simulator implements over its simulated network.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from node.errors import CardBlocked, InsufficientBalance, UnknownCard
from node.store import sync_state
from node.store.store import Store
from protocol.errors import Refused

log = logging.getLogger(__name__)

# A cashier waits this long for HQ before the sale goes ahead offline.
HOLD_TIMEOUT_S = 3
# How long a hold waits for HQ to acknowledge this branch's own recent writes to
# the card (a registration or top-up a moment ago), which HQ must see to judge it.
HOLD_SYNC_WAIT_S = 2
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class HoldAnswer:
    """HQ's answer to a hold: placed, or refused with HQ's status, error code and message."""

    placed: bool
    status: int
    code: str = ""
    message: str = ""


class HQLink(Protocol):
    """What a hold needs of the link to HQ."""

    @property
    def reachable(self) -> bool:
        """Whether the replicator believes HQ answers (it heard from HQ last time it asked)."""
        ...

    @property
    def head_seq(self) -> int:
        """The last sequence of our log committed so far."""
        ...

    async def caught_up(self, seq: int, timeout_s: float) -> bool:
        """Wait until HQ has acknowledged our log up to `seq`; False if not within `timeout_s`."""
        ...

    async def place_hold(
        self, hold_id: str, card_id: str, amount_fen: int, unsynced_fen: int
    ) -> HoldAnswer | None:
        """Ask HQ to hold `amount_fen` on the card; None when HQ did not answer within
        HOLD_TIMEOUT_S (unreachable, reset, or slow)."""
        ...

    async def release_hold(self, hold_id: str) -> None:
        """Give a hold back; if HQ does not hear it, HQ expires the hold."""
        ...


@dataclass(frozen=True)
class Authorisation:
    mode: str  # "online" | "offline"
    hold_id: str | None = None


OFFLINE = Authorisation("offline")

# HQ's refusals of a hold that are final for this sale: going offline instead
# would spend money HQ knows is not there, or a card HQ knows is blocked.
_FINAL_REFUSALS: dict[str, type[Refused]] = {
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


async def authorise(
    store: Store, link: HQLink | None, branch: str, hold_id: str, card_id: str, amount_fen: int
) -> Authorisation:
    """Ask HQ to hold `amount_fen` on the card; OFFLINE when HQ cannot answer. HQ's
    final refusals (no money, a blocked or unknown card) end the sale."""
    if link is None or not link.reachable:
        return OFFLINE
    # Our log up to now holds every write HQ may need (the push drains it in order).
    head_seq = link.head_seq
    if await store.read(lambda conn: needs_sync(conn, branch, card_id)) and not (
        await link.caught_up(head_seq, HOLD_SYNC_WAIT_S)
    ):
        log.warning("hold on card %s: HQ has not acknowledged our writes to it; selling offline", card_id)
        return OFFLINE
    pending = await store.read(lambda conn: unsynced_debits(conn, branch, card_id))
    answer = await link.place_hold(hold_id, card_id, amount_fen, pending)
    if answer is None:
        return OFFLINE
    if answer.placed:
        return Authorisation("online", hold_id)
    refusal = _FINAL_REFUSALS.get(answer.code)
    if refusal is not None:
        raise refusal(f"HQ refused the payment: {answer.message}")
    log.warning(
        "hold on card %s refused by HQ (%d %s: %s); selling offline",
        card_id,
        answer.status,
        answer.code,
        answer.message,
    )
    return OFFLINE


async def release(link: HQLink | None, authorisations: Iterable[Authorisation]) -> None:
    """Give back the holds of a sale that did not happen (or was a replay)."""
    if link is None:
        return
    for authorisation in authorisations:
        if authorisation.hold_id is not None:
            await link.release_hold(authorisation.hold_id)
