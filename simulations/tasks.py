"""Coroutines that wait in simulated time, such as a till waiting for HQ's answer to a hold.

The engine runs one event at a time, each to completion. Production code that
awaits an answer which only a later event brings (the real checkout taking a
hold at HQ) cannot run inside one event, so it runs as a task: `spawn` it, and
where it awaits the simulated world it awaits `wait(future)`, a future that only
an event resolves (`resolve`). After each event the engine calls `settle`, which
starts the spawned tasks and wakes the resolved ones one at a time, each until it
waits again or ends. No two tasks ever run at once and none runs beside an event,
so a seed still fixes every step (the real I/O a task does in between, SQLite
through the store's threads, is awaited to its end before anything else moves).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from protocol.errors import InvariantBroken

T = TypeVar("T")


@dataclass
class _Start:
    owner: str
    coroutine: Coroutine[Any, Any, None]
    # The spawner's context variables (the operator acting at the till), as
    # asyncio.create_task would copy them had the task started there and then.
    context: contextvars.Context


@dataclass
class _Resolve:
    future: asyncio.Future[Any]
    value: Any


class SimTasks:
    def __init__(self) -> None:
        self._steps: collections.deque[_Start | _Resolve] = collections.deque()
        self._owners: dict[asyncio.Task[None], str] = {}  # live tasks, in the order they started
        self._waiting: dict[asyncio.Future[Any], asyncio.Task[None]] = {}
        self._quiet: asyncio.Event | None = None
        self._failure: BaseException | None = None

    def spawn(self, owner: str, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` as a task of `owner` (a node: its crash ends the task), from
        the end of the current event."""
        self._steps.append(_Start(owner, coroutine, contextvars.copy_context()))

    def future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def resolve(self, future: asyncio.Future[Any], value: Any) -> None:
        """Answer `future` at the end of the current event; a future already answered
        (a duplicate or late message) or given up keeps its first outcome."""
        self._steps.append(_Resolve(future, value))

    async def wait(self, future: asyncio.Future[T]) -> T:
        """Park the running task until an event resolves `future`."""
        task = asyncio.current_task()
        if task is None or task not in self._owners:
            raise InvariantBroken("only a spawned task waits in simulated time")
        self._waiting[future] = task
        self._settled()
        try:
            return await future
        finally:
            self._waiting.pop(future, None)

    @property
    def live(self) -> int:
        """Tasks started and not yet ended (all of them waiting, between events)."""
        return len(self._owners)

    async def settle(self) -> None:
        """Start the spawned tasks and wake the resolved ones, one at a time, each until
        it waits again or ends. Raises what a task raised: a bug, never a refusal."""
        while self._steps:
            step = self._steps.popleft()
            if isinstance(step, _Start):
                task = asyncio.get_running_loop().create_task(step.coroutine, context=step.context)
                self._owners[task] = step.owner
                task.add_done_callback(self._ended)
            else:
                waiter = self._waiting.get(step.future)
                if waiter is None or step.future.done():
                    continue
                step.future.set_result(step.value)
            await self._until_settled()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def cancel(self, owner: str) -> None:
        """End `owner`'s tasks where they wait, as a crash ends its process: each is
        cancelled and run until it ends."""
        for task in [task for task, of in self._owners.items() if of == owner]:
            task.cancel()
            await self._until_settled()
        self._steps = collections.deque(
            step for step in self._steps if not (isinstance(step, _Start) and step.owner == owner)
        )

    async def cancel_all(self) -> None:
        for owner in sorted(set(self._owners.values())):
            await self.cancel(owner)

    async def _until_settled(self) -> None:
        self._quiet = asyncio.Event()
        await self._quiet.wait()

    def _settled(self) -> None:
        if self._quiet is not None:
            self._quiet.set()

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._owners.pop(task, None)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
        self._settled()
