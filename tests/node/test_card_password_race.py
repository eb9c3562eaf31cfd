"""A card's password is checked before the write (node.services.card_life) and confirmed in
it: a password set between the two cannot be spent past, on a real node's store."""

from __future__ import annotations

import pytest

from node.errors import WrongCardPassword
from node.routes.context import CONTEXT
from node.services import card_life, cards, checkout
from protocol import passwords
from tests.harness import Chain, Server


async def test_a_password_set_after_the_check_refuses_the_spend_it_raced(chain: Chain, node: Server) -> None:
    """The till checks S-0050 (no password yet), then another till sets one, then the sale
    is written: the write sees a password it did not check and refuses; nothing is spent."""
    context = node.app[CONTEXT]
    member = (await chain.post(node.url + "/api/members", {"name": "Zhou", "phone": "13900009990"}))["id"]
    sale_body = {
        "member_id": member,
        "card_type": "STORED-1000",
        "card": "S-0050",
        "tenders": [{"kind": "cash", "amount_fen": 100_000}],
    }
    await chain.post(node.url + "/api/card-sales", sale_body)
    sale = checkout.parse_sale(
        {
            "lines": [{"sku": "CUP-CERAMIC", "qty": 1}],
            "tenders": [{"kind": "stored_value", "card": "S-0050", "amount_fen": 2_500}],
        },
        None,
    )
    checked = await context.card_passwords.check(context.store, sale.card_passwords(), 0)
    assert checked == {"S-0050": None}
    new_hash = passwords.hash_password("246810")
    await context.store.writer.run(card_life.password_job("S-0050", new_hash, None, context.new_id()))
    # On the branch's own date, as the till's checkout judges the card sold through it.
    job = checkout.checkout_job(
        sale, context.new_id(), context.config.warehouse, zone=context.config.zone, checked_passwords=checked
    )
    with pytest.raises(WrongCardPassword, match="S-0050 has a password"):
        await context.store.writer.run(job)
    card = await chain.get(node.url + "/api/cards/S-0050")
    assert (card["balances"]["stored_value"], card["has_password"]) == (100_000, True)
    # And the other way round: a password changed after its check is refused for the change.
    stale = card_life.password_job("S-0050", passwords.hash_password("135790"), None, context.new_id())
    with pytest.raises(WrongCardPassword, match="changed meanwhile"):
        await context.store.writer.run(stale)
    # A payout checked before the password was set is refused in its write too.
    payout = cards.parse_payout({"amount_fen": 1_000})
    racing = cards.payout_job("S-0050", payout, context.new_id(), context.new_id(), None, {"S-0050": None})
    with pytest.raises(WrongCardPassword, match="S-0050 has a password"):
        await context.store.writer.run(racing)
    card = await chain.get(node.url + "/api/cards/S-0050")
    assert card["balances"]["stored_value"] == 100_000
