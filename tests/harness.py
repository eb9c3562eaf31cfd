"""Real HQ and node servers on 127.0.0.1 with real SQLite files, for tests.

Each server keeps its port across stop and start, so a test can take HQ away
and bring it back exactly where nodes expect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from hq import operators
from hq.api import HQ_KEY
from hq.api import create_app as create_hq_app
from hq.setup import STORE_FILE, init_hq, issue_enroll_token, now_ms
from hq.storage.postgres import dialect
from node.app import create_app as create_node_app
from node.routes.context import CONTEXT
from node.sync.enroll import enroll
from protocol import passwords
from protocol.ids import uuid7

WAIT_BOUND_S = 30.0  # every wait in the tests is bounded; a slow machine only waits longer


# HQ holds a branch's empty feed read until its feed grows, for up to the 20 s the
# node asks (capped at hq.service.MAX_FEED_WAIT_S). A node learns that HQ is back,
# or gets a change made behind the running HQ's back (the operator CLI on its SQLite
# file), only when such a held read ends. A test that waits for either has HQ hold
# reads this long instead (`hold_feed_reads_briefly`); production keeps its cap.
BRIEF_FEED_HOLD_S = 0.25


def hold_feed_reads_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the test ends, HQ answers an empty feed read after BRIEF_FEED_HOLD_S."""
    monkeypatch.setattr("hq.service.MAX_FEED_WAIT_S", BRIEF_FEED_HOLD_S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_BOUND_S
) -> None:
    """Poll `condition` until true; fail with `what` after the bound."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Server:
    """One aiohttp app bound to a fixed loopback port, restartable."""

    make_app: Callable[[], web.Application]
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> web.Application:
        assert self.runner is not None
        return self.runner.app

    async def start(self) -> None:
        assert self.runner is None, "already running"
        self.runner = web.AppRunner(self.make_app(), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


# Every operator the tests make has this password. Its hash is made once per process
# (argon2 takes a twentieth of a second); each log-in still checks it for real.
TEST_PASSWORD = "till-password-1"


@functools.cache
def test_password_hash() -> str:
    return passwords.hash_password(TEST_PASSWORD)


def hq_login() -> str:
    return "hq-gm"  # the general manager the harness logs in at HQ as


def manager_login(branch: str) -> str:
    return f"{branch.lower()}-manager"  # a branch's store manager: every till route


def clerk_login(branch: str) -> str:
    return f"{branch.lower()}-clerk"


class Logins:
    """Which operator the tests' HTTP session acts as at each server (by port), and
    their session tokens: a request to a server gets `Authorization: Bearer` added,
    logging in first if need be, unless it carries an Authorization of its own. A
    till's operators reach it through its feed, so a log-in there waits for them."""

    def __init__(self) -> None:
        self.logins: dict[int, str] = {}
        self.tokens: dict[int, str] = {}

    async def middleware(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        port = request.url.port
        if port not in self.logins or "Authorization" in request.headers or request.url.path == "/api/login":
            return await handler(request)
        if port not in self.tokens:
            self.tokens[port] = await log_in(str(request.url.origin()), self.logins[port])
        request.headers["Authorization"] = f"Bearer {self.tokens[port]}"
        return await handler(request)


# A log-in refused because the branch's feed has not brought its operators yet is
# tried again this much later: each refusal counts towards the five a minute after
# which the node locks the login out, so the tries are spaced well apart.
LOGIN_RETRY_S = 0.5


async def log_in(url: str, login: str, password: str = TEST_PASSWORD) -> str:
    """A session token for `login` at the server at `url` (a node or HQ). A branch's
    operators reach it through its feed, so a refused log-in is retried within the
    tests' bound."""
    deadline = time.monotonic() + WAIT_BOUND_S
    while True:
        async with (
            aiohttp.ClientSession() as plain,
            plain.post(url + "/api/login", json={"login": login, "password": password}) as response,
        ):
            if response.status == 200:
                return str((await response.json())["token"])
            refusal = f"{response.status} {await response.text()}"
        if time.monotonic() > deadline:
            raise AssertionError(f"{login} could not log in at {url}: {refusal}")
        await asyncio.sleep(LOGIN_RETRY_S)


def logged_in_session(logins: Logins, **kwargs: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(middlewares=(logins.middleware,), **kwargs)


async def hq_rows(chain: Chain, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on HQ's database, read behind HQ's back, on either backend."""
    return (await _hq_sql(chain, sql, params))[0]


async def hq_edit(chain: Chain, sql: str, *params: Any) -> int:
    """Change HQ's database behind its back, as someone with the file (or the database's
    credentials) would, on either backend; how many rows changed."""
    return (await _hq_sql(chain, sql, params))[1]


async def _hq_sql(chain: Chain, sql: str, params: tuple[Any, ...]) -> tuple[list[tuple[Any, ...]], int]:
    if chain.db is not None:
        raw = await asyncpg.connect(chain.db)
        try:
            if sql.lstrip().upper().startswith("SELECT"):
                return [tuple(r) for r in await raw.fetch(dialect.statement(sql), *params)], 0
            status = await raw.execute(dialect.statement(sql), *params)
            return [], int(status.rsplit(" ", 1)[-1])
        finally:
            await raw.close()

    def on_file() -> tuple[list[tuple[Any, ...]], int]:
        with contextlib.closing(sqlite3.connect(chain.root / "hq" / STORE_FILE)) as conn:
            cursor = conn.execute(sql, params)
            rows = [tuple(row) for row in cursor.fetchall()]
            conn.commit()
            return rows, cursor.rowcount

    return await asyncio.to_thread(on_file)


@dataclass
class Chain:
    """An HQ and its branches, all in this process, each with its own files. The
    session acts as HQ's general manager at HQ and as each branch's store manager
    at its node (Logins)."""

    root: Path
    session: aiohttp.ClientSession
    logins: Logins = field(default_factory=Logins)
    hq: Server = field(init=False)
    nodes: dict[str, Server] = field(default_factory=dict)
    hq_tokens: dict[str, str] = field(default_factory=dict)
    db: str | None = None  # HQ's PostgreSQL database; None: its SQLite file

    async def start_hq(self) -> Server:
        await init_hq(self.root / "hq", demo_data=True, demo_operators=False, db=self.db)
        self.hq = Server(lambda: create_hq_app(self.root / "hq"))
        await self.hq.start()
        await self.add_operator(hq_login(), "general_manager", None)
        self.logins.logins[self.hq.port] = hq_login()
        return self.hq

    async def add_operator(self, login: str, role: str, branch: str | None) -> None:
        """An operator with TEST_PASSWORD, added at the running HQ as the CLI would."""
        now = now_ms()
        record = operators.new_operator(
            operator_id=uuid7(now, os.urandom(10)),
            login=login,
            name=None,
            role=role,
            branch=branch,
            password_hash=test_password_hash(),
            now_ms=now,
        )
        hq = self.hq.app[HQ_KEY]
        hq.notifier.notify(await hq.store.put_operator(record, 0, now))

    async def hq_token(self, login: str, role: str) -> str:
        """A session at HQ as `login` of `role` (an HQ role), added and logged in once."""
        if login not in self.hq_tokens:
            await self.add_operator(login, role, None)
            self.hq_tokens[login] = await log_in(self.hq.url, login)
        return self.hq_tokens[login]

    async def add_node(self, branch: str, *, start: bool = True) -> Server:
        await self.add_operator(manager_login(branch), "store_manager", branch)
        await self.add_operator(clerk_login(branch), "clerk", branch)
        token = await issue_enroll_token(self.root / "hq", branch)
        await enroll(self.root / branch, branch, self.hq.url, token)
        server = Server(lambda: create_node_app(self.root / branch))
        self.nodes[branch] = server
        self.logins.logins[server.port] = manager_login(branch)
        if start:
            await server.start()
            await self.operators_arrived(branch)
        return server

    async def operators_arrived(self, branch: str) -> None:
        """Until the branch's feed has brought its operators (read in its store, so no
        refused log-in counts towards a lock-out), as long as HQ is up to send them."""
        store = self.nodes[branch].app[CONTEXT].store
        login = manager_login(branch)

        async def arrived() -> bool:
            return bool(
                await store.read(
                    lambda conn: conn.execute("SELECT 1 FROM operators WHERE login = ?", (login,)).fetchone()
                )
            )

        await wait_until(arrived, f"{branch}'s operators to arrive in its feed")

    async def get(self, url: str, **kwargs: Any) -> Any:
        async with self.session.get(url, **kwargs) as response:
            assert response.status == 200, f"GET {url}: {response.status} {await response.text()}"
            return await response.json()

    async def post(self, url: str, body: Any, status: int = 201, **kwargs: Any) -> Any:
        async with self.session.post(url, json=body, **kwargs) as response:
            text = await response.text()
            assert response.status == status, f"POST {url}: {response.status} {text}"
            return await response.json()

    async def sync(self, branch: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(self.nodes[branch].url + "/api/sync")
        return result

    async def drained(self, branch: str) -> bool:
        status = await self.sync(branch)
        return bool(status["backlog"] == 0 and status["hq_reachable"])

    async def close(self) -> None:
        for server in self.nodes.values():
            await server.stop()
        await self.hq.stop()


def sale(*lines: tuple[str, int], cash_fen: int = 1_000_000, member_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
        "tenders": [{"kind": "cash", "amount_fen": cash_fen}],
    }
    if member_id is not None:
        body["member_id"] = member_id
    return body


async def branchline(*args: str, columns: int = 200, password: str | None = None) -> tuple[int, str]:
    """Run `python -m branchline ARGS` as an operator would, in a terminal `columns` wide,
    with `password` (if given) in $BRANCHLINE_PASSWORD for the command's --login.

    Returns the exit code and what it printed, stdout and stderr together.
    """
    env = {"COLUMNS": str(columns), "PATH": "/usr/bin:/bin"}
    if password is not None:
        env["BRANCHLINE_PASSWORD"] = password
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "branchline",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


class ServeProcess:
    """`branchline KIND serve` as a real process on a free loopback port."""

    def __init__(self, kind: str, data_dir: Path, log_path: Path) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def spawn(self) -> None:
        """Start the process; do not wait for it to answer."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "branchline",
                self.kind,
                "serve",
                "--data",
                str(self.data_dir),
                "--port",
                str(self.port),
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
            )

    async def start(self, session: aiohttp.ClientSession) -> None:
        """Start the process and wait until it answers."""
        await self.spawn()

        async def answering() -> bool:
            assert self.process is not None
            assert self.process.returncode is None, self.log_path.read_text()[-2000:]
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(self.url + "/api/me") as response:
                    return response.status in (200, 401)  # answering, logged in or not
            return False

        await wait_until(answering, f"the {self.kind} process to answer")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()


class NodeProcess(ServeProcess):
    def __init__(self, data_dir: Path, log_path: Path) -> None:
        super().__init__("node", data_dir, log_path)
