"""Operators' accounts at HQ: managing them (the CLI and the operators' routes) and
logging in (bearer tokens for the API, a cookie for browsers).

A session is a random token the operator holds; HQ keeps only its SHA-256, so a copy
of HQ's database logs nobody in. Failed log-ins are counted per login and per address
(protocol.throttle): five wrong passwords for one login, or twenty from one address,
lock that key out for a minute. Password hashes are computed on a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hq import operators
from hq.operation_log import Doer, Operation
from hq.storage.base import HQStore, OperatorRecord
from protocol import access, passwords
from protocol.errors import LoginFailed, NotFound, NotLoggedIn, OperatorDisabled
from protocol.ids import uuid7
from protocol.throttle import LoginThrottle

log = logging.getLogger(__name__)

SESSION_TTL_MS = 12 * 3600 * 1000  # a working day; then log in again
MAX_TOKEN_CHARS = 100


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    token: str
    expires_at_ms: int
    operator: OperatorRecord


class Accounts:
    def __init__(
        self,
        store: HQStore,
        wall_ms: Callable[[], int],
        feeds_grown: Callable[[list[str]], None] = lambda branches: None,
    ) -> None:
        self.store = store
        self.wall_ms = wall_ms
        self.feeds_grown = feeds_grown  # wakes the long-polls of branches sent a change
        self.throttle = LoginThrottle()

    # -- managing accounts -------------------------------------------------------------

    async def add(
        self, login: str, password: str, role: str, branch: str | None, doer: Doer, name: str | None = None
    ) -> OperatorRecord:
        passwords.check_new_password(password, login)
        now = self.wall_ms()
        record = operators.new_operator(
            operator_id=uuid7(now, os.urandom(10)),
            login=login,
            name=name,
            role=role,
            branch=branch,
            password_hash=await asyncio.to_thread(passwords.hash_password, password),
            now_ms=now,
        )
        detail = {"role": role, "branch": branch, "version": 1}
        operation = Operation(doer, now, "operator.add", login, detail)
        self.feeds_grown(await self.store.put_operator(record, 0, now, operation))
        log.info("operator %s (%s%s) added by %s", login, role, f" at {branch}" if branch else "", doer.actor)
        return record

    async def named(self, login: str) -> OperatorRecord:
        record = await self.store.operator_by_login(login)
        if record is None:
            raise NotFound(f"no operator logs in as {login!r}")
        return record

    async def set_disabled(self, login: str, disable: bool, doer: Doer) -> OperatorRecord:
        action = "operator.disable" if disable else "operator.enable"
        return await self._change(
            login, lambda r, now: operators.disabled(r, now, disable=disable), doer, action
        )

    async def grant(self, login: str, permission: str, doer: Doer) -> OperatorRecord:
        change = lambda r, now: operators.granted(r, permission, now)  # noqa: E731
        return await self._change(login, change, doer, "operator.grant", {"permission": permission})

    async def revoke(self, login: str, permission: str, doer: Doer) -> OperatorRecord:
        change = lambda r, now: operators.revoked(r, permission, now)  # noqa: E731
        return await self._change(login, change, doer, "operator.revoke", {"permission": permission})

    async def change_password(self, login: str, old: str, new: str, doer: Doer) -> OperatorRecord:
        """An operator's own change (S2): the old password proves it is them."""
        record = await self.named(login)
        if not await asyncio.to_thread(passwords.verify, record.password_hash, old):
            raise LoginFailed("the current password is wrong")
        passwords.check_new_password(new, record.login)
        new_hash = await asyncio.to_thread(passwords.hash_password, new)
        change = lambda r, now: operators.with_password(r, new_hash, now)  # noqa: E731
        return await self._change(login, change, doer, "operator.password")

    async def _change(
        self,
        login: str,
        change: Callable[[OperatorRecord, int], OperatorRecord],
        doer: Doer,
        action: str,
        detail: dict[str, Any] | None = None,
    ) -> OperatorRecord:
        record = await self.named(login)
        now = self.wall_ms()
        updated = change(record, now)
        operation = Operation(doer, now, action, record.login, {**(detail or {}), "version": updated.version})
        self.feeds_grown(await self.store.put_operator(updated, record.version, now, operation))
        log.info("%s: %s by %s (version %d)", action, login, doer.actor, updated.version)
        return updated

    # -- sessions -------------------------------------------------------------------------

    async def login(self, login: str, password: str, address: str) -> Session:
        now = self.wall_ms()
        self.throttle.check(login, address, now)
        record = await self.store.operator_by_login(login) if len(login) <= 100 else None
        ok = await asyncio.to_thread(
            passwords.verify_login, None if record is None else record.password_hash, password
        )
        if record is None or not ok:
            self.throttle.failed(login, address, now)
            log.warning("failed log-in as %r from %s", login[:100], address)
            raise LoginFailed("wrong login or password")
        if record.disabled:
            raise OperatorDisabled(f"{record.login} is disabled; ask HQ to enable the account")
        self.throttle.succeeded(login)
        token = secrets.token_urlsafe(32)
        expires = now + SESSION_TTL_MS
        await self.store.add_session(session_hash(token), record.id, expires)
        log.info("%s (%s) logged in from %s", record.login, record.role, address)
        return Session(token, expires, record)

    async def authenticate(self, token: str | None) -> access.Actor:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise NotLoggedIn("log in first: POST /api/login, then send `Authorization: Bearer TOKEN`")
        record = await self.store.session_operator(session_hash(token), self.wall_ms())
        if record is None:
            raise NotLoggedIn("the session expired or was ended; log in again")
        return operators.actor(record)

    async def logout(self, token: str) -> None:
        await self.store.end_session(session_hash(token))
