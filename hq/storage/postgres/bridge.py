"""Running HQ's synchronous storage code over asyncpg without a thread per statement.

HQ's storage modules are written once, as plain functions of a DB-API-like
connection (`fn(conn, ...)`), and run unchanged on SQLite and PostgreSQL. On
PostgreSQL the function runs in a greenlet on the event loop: each statement it
executes hands its asyncpg coroutine to the loop (`await_`) and resumes with the
result, so a transaction of many statements costs no thread hop per statement.
SQLAlchemy's asyncio extension runs its synchronous core over asyncpg the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")


class _Bridged(greenlet.greenlet):  # type: ignore[misc]
    """The greenlet a synchronous function runs in; marks where `await_` may be called."""


def await_(awaitable: Awaitable[T]) -> T:
    """Wait for `awaitable` from synchronous code run by `run_sync`."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        raise RuntimeError("await_ is only for code that run_sync runs")
    result: T = current.parent.switch(awaitable)
    return result


async def run_sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn(*args, **kwargs)`, serving the awaitables it passes to `await_`."""
    child = _Bridged(fn)
    result = child.switch(*args, **kwargs)
    while not child.dead:
        try:
            value = await result
        except BaseException:
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    return result  # type: ignore[no-any-return]
