"""Service items on a real node (FEATURES B2): a haircut is sold, used on cards and
returned without ever touching stock, so it never shows negative stock; and a return of
a sale paid with a card's uses gives the uses back to the card, not cash."""

from __future__ import annotations

from tests.harness import Chain, Server, sale
from tests.node.stock_fixtures import level, stock_in
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


async def test_a_return_gives_a_cards_uses_back_to_the_card_and_only_money_in_money(
    chain: Chain, node: Server
) -> None:
    """By hand: GOLD-0009 holds 10 haircuts and 10 massages, and its type takes 10% off
    (loyalty.discounts: the card's rate applies to every unit, those its uses pay too, so
    a use counts for what the unit sells for to its holder). A sale of 3 haircuts (8,800
    each: 23,760 after the rate) paid with 2 of the card's uses (their share, 15,840) and
    8,800 in cash (7,920 kept, 880 change), and a massage (19,800: 17,820) on the card's
    uses: haircuts 8, massages 9. Returning 2 haircuts gives the card's tender back first:
    2 uses (15,840 of value), no cash; returning the third haircut then comes back in
    cash (7,920), the card's tender being exhausted; returning the massage gives its use
    back (17,820). The card ends with 10 and 10 again, the drawer gave back 7,920."""
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
        "lines": [{"sku": "SVC-HAIRCUT", "qty": 3}, {"sku": "SVC-MASSAGE", "qty": 1}],
        "tenders": [
            {"kind": "uses", "card": "GOLD-0009", "sku": "SVC-HAIRCUT", "qty": 2},
            {"kind": "uses", "card": "GOLD-0009", "sku": "SVC-MASSAGE", "qty": 1},
            {"kind": "cash", "amount_fen": 8_800},
        ],
    }
    sold = await chain.post(node.url + "/api/sales", body)
    card_url = node.url + "/api/cards/GOLD-0009"
    assert (await chain.get(card_url))["uses"] == {"SVC-HAIRCUT": 8, "SVC-MASSAGE": 9}
    returns_url = f"{node.url}/api/sales/{sold['id']}/returns"
    two = await chain.post(returns_url, {"lines": [{"line_no": 0, "qty": 2}]})
    assert (two["refund_fen"], two["refund_kind"]) == (15_840, "uses")
    assert two["refunds"] == [
        {"tender_no": 0, "kind": "uses", "amount_fen": 15_840, "card": "GOLD-0009", "qty": 2}
    ]
    assert (await chain.get(card_url))["uses"] == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 9}
    third = await chain.post(returns_url, {"lines": [{"line_no": 0, "qty": 1}, {"line_no": 1, "qty": 1}]})
    assert sorted((r["kind"], r["amount_fen"]) for r in third["refunds"]) == [
        ("cash", 7_920),
        ("uses", 17_820),
    ]
    assert (await chain.get(card_url))["uses"] == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}
    await _refused(chain, returns_url, {"lines": [{"line_no": 0, "qty": 1}]}, 409, "document_state")
