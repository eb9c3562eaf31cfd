"""Starting a server process: a port taken between the probe and the bind costs a retry,
not the whole `branchline up`; any other start-up failure is reported at once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hq.setup import init_hq
from launch import processes
from launch.processes import StartFailed, start_server, stop_all


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port bound by another socket, as an outgoing connection may be given
    the port a probe found free a moment before as its own."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


async def test_a_port_taken_before_the_bind_is_retried_on_another(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    await init_hq(tmp_path / "hq", demo_data=False)
    probe = processes.free_port
    probed: list[int] = []

    def free_then_taken(preferred: int = 0) -> int:
        # The first probe saw the port free; by the bind it is taken.
        port = taken_port if not probed else probe(preferred)
        probed.append(port)
        return port

    monkeypatch.setattr(processes, "free_port", free_then_taken)
    log = tmp_path / "hq.log"
    process, port = await start_server(["hq", "serve", "--data", str(tmp_path / "hq")], 0, "/api/health", log)
    try:
        assert probed[0] == taken_port
        assert port == probed[1] != taken_port
        assert "address already in use" in log.read_text().lower()
        health = f"http://127.0.0.1:{port}/api/health"
        async with aiohttp.ClientSession() as session, session.get(health) as answer:
            assert answer.status == 200
    finally:
        await stop_all([process])


async def test_a_server_failing_for_another_reason_is_not_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = processes.free_port
    probed: list[int] = []

    def counted(preferred: int = 0) -> int:
        probed.append(probe(preferred))
        return probed[-1]

    monkeypatch.setattr(processes, "free_port", counted)
    log = tmp_path / "hq.log"
    with pytest.raises(StartFailed, match="exited at start-up") as failed:
        # No HQ has been set up in this folder.
        await start_server(["hq", "serve", "--data", str(tmp_path / "nothing")], 0, "/api/health", log)
    assert len(probed) == 1, probed
    # The reason is told where the failure is, not only in the log.
    assert str(log) in str(failed.value)
    assert log.read_text().strip().splitlines()[-1] in str(failed.value)
