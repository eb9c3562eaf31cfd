"""Money leaves the way it came (node.services.refunds): a return refunds stored value
onto the card that paid, then cash up to the cash kept, and a voucher's share is not
paid out; never more to a tender than it paid, over any number of returns."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.services.refunds import PaidTender, Refund, allocate, kept_by_tender, points_back
from protocol.errors import InvariantBroken
from tests.harness import Chain, wait_until
from tests.node.test_cards_api import _card_sale, _member, _ready


def test_points_come_back_as_points_and_a_tender_returned_in_parts_gives_back_all_it_spent() -> None:
    """100 points worth 3 fen each paid 300 fen of a sale, beside 500 in cash. Returning
    100 fen, then 200: floor(100 x 100/300) = 33 points, then floor(100 x 300/300) - 33
    = 67; 100 in all (each return's own share, 33 and 66, would keep one back). The
    points come back before cash."""
    points = PaidTender(1, "points", 300, "M-1", qty=100)
    tenders = [PaidTender(0, "cash", 500, None), points]
    assert (points_back(points, 0, 100), points_back(points, 100, 200)) == (33, 67)
    assert allocate(400, tenders, 0, {}) == [
        Refund(1, "points", 300, "M-1", qty=100),
        Refund(0, "cash", 100, None),
    ]


@given(st.lists(st.integers(1, 50), min_size=1, max_size=10), st.integers(1, 10_000))
def test_returns_of_a_points_tender_in_any_parts_give_back_exactly_its_points(
    parts: list[int], qty: int
) -> None:
    amount = sum(parts)
    tender = PaidTender(0, "points", amount, "M-1", qty=qty)
    given_back, refunded = 0, 0
    for part in parts:
        given_back += points_back(tender, refunded, part)
        refunded += part
    assert given_back == qty


def test_a_card_and_cash_sale_refunds_the_card_first_then_cash_net_of_change() -> None:
    tenders = [PaidTender(0, "cash", 2_000, None), PaidTender(1, "stored_value", 5_000, "K-1")]
    # 6,800 fen sale: 5,000 on the card, 2,000 cash given, 200 change.
    assert kept_by_tender(tenders, 200) == {0: 1_800, 1: 5_000}
    assert allocate(6_800, tenders, 200, {}) == [
        Refund(1, "stored_value", 5_000, "K-1"),
        Refund(0, "cash", 1_800, None),
    ]
    # A first return of 3,000 goes onto the card; the second takes the rest of it, then cash.
    assert allocate(3_000, tenders, 200, {}) == [Refund(1, "stored_value", 3_000, "K-1")]
    assert allocate(3_800, tenders, 200, {1: 3_000}) == [
        Refund(1, "stored_value", 2_000, "K-1"),
        Refund(0, "cash", 1_800, None),
    ]


def test_what_was_drawn_on_credit_is_given_back_first_so_what_is_owed_shrinks() -> None:
    """A 10,000 sale: 4,000 on the card's credit line, 3,000 stored value, 3,000 cash. A
    5,000 return clears the credit first, then 1,000 goes onto the card's stored value."""
    tenders = [
        PaidTender(0, "cash", 3_000, None),
        PaidTender(1, "stored_value", 3_000, "K-1"),
        PaidTender(2, "credit", 4_000, "K-1"),
    ]
    assert allocate(5_000, tenders, 0, {}) == [
        Refund(2, "credit", 4_000, "K-1"),
        Refund(1, "stored_value", 1_000, "K-1"),
    ]


def test_a_voucher_share_is_reached_last_and_a_legacy_cash_refund_counts_against_cash() -> None:
    tenders = [PaidTender(0, "voucher", 1_000, None), PaidTender(1, "cash", 1_200, None)]
    assert allocate(2_200, tenders, 0, {}) == [
        Refund(1, "cash", 1_200, None),
        Refund(0, "voucher", 1_000, None),
    ]
    # An earlier return, booked before refunds were kept per tender, gave 500 in cash.
    assert allocate(1_700, tenders, 0, {}, legacy_cash_fen=500) == [
        Refund(1, "cash", 700, None),
        Refund(0, "voucher", 1_000, None),
    ]


def test_a_refund_beyond_what_the_sale_paid_is_a_bug_not_a_payout() -> None:
    with pytest.raises(InvariantBroken, match="never exceeds what was paid"):
        allocate(5_001, [PaidTender(0, "stored_value", 5_000, "K-1")], 0, {})


Drawn = tuple[list[PaidTender], int, list[int]]  # a sale's tenders, its change, its returns


@st.composite
def sales_and_returns(draw: st.DrawFn) -> Drawn:
    kinds = draw(st.lists(st.sampled_from(["cash", "stored_value", "voucher"]), min_size=1, max_size=4))
    tenders = [
        PaidTender(n, kind, draw(st.integers(1, 10_000)), f"K-{n}" if kind == "stored_value" else None)
        for n, kind in enumerate(kinds)
    ]
    cash = sum(t.amount_fen for t in tenders if t.kind == "cash")
    change = draw(st.integers(0, max(cash - 1, 0))) if cash else 0
    paid = sum(t.amount_fen for t in tenders) - change
    parts = draw(st.lists(st.integers(1, max(paid, 1)), max_size=5))
    returns, left = [], paid
    for part in parts:
        if left and part <= left:
            returns.append(part)
            left -= part
    return tenders, change, returns


@given(sale=sales_and_returns())
def test_over_any_returns_no_tender_gets_back_more_than_it_paid(
    sale: tuple[list[PaidTender], int, list[int]],
) -> None:
    tenders, change, returns = sale
    kept = kept_by_tender(tenders, change)
    refunded: dict[int, int] = {}
    for refund_fen in returns:
        paid = allocate(refund_fen, tenders, change, refunded)
        assert sum(refund.amount_fen for refund in paid) == refund_fen
        for refund in paid:
            refunded[refund.tender_no] = refunded.get(refund.tender_no, 0) + refund.amount_fen
            assert refund.kind == tenders[refund.tender_no].kind
            assert refund.card == tenders[refund.tender_no].card
        assert all(refunded[n] <= kept[n] for n in refunded)


# -- on a real node ----------------------------------------------------------------


async def balance(chain: Chain, url: str, card: str) -> int:
    return int((await chain.get(f"{url}/api/cards/{card}"))["balances"]["stored_value"])


async def test_a_card_paid_sale_returned_goes_back_on_the_card_and_pays_no_cash(chain: Chain) -> None:
    """The chain an attacker tried: pay with someone's card, return the goods, take cash."""
    (till,) = await _ready(chain, "BR01")
    await _member(chain, till, "13900000301", "K-0301", top_up_fen=10_000)
    sold = await chain.post(till.url + "/api/sales", _card_sale("CUP-CERAMIC", 2, "K-0301", 5_000))
    assert await balance(chain, till.url, "K-0301") == 5_000

    returned: dict[str, Any] = await chain.post(
        f"{till.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 2}]}
    )

    assert returned["refund_kind"] == "stored_value"
    assert returned["refunds"] == [
        {"tender_no": 0, "kind": "stored_value", "amount_fen": 5_000, "card": "K-0301"}
    ]
    assert await balance(chain, till.url, "K-0301") == 10_000


async def test_a_split_sale_returned_in_two_refunds_the_card_then_the_cash_kept(chain: Chain) -> None:
    (till,) = await _ready(chain, "BR01")
    await _member(chain, till, "13900000302", "K-0302", top_up_fen=1_000)
    # Two cups, 5,000 fen: 1,000 on the card, 5,000 cash given, 1,000 change: 4,000 cash kept.
    sold = await chain.post(
        till.url + "/api/sales", _card_sale("CUP-CERAMIC", 2, "K-0302", 1_000, cash_fen=5_000)
    )
    assert sold["change_fen"] == 1_000
    url = f"{till.url}/api/sales/{sold['id']}/returns"

    first = await chain.post(url, {"lines": [{"line_no": 0, "qty": 1}]})
    second = await chain.post(url, {"lines": [{"line_no": 0, "qty": 1}]})

    assert [(r["kind"], r["amount_fen"]) for r in first["refunds"]] == [
        ("stored_value", 1_000),
        ("cash", 1_500),
    ]
    assert [(r["kind"], r["amount_fen"]) for r in second["refunds"]] == [("cash", 2_500)]
    assert (first["refund_kind"], second["refund_kind"]) == ("mixed", "cash")
    assert await balance(chain, till.url, "K-0302") == 1_000

    async def at_hq() -> bool:
        found = await chain.get(chain.hq.url + "/api/cards/K-0302")
        return bool(found["balances"]["stored_value"] == 1_000)

    await wait_until(at_hq, "the card's refund to reach HQ")
