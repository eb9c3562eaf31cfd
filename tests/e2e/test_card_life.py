"""A card's life after its sale, on real servers and both HQ backends: replaced at one
branch while another is cut off and still takes the old number; renewed at two
branches apart; upgraded to a dearer type; a password set, checked offline at another
branch, and guessing at it slowed down; what each refusal gets.

HQ's demo types: STORED-1000 costs 100,000 fen and holds 100,000 of stored value, a
replacement card 1,000; MASSAGE-MONTH costs 99,900 for 30 days, a renewal 99,900 more;
GOLD-16800 costs 1,680,000 at a 90 % rate, level gold, for 365 days.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from tests.e2e.test_card_types import _refused
from tests.harness import Chain, Server, clerk_login, log_in, wait_until

PIN = "246810"


async def _card(chain: Chain, url: str, card: str) -> dict[str, Any] | None:
    async with chain.session.get(f"{url}/api/cards/{card}") as response:
        return await response.json() if response.status == 200 else None


async def _ready(chain: Chain, *nodes: Server) -> None:
    async def types_at(node: Server) -> bool:
        listed = (await chain.get(node.url + "/api/card-types"))["card_types"]
        return {"STORED-1000", "MASSAGE-MONTH", "GOLD-16800"} <= {t["code"] for t in listed}

    for node in nodes:
        await wait_until(lambda n=node: types_at(n), f"the card types to reach {node}")  # type: ignore[misc]


async def _sell(chain: Chain, node: Server, phone: str, card_type: str, card: str, price_fen: int) -> str:
    member = (await chain.post(node.url + "/api/members", {"name": "Qian Hui", "phone": phone}))["id"]
    body = {
        "member_id": member,
        "card_type": card_type,
        "card": card,
        "tenders": [{"kind": "cash", "amount_fen": price_fen}],
    }
    await chain.post(node.url + "/api/card-sales", body)
    return str(member)


def _cup_on(card: str, password: str | None = PIN, qty: int = 1) -> dict[str, Any]:
    tender: dict[str, Any] = {"kind": "stored_value", "card": card, "amount_fen": 2_500 * qty}
    if password is not None:
        tender["password"] = password
    return {"lines": [{"sku": "CUP-CERAMIC", "qty": qty}], "tenders": [tender]}


async def test_a_card_replaced_at_one_branch_while_another_still_takes_the_old_number(
    chain: Chain,
) -> None:
    """Worked by hand (a cup is 2,500 fen):
    - BR01 sells S-0001 (STORED-1000) for 100,000: it holds 100,000. A password is set.
    - HQ goes down. BR02, which knows nothing else yet, sells a cup on S-0001 with the
      password: 97,500 there. Without it, or with a wrong one, it is refused.
    - BR01: S-0001 reported lost, replaced by S-0002 for 1,000 cash; S-0002 holds
      100,000 and the old number is refused at BR01. Two cups on S-0002 with the
      (same) password: 95,000 at BR01.
    - HQ returns: everywhere S-0001 is refused and S-0002 holds 100,000 - 2,500 -
      5,000 = 92,500, which is also what HQ owes on stored value.
    - HQ's BR01 sales: the card (100,000), the replacement (1,000), the cups (5,000):
      3 sales, 106,000, as BR01 counts them.
    """
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await _ready(chain, a, b)
    member = await _sell(chain, a, "13900007001", "STORED-1000", "S-0001", 100_000)
    # A card sold of a type is found by its number, as one handed over at registration.
    found = await chain.get(a.url + "/api/members", params={"card": "S-0001"})
    assert [m["id"] for m in found["members"]] == [member]
    set_pin = await chain.post(a.url + "/api/cards/S-0001/password", {"password": PIN})
    assert set_pin["card"]["has_password"] is True

    async def pin_at_b() -> bool:
        card = await _card(chain, b.url, "S-0001")
        return card is not None and card["has_password"]

    await wait_until(pin_at_b, "the card and its password to reach BR02")

    await chain.hq.stop()
    await _refused(chain, b.url + "/api/sales", _cup_on("S-0001", None), 403, "wrong_card_password")
    await _refused(chain, b.url + "/api/sales", _cup_on("S-0001", "135790"), 403, "wrong_card_password")
    offline = await chain.post(b.url + "/api/sales", _cup_on("S-0001"))
    assert offline["total_fen"] == 2_500
    assert (await _card(chain, b.url, "S-0001"))["balances"]["stored_value"] == 97_500  # type: ignore[index]

    await chain.post(a.url + "/api/cards/S-0001/status", {"action": "report_lost"})
    replace_url = a.url + "/api/cards/S-0001/replace"
    await _refused(chain, replace_url, {"new_card": "S-0002"}, 422, "tender_short")
    replacement = {"new_card": "S-0002", "tenders": [{"kind": "cash", "amount_fen": 1_000}]}
    key = {"Idempotency-Key": "replace-S-0001"}
    replaced = await chain.post(replace_url, replacement, headers=key)
    again = await chain.post(replace_url, replacement, status=200, headers=key)
    assert (again["id"], again["replayed"], again["card"]["card"]) == (replaced["id"], True, "S-0002")
    assert (replaced["kind"], replaced["fee_fen"], replaced["change_fen"]) == ("replace", 1_000, 0)
    new = replaced["card"]
    assert (new["card"], new["status"], new["replaces"], new["has_password"]) == (
        "S-0002",
        "active",
        "S-0001",
        True,
    )
    assert new["balances"]["stored_value"] == 100_000
    assert new["card_type"]["code"] == "STORED-1000"
    old = await _card(chain, a.url, "S-0001")
    assert (old["status"], old["replaced_by"]) == ("replaced", "S-0002")  # type: ignore[index]
    found = await chain.get(a.url + "/api/members", params={"card": "S-0002"})
    assert [m["id"] for m in found["members"]] == [member]  # and so is its replacement's number
    await _refused(chain, a.url + "/api/sales", _cup_on("S-0001"), 409, "card_blocked")
    await _refused(chain, replace_url, {"new_card": "S-0003"}, 409, "card_blocked")
    two_cups = await chain.post(a.url + "/api/sales", _cup_on("S-0002", qty=2))
    assert two_cups["total_fen"] == 5_000

    await chain.hq.start()
    for branch in ("BR01", "BR02"):
        await wait_until(lambda br=branch: chain.drained(br), f"{branch}'s backlog to drain")  # type: ignore[misc]

    async def agreed(node: Server) -> bool:
        card = await _card(chain, node.url, "S-0002")
        return card is not None and card["balances"]["stored_value"] == 92_500

    await wait_until(lambda: agreed(a), "BR02's offline cup to reach BR01")
    await wait_until(lambda: agreed(b), "the replacement to reach BR02")
    await _refused(chain, b.url + "/api/sales", _cup_on("S-0001"), 409, "card_blocked")
    assert (await _card(chain, b.url, "S-0001"))["status"] == "replaced"  # type: ignore[index]
    await chain.post(b.url + "/api/sales", _cup_on("S-0002", qty=1))  # the new number works there
    await wait_until(lambda: chain.drained("BR02"), "BR02's backlog to drain")
    at_hq = await chain.get(chain.hq.url + "/api/cards/S-0002")
    assert at_hq["balances"]["stored_value"] == 90_000
    liability = await chain.get(chain.hq.url + "/api/liability")
    assert liability["total_fen"] == 90_000
    hq_sales = await chain.get(chain.hq.url + "/api/sales/summary", params={"branch": "BR01"})
    node_sales = await chain.get(a.url + "/api/sales/summary")
    assert (hq_sales["count"], hq_sales["total_fen"]) == (3, 106_000)
    assert (node_sales["count"], node_sales["total_fen"]) == (3, 106_000)


async def test_renewals_at_two_branches_apart_both_count(chain: Chain) -> None:
    """Worked by hand: a MASSAGE-MONTH card sold today (day 0) runs to day 29. HQ goes
    down; BR01 renews it (99,900 cash): day 59 there; BR02 renews it too: day 59 there.
    Once HQ is back, both renewals were paid for and both count: day 89 everywhere.
    Renewing a card that never expires, or by other days than its type's, is refused."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await _ready(chain, a, b)
    await _sell(chain, a, "13900007002", "MASSAGE-MONTH", "M-0001", 99_900)
    await wait_until(lambda: _known(chain, b, "M-0001"), "the card to reach BR02")
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()

    def day(n: int) -> str:
        return (today + datetime.timedelta(days=n)).isoformat()

    assert (await _card(chain, a.url, "M-0001"))["card_type"]["valid_until"] == day(29)  # type: ignore[index]
    await chain.hq.stop()
    cash = {"tenders": [{"kind": "cash", "amount_fen": 100_000}]}
    at_a = await chain.post(a.url + "/api/cards/M-0001/renew", cash)
    assert (at_a["fee_fen"], at_a["change_fen"]) == (99_900, 100)
    assert at_a["card"]["card_type"]["valid_until"] == day(59)
    at_b = await chain.post(b.url + "/api/cards/M-0001/renew", cash)
    assert at_b["card"]["card_type"]["valid_until"] == day(59)
    await _refused(chain, b.url + "/api/cards/M-0001/renew", {"days": 10, **cash}, 409, "card_not_changeable")
    await chain.hq.start()

    async def both(node: Server) -> bool:
        card = await _card(chain, node.url, "M-0001")
        return card is not None and card["card_type"]["valid_until"] == day(89)

    await wait_until(lambda: both(a), "BR02's renewal to reach BR01")
    await wait_until(lambda: both(b), "BR01's renewal to reach BR02")

    await _sell(chain, a, "13900007003", "STORED-1000", "S-0010", 100_000)
    await _refused(chain, a.url + "/api/cards/S-0010/renew", cash, 409, "card_not_changeable")
    await _refused(chain, a.url + "/api/cards/S-0010/renew", {"months": 1}, 422, "invalid")
    await _refused(chain, a.url + "/api/cards/NO-SUCH-CARD/renew", cash, 404, "unknown_card")


async def _known(chain: Chain, node: Server, card: str) -> bool:
    return await _card(chain, node.url, card) is not None


async def test_an_upgrade_pays_the_difference_and_takes_the_dearer_types_terms(chain: Chain) -> None:
    """By hand: STORED-1000 (100,000) to GOLD-16800 (1,680,000): 1,580,000 to pay, no
    stored value added (GOLD gives none beyond STORED's); the card becomes gold at 90 %,
    keeping its 100,000 of stored value. It runs by GOLD's 365 days from today (day 364;
    it never expired before), takes GOLD's ten haircuts and ten massages (STORED bundles
    none), and BR02 sees the same card. Renewed by GOLD's 365 days (300,000): day 729.
    Back down to STORED-1000 is refused."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await _ready(chain, a, b)
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()

    def day(n: int) -> str:
        return (today + datetime.timedelta(days=n)).isoformat()

    await _sell(chain, a, "13900007004", "STORED-1000", "S-0020", 100_000)
    url = a.url + "/api/cards/S-0020/upgrade"
    await _refused(chain, url, {"card_type": "NO-SUCH"}, 404, "unknown_card_type")
    await _refused(chain, url, {"card_type": "GOLD-16800"}, 422, "tender_short")
    up = await chain.post(
        url, {"card_type": "GOLD-16800", "tenders": [{"kind": "cash", "amount_fen": 1_580_000}]}
    )
    assert (up["fee_fen"], up["card"]["balances"]["stored_value"]) == (1_580_000, 100_000)
    terms = up["card"]["card_type"]
    assert (terms["code"], terms["level"], terms["discount_rate"]) == ("GOLD-16800", "gold", 90)
    assert terms["valid_until"] == day(364)
    assert up["card"]["uses"] == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}

    async def upgraded_at_b() -> bool:
        card = await _card(chain, b.url, "S-0020")
        return (
            card is not None
            and card["card_type"]["valid_until"] == day(364)
            and card["uses"] == {"SVC-HAIRCUT": 10, "SVC-MASSAGE": 10}
        )

    await wait_until(upgraded_at_b, "the upgrade's days and uses to reach BR02")
    renewed = await chain.post(
        a.url + "/api/cards/S-0020/renew", {"tenders": [{"kind": "cash", "amount_fen": 300_000}]}
    )
    assert renewed["card"]["card_type"]["valid_until"] == day(729)
    await _refused(chain, url, {"card_type": "STORED-1000"}, 409, "card_not_changeable")
    await _refused(chain, url, {"card_type": "GOLD-16800"}, 409, "card_not_changeable")
    summary = await chain.get(a.url + "/api/sales/summary")
    assert (summary["count"], summary["total_fen"]) == (3, 1_980_000)


async def test_an_upgrade_that_adds_stored_value_costs_at_least_that_value(chain: Chain) -> None:
    """MASSAGE-MONTH (99,900, no stored value) to STORED-1000 (100,000 with 100,000 of
    stored value): the prices differ by 100 fen, but the upgrade puts 100,000 on the
    card, so it costs 100,000; 100 fen would have bought 1,000 yuan."""
    a = await chain.add_node("BR01")
    await _ready(chain, a)
    await _sell(chain, a, "13900007008", "MASSAGE-MONTH", "M-0060", 99_900)
    url = a.url + "/api/cards/M-0060/upgrade"
    cheap = {"card_type": "STORED-1000", "tenders": [{"kind": "cash", "amount_fen": 100}]}
    await _refused(chain, url, cheap, 422, "tender_short")
    up = await chain.post(
        url, {"card_type": "STORED-1000", "tenders": [{"kind": "cash", "amount_fen": 100_000}]}
    )
    assert (up["fee_fen"], up["card"]["balances"]["stored_value"]) == (100_000, 100_000)


async def test_a_password_is_changed_only_with_the_old_one_and_guessing_is_slowed(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    await _ready(chain, a)
    await _sell(chain, a, "13900007005", "STORED-1000", "S-0030", 100_000)
    url = a.url + "/api/cards/S-0030/password"
    await _refused(chain, url, {"password": "123"}, 422, "invalid")
    await _refused(chain, url, {"pin": PIN}, 422, "invalid")
    await chain.post(url, {"password": PIN})
    await _refused(chain, url, {"password": "999999"}, 403, "wrong_card_password")
    await _refused(chain, url, {"password": "999999", "old_password": "000000"}, 403, "wrong_card_password")
    await chain.post(url, {"password": "999999", "old_password": PIN})
    # Payouts spend the card too.
    await _refused(chain, a.url + "/api/cards/S-0030/payout", {"password": PIN}, 403, "wrong_card_password")
    # The right old password cleared the count; the payout's was one wrong: four more
    # make five, which lock the card's password for a while, the right one included.
    for _ in range(4):
        await _refused(chain, a.url + "/api/sales", _cup_on("S-0030", "000000"), 403, "wrong_card_password")
    locked = await _refused(
        chain, a.url + "/api/sales", _cup_on("S-0030", "999999"), 429, "too_many_attempts"
    )
    assert "try again" in locked["message"]
    card = await _card(chain, a.url, "S-0030")
    assert card["balances"]["stored_value"] == 100_000  # type: ignore[index]

    # The member forgot it: a store manager resets it without the old one, which ends
    # the lockout; a clerk may not, and a reset takes no old password.
    reset = a.url + "/api/cards/S-0030/password/reset"
    clerk = {"Authorization": f"Bearer {await log_in(a.url, clerk_login('BR01'))}"}
    forbidden = await chain.post(reset, {"password": "112233"}, status=403, headers=clerk)
    assert forbidden["error"] == "forbidden"
    await _refused(chain, reset, {"password": "112233", "old_password": "999999"}, 422, "invalid")
    await chain.post(reset, {"password": "112233"})
    await _refused(chain, a.url + "/api/sales", _cup_on("S-0030", "999999"), 403, "wrong_card_password")
    await chain.post(a.url + "/api/sales", _cup_on("S-0030", "112233"))
    card = await _card(chain, a.url, "S-0030")
    assert card["balances"]["stored_value"] == 97_500  # type: ignore[index]


async def test_one_card_replaced_at_two_branches_apart_keeps_the_first_and_asks_an_operator(
    chain: Chain,
) -> None:
    """S-0040 (STORED-1000, 100,000) is lost; with HQ down BR01 replaces it by S-0041
    and then BR02 by S-0042. Once synced, the earlier stamp wins everywhere: S-0041 is
    the card with the 100,000, S-0042 and S-0040 are refused, and HQ's queue holds one
    card_replaced_twice conflict naming both, which an operator acknowledges."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await _ready(chain, a, b)
    await _sell(chain, a, "13900007006", "STORED-1000", "S-0040", 100_000)
    await wait_until(lambda: _known(chain, b, "S-0040"), "the card to reach BR02")
    await chain.hq.stop()
    fee = {"tenders": [{"kind": "cash", "amount_fen": 1_000}]}
    await chain.post(a.url + "/api/cards/S-0040/replace", {"new_card": "S-0041", **fee})
    await chain.post(b.url + "/api/cards/S-0040/replace", {"new_card": "S-0042", **fee})
    await chain.hq.start()

    async def settled(node: Server) -> bool:
        loser = await _card(chain, node.url, "S-0042")
        winner = await _card(chain, node.url, "S-0041")
        return (
            loser is not None
            and winner is not None
            and (loser["status"], winner["status"]) == ("replaced", "active")
        )

    for node in (a, b):
        await wait_until(lambda n=node: settled(n), f"both replacements to reach {node}")  # type: ignore[misc]
    winner = await _card(chain, b.url, "S-0041")
    assert winner["balances"]["stored_value"] == 100_000  # type: ignore[index]
    await _refused(chain, b.url + "/api/sales", _cup_on("S-0042", None), 409, "card_blocked")
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-qian', 'management')}"}

    async def queued() -> list[dict[str, Any]]:
        found = await chain.get(chain.hq.url + "/api/conflicts?state=open", headers=headers)
        return [c for c in found["conflicts"] if c["kind"] == "card_replaced_twice"]

    async def one_queued() -> bool:
        return len(await queued()) == 1

    await wait_until(one_queued, "HQ to queue the double replacement")
    [conflict] = await queued()
    assert (conflict["subject"], conflict["branches"], conflict["actions"]) == (
        "S-0040",
        ["BR01", "BR02"],
        ["acknowledge"],
    )
    assert (conflict["details"]["winner"]["new_card"], conflict["details"]["refused"]["new_card"]) == (
        "S-0041",
        "S-0042",
    )
    async with chain.session.post(
        f"{chain.hq.url}/api/conflicts/{conflict['id']}/resolve",
        json={"action": "write_off"},
        headers=headers,
    ) as response:
        assert response.status == 422
    done = await chain.post(
        f"{chain.hq.url}/api/conflicts/{conflict['id']}/resolve",
        {"action": "acknowledge", "note": "S-0042 taken back from the member"},
        status=200,
        headers=headers,
    )
    assert done["state"] == "resolved"


async def test_a_renewal_paid_at_a_branch_that_had_not_heard_of_the_return_is_owed_back(
    chain: Chain,
) -> None:
    """M-0050 (MASSAGE-MONTH, renewals 99,900) is renewed at BR02; then, with HQ down,
    BR01 takes the card back and BR02, not knowing, renews it again. The first renewal
    came before the return (a return never pays back a fee): ordinary business. The
    second was paid for a card already returned: HQ queues one paid_after_return
    conflict for 99,900 fen naming both branches, and the card stays returned."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await _ready(chain, a, b)
    await _sell(chain, a, "13900007007", "MASSAGE-MONTH", "M-0050", 99_900)
    await wait_until(lambda: _known(chain, b, "M-0050"), "the card to reach BR02")
    fee = {"tenders": [{"kind": "cash", "amount_fen": 99_900}]}
    await chain.post(b.url + "/api/cards/M-0050/renew", fee)
    await wait_until(lambda: chain.drained("BR02"), "the first renewal to reach HQ")
    await chain.hq.stop()
    await chain.post(a.url + "/api/cards/M-0050/payout", {"return_card": True})
    second = await chain.post(b.url + "/api/cards/M-0050/renew", fee)
    await chain.hq.start()
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-qian', 'management')}"}

    async def queued() -> list[dict[str, Any]]:
        found = await chain.get(chain.hq.url + "/api/conflicts?state=open", headers=headers)
        return [c for c in found["conflicts"] if c["kind"] == "paid_after_return"]

    async def both_arrived() -> bool:
        return bool(await queued()) and await chain.drained("BR01") and await chain.drained("BR02")

    await wait_until(both_arrived, "HQ to queue the renewal paid after the return")
    [conflict] = await queued()
    assert (conflict["subject"], conflict["branches"], conflict["amount_fen"], conflict["actions"]) == (
        "M-0050",
        ["BR01", "BR02"],
        99_900,
        ["acknowledge"],
    )
    assert conflict["details"]["change_id"] == second["id"]

    async def returned_at_b() -> bool:
        card = await _card(chain, b.url, "M-0050")
        return card is not None and card["status"] == "returned"

    await wait_until(returned_at_b, "the return to reach BR02")
