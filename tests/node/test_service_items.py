"""Service items on a real node (FEATURES B2): a haircut is sold, used on cards and
returned without ever touching stock, so it never shows negative stock; and a sale
paid with a card's uses is not returned for cash."""

from __future__ import annotations

from tests.harness import Chain, Server, sale
from tests.node.stock_fixtures import BRANCH, level, stock_in
from tests.node.test_cards_api import _refused

HAIRCUT_FEN = 8_800  # HQ's demo SVC-HAIRCUT, a service item


async def test_a_service_item_is_sold_and_returned_without_touching_stock(chain: Chain, node: Server) -> None:
    await stock_in(node, "SOAP-BAR", 10, 4_500)
    sold = await chain.post(node.url + "/api/sales", sale(("SVC-HAIRCUT", 2), ("SOAP-BAR", 1)))
    haircut, soap = sold["lines"]
    assert (haircut["amount_fen"], haircut["cost_fen"], haircut["gross_profit_fen"]) == (17_600, 0, 17_600)
    assert soap["cost_fen"] == 450
    assert await level(node, "SVC-HAIRCUT") == (0, 0)  # no stock row moved
    assert await level(node, "SOAP-BAR") == (9, 4_050)
    moves = (await chain.get(node.url + "/api/stock/moves", params={"limit": "100"}))["moves"]
    assert [move["sku"] for move in moves if move["ref"] == sold["id"]] == ["SOAP-BAR"]
    listed = {p["sku"]: p for p in (await chain.get(node.url + "/api/products"))["products"]}
    assert (listed["SVC-HAIRCUT"]["service"], listed["SVC-HAIRCUT"]["stock_qty"]) == (True, None)
    assert (listed["SOAP-BAR"]["service"], listed["SOAP-BAR"]["stock_qty"]) == (False, 9)

    returned = await chain.post(
        f"{node.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 2}]}
    )
    assert (returned["refund_fen"], returned["cost_fen"]) == (17_600, 0)
    assert await level(node, "SVC-HAIRCUT") == (0, 0)


async def test_a_sale_paid_in_a_cards_uses_is_not_returned_for_cash(chain: Chain, node: Server) -> None:
    member = (await chain.post(node.url + "/api/members", {"name": "Zhou", "phone": "13900009999"}))["id"]
    await chain.post(
        node.url + "/api/card-sales",
        {
            "member_id": member,
            "card_type": "GOLD-16800",
            "card": "GOLD-0009",
            "tenders": [{"kind": "cash", "amount_fen": 1_680_000}],
        },
    )
    body = {
        "member_id": member,
        "lines": [{"sku": "SVC-HAIRCUT", "qty": 1}],
        "tenders": [{"kind": "uses", "card": "GOLD-0009", "sku": "SVC-HAIRCUT", "qty": 1}],
    }
    sold = await chain.post(node.url + "/api/sales", body)
    head = (await chain.sync(BRANCH))["head_seq"]
    await _refused(
        chain,
        f"{node.url}/api/sales/{sold['id']}/returns",
        {"lines": [{"line_no": 0, "qty": 1}]},
        409,
        "document_state",
    )
    assert (await chain.sync(BRANCH))["head_seq"] == head
    card = await chain.get(node.url + "/api/cards/GOLD-0009")
    assert card["uses"]["SVC-HAIRCUT"] == 9
