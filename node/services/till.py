"""What the till's pages need beyond the business services: each operator's language,
the status bar (is HQ there, what waits to reach it, which payments go offline) and
the events an open page is told of (a card swiped at the reader, the stock changed by
HQ's feed).

Which payments need HQ follows node.services.holds and node.services.checkout: stored
value and credit are spent online with a hold at HQ when it answers, else offline
within the branch's daily limit per card; everything else (cash, vouchers, points,
count and time cards) is booked here alike, HQ or not.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.errors import InvalidRequest
from node.services import cards, holds
from node.store.writer import Tx
from protocol.errors import Refused

log = logging.getLogger(__name__)

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
# Tenders spent with a hold at HQ while it answers, else offline within the card's limit.
HELD_TENDERS = ("stored_value", "credit")
# An open page falls behind by at most this many events before it is told to reload:
# a page the browser has stopped reading (a laptop lid closed) holds no more than this.
MAX_PENDING_EVENTS = 100


def language_of(conn: sqlite3.Connection, operator_id: str) -> str:
    row = conn.execute(
        "SELECT language FROM operator_languages WHERE operator_id = ?", (operator_id,)
    ).fetchone()
    return DEFAULT_LANGUAGE if row is None else str(row[0])


def parse_language(body: Mapping[str, Any]) -> str:
    language = body.get("language")
    if language not in LANGUAGES:
        raise InvalidRequest(f"language must be one of {', '.join(LANGUAGES)}; not {language!r}")
    return str(language)


def set_language_job(operator_id: str, language: str) -> Any:
    def job(tx: Tx) -> str:
        tx.conn.execute(
            "INSERT INTO operator_languages (operator_id, language) VALUES (?, ?)"
            " ON CONFLICT (operator_id) DO UPDATE SET language = excluded.language",
            (operator_id, language),
        )
        return language

    return job


def status(replication: Mapping[str, Any] | None, offline_limit_fen: int, wall_ms: int) -> dict[str, Any]:
    """The status bar: `replication` is the replicator's status (None while the node
    runs without its link to HQ, which a till treats as HQ unreachable)."""
    reachable = bool(replication and replication["hq_reachable"])
    return {
        "hq_reachable": reachable,
        "backlog": 0 if replication is None else int(replication["backlog"]),
        "last_contact_ms": None if replication is None else replication["last_contact_ms"],
        "halted_reason": None if replication is None else replication["halted_reason"],
        # What the cashier must know before the customer pays.
        "offline_tenders": [] if reachable else list(HELD_TENDERS),
        "offline_limit_fen": offline_limit_fen,
        "at_ms": wall_ms,
    }


def offline_left(
    conn: sqlite3.Connection, card_id: str, offline_limit_fen: int, wall_ms: int
) -> dict[str, Any]:
    """What `card_id` may still spend offline here today (node.services.holds)."""
    spent = holds.offline_spent_today(conn, card_id, wall_ms)
    return {
        "card": card_id,
        "offline_spent_fen": spent,
        "offline_left_fen": max(0, offline_limit_fen - spent),
    }


def swiped(conn: sqlite3.Connection, card_id: str) -> dict[str, Any]:
    """A card read at the reader, with the member who holds it (None: a card this
    branch does not know, which the till may offer to register)."""
    try:
        card = cards.card_view(conn, card_id)
    except Refused:
        return {"card": card_id, "member_id": None}
    return {"card": card_id, "member_id": card["member_id"]}


@dataclass(frozen=True, slots=True)
class TillEvent:
    """One thing an open till page is told: `kind` names it (swipe, stock), `data` is
    what the page needs of it."""

    kind: str
    data: dict[str, Any]


# Not for the page: ends an event stream when the node shuts down (TillEvents.close).
CLOSING = TillEvent("closing", {})


class TillEvents:
    """Fan-out of events to every open till page of this node. A page that stops reading
    loses its oldest events past MAX_PENDING_EVENTS and is told so (`overflow`), so a
    stalled browser never holds the node's memory."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[TillEvent]] = set()
        self._closed = False

    def close(self) -> None:
        """The node is shutting down: every open page's stream is told to end now
        (CLOSING), and a page that connects after ends at once. The shutdown waits
        for running handlers, and a stream otherwise runs until its page goes: with a
        page open, for the server's whole shutdown timeout (a minute)."""
        self._closed = True
        for queue in self._queues:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(CLOSING)

    def subscribe(self) -> asyncio.Queue[TillEvent]:
        queue: asyncio.Queue[TillEvent] = asyncio.Queue(MAX_PENDING_EVENTS)
        if self._closed:
            queue.put_nowait(CLOSING)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[TillEvent]) -> None:
        self._queues.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if self._closed:
            return  # every stream is ending: CLOSING stays the last thing it reads
        event = TillEvent(kind, data)
        for queue in self._queues:
            if queue.full():  # what it missed is dropped; the page reloads on `overflow`
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(TillEvent("overflow", {}))
            queue.put_nowait(event)
