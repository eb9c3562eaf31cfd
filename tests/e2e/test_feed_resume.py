"""HQ's feed: a price change reaches a branch that was down, applied exactly once."""

from __future__ import annotations

import sqlite3

from hq.api import HQ_KEY
from hq.setup import on_this_machine
from hq.storage.base import Product
from tests.harness import Chain, sale, wait_until


async def test_a_price_change_published_while_a_branch_is_down_applies_once_on_restart(chain: Chain) -> None:
    node = await chain.add_node("BR01")

    async def cursor_is(seq: int) -> bool:
        return bool((await chain.sync("BR01"))["feed_cursor"] == seq)

    # Its feed starts with its own warehouse, the ten products, three card types and two
    # top-up rules of the catalogue, the six demo employees, and its two operators.
    await wait_until(
        lambda: cursor_is(24),
        "the warehouse, fifteen catalogue entries, six employees and two operators to be applied",
    )
    await node.stop()

    hq = chain.hq.app[HQ_KEY]
    await hq.publish_products([Product("CUP-CERAMIC", "Ceramic cup / 陶瓷杯", 2800)], on_this_machine("test"))
    await node.start()
    await wait_until(lambda: cursor_is(25), "the price change to be applied after the restart")

    receipt = await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 3)))
    assert receipt["total_fen"] == 3 * 2800 == 8400
    # The cursor moved with the page in one transaction: nothing was applied twice.
    with sqlite3.connect(chain.root / "BR01" / "node.sqlite") as conn:
        cursor = dict(conn.execute("SELECT key, value FROM sync_state"))
    assert cursor["feed_seq"] == 25
    await node.stop()
    await node.start()
    await wait_until(lambda: cursor_is(25), "the restarted node to report its cursor")
