"""A push held back by protocol.replication rule 3 (the linger after a quiet till's sale,
the spacing after a busy one's push) goes at once when someone waits for HQ to hold the
log, as an online hold does before it asks HQ about a card."""

from __future__ import annotations

import asyncio

from node.routes.context import CONTEXT
from tests.harness import Chain, sale, wait_until

# Far longer than any test waits: a push that left must have been hurried.
LONG_WAIT_MS = 600_000


async def test_a_held_back_push_goes_at_once_when_someone_waits_for_hq(chain: Chain) -> None:
    node = await chain.add_node("BR01")
    replicator = node.app[CONTEXT].replicator
    assert replicator is not None
    await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
    await wait_until(lambda: chain.drained("BR01"), "the first sale to reach HQ")
    replicator.push.linger_ms = replicator.push.spacing_ms = LONG_WAIT_MS

    await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
    head = replicator.head_seq
    await asyncio.sleep(0.3)
    assert (replicator.push.acked_seq, replicator.push.backlog) == (head - 1, 1)  # held back

    assert await replicator.wait_acked(head, timeout_s=10)  # hurried: not ten minutes
    assert replicator.push.backlog == 0
    await wait_until(lambda: chain.drained("BR01"), "the second sale to reach HQ")
