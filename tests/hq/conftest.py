"""`store`: each HQ storage backend in turn, for the storage contract and the transfer
routing rules (which are part of that contract); `hq_backend`: each backend in turn
for the tests that run a whole HQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hq.storage.base import HQStore
from hq.storage.postgres import PostgresHQStore
from hq.storage.sqlite import SqliteHQStore
from tests.postgres import Cluster

BACKENDS = ("postgresql", "sqlite")


@pytest.fixture(params=BACKENDS)
def hq_backend(request: pytest.FixtureRequest) -> str:
    """Every HQ test that runs a whole HQ (`chain`) runs it on each backend."""
    return str(request.param)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HQStore]:
    opened: HQStore
    if request.param == "sqlite":
        opened = await SqliteHQStore.open(tmp_path / "hq.sqlite")
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        opened = await PostgresHQStore.connect(await cluster.new_database())
    try:
        yield opened
    finally:
        await opened.close()
