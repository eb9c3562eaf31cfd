"""`node`: BR01 with HQ's demo catalogue arrived, for the stock tests.

A test module that wants another kind of node defines its own `node` fixture.
"""

from __future__ import annotations

import pytest

from tests.harness import Chain, Server
from tests.node.stock_fixtures import start_branch


@pytest.fixture
async def node(chain: Chain) -> Server:
    return await start_branch(chain)
