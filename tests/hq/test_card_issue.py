"""Cards of a type at HQ, on every storage backend: a card sale's entry becomes takings,
a card in the directory filled by its ledger entries, and gifts out of stock; the same
card number sold at two branches apart is set aside, never merged silently; the last
use of a service item spent at two branches is an overdraft naming that item.

The figures: a gold card sold for 1,680,000 fen with 200,000 fen on it, ten haircuts
(SVC-A) and one massage (SVC-B), and two gift boxes costing 16,500 fen each.
"""

from __future__ import annotations

from typing import Any

from hq.storage.base import HQStore
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll, feed, sales


def card_sale(card_id: str, member_id: str, warehouse: str = "BR01-MAIN", **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "at_ms": NOW_MS,
        "card_id": card_id,
        "card_type": "GOLD",
        "change_fen": 0,
        "credit_limit_fen": 0,
        "discount_rate": 90,
        "gifts": [{"cost_fen": 33_000, "qty": 2, "sku": "GIFT-BOX"}],
        "level": "gold",
        "member_id": member_id,
        "moves": [
            {"cause": "sale", "cost_fen": -33_000, "qty": -2, "sku": "GIFT-BOX", "warehouse": warehouse}
        ],
        "price_fen": 1_680_000,
        "services": [],
        "stored_value_fen": 200_000,
        "tenders": [{"amount_fen": 1_680_000, "kind": "cash"}],
        "uses": [{"qty": 10, "sku": "SVC-A"}, {"qty": 1, "sku": "SVC-B"}],
        "valid_from": "2026-11-30",
        "valid_until": "2027-11-29",
    }
    return {**payload, **changes}


def register(branch: Branch, member_id: str, phone: str) -> None:
    branch.write(
        "member", member_id, "register", {"home_branch": branch.code, "name": "Wang", "phone": phone}
    )


def use(branch: Branch, entry_id: str, card_id: str, sku: str, hlc: int | None = None) -> None:
    movement = {
        "card_id": card_id,
        "ledger": "uses",
        "kind": "use",
        "amount": -1,
        "item": sku,
        "sale_id": "S",
    }
    branch.write("ledger", entry_id, "entry", movement, hlc=hlc)


async def test_a_card_sale_is_takings_a_filled_card_and_gifts_out_of_stock(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    register(br01, "M1", "13900000001")
    br01.write("card", "C1", "issue", card_sale("G-0001", "M1"))
    result = await store.ingest(br01.batch(1, 2), NOW_MS, 0)
    assert (result.acked_seq, result.quarantined) == (2, ())

    assert await sales(store, "BR01") == (1, 1_680_000)
    assert (await store.sales_totals("BR01")).cost_fen == 33_000  # the gifts are its cost of goods
    card = await store.card("G-0001")
    assert card is not None
    assert card["member_id"] == "M1"
    assert card["balances"]["stored_value"] == 200_000
    assert card["uses"] == {"SVC-A": 10, "SVC-B": 1}
    assert card["card_type"]["valid_until"] == "2027-11-29"
    [gifts] = await store.stock_levels("BR01-MAIN", "GIFT-BOX")
    assert (gifts.qty, gifts.cost_fen) == (-2, -33_000)
    # BR02 learns the card and what fills it: the card record and three ledger entries.
    forwarded = [e.payload for e in await feed(store, "BR02") if (e.kind, e.op) == ("directory", "record")]
    types = sorted(p["type"] for p in forwarded)
    assert types.count("card") == 1
    assert types.count("ledger") == 3


async def test_one_card_number_sold_at_two_branches_apart_is_queued_and_its_takings_booked(
    store: HQStore,
) -> None:
    """BR01 sells G-0001 to M1, BR02 (apart) sells G-0001 to M2: HQ hears BR01 first. BR02's
    sale is takings like any (1,680,000, and the cup after it 2,500), but its card and what
    it put on the card (200,000 of stored value, 10 x SVC-A, 1 x SVC-B) would land on M1's
    card: they are left out and the pair is a card_sold_twice in the queue, naming what
    M2 must be given on another card. M1's card is as BR01 sold it, and BR02's feed does
    not hear of M2's card (its own till holds it)."""
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    register(br01, "M1", "13900000001")
    br01.write("card", "C1", "issue", card_sale("G-0001", "M1"))
    register(br02, "M2", "13900000002")
    br02.write("card", "C2", "issue", card_sale("G-0001", "M2", "BR02-MAIN"))
    br02.sell("S1", 2_500)
    await store.ingest(br01.batch(1, 2), NOW_MS, 0)

    result = await store.ingest(br02.batch(1, 3), NOW_MS, 0)

    assert result.acked_seq == 3
    assert not result.quarantined
    assert await sales(store, "BR02") == (2, 1_682_500)
    card = await store.card("G-0001")
    assert card is not None
    assert card["member_id"] == "M1"
    assert card["balances"]["stored_value"] == 200_000
    assert card["uses"] == {"SVC-A": 10, "SVC-B": 1}
    (conflict,) = await store.conflicts("open")
    assert (conflict.kind, conflict.subject, conflict.branches, conflict.amount_fen) == (
        "card_sold_twice",
        "G-0001",
        ("BR01", "BR02"),
        200_000,
    )
    assert conflict.details["refused"] == {
        "branch": "BR02",
        "member_id": "M2",
        "card_type": "GOLD",
        "stored_value_fen": 200_000,
        "uses": {"SVC-A": 10, "SVC-B": 1},
        "entries": ["C2-sv", "C2-u0", "C2-u1"],
    }
    assert "give M2 another card with 200000 fen of stored value, 10 x SVC-A, 1 x SVC-B" in conflict.summary
    # Delivered again, nothing changes: one conflict, the same card.
    await store.ingest(br02.batch(1, 3), NOW_MS, 0)
    assert [c.id for c in await store.conflicts("open")] == [conflict.id]


async def test_the_last_use_spent_at_two_branches_is_an_overdraft_naming_the_item(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    register(br01, "M1", "13900000001")
    br01.write("card", "C1", "issue", card_sale("G-0001", "M1"))
    use(br01, "U1", "G-0001", "SVC-B")
    use(br01, "U2", "G-0001", "SVC-A")
    use(br02, "U3", "G-0001", "SVC-B", hlc=(NOW_MS + 10) << 16)  # after BR01's, unseen there
    await store.ingest(br01.batch(1, 4), NOW_MS, 0)
    await store.ingest(br02.batch(1, 1), NOW_MS, 0)

    card = await store.card("G-0001")
    assert card is not None
    assert card["uses"] == {"SVC-A": 9, "SVC-B": -1}
    [conflict] = await store.conflicts("open")
    assert conflict.kind == "overdraft"
    assert "U3" in conflict.id
    assert conflict.subject == "G-0001"
