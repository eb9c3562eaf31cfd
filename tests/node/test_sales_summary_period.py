"""The branch's sales summary for a period of its own days (node.json's zone, Asia/Shanghai
here): a sale rung up at 23:30 on 14 March counts on the 14th, its return at 00:30 the
next morning on the 15th, however UTC dates them (15:30 and 16:30 UTC on the 14th).

Worked by hand: a festival gift box (29,900) and a cup (2,500) sold, 32,400; the gift
box back, 29,900 given back. The 14th: one sale of 32,400, no return. The 15th: no
sale, one return of 29,900, net -29,900. Both days: net 2,500.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.harness import Chain, Server, sale
from tests.node.test_member_stats import DAY, set_clock

NEXT = DAY + datetime.timedelta(days=1)


@pytest.fixture
async def node(chain: Chain) -> Server:
    return await chain.add_node("BR01")


async def summary(chain: Chain, node: Server, **query: str) -> Any:
    return await chain.get(node.url + "/api/sales/summary", params=query)


async def test_a_period_is_the_branchs_days_and_a_return_counts_on_its_own(
    chain: Chain, node: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_clock(monkeypatch, node, DAY, 23, 30)
    sold = await chain.post(node.url + "/api/sales", sale(("GIFT-BOX", 1), ("CUP-CERAMIC", 1)))
    set_clock(monkeypatch, node, NEXT, 0, 30)
    await chain.post(f"{node.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})

    first = await summary(chain, node, **{"from": DAY.isoformat(), "to": DAY.isoformat()})
    assert (first["from"], first["to"]) == ("2025-03-14", "2025-03-14")
    assert (first["count"], first["total_fen"], first["returns"], first["net_fen"]) == (1, 32_400, 0, 32_400)
    second = await summary(chain, node, **{"from": NEXT.isoformat()})  # to: the branch's today
    assert (second["from"], second["to"]) == ("2025-03-15", "2025-03-15")
    assert (second["count"], second["returns"], second["returned_fen"], second["net_fen"]) == (
        0,
        1,
        29_900,
        -29_900,
    )
    both = await summary(chain, node, to=NEXT.isoformat())
    assert (both["from"], both["count"], both["returns"], both["net_fen"]) == (None, 1, 1, 2_500)
    everything = await summary(chain, node)
    assert "from" not in everything
    assert (everything["count"], everything["net_fen"]) == (1, 2_500)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"from": "2025-02-30"}, "from:"),
        ({"to": "yesterday"}, "to:"),
        ({"from": "2025-03-15", "to": "2025-03-14"}, "after to"),
    ],
)
async def test_a_bad_period_is_refused_422(
    chain: Chain, node: Server, query: dict[str, str], words: str
) -> None:
    async with chain.session.get(node.url + "/api/sales/summary", params=query) as response:
        assert response.status == 422
        refused = await response.json()
    assert refused["error"] == "invalid"
    assert words in refused["message"]
