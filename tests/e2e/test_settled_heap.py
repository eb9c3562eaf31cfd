"""A served process settles its heap once it has started: what start-up left is frozen
out of later full collections, start-up's garbage is collected first, and whatever is
made afterwards is collected as before."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from branchline import cli
from hq.api import create_app
from hq.setup import init_hq
from launch.heap import settle_heap


class Held:
    """Something tracked by the collector that a weak reference can watch."""

    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def in_a_generation(thing: object) -> bool:
    return any(found is thing for generation in range(3) for found in gc.get_objects(generation))


@pytest.fixture
def thawed() -> Iterator[None]:
    """The test process's heap as it was: frozen objects go back to the collector after."""
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("thawed")
def test_what_start_up_left_is_frozen_and_its_garbage_collected_first() -> None:
    kept = Held()
    garbage = weakref.ref(Held())  # unreachable already, held only by its own cycle
    assert garbage() is not None  # until a collection runs
    settle_heap()
    assert garbage() is None, "start-up's garbage is collected before the rest is frozen"
    assert gc.get_freeze_count() > 0
    assert not in_a_generation(kept), "what start-up left is out of every generation"
    later = weakref.ref(Held())
    gc.collect()
    assert later() is None, "a cycle made after the freeze is still collected"


@pytest.mark.usefixtures("thawed")
async def test_serve_settles_the_heap_once_the_app_has_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await init_hq(tmp_path / "hq", demo_data=False)
    app = create_app(tmp_path / "hq")
    served: list[web.Application] = []
    monkeypatch.setattr(web, "run_app", lambda app, **_: served.append(app))
    cli.serve(app, "127.0.0.1", 0, "Branchline HQ")
    assert served == [app]
    gc.unfreeze()
    runner = web.AppRunner(app)
    await runner.setup()  # the app's start-up, as run_app runs it
    try:
        assert gc.get_freeze_count() > 0
        assert not in_a_generation(app), "the served app is settled with the rest of start-up"
    finally:
        await runner.cleanup()
