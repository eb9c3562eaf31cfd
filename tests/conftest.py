from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness import Chain


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    """HQ running with the demo catalogue; add branches with `await chain.add_node(code)`."""
    async with aiohttp.ClientSession() as session:
        chain = Chain(tmp_path, session)
        await chain.start_hq()
        try:
            yield chain
        finally:
            await chain.close()
