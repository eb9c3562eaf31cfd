from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import Chain, Logins, logged_in_session


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    """HQ running with the demo catalogue; add branches with `await chain.add_node(code)`."""
    logins = Logins()
    async with logged_in_session(logins) as session:
        chain = Chain(tmp_path, session, logins)
        await chain.start_hq()
        try:
            yield chain
        finally:
            await chain.close()
