"""A fault-injecting TCP proxy for one branch↔HQ link in `branchline simulate --real`.

The branch's node.json names the proxy as HQ, so everything the branch says to HQ
(and hears back) passes here, where it can be cut, slowed or reset. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
# A branch holds a few keep-alive connections to HQ (push, feed long-poll, a retry
# racing a dying one); a hundred is a leak, not a branch, and is refused.
MAX_CONNECTIONS = 100
# What one read forwards; a push body (2 MiB at most) arrives in a few dozen reads.
CHUNK_BYTES = 64 * 1024
# HQ is on this machine: a connect slower than this means HQ is down or wedged.
UPSTREAM_CONNECT_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 5.0


@dataclass
class _Faults:
    loss: float = 0.0
    delay_ms: tuple[int, int] = (0, 0)
    rng: random.Random = field(default_factory=random.Random)


@dataclass(eq=False)  # identity: each connection is itself, kept in a set
class _Pipe:
    """One proxied connection: the branch's side and HQ's side."""

    branch: asyncio.StreamWriter
    hq: asyncio.StreamWriter

    def reset(self) -> None:
        for writer in (self.branch, self.hq):
            _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (linger 0), as a dropped line looks to the peer."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultyLink:
    """Listens on 127.0.0.1 (an ephemeral port) and forwards to HQ's port.

    `loss` is the probability that a chunk the branch sends (about one request)
    resets its connection instead of arriving; TCP cannot lose a single message,
    so a reset mid-conversation is the nearest a proxy gets to dropping one.
    `delay_ms` adds latency to every chunk, in both directions.
    """

    def __init__(self, name: str, hq_port: int) -> None:
        self.name = name
        self.hq_port = hq_port
        self.cut_off = False
        self.faults = _Faults()
        self.connections = 0  # accepted in all
        self.dropped = 0  # connections reset by `loss`
        self.refused = 0  # connections refused: cut, HQ unreachable or at MAX_CONNECTIONS
        self.bytes_to_hq = 0
        self.bytes_from_hq = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"link {self.name} is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)

    def cut(self) -> None:
        """The line is down: existing connections reset, new ones closed at once."""
        self.cut_off = True
        self.reset_all()

    def heal(self) -> None:
        self.cut_off = False

    def set_faults(self, loss: float, delay_ms: tuple[int, int], rng: random.Random) -> None:
        if not 0.0 <= loss <= 1.0 or not 0 <= delay_ms[0] <= delay_ms[1]:
            raise ValueError(f"link {self.name}: loss {loss} or delay {delay_ms} out of range")
        self.faults = _Faults(loss, delay_ms, rng)

    def reset_all(self) -> None:
        for pipe in list(self._pipes):
            pipe.reset()

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        self.reset_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_TIMEOUT_S)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S)
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or self.cut_off or len(self._tasks) >= MAX_CONNECTIONS:
            self.refused += 1
            _abort(writer)
            return
        self._tasks.add(task)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            # close() cancels us; the stream server logs a cancelled callback as an error.
            _abort(writer)
            if not self._closing:
                raise
        finally:
            self._tasks.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            hq_reader, hq_writer = await asyncio.wait_for(
                asyncio.open_connection(LOOPBACK, self.hq_port), UPSTREAM_CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            self.refused += 1  # HQ is down: the branch sees its connection reset
            _abort(writer)
            return
        pipe = _Pipe(writer, hq_writer)
        self._pipes.add(pipe)
        try:
            await asyncio.gather(
                self._pump(reader, hq_writer, pipe, True), self._pump(hq_reader, writer, pipe, False)
            )
        except (OSError, asyncio.IncompleteReadError):
            pipe.reset()
        finally:
            self._pipes.discard(pipe)
            for side in (writer, hq_writer):
                side.close()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, pipe: _Pipe, to_hq: bool
    ) -> None:
        while True:
            chunk = await source.read(CHUNK_BYTES)
            if not chunk:
                if sink.can_write_eof() and not sink.is_closing():
                    with contextlib.suppress(OSError):
                        sink.write_eof()
                return
            faults = self.faults
            if to_hq and faults.loss and faults.rng.random() < faults.loss:
                self.dropped += 1
                pipe.reset()
                return
            if faults.delay_ms[1]:
                await asyncio.sleep(faults.rng.uniform(*faults.delay_ms) / 1000)
            if self.cut_off or sink.is_closing():
                pipe.reset()
                return
            if to_hq:
                self.bytes_to_hq += len(chunk)
            else:
                self.bytes_from_hq += len(chunk)
            sink.write(chunk)
            await sink.drain()
