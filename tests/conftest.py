from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.harness import Chain, Logins, logged_in_session
from tests.postgres import Cluster, running_cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the whole session; each test takes a database of its own."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def hq_backend() -> str:
    """Where `chain`'s HQ keeps its data. Node tests use SQLite; HQ's own tests and the
    end-to-end tests override this to run on both backends."""
    return "sqlite"


@pytest.fixture
async def chain(tmp_path: Path, request: pytest.FixtureRequest, hq_backend: str) -> AsyncIterator[Chain]:
    """HQ running with the demo catalogue; add branches with `await chain.add_node(code)`."""
    logins = Logins()
    db = None
    if hq_backend == "postgresql":
        cluster: Cluster = request.getfixturevalue("postgres")
        db = await cluster.new_database()
    async with logged_in_session(logins) as session:
        chain = Chain(tmp_path, session, logins, db=db)
        await chain.start_hq()
        try:
            yield chain
        finally:
            await chain.close()
