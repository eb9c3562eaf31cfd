"""Cards at the till, through a real node and HQ: top-ups, status, stored-value and
voucher tenders, points, and what each bad request gets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Chain, Server, wait_until
from tests.vouchers import issue_to


async def _ready(chain: Chain, *branches: str) -> list[Server]:
    nodes = [await chain.add_node(branch) for branch in branches]
    for branch in branches:
        await wait_until(lambda b=branch: _online(chain, b), f"{branch} to reach HQ")  # type: ignore[misc]
    return nodes


async def _online(chain: Chain, branch: str) -> bool:
    return bool((await chain.sync(branch))["hq_reachable"])


async def _member(chain: Chain, node: Server, phone: str, card: str, top_up_fen: int = 0) -> dict[str, Any]:
    member: dict[str, Any] = await chain.post(
        node.url + "/api/members", {"name": "Test", "phone": phone, "cards": [card]}
    )
    if top_up_fen:
        await chain.post(f"{node.url}/api/cards/{card}/top-up", {"amount_fen": top_up_fen})
    return member


def _card_sale(sku: str, qty: int, card: str, fen: int, cash_fen: int = 0) -> dict[str, Any]:
    tenders: list[dict[str, Any]] = [{"kind": "stored_value", "card": card, "amount_fen": fen}]
    if cash_fen:
        tenders.append({"kind": "cash", "amount_fen": cash_fen})
    return {"lines": [{"sku": sku, "qty": qty}], "tenders": tenders}


async def _refused(chain: Chain, url: str, body: Any, status: int, code: str) -> None:
    async with chain.session.post(url, json=body) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]


async def _digest(chain: Chain, node: Server) -> str:
    return str((await chain.get(node.url + "/api/directory/digest"))["sha256"])


async def test_top_up_is_booked_once_per_idempotency_key(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000101", "K-0101")
    headers = {"Idempotency-Key": "till-3-0042"}
    first = await chain.post(a.url + "/api/cards/K-0101/top-up", {"amount_fen": 5_000}, headers=headers)
    again = await chain.post(
        a.url + "/api/cards/K-0101/top-up", {"amount_fen": 5_000}, status=200, headers=headers
    )
    assert (first["id"], first["replayed"], again["replayed"]) == (again["id"], False, True)
    assert (await chain.get(a.url + "/api/cards/K-0101"))["balances"]["stored_value"] == 5_000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount_fen": 0}, 422, "invalid"),
        ({"amount_fen": -500}, 422, "invalid"),
        ({"amount_fen": 12.5}, 422, "invalid"),  # money is integer fen
        ({"amount_fen": "5000"}, 422, "invalid"),
        ({"amount_fen": True}, 422, "invalid"),
        ({"amount_fen": 5000, "paid_by": "alipay"}, 422, "invalid"),
        ([5000], 400, "malformed"),
    ],
)
async def test_bad_top_ups_are_refused_and_change_nothing(
    chain: Chain, body: Any, status: int, code: str
) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000102", "K-0102", top_up_fen=1_000)
    before = await _digest(chain, a)
    await _refused(chain, a.url + "/api/cards/K-0102/top-up", body, status, code)
    assert await _digest(chain, a) == before


async def test_bad_card_requests_get_their_own_refusals(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000103", "K-0103", top_up_fen=1_000)
    before = await _digest(chain, a)
    await _refused(chain, a.url + "/api/cards/NOPE-404/top-up", {"amount_fen": 100}, 404, "unknown_card")
    await _refused(chain, a.url + "/api/cards/x/top-up", {"amount_fen": 100}, 422, "invalid")
    await _refused(chain, a.url + "/api/cards/K-0103/status", {"action": "steal"}, 422, "invalid")
    await _refused(chain, a.url + "/api/cards/K-0103/status", {"action": "suspend", "why": 1}, 422, "invalid")
    await _refused(chain, a.url + "/api/cards/K-0103/status", {"action": "resume"}, 409, "nothing_to_clear")
    taken = {"name": "Other", "phone": "13900000199", "cards": ["K-0103"]}
    await _refused(chain, a.url + "/api/members", taken, 409, "card_taken")
    await _refused(chain, a.url + "/api/members", {**taken, "cards": "K-0999"}, 422, "invalid")
    assert await _digest(chain, a) == before
    async with chain.session.get(a.url + "/api/cards/NOPE-404") as response:
        assert (response.status, (await response.json())["error"]) == (404, "unknown_card")


async def test_a_returned_card_takes_no_more_changes_or_spends(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000104", "K-0104", top_up_fen=1_000)
    returned = await chain.post(a.url + "/api/cards/K-0104/status", {"action": "return"})
    assert returned["status"] == "returned"
    await _refused(chain, a.url + "/api/cards/K-0104/status", {"action": "report_lost"}, 409, "card_blocked")
    await _refused(chain, a.url + "/api/cards/K-0104/top-up", {"amount_fen": 100}, 409, "card_blocked")
    await _refused(
        chain, a.url + "/api/sales", _card_sale("SOAP-BAR", 1, "K-0104", 1_200), 409, "card_blocked"
    )


@pytest.mark.parametrize(
    ("tenders", "code"),
    [
        ([{"kind": "stored_value", "amount_fen": 1200}], "invalid"),  # which card?
        ([{"kind": "voucher", "amount_fen": 1200}], "invalid"),  # which voucher?
        ([{"kind": "stored_value", "card": "K-0105", "amount_fen": 1200.0}], "invalid"),
        ([{"kind": "stored_value", "card": "K-0105", "amount_fen": 0}], "invalid"),
        # Change is cash only: stored value may not exceed the sale.
        ([{"kind": "stored_value", "card": "K-0105", "amount_fen": 2400}], "invalid"),
        ([{"kind": "wechat", "amount_fen": 1200}], "unsupported_tender"),
    ],
)
async def test_bad_tenders_are_refused_and_book_nothing(chain: Chain, tenders: list[Any], code: str) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000105", "K-0105", top_up_fen=5_000)
    before = await _digest(chain, a)
    await _refused(
        chain, a.url + "/api/sales", {"lines": [{"sku": "SOAP-BAR", "qty": 1}], "tenders": tenders}, 422, code
    )
    assert await _digest(chain, a) == before
    assert (await chain.get(a.url + "/api/sales/summary"))["count"] == 0


async def test_offline_spending_is_bounded_by_the_seen_balance_and_the_daily_limit(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000106", "K-0106", top_up_fen=100_000)
    await _member(chain, a, "13900000107", "K-0107", top_up_fen=1_000)
    await chain.hq.stop()
    # Worked example, default limit 50,000 fen a card a day offline:
    # 29,900 (gift box) + 19,800 (massage) = 49,700 fits; a 1,200 soap would make 50,900.
    gift = await chain.post(a.url + "/api/sales", _card_sale("GIFT-BOX", 1, "K-0106", 29_900))
    massage = await chain.post(a.url + "/api/sales", _card_sale("SVC-MASSAGE", 1, "K-0106", 19_800))
    assert [gift["tenders"][0]["mode"], massage["tenders"][0]["mode"]] == ["offline", "offline"]
    assert gift["tenders"][0]["hold"] is None
    await _refused(
        chain, a.url + "/api/sales", _card_sale("SOAP-BAR", 1, "K-0106", 1_200), 402, "offline_limit_reached"
    )
    # The same soap paid partly in cash fits: 300 more offline makes 50,000 exactly.
    split = await chain.post(a.url + "/api/sales", _card_sale("SOAP-BAR", 1, "K-0106", 300, cash_fen=1_000))
    assert (split["change_fen"], split["tenders"][1]) == (100, {"kind": "cash", "amount_fen": 1_000})
    # A card may not spend offline more than the balance this branch has seen.
    await _refused(
        chain,
        a.url + "/api/sales",
        _card_sale("CUP-CERAMIC", 1, "K-0107", 2_500),
        402,
        "insufficient_balance",
    )
    card = await chain.get(a.url + "/api/cards/K-0106")
    # 100,000 paid met the demo's TOPUP-1000 bonus of 10,000.
    assert card["balances"]["stored_value"] == 100_000 + 10_000 - 29_900 - 19_800 - 300 == 60_000
    shown = await chain.get(f"{a.url}/api/sales/{split['id']}")
    assert [t["kind"] for t in shown["tenders"]] == ["stored_value", "cash"]
    assert shown["tenders"][0]["mode"] == "offline"


async def test_member_sales_earn_points_on_the_first_card(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    member = await _member(chain, a, "13900000108", "K-0108")
    body = {
        "member_id": member["id"],
        "lines": [{"sku": "TEA-OOLONG-250", "qty": 2}],
        "tenders": [{"kind": "cash", "amount_fen": 20_000}],
    }
    receipt = await chain.post(a.url + "/api/sales", body)
    # 2 x 68.00 yuan = 13,600 fen: 136 points at one a yuan.
    assert (receipt["total_fen"], receipt["points_earned"]) == (13_600, 136)
    assert (await chain.get(a.url + "/api/cards/K-0108"))["balances"]["points"] == 136


async def _known(chain: Chain, node: Server, member_id: str) -> bool:
    async with chain.session.get(f"{node.url}/api/members/{member_id}") as response:
        return response.status == 200


async def test_a_voucher_used_at_two_cut_off_branches_is_flagged_with_its_amount(chain: Chain) -> None:
    a, b = await _ready(chain, "BR01", "BR02")
    member = (await _member(chain, a, "13900000112", "K-0112"))["id"]
    await wait_until(lambda: _known(chain, b, member), "the member to reach BR02")
    code = await issue_to(chain, member, "V8888", a, b, value_fen=1_000)
    await chain.hq.stop()
    voucher = {"kind": "voucher", "voucher": code, "amount_fen": 1_000}
    first = await chain.post(
        a.url + "/api/sales",
        {
            "member_id": member,
            "lines": [{"sku": "CUP-CERAMIC", "qty": 1}],
            "tenders": [voucher, {"kind": "cash", "amount_fen": 1_500}],
        },
    )
    second = await chain.post(
        b.url + "/api/sales",
        {
            "member_id": member,
            "lines": [{"sku": "CUP-CERAMIC", "qty": 1}],
            "tenders": [voucher, {"kind": "cash", "amount_fen": 1_500}],
        },
    )
    assert first["tenders"][0] == {"kind": "voucher", "amount_fen": 1_000, "voucher": code}
    await chain.hq.start()

    async def flagged() -> list[dict[str, Any]]:
        async with chain.session.get(chain.hq.url + "/api/conflicts") as response:
            return [c for c in (await response.json())["conflicts"] if c["kind"] == "voucher_reused"]

    async def one_flagged() -> bool:
        return len(await flagged()) == 1

    await wait_until(one_flagged, "the second use of the voucher to be flagged")
    (conflict,) = await flagged()
    assert conflict["id"] == f"voucher:{second['id']}-t0"
    assert (conflict["amount_fen"], conflict["details"]["winner"]["branch"]) == (1_000, "BR01")


async def test_a_card_topped_up_a_moment_ago_is_spent_online(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    # The registration and top-up may not have reached HQ yet; the hold waits for
    # HQ to acknowledge them instead of being refused for an unknown card.
    await _member(chain, a, "13900000109", "K-0109", top_up_fen=3_000)
    receipt = await chain.post(a.url + "/api/sales", _card_sale("CUP-CERAMIC", 1, "K-0109", 2_500))
    assert receipt["tenders"][0]["mode"] == "online"


async def test_a_voucher_this_branch_has_seen_used_is_refused(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    member = (await _member(chain, a, "13900000113", "K-0113"))["id"]
    used = await issue_to(chain, member, "V7777", a, value_fen=1_000)
    unused = await issue_to(chain, member, "V7778", a, value_fen=1_000)
    voucher = {"kind": "voucher", "voucher": used, "amount_fen": 1_000}
    cash = {"kind": "cash", "amount_fen": 1_500}
    cup = [{"sku": "CUP-CERAMIC", "qty": 1}]
    await chain.post(a.url + "/api/sales", {"member_id": member, "lines": cup, "tenders": [voucher, cash]})
    again = {"member_id": member, "lines": cup, "tenders": [voucher, cash]}
    await _refused(chain, a.url + "/api/sales", again, 409, "voucher_used")
    fresh = {**voucher, "voucher": unused}
    gift = [{"sku": "GIFT-BOX", "qty": 1}]
    twice = {
        "member_id": member,
        "lines": gift,
        "tenders": [fresh, fresh, {"kind": "cash", "amount_fen": 30_000}],
    }
    await _refused(chain, a.url + "/api/sales", twice, 409, "voucher_used")
    assert (await chain.get(a.url + "/api/sales/summary"))["count"] == 1


async def test_a_hold_on_one_card_is_given_back_when_another_card_is_refused(chain: Chain) -> None:
    (a,) = await _ready(chain, "BR01")
    await _member(chain, a, "13900000110", "K-0110", top_up_fen=5_000)
    await _member(chain, a, "13900000111", "K-0111", top_up_fen=100)
    both = {
        "lines": [{"sku": "GIFT-BOX", "qty": 1}],
        "tenders": [
            {"kind": "stored_value", "card": "K-0110", "amount_fen": 5_000},
            {"kind": "stored_value", "card": "K-0111", "amount_fen": 1_000},
            {"kind": "cash", "amount_fen": 23_900},
        ],
    }
    await _refused(chain, a.url + "/api/sales", both, 402, "insufficient_balance")
    # Had K-0110's hold been kept, HQ would see nothing of its 5,000 left.
    whole = await chain.post(a.url + "/api/sales", _card_sale("CUP-CERAMIC", 2, "K-0110", 5_000))
    assert whole["tenders"][0]["mode"] == "online"
