"""Start, await and stop `python -m branchline ...` server processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

import aiohttp

# A server that has not answered by then failed to start; its log says why.
READY_TIMEOUT_S = 20
# A server given SIGTERM that has not exited by then is killed.
STOP_TIMEOUT_S = 10
# Ports tried before a server that finds its port taken at bind is given up on.
PORT_ATTEMPTS = 5


class StartFailed(RuntimeError):
    """A server process exited at start-up or did not answer in time; its log says why."""


def free_port(preferred: int = 0) -> int:
    """`preferred` if it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            # As the server binds it (aiohttp sets SO_REUSEADDR): a port the last run's
            # connections still hold in TIME_WAIT is free to listen on again.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


async def spawn(args: list[str], log_path: Path) -> asyncio.subprocess.Process:
    """`python -m branchline ARGS` with its output appended to `log_path`."""
    handle = log_path.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "branchline",
            *args,
            stdout=handle,
            stderr=handle,
            stdin=asyncio.subprocess.DEVNULL,
        )
    finally:
        handle.close()


async def wait_ready(url: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
    """Until `url` answers below 500; StartFailed if the process exits or stays silent."""
    async with aiohttp.ClientSession() as session:
        for _ in range(READY_TIMEOUT_S * 10):
            if process.returncode is not None:
                raise StartFailed(f"{url} exited at start-up; {_last_lines(log_path)}")
            # Not answering yet (refused, or accepted but silent within the second).
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise StartFailed(f"{url} did not answer within {READY_TIMEOUT_S} s; {_last_lines(log_path)}")


async def stop_all(processes: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM in reverse start order (branches before HQ), then kill what lingers."""
    for process in reversed(processes):
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in reversed(processes):
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


async def start_server(
    args: list[str], preferred_port: int, ready_path: str, log_path: Path
) -> tuple[asyncio.subprocess.Process, int]:
    """`python -m branchline ARGS --port P`, ready; the process and its port P.

    A port found free can be taken before the server binds it: on loopback, any
    outgoing connection may be given an ephemeral port as its own. A server that
    exits at start-up because its address is in use is started again on another
    port, rather than failing a whole `branchline up`."""
    for attempt in range(PORT_ATTEMPTS):
        port = free_port(preferred_port if attempt == 0 else 0)
        logged_before = _size(log_path)
        process = await spawn([*args, "--port", str(port)], log_path)
        try:
            await wait_ready(f"http://127.0.0.1:{port}{ready_path}", process, log_path)
        except BaseException as exc:
            await stop_all([process])  # exited already, or given up on
            if isinstance(exc, StartFailed) and _address_in_use(log_path, logged_before):
                continue
            raise
        return process, port
    raise StartFailed(f"every port tried was taken before the server bound it; see {log_path}")


def _last_lines(log_path: Path, count: int = 8) -> str:
    """Where the log is and how it ends, so the reason shows where the failure is told."""
    lines = log_path.read_text(errors="replace").splitlines()[-count:] if log_path.exists() else []
    return "\n".join([f"the end of {log_path}:", *lines])


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _address_in_use(log_path: Path, offset: int) -> bool:
    with log_path.open("rb") as handle:
        handle.seek(offset)
        return b"address already in use" in handle.read().lower()


class ServerProcess:
    """One server on a fixed loopback port: started, SIGKILLed and started again on
    that port, as the real-process simulations crash and restart nodes and HQ."""

    def __init__(self, args: list[str], port: int, ready_path: str, log_path: Path) -> None:
        self.args, self.port, self.ready_path, self.log_path = args, port, ready_path, log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await spawn([*self.args, "--port", str(self.port)], self.log_path)
        await wait_ready(self.url + self.ready_path, self.process, self.log_path)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()  # SIGKILL: no shutdown code runs
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
