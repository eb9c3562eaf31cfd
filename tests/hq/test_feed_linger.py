"""A long-polling feed read woken by a change waits a moment (`FEED_LINGER_S`),
so what follows the change reaches the branch in the same page; a branch that is
behind is answered at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from hq.api import HQ_KEY
from hq.operation_log import Doer
from protocol.limits import MAX_MESSAGE_BYTES
from tests.harness import Chain

OPERATOR = Doer("", "test", "test")


def product(sku: str) -> dict[str, object]:
    return {"sku": sku, "name": sku, "price_fen": 100}


async def test_changes_made_together_reach_an_up_to_date_branch_in_one_page(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three seconds, not HQ's one: the second change comes well inside it on any machine.
    linger_s = 3.0
    monkeypatch.setattr("hq.service.FEED_LINGER_S", linger_s)
    await chain.add_node("BR01", start=False)
    hq = chain.hq.app[HQ_KEY]
    _, available = await hq.store.feed_after("BR01", 0, 1, MAX_MESSAGE_BYTES)
    # Timed from the read's start: a notification of an earlier change that PostgreSQL
    # delivers late may wake the read, and its linger begin, before TEA-1 is authored.
    started = time.perf_counter()
    reading = asyncio.create_task(hq.feed_page("BR01", available, 10))
    await asyncio.sleep(0.1)  # the read is held: nothing follows its cursor
    await hq.author("product", product("TEA-1"), OPERATOR)
    await asyncio.sleep(linger_s / 4)
    await hq.author("product", product("TEA-2"), OPERATOR)
    page = await reading
    waited_s = time.perf_counter() - started

    assert page.batch is not None
    assert [entry.entity_id for entry in page.batch.entries] == ["TEA-1", "TEA-2"]
    assert page.available_seq == available + 2
    assert waited_s >= linger_s  # a lower bound only: a slow machine waits longer


async def test_a_branch_behind_is_answered_without_lingering(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chain.add_node("BR01", start=False)
    hq = chain.hq.app[HQ_KEY]
    _, available = await hq.store.feed_after("BR01", 0, 1, MAX_MESSAGE_BYTES)
    await hq.author("product", product("TEA-1"), OPERATOR)
    # An hour's linger: a read that lingered would not be answered within the minute.
    monkeypatch.setattr("hq.service.FEED_LINGER_S", 3_600.0)
    behind = await asyncio.wait_for(hq.feed_page("BR01", available, 10), 60)
    assert behind.batch is not None
    assert [entry.entity_id for entry in behind.batch.entries] == ["TEA-1"]
