"""A busy till pushes once a spacing (protocol.replication rule 3), and someone waiting
for HQ to hold the log (an online hold) hurries the next push past that wait."""

from __future__ import annotations

import asyncio

from node.routes.context import CONTEXT
from tests.harness import Chain, sale, wait_until

# Far longer than any test waits: a push that left must have been hurried.
LONG_SPACING_MS = 600_000


async def test_a_push_waits_out_the_spacing_unless_someone_waits_for_hq(chain: Chain) -> None:
    node = await chain.add_node("BR01")
    replicator = node.app[CONTEXT].replicator
    assert replicator is not None
    replicator.push.spacing_ms = LONG_SPACING_MS
    await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
    await wait_until(lambda: chain.drained("BR01"), "the first sale to reach HQ")  # a push has left

    await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
    head = replicator.head_seq
    await asyncio.sleep(0.3)
    assert (replicator.push.acked_seq, replicator.push.backlog) == (head - 1, 1)  # held by the spacing

    assert await replicator.wait_acked(head, timeout_s=10)  # hurried: not ten minutes
    assert replicator.push.backlog == 0
    await wait_until(lambda: chain.drained("BR01"), "the second sale to reach HQ")
