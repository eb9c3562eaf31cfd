"""`simulate --real`: the fault-injecting proxy on its own, then a whole scenario with real processes.

The proxy tests talk through a `FaultyLink` to a tiny echo server in this process;
no test asserts a duration, only what arrives and what fails.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from simulations.proxy import FaultyLink
from simulations.real import run_real
from simulations.scenario import load_scenario
from tests.harness import Server

CI_SMALL = Path(__file__).parents[2] / "simulations" / "scenarios" / "ci-small.toml"
# ci-small trades 30 simulated minutes: at 60x that is 30 s of real trading.
CI_SMALL_SPEED = 60.0
BOUND = aiohttp.ClientTimeout(total=10)  # a bound on a failure, not a timing assertion


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


@pytest.fixture
async def link() -> AsyncIterator[FaultyLink]:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/echo", _echo)
    server = Server(lambda: app)
    await server.start()
    proxy = FaultyLink("BR01", server.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
        await server.stop()


async def _echoed(session: aiohttp.ClientSession, proxy: FaultyLink, body: bytes) -> bytes:
    async with session.post(proxy.url + "/echo", data=body) as response:
        assert response.status == 200
        return await response.read()


async def test_a_healthy_link_passes_requests_through_unchanged(link: FaultyLink) -> None:
    async with aiohttp.ClientSession(timeout=BOUND) as session:
        assert await _echoed(session, link, b"sale 1") == b"sale 1"
        assert await _echoed(session, link, b"sale 2") == b"sale 2"  # on the kept-alive connection
    assert link.bytes_to_hq > 0
    assert link.bytes_from_hq > 0


async def test_a_cut_link_fails_requests_and_heal_restores_it(link: FaultyLink) -> None:
    async with aiohttp.ClientSession(timeout=BOUND) as session:
        assert await _echoed(session, link, b"before") == b"before"
        link.cut()
        with pytest.raises(aiohttp.ClientError):
            await _echoed(session, link, b"during")  # its kept-alive connection was reset
        async with aiohttp.ClientSession(timeout=BOUND) as fresh:
            with pytest.raises(aiohttp.ClientError):
                await _echoed(fresh, link, b"new connection")  # accepted, then closed at once
        assert link.refused >= 1
        link.heal()
        assert await _echoed(session, link, b"after") == b"after"


async def test_delay_slows_but_still_delivers_every_byte(link: FaultyLink) -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: several chunks, each delayed
    link.set_faults(0.0, (1, 20), random.Random(7))
    async with aiohttp.ClientSession(timeout=BOUND) as session:
        assert await _echoed(session, link, body) == body


async def test_total_loss_resets_the_connection_and_counts_the_drop(link: FaultyLink) -> None:
    link.set_faults(1.0, (0, 0), random.Random(7))
    async with aiohttp.ClientSession(timeout=BOUND) as session:
        with pytest.raises(aiohttp.ClientError):
            await _echoed(session, link, b"lost")
        assert link.dropped >= 1
        link.set_faults(0.0, (0, 0), random.Random(7))
        assert await _echoed(session, link, b"kept") == b"kept"


async def test_closing_the_link_cancels_every_connection(link: FaultyLink) -> None:
    async with aiohttp.ClientSession(timeout=BOUND) as session:
        assert await _echoed(session, link, b"open") == b"open"  # leaves a kept-alive connection
        url = link.url
        await link.close()
        assert not link._tasks, "every proxied connection's task ended with the link"
        with pytest.raises(aiohttp.ClientError):
            await session.post(url + "/echo", data=b"closed")


def test_faults_out_of_range_are_refused() -> None:
    proxy = FaultyLink("BR01", 1)
    with pytest.raises(ValueError, match="out of range"):
        proxy.set_faults(1.5, (0, 0), random.Random(1))
    with pytest.raises(ValueError, match="out of range"):
        proxy.set_faults(0.1, (20, 5), random.Random(1))


@pytest.mark.slow
async def test_ci_small_with_real_processes_holds_every_invariant(tmp_path: Path) -> None:
    scenario = load_scenario(CI_SMALL)
    result = await run_real(scenario, scenario.seed, speed=CI_SMALL_SPEED, workdir=tmp_path)

    assert result.violations == [], "\n".join(f"{v.invariant}: {v.detail}" for v in result.violations)
    assert sum(b.sales for b in result.branches.values()) > 0, "the tills sold something"
    assert result.branches["BR03"].crashes == 1, "BR03 was SIGKILLed once, as the scenario says"
    assert {h.what for h in result.heals} == {
        "partition of BR02",
        "link faults",
        "restart of BR03",
        "HQ outage",
    }
    assert result.converged_at_ms is not None
