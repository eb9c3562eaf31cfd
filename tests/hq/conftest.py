"""`store`: each HQ storage backend in turn, for the storage contract and the transfer
routing rules (which are part of that contract)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hq.storage.base import HQStore
from hq.storage.sqlite import SqliteHQStore


async def open_sqlite(tmp_path: Path) -> HQStore:
    return await SqliteHQStore.open(tmp_path / "hq.sqlite")


BACKENDS: dict[str, Callable[[Path], Awaitable[HQStore]]] = {"sqlite": open_sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HQStore]:
    store = await BACKENDS[request.param](tmp_path)
    try:
        yield store
    finally:
        await store.close()
