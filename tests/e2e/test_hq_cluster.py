"""Three HQ processes on one PostgreSQL database behind HAProxy (deploy/haproxy.cfg's
shape) and three branches trading through it, while something fails: one HQ
process SIGKILLed every few seconds, in the middle of whatever it was applying; or
the database restarted under the load, every connection dropped, with no HQ
process restarted. Afterwards every sale a till acknowledged is at HQ exactly
once, every branch's log at HQ is byte for byte the branch's own, and HQ and
every branch hold the same member directory."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from hq.setup import DEMO_PASSWORD, init_hq, issue_enroll_token, manager_login
from node.sync.enroll import enroll
from tests.harness import NodeProcess, ServeProcess, free_port, sale, wait_until
from tests.postgres import Cluster

BRANCHES = ("BR01", "BR02", "BR03")
HQ_PROCESSES = 3
TRADING_S = 12.0
KILL_EVERY_S = 3.0
DATABASE_RESTARTS = 2

HAPROXY_CFG = """
global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    option http-server-close
frontend hq
    bind 127.0.0.1:{port}
    default_backend hq_processes
backend hq_processes
    balance roundrobin
    option httpchk GET /api/health
    http-check expect status 200
    default-server inter 300ms fall 1 rise 1
{servers}
"""


@contextlib.asynccontextmanager
async def haproxy(root: Path, backends: list[ServeProcess]) -> AsyncIterator[str]:
    # Debian puts it in /usr/sbin, which a non-root PATH may lack.
    binary = shutil.which("haproxy", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if binary is None:
        raise RuntimeError("HAProxy is not installed; `./dev test` installs Debian's haproxy package")
    port = free_port()
    servers = "\n".join(f"    server hq{n} 127.0.0.1:{hq.port} check" for n, hq in enumerate(backends, 1))
    config = root / "haproxy.cfg"
    config.write_text(HAPROXY_CFG.format(port=port, servers=servers))
    with (root / "haproxy.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            binary, "-db", "-f", str(config), stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def log_in(session: aiohttp.ClientSession, url: str, login: str) -> str | None:
    with contextlib.suppress(aiohttp.ClientError):
        async with session.post(
            url + "/api/login", json={"login": login, "password": DEMO_PASSWORD}
        ) as response:
            if response.status == 200:
                token: str = (await response.json())["token"]
                return token
    return None


async def get(session: aiohttp.ClientSession, url: str, token: str) -> Any:
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, f"{url}: {response.status} {await response.text()}"
        return await response.json()


def node_log(node: NodeProcess) -> list[bytes]:
    with contextlib.closing(
        sqlite3.connect(f"file:{node.data_dir / 'node.sqlite'}?mode=ro", uri=True)
    ) as conn:
        return [bytes(raw) for (raw,) in conn.execute("SELECT entry FROM change_log ORDER BY seq")]


@dataclass
class Chain:
    """Three HQ processes behind HAProxy on one database, and three trading branches."""

    session: aiohttp.ClientSession
    db: str
    hq_url: str
    hqs: list[ServeProcess]
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    acknowledged: dict[str, list[tuple[str, int]]] = field(
        default_factory=lambda: {code: [] for code in BRANCHES}
    )


@contextlib.asynccontextmanager
async def chain_behind_haproxy(tmp_path: Path, postgres: Cluster) -> AsyncIterator[Chain]:
    db = await postgres.new_database()
    hq_dir = tmp_path / "hq"
    await init_hq(hq_dir, demo_data=True, db=db)
    hqs = [ServeProcess("hq", hq_dir, tmp_path / f"hq{n}.log") for n in range(1, HQ_PROCESSES + 1)]
    for hq in hqs:
        await hq.spawn()
    async with aiohttp.ClientSession() as session, haproxy(tmp_path, hqs) as hq_url:
        chain = Chain(session, db, hq_url, hqs)
        try:

            async def hq_answers() -> bool:
                return await log_in(session, hq_url, "gm") is not None

            await wait_until(hq_answers, "HQ to answer through HAProxy", timeout_s=30)
            for code in BRANCHES:
                token = await issue_enroll_token(hq_dir, code)
                await enroll(tmp_path / code, code, hq_url, token)
                chain.nodes[code] = NodeProcess(tmp_path / code, tmp_path / f"{code}.log")
                await chain.nodes[code].start(session)
            for code, node in chain.nodes.items():

                async def logged_in(code: str = code, node: NodeProcess = node) -> bool:
                    token = await log_in(session, node.url, manager_login(code))
                    if token is not None:
                        chain.tokens[code] = token
                    return token is not None

                await wait_until(logged_in, f"{code}'s operators to arrive in its feed", timeout_s=30)
            yield chain
        finally:
            for node in chain.nodes.values():
                await node.terminate()
            for hq in hqs:
                await hq.terminate()


async def trade(chain: Chain, code: str) -> None:
    """Sell at `code`'s till for TRADING_S, now and then registering a member."""
    session, node = chain.session, chain.nodes[code]
    headers = {"Authorization": f"Bearer {chain.tokens[code]}"}
    deadline = asyncio.get_running_loop().time() + TRADING_S
    for number in itertools.count():
        if asyncio.get_running_loop().time() > deadline:
            return
        if number % 5 == 0:  # now and then a new member, for the directory
            member = {"name": "Member", "phone": f"139{BRANCHES.index(code)}{number:07d}"}
            async with session.post(node.url + "/api/members", json=member, headers=headers) as response:
                assert response.status == 201, await response.text()
        body = sale(("CUP-CERAMIC", 1 + number % 3), ("SOAP-BAR", 1))
        async with session.post(node.url + "/api/sales", json=body, headers=headers) as response:
            # A till's sale is booked at its node whatever HQ is doing.
            assert response.status == 201, await response.text()
            booked = await response.json()
            chain.acknowledged[code].append((booked["id"], booked["total_fen"]))
        await asyncio.sleep(0.05)


async def trade_through(chain: Chain, fault: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Every branch trades while `fault` runs; how many faults it caused."""
    faults = asyncio.create_task(fault())
    await asyncio.gather(*(trade(chain, code) for code in BRANCHES))
    return await faults


async def check_everything_arrived_once(chain: Chain) -> None:
    session, hq_url = chain.session, chain.hq_url

    async def drained() -> bool:
        for code, node in chain.nodes.items():
            status = await get(session, node.url + "/api/sync", chain.tokens[code])
            if status["backlog"] != 0:
                return False
        return True

    await wait_until(drained, "every branch's backlog to reach HQ", timeout_s=60)

    # Every acknowledged sale exactly once at HQ.
    finance = await log_in(session, hq_url, "finance")
    assert finance is not None
    summary = await get(session, hq_url + "/api/sales/summary", finance)
    sold = [s for booked in chain.acknowledged.values() for s in booked]
    assert all(chain.acknowledged.values()), chain.acknowledged
    assert (summary["count"], summary["total_fen"]) == (len(sold), sum(total for _, total in sold))
    # Every branch's log at HQ is the branch's own, byte for byte.
    raw = await asyncpg.connect(chain.db)
    try:
        for code, node in chain.nodes.items():
            rows = await raw.fetch("SELECT entry FROM log_entries WHERE origin = $1 ORDER BY seq", code)
            assert [bytes(row["entry"]) for row in rows] == node_log(node), code
    finally:
        await raw.close()

    # The same member directory everywhere, once every feed is read.
    gm = await log_in(session, hq_url, "gm")
    assert gm is not None

    async def digests_agree() -> bool:
        digests = {(await get(session, hq_url + "/api/directory/digest", gm))["sha256"]}
        for code, node in chain.nodes.items():
            digests.add(
                (await get(session, node.url + "/api/directory/digest", chain.tokens[code]))["sha256"]
            )
        return len(digests) == 1

    await wait_until(digests_agree, "HQ and every branch to hold the same directory", timeout_s=30)


async def test_three_hq_processes_behind_haproxy_survive_one_killed_every_few_seconds(
    tmp_path: Path, postgres: Cluster
) -> None:
    async with chain_behind_haproxy(tmp_path, postgres) as chain:

        async def kill_one_every_few_seconds() -> int:
            killed = 0
            for victim in itertools.cycle(chain.hqs):
                await asyncio.sleep(KILL_EVERY_S)
                if killed >= int(TRADING_S // KILL_EVERY_S):
                    return killed
                await victim.kill()
                killed += 1
                await victim.spawn()
            return killed

        assert await trade_through(chain, kill_one_every_few_seconds) >= 3
        await check_everything_arrived_once(chain)


async def test_the_database_restarting_under_load_is_survived_without_restarting_hq(
    tmp_path: Path, postgres: Cluster
) -> None:
    async with chain_behind_haproxy(tmp_path, postgres) as chain:
        pids = [hq.pid for hq in chain.hqs]

        async def restart_the_database_twice() -> int:
            for _ in range(DATABASE_RESTARTS):
                await asyncio.sleep(TRADING_S / (DATABASE_RESTARTS + 1))
                # Every HQ connection (pools and listeners) is dropped at once.
                await asyncio.to_thread(postgres.restart)
            return DATABASE_RESTARTS

        assert await trade_through(chain, restart_the_database_twice) == DATABASE_RESTARTS
        await check_everything_arrived_once(chain)
        # The same processes served throughout: none died and none was restarted.
        assert [hq.pid for hq in chain.hqs] == pids
        assert all(hq.process is not None and hq.process.returncode is None for hq in chain.hqs)
