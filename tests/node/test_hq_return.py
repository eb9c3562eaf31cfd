"""A branch finds HQ back soon after HQ returns: while nothing listens at HQ's address
the replicator's retries wait at most REFUSED_CAP_MS (protocol.replication rule 4),
while HQ's own failures (a timeout) still count as unanswered with the full backoff."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from node.routes.context import CONTEXT
from node.sync.hq_client import HQClient, NoAnswer
from node.sync.replicator import FEED_WAIT_S, Replicator
from protocol.replication import REFUSED_CAP_MS
from tests.harness import Chain, sale, wait_until

# Six refused pushes: with the full cap the sixth would wait 4 to 8 s.
FAILURES = 6


async def test_a_stopped_hq_is_asked_again_within_two_seconds_and_the_backlog_drains_on_its_return(
    chain: Chain,
) -> None:
    node = await chain.add_node("BR01")
    replicator = node.app[CONTEXT].replicator
    assert replicator is not None
    waits: list[tuple[bool, int]] = []
    failed = replicator.push.failed

    def observed(now_ms: int, *, refused: bool = False) -> None:
        failed(now_ms, refused=refused)
        waits.append((refused, replicator.push.due_ms - now_ms))

    replicator.push.failed = observed  # type: ignore[method-assign]

    await chain.hq.stop()
    await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
    await wait_until(lambda: _at_least(waits, FAILURES), f"{FAILURES} pushes to a stopped HQ", timeout_s=30)

    refused_waits = [wait for refused, wait in waits if refused]
    assert len(refused_waits) >= FAILURES - 1, waits  # the first may meet a kept-alive connection closing
    assert max(refused_waits) <= REFUSED_CAP_MS, waits
    assert max(refused_waits) > REFUSED_CAP_MS // 2, waits  # the cap was reached, not just not passed

    await chain.hq.start()
    await wait_until(lambda: chain.drained("BR01"), "BR01's sale to reach HQ")


async def _at_least(waits: list[tuple[bool, int]], count: int) -> bool:
    return len(waits) >= count


@pytest.fixture
async def silent_hq() -> AsyncIterator[str]:
    """A server that takes the request and never answers."""

    async def never(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/api/feed", never)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # the hung request is cut short
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _send(replicator: Replicator, hq_url: str, timeout_s: float) -> NoAnswer:
    """A feed read through the branch's own kind of client, pointed at `hq_url`."""
    client = HQClient(
        dataclasses.replace(replicator.config, hq_url=hq_url), replicator.key, lambda: 0, replicator
    )
    await client.open()
    try:
        with pytest.raises(NoAnswer) as refused:
            await client.send("GET", "/api/feed", timeout_s=timeout_s)
    finally:
        await client.close()
    return refused.value


async def test_a_refused_connection_is_told_apart_from_an_hq_that_does_not_answer(
    chain: Chain, silent_hq: str
) -> None:
    node = await chain.add_node("BR02")
    replicator = node.app[CONTEXT].replicator
    assert replicator is not None
    nobody = await _send(replicator, f"http://127.0.0.1:{_closed_port()}", timeout_s=5)
    assert nobody.refused is True
    assert nobody.code == "hq_unreachable"
    silent = await _send(replicator, silent_hq, timeout_s=0.3)
    assert silent.refused is False
    assert silent.code == "hq_unreachable"


async def test_a_branch_with_nothing_to_push_sees_hq_back_without_sitting_out_a_held_read(
    chain: Chain,
) -> None:
    """Rule 5: after HQ stops, the branch's next feed read asks HQ to answer at once, so
    its till shows HQ back within a retry or two, not after a long poll's 20 s."""
    await chain.add_node("BR03")
    await wait_until(lambda: _reachable(chain, "BR03", True), "BR03 to hear from HQ")
    await chain.hq.stop()
    await wait_until(lambda: _reachable(chain, "BR03", False), "BR03 to notice HQ gone")
    await chain.hq.start()
    assert (await chain.sync("BR03"))["backlog"] == 0  # nothing to push: only the feed can tell
    await wait_until(
        lambda: _reachable(chain, "BR03", True), "BR03 to see HQ back", timeout_s=FEED_WAIT_S / 2
    )


async def _reachable(chain: Chain, branch: str, expected: bool) -> bool:
    return bool((await chain.sync(branch))["hq_reachable"] is expected)
