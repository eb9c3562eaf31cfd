"""End to end, HQ runs on each backend in turn."""

from __future__ import annotations

import pytest

from tests.hq.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def hq_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
