"""Credit on a card (FEATURES M8) on real servers and both HQ backends: a line granted,
drawn at checkout up to what is left, given back by a return, repaid, and the members
owing past the credit term listed."""

from __future__ import annotations

from typing import Any

import pytest

from node.routes.context import CONTEXT
from tests.harness import Chain, wait_until

DAY_MS = 86_400_000
TEA_FEN = 12_800  # HQ's demo TEA-GREEN-100


async def _refused(chain: Chain, url: str, body: Any, status: int, code: str) -> None:
    async with chain.session.post(url, json=body) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]


def _tea(qty: int, *tenders: dict[str, Any]) -> dict[str, Any]:
    return {"lines": [{"sku": "TEA-GREEN-100", "qty": qty}], "tenders": list(tenders)}


async def test_credit_is_drawn_to_its_line_given_back_repaid_and_overdue_listed(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By hand: a 50,000 line. Three teas on credit (38,400): 11,600 left. A fourth tea
    (12,800) on credit is refused; 11,600 on credit and 1,200 cash pays it: owed 50,000.
    One tea of the first sale returned: its 12,800 goes back onto the line first: owed
    37,200. Repaying 40,000 is refused; 37,200 settles it. Another card owes 12,800 from
    today: forty days on it is listed overdue, the settled card is not."""
    a = await chain.add_node("BR01")
    for phone, card in (("13900003333", "C-0001"), ("13900004444", "C-0002")):
        await chain.post(a.url + "/api/members", {"name": "Gao", "phone": phone, "cards": [card]})
        await chain.post(f"{a.url}/api/cards/{card}/credit", {"action": "grant", "amount_fen": 50_000})
    sales = a.url + "/api/sales"
    first = await chain.post(sales, _tea(3, {"kind": "credit", "card": "C-0001", "amount_fen": 38_400}))
    assert first["tenders"] == [{"amount_fen": 38_400, "card": "C-0001", "kind": "credit"}]
    await _refused(
        chain,
        sales,
        _tea(1, {"kind": "credit", "card": "C-0001", "amount_fen": TEA_FEN}),
        402,
        "credit_over_limit",
    )
    await chain.post(
        sales,
        _tea(
            1,
            {"kind": "credit", "card": "C-0001", "amount_fen": 11_600},
            {"kind": "cash", "amount_fen": 1_200},
        ),
    )
    credit = f"{a.url}/api/cards/C-0001/credit"
    returned = await chain.post(
        f"{a.url}/api/sales/{first['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}
    )
    assert (returned["refund_fen"], returned["refund_kind"]) == (TEA_FEN, "credit")
    await _refused(chain, credit, {"action": "repay", "amount_fen": 40_000}, 409, "over_repayment")
    repaid = await chain.post(credit, {"action": "repay", "amount_fen": 37_200})
    assert repaid["credit"]["owed_fen"] == 0
    assert repaid["credit"]["available_fen"] == 50_000
    await _refused(chain, credit, {"action": "lend", "amount_fen": 1}, 422, "invalid")
    await _refused(chain, credit, {"action": "grant", "amount_fen": 0}, 422, "invalid")

    await chain.post(sales, _tea(1, {"kind": "credit", "card": "C-0002", "amount_fen": TEA_FEN}))
    overdue = a.url + "/api/credit/overdue"
    assert (await chain.get(overdue))["cards"] == []  # owing since today: within the 30-day term
    writer = a.app[CONTEXT].store.writer
    later = writer.now_ms() + 40 * DAY_MS
    monkeypatch.setattr(writer, "_wall_ms", lambda: later)
    [owing] = (await chain.get(overdue))["cards"]
    assert (owing["card"], owing["owed_fen"], owing["days"]) == ("C-0002", TEA_FEN, 40)
    assert (await chain.get(overdue, params={"days": "41"}))["cards"] == []
    async with chain.session.get(overdue, params={"days": "-1"}) as response:
        assert response.status == 422
    # HQ's console warns of the same card from the directory it holds.
    await wait_until(lambda: chain.drained("BR01"), "BR01 to drain to HQ")
    monkeypatch.setattr("hq.report_api.wall_ms", lambda: later)
    at_hq = chain.hq.url + "/api/reports/credit-overdue"
    [owing] = (await chain.get(at_hq))["cards"]
    assert (owing["card"], owing["owed_fen"], owing["days"]) == ("C-0002", TEA_FEN, 40)
    assert (await chain.get(at_hq, params={"days": "41"}))["cards"] == []
    async with chain.session.get(at_hq + "/export") as response:
        text = (await response.read()).decode("utf-8-sig")
    (card, _member, owed, _since, days) = text.splitlines()[1].split(",")
    assert (card, owed, days) == ("C-0002", "128.00", "40")
