"""What the HQ inventory tests share: authoring master data as an operator (the
chain's session acts as HQ's general manager), and waiting until the branches and
HQ have exchanged everything."""

from __future__ import annotations

from typing import Any

from hq.api import HQ_KEY
from protocol.limits import MAX_MESSAGE_BYTES
from tests.harness import Chain, wait_until


def url_of(plural: str) -> str:
    """The path HQ authors and lists a kind of master data at (card_types at /api/card-types)."""
    return "/api/" + plural.replace("_", "-")


async def author(chain: Chain, plural: str, body: Any) -> list[dict[str, Any]]:
    """POST master data to HQ as the operator; the records HQ stored."""
    answer = await chain.post(chain.hq.url + url_of(plural), body, status=200)
    records: list[dict[str, Any]] = answer[plural]
    return records


async def feed_length(chain: Chain, branch: str) -> int:
    _, available = await chain.hq.app[HQ_KEY].store.feed_after(branch, 0, 1, MAX_MESSAGE_BYTES)
    return available


async def caught_up(chain: Chain, branch: str) -> bool:
    """The branch pushed all it wrote and applied all HQ's feed holds for it."""
    status = await chain.sync(branch)
    return bool(
        status["hq_reachable"]
        and status["backlog"] == 0
        and status["feed_cursor"] == await feed_length(chain, branch)
    )


async def settle(chain: Chain, *branches: str) -> None:
    """Until every branch named is caught up in two passes running: one branch's push
    can grow another's feed (a transfer routed, a receipt announced)."""

    async def all_caught_up() -> bool:
        for _ in range(2):
            for branch in branches:
                if not await caught_up(chain, branch):
                    return False
        return True

    await wait_until(all_caught_up, f"{', '.join(branches)} to catch up with HQ")
