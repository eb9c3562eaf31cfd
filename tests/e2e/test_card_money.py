"""Stored value paid in, given as a bonus, spent and paid back; uses bought onto a card;
HQ's top-up report: on real servers and both HQ backends.

HQ's demo bonuses: pay at least 1,000 yuan (100,000 fen) onto a card, get 100 more
(TOPUP-1000); at least 2,000, get 300 (TOPUP-2000). The highest threshold a top-up
reaches applies, once.
"""

from __future__ import annotations

import time
from typing import Any

from protocol.business_day import DEFAULT as BUSINESS_DAY
from tests.harness import Chain, clerk_login, log_in, manager_login, wait_until

CARD = "K-0001"


async def _refused(chain: Chain, url: str, body: Any, status: int, code: str, **kwargs: Any) -> None:
    async with chain.session.post(url, json=body, **kwargs) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]


async def _rules_arrived(chain: Chain, url: str) -> bool:
    return len((await chain.get(url + "/api/top-up-rules"))["top_up_rules"]) == 2


async def test_bonus_is_booked_apart_and_only_what_was_paid_is_paid_back(chain: Chain) -> None:
    """By hand:
    - 100,000 paid meets TOPUP-1000: +10,000 bonus; 250,000 meets TOPUP-2000 (the highest
      threshold reached): +30,000, once; 50,000 meets none. Paid in 400,000, bonus 40,000,
      balance 440,000.
    - Five gift boxes on the card: 5 x 29,900 = 149,500 spent; balance 290,500.
    - May be paid back: 400,000 paid - 149,500 taken = 250,500 (the 40,000 bonus is not).
      Asking 300,000 is refused; 50,000 is paid; then returning the card pays the
      200,500 left that was paid and forfeits the 40,000 bonus: balance 0.
    """
    a = await chain.add_node("BR01")
    await wait_until(lambda: _rules_arrived(chain, a.url), "the top-up rules to reach BR01")
    await chain.post(a.url + "/api/members", {"name": "Ma Li", "phone": "13900001111", "cards": [CARD]})
    top_up = f"{a.url}/api/cards/{CARD}/top-up"
    first = await chain.post(top_up, {"amount_fen": 100_000})
    assert (first["paid_fen"], first["bonus_fen"], first["rule"]) == (100_000, 10_000, "TOPUP-1000")
    second = await chain.post(top_up, {"amount_fen": 250_000})
    assert (second["bonus_fen"], second["rule"]) == (30_000, "TOPUP-2000")
    third = await chain.post(top_up, {"amount_fen": 50_000})
    assert (third["bonus_fen"], third["rule"], third["balances"]["stored_value"]) == (0, None, 440_000)

    spend = {
        "lines": [{"sku": "GIFT-BOX", "qty": 5}],
        "tenders": [{"kind": "stored_value", "card": CARD, "amount_fen": 149_500}],
    }
    await chain.post(a.url + "/api/sales", spend)
    payout = f"{a.url}/api/cards/{CARD}/payout"
    await _refused(chain, payout, {"amount_fen": 300_000}, 409, "not_refundable")
    clerk = await log_in(a.url, clerk_login("BR01"))
    await _refused(
        chain, payout, {"amount_fen": 1}, 403, "forbidden", headers={"Authorization": f"Bearer {clerk}"}
    )
    part = await chain.post(payout, {"amount_fen": 50_000})
    assert (part["paid_out_fen"], part["forfeited_fen"], part["balances"]["stored_value"]) == (
        50_000,
        0,
        240_500,
    )
    settled = await chain.post(payout, {"return_card": True}, headers={"Idempotency-Key": "return-1"})
    again = await chain.post(
        payout, {"return_card": True}, status=200, headers={"Idempotency-Key": "return-1"}
    )
    assert (again["id"], again["replayed"]) == (settled["id"], True)
    assert (settled["paid_out_fen"], settled["forfeited_fen"], settled["card_returned"]) == (
        200_500,
        40_000,
        True,
    )
    assert (settled["balances"]["stored_value"], settled["status"]) == (0, "returned")
    await _refused(chain, payout, {}, 409, "card_blocked")
    await _refused(chain, top_up, {"amount_fen": 1_000}, 409, "card_blocked")


async def test_uses_are_bought_onto_a_card_and_hqs_report_adds_up_by_branch_day_and_kind(
    chain: Chain,
) -> None:
    """By hand: at BR01 a top-up of 100,000 (+10,000 bonus) and one of 20,000; five foot
    massages bought as a bundle for 90,000 and two haircuts at their price (2 x 8,800 =
    17,600). HQ's report for today: stored_value 2 payments, 120,000 paid, 10,000 bonus;
    uses 2 purchases, 107,600 paid."""
    a = await chain.add_node("BR01")
    await chain.add_node("BR02")
    await wait_until(lambda: _rules_arrived(chain, a.url), "the top-up rules to reach BR01")
    await chain.post(a.url + "/api/members", {"name": "Liu", "phone": "13900002222", "cards": [CARD]})
    await chain.post(f"{a.url}/api/cards/{CARD}/top-up", {"amount_fen": 100_000})
    await chain.post(f"{a.url}/api/cards/{CARD}/top-up", {"amount_fen": 20_000})
    uses = f"{a.url}/api/cards/{CARD}/uses"
    bundle = await chain.post(uses, {"sku": "SVC-MASSAGE", "qty": 5, "amount_fen": 90_000})
    assert (bundle["paid_fen"], bundle["sku"], bundle["uses"]) == (90_000, "SVC-MASSAGE", 5)
    each = await chain.post(uses, {"sku": "SVC-HAIRCUT", "qty": 2})
    assert each["paid_fen"] == 17_600
    assert each["uses"] == 2
    card = await chain.get(f"{a.url}/api/cards/{CARD}")
    assert card["uses"] == {"SVC-HAIRCUT": 2, "SVC-MASSAGE": 5}
    await _refused(chain, uses, {"sku": "CUP-CERAMIC", "qty": 1}, 422, "not_on_this_card")
    await _refused(chain, uses, {"sku": "SVC-HAIRCUT", "qty": 0}, 422, "invalid")
    await _refused(chain, uses, {"sku": "SVC-HAIRCUT", "qty": 1, "amount_fen": 1.5}, 422, "invalid")

    await wait_until(lambda: chain.drained("BR01"), "BR01's backlog to drain")
    today = BUSINESS_DAY.day_text(int(time.time() * 1000))  # the branches' (default) business day
    report = await chain.get(chain.hq.url + "/api/reports/top-ups", params={"from": today, "to": today})
    figures = [(r["branch"], r["kind"], r["count"], r["paid_fen"], r["bonus_fen"]) for r in report["rows"]]
    assert figures == [("BR01", "stored_value", 2, 120_000, 10_000), ("BR01", "uses", 2, 107_600, 0)]
    assert (report["paid_fen"], report["bonus_fen"]) == (227_600, 10_000)
    async with chain.session.get(
        chain.hq.url + "/api/reports/top-ups", params={"from": today, "to": "2000-01-01"}
    ) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")
    async with chain.session.get(
        chain.hq.url + "/api/reports/top-ups", params={"from": "30/11/2026"}
    ) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")
    # BR02's store manager sees BR02's figures only.
    manager = await log_in(chain.hq.url, manager_login("BR02"))
    headers = {"Authorization": f"Bearer {manager}"}
    own = await chain.get(chain.hq.url + "/api/reports/top-ups", headers=headers)
    assert (own["branch"], own["rows"]) == ("BR02", [])
    async with chain.session.get(
        chain.hq.url + "/api/reports/top-ups", params={"branch": "BR01"}, headers=headers
    ) as response:
        assert response.status == 403
