"""Who is working this till: the branch's operators as HQ's feed sends them, log-in
against their replicated password hash (so it works with HQ down), and sessions.

Rules:
1. Only this branch's operators reach it (hq.operators rule 4); HQ's permissions list
   is taken as sent. A change applies only if its version is newer than the one held.
2. A log-in checks the password against the argon2id hash on a worker thread; wrong
   logins and passwords get one answer, and failures are slowed down per login and
   per address (protocol.throttle). A disabled operator is told so.
3. A session is a random token; the store keeps only its SHA-256 and its expiry, so
   sessions survive a restart of the node and a copy of the store logs nobody in.
4. A session is checked on every request against the operator as the store holds
   them now: an operator disabled through the feed is refused from the next request
   after the page is applied, and their sessions are deleted with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.store.store import Store
from node.store.writer import Tx
from protocol import access, passwords
from protocol.errors import LoginFailed, NotLoggedIn, OperatorDisabled
from protocol.throttle import LoginThrottle

log = logging.getLogger(__name__)

SESSION_TTL_MS = 12 * 3600 * 1000  # a shift and then some; then log in again
MAX_TOKEN_CHARS = 100


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def apply_operator(tx: Tx, payload: dict[str, Any]) -> None:
    """An operator from HQ's feed (rule 1); a disabled one's sessions end (rule 4). One of
    another branch is never taken, whatever the feed says: they may not log in here."""
    if payload["branch"] != tx.log.origin:
        log.error(
            "operator %s of branch %s came in this branch's feed; ignored",
            payload["login"],
            payload["branch"],
        )
        return
    conn = tx.conn
    conn.execute(
        "INSERT INTO operators (id, login, name, role, password_hash, permissions, disabled, version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET login = excluded.login, name = excluded.name, role = excluded.role,"
        " password_hash = excluded.password_hash, permissions = excluded.permissions,"
        " disabled = excluded.disabled, version = excluded.version"
        " WHERE excluded.version > operators.version",
        (
            payload["id"],
            payload["login"],
            payload["name"],
            payload["role"],
            payload["password_hash"],
            " ".join(payload["permissions"]),
            int(payload["disabled"]),
            payload["version"],
        ),
    )
    if payload["disabled"]:
        conn.execute("DELETE FROM sessions WHERE operator_id = ?", (payload["id"],))


@dataclass(frozen=True)
class Session:
    token: str
    expires_at_ms: int
    actor: access.Actor


@dataclass(frozen=True)
class _Held:
    actor: access.Actor
    password_hash: str
    disabled: bool


class Sessions:
    def __init__(self, store: Store, branch: str, wall_ms: Callable[[], int]) -> None:
        self.store = store
        self.branch = branch
        self.wall_ms = wall_ms
        self.throttle = LoginThrottle()
        # token hash -> (operator id, expiry); the operators as last read (rule 4)
        self._sessions: dict[str, tuple[str, int]] = {}
        self._operators: dict[str, _Held] | None = None
        # Bumped by every page the feed applies: a read that a page overtook is not kept.
        self._feed_pages = 0

    def operators_changed(self) -> None:
        """The feed applied a page: read the operators again before the next check."""
        self._feed_pages += 1
        self._operators = None

    async def _held(self) -> dict[str, _Held]:
        held = self._operators
        if held is None:
            pages = self._feed_pages
            held = await self.store.read(self._read_operators)
            # A page applied while this read ran may hold operators it did not see:
            # keeping it would refuse them until the next page (a branch's first
            # operators arrive in its first page, and may be the last it gets for hours).
            if self._feed_pages == pages:
                self._operators = held
        return held

    def _read_operators(self, conn: sqlite3.Connection) -> dict[str, _Held]:
        held = {}
        for oid, login, role, password_hash, permissions, disabled in conn.execute(
            "SELECT id, login, role, password_hash, permissions, disabled FROM operators"
        ):
            actor = access.Actor(oid, login, role, self.branch, frozenset(permissions.split()))
            held[oid] = _Held(actor, password_hash, bool(disabled))
        return held

    async def login(self, login: str, password: str, address: str) -> Session:
        now = self.wall_ms()
        self.throttle.check(login, address, now)
        login_key = login.casefold()
        found = next(
            (h for h in (await self._held()).values() if h.actor.login.casefold() == login_key), None
        )
        ok = await asyncio.to_thread(
            passwords.verify_login, None if found is None else found.password_hash, password
        )
        if found is None or not ok:
            self.throttle.failed(login, address, now)
            log.warning("failed log-in as %r from %s", login[:100], address)
            raise LoginFailed("wrong login or password (operators reach a branch from HQ's feed)")
        if found.disabled:
            raise OperatorDisabled(f"{found.actor.login} is disabled; ask HQ to enable the account")
        self.throttle.succeeded(login)
        token = secrets.token_urlsafe(32)
        expires = now + SESSION_TTL_MS
        digest = session_hash(token)

        def remember(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM sessions WHERE expires_at_ms <= ?", (now,))
            tx.conn.execute(
                "INSERT INTO sessions (token_hash, operator_id, expires_at_ms) VALUES (?, ?, ?)",
                (digest, found.actor.operator_id, expires),
            )

        await self.store.writer.run(remember)
        # Forget sessions that have run out, as the store just did: the map stays a shift's size.
        self._sessions = {d: s for d, s in self._sessions.items() if s[1] > now}
        self._sessions[digest] = (found.actor.operator_id, expires)
        log.info("%s (%s) logged in from %s", found.actor.login, found.actor.role, address)
        return Session(token, expires, found.actor)

    async def authenticate(self, token: str | None) -> access.Actor:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise NotLoggedIn("log in first: POST /api/login, then send `Authorization: Bearer TOKEN`")
        digest = session_hash(token)
        session = self._sessions.get(digest)
        if session is None:
            session = await self.store.read(
                lambda conn: conn.execute(
                    "SELECT operator_id, expires_at_ms FROM sessions WHERE token_hash = ?", (digest,)
                ).fetchone()
            )
            if session is not None:
                self._sessions[digest] = session = (str(session[0]), int(session[1]))
        held = None if session is None else (await self._held()).get(session[0])
        if session is None or held is None or held.disabled or session[1] <= self.wall_ms():
            self._sessions.pop(digest, None)
            raise NotLoggedIn("the session expired or was ended; log in again")
        return held.actor

    async def logout(self, token: str) -> None:
        digest = session_hash(token)
        self._sessions.pop(digest, None)
        await self.store.writer.run(
            lambda tx: tx.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))
        )
