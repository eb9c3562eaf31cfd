"""Logging in to HQ and node servers as a client: `POST /api/login` once per server,
then `Authorization: Bearer TOKEN` on every request, added by an aiohttp client
middleware (`Logins`). Shared by `branchline up`, the real-process simulator and the
benchmarks.

A branch's operators reach its node only through HQ's feed, so right after a node
starts a log-in there is refused 401 `login_failed` until its first feed page has
arrived: `log_in` tries again with growing gaps, and after a 429 (the node's
throttle: five failures for one login within a minute lock it for a minute) waits
the time the answer names, all within a bound. A session the server no longer
knows (expired, or its operator disabled and enabled again) is logged in afresh.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

# Every log-in is bounded: long enough to sit out one throttle lockout of a minute.
LOGIN_WAIT_S = 90.0
FIRST_GAP_S = 0.3
MAX_GAP_S = 5.0
LOGIN_REQUEST_TIMEOUT_S = 30.0
_WAIT_IN_MESSAGE = re.compile(r"try again in (\d+) s")


class LoginRefused(RuntimeError):
    """The server would not log the operator in within the bound; the message says why."""


@dataclass(frozen=True)
class Operator:
    """Who acts: a login and its password."""

    login: str
    password: str


async def log_in(url: str, operator: Operator, wait_s: float = LOGIN_WAIT_S) -> str:
    """A session token for `operator` at the server at `url` (a node or HQ). Refusals
    that pass (the operator not yet in the node's feed, a throttle's lockout) are
    waited out within `wait_s`; others raise LoginRefused at once. A server that does
    not answer raises aiohttp.ClientError, as any request to it would."""
    deadline = time.monotonic() + wait_s
    gap_s = FIRST_GAP_S
    body = {"login": operator.login, "password": operator.password}
    timeout = aiohttp.ClientTimeout(total=LOGIN_REQUEST_TIMEOUT_S)
    while True:
        async with (
            aiohttp.ClientSession(timeout=timeout) as plain,
            plain.post(url.rstrip("/") + "/api/login", json=body) as response,
        ):
            status = response.status
            try:
                answer: Any = await response.json(content_type=None)
            except ValueError:
                answer = None  # not JSON: a proxy's error page, say
        if status == 200:
            return str(answer["token"])
        message = answer.get("message", "") if isinstance(answer, dict) else ""
        code = answer.get("error", "") if isinstance(answer, dict) else ""
        if status == 401 and code == "login_failed":
            pause_s = gap_s  # not (yet) among the node's operators
            gap_s = min(gap_s * 2, MAX_GAP_S)
        elif status == 429:
            found = _WAIT_IN_MESSAGE.search(message)
            pause_s = float(found.group(1)) if found else MAX_GAP_S
        elif status in (502, 503, 504):
            pause_s = gap_s  # busy or on its way up
        else:
            raise LoginRefused(f"{operator.login} at {url}: {status} {code}: {message}")
        if time.monotonic() + pause_s > deadline:
            raise LoginRefused(
                f"{operator.login} could not log in at {url} within {wait_s:g} s: {status} {code}: {message}"
            )
        await asyncio.sleep(pause_s)


def origin(url: str | URL) -> str:
    """The server a URL names (scheme, host and port): what a session belongs to."""
    return str(URL(url).origin())


@dataclass
class Logins:
    """Which operator acts at each server, and their sessions. A request through a
    session made by `session()` gets the bearer token of its server's operator,
    logging in first if need be, unless it carries an Authorization of its own or
    goes to a server no operator is set for (or to /api/login itself)."""

    wait_s: float = LOGIN_WAIT_S
    operators: dict[str, Operator] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def act_as(self, url: str, login: str, password: str) -> None:
        key = origin(url)
        operator = Operator(login, password)
        if self.operators.get(key) != operator:
            self.operators[key] = operator
            self.tokens.pop(key, None)

    async def token(self, url: str | URL) -> str:
        """The session token at the server of `url`, logging in once (concurrent
        callers share the one log-in). Call it ahead to keep a log-in out of a timing."""
        key = origin(url)
        if key not in self.operators:
            raise KeyError(f"no operator is set to act at {key}")
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self.tokens:
                self.tokens[key] = await log_in(key, self.operators[key], self.wait_s)
            return self.tokens[key]

    def forget(self, url: str | URL, token: str) -> None:
        """Drop `token` if it is still the one held: the server no longer knows it."""
        key = origin(url)
        if self.tokens.get(key) == token:
            del self.tokens[key]

    async def middleware(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        key = origin(request.url)
        own = "Authorization" in request.headers or request.url.path == "/api/login"
        if own or key not in self.operators:
            return await handler(request)
        token = await self.token(request.url)
        request.headers["Authorization"] = f"Bearer {token}"
        response = await handler(request)
        if response.status != 401:
            return response
        # Refused before any handler ran: the session ended (expired, say); log in again, once.
        response.release()
        self.forget(request.url, token)
        request.headers["Authorization"] = f"Bearer {await self.token(request.url)}"
        return await handler(request)

    def session(self, **kwargs: Any) -> aiohttp.ClientSession:
        """A client session acting as each server's operator."""
        return aiohttp.ClientSession(middlewares=(self.middleware,), **kwargs)
