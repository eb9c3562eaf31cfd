"""A validly signed entry never wedges a branch's replication: what HQ cannot apply for a
business reason is stored verbatim and acknowledged, its effect set aside with the
refusal's code, and the entries after it are applied.

Each path of refusal has its worked example, run against every storage backend: a
payload HQ cannot read, a figure beyond HQ's bounds, a sale id booked twice, two
different directory records under one id. The figures: BR01 sells cups at 25.00.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hq.plan import MAX_SALE_TOTAL_FEN
from hq.storage.base import HQStore
from hq.storage.sqlite import SqliteHQStore, reports
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll, feed, sales

CUP_FEN = 2_500


def sale_payload(total_fen: Any = CUP_FEN, warehouse: str = "BR01-MAIN") -> dict[str, Any]:
    return {
        "member_id": None,
        "warehouse": warehouse,
        "at_ms": NOW_MS,
        "lines": [{"sku": "CUP", "qty": 1, "unit_price_fen": CUP_FEN, "amount_fen": CUP_FEN}],
        "tenders": [{"kind": "cash", "amount_fen": CUP_FEN}],
        "total_fen": total_fen,
        "change_fen": 0,
    }


async def set_aside(store: HQStore) -> list[tuple[str, int, str, str, str]]:
    return [(q.origin, q.seq, q.kind, q.op, q.code) for q in await store.quarantined_effects(None)]


async def test_an_entry_whose_payload_hq_cannot_read_is_stored_acknowledged_and_not_applied(
    store: HQStore,
) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    br.sell("S1", CUP_FEN)
    br.write("sale", "S2", "checkout", sale_payload(total_fen="2500"))  # text where fen must be
    br.sell("S3", CUP_FEN)

    result = await store.ingest(br.batch(1, 3), NOW_MS, 0)

    assert (result.acked_seq, result.applied, result.duplicates) == (3, 3, 0)
    assert [(q.seq, q.code) for q in result.quarantined] == [(2, "payload_invalid")]
    assert "BR01#2" in result.quarantined[0].message
    assert "total_fen must be an integer" in result.quarantined[0].message
    # S1 and S3 count; S2 is held verbatim but adds nothing.
    assert await sales(store, "BR01") == (2, 5_000)
    assert await store.log_entries("BR01", 1, 3) == [e.raw for e in br.entries]
    assert await set_aside(store) == [("BR01", 2, "sale", "checkout", "payload_invalid")]
    branch = await store.branch("BR01")
    assert branch is not None
    assert (branch.acked_seq, branch.effects_quarantined, branch.quarantined_reason) == (3, 1, None)


async def test_an_entry_beyond_hqs_bounds_is_set_aside_and_the_next_batch_applies(store: HQStore) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    br.write("sale", "S1", "checkout", sale_payload(total_fen=MAX_SALE_TOTAL_FEN + 1))
    assert (await store.ingest(br.batch(1, 1), NOW_MS, 0)).acked_seq == 1

    br.sell("S2", CUP_FEN)
    result = await store.ingest(br.batch(2, 2), NOW_MS, 0)

    assert (result.acked_seq, result.quarantined) == (2, ())
    assert await sales(store, "BR01") == (1, CUP_FEN)
    (effect,) = await store.quarantined_effects("BR01")
    assert (effect.seq, effect.entity_id, effect.code) == (1, "S1", "out_of_bounds")
    assert f"outside 0..{MAX_SALE_TOTAL_FEN}" in effect.message
    assert effect.at_ms == NOW_MS


async def test_a_sale_id_booked_twice_sets_the_second_aside_and_applies_the_rest_once(store: HQStore) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    br.sell("S1", 1_000)
    br.sell("S1", 9_900)  # a broken node minting one sale id twice
    br.sell("S3", 300)

    result = await store.ingest(br.batch(1, 3), NOW_MS, 0)

    assert result.acked_seq == 3
    assert [(q.seq, q.code) for q in result.quarantined] == [(2, "record_conflict")]
    # The first S1 and S3, each once: the slow path applies nothing twice.
    assert await sales(store, "BR01") == (2, 1_300)
    assert await set_aside(store) == [("BR01", 2, "sale", "checkout", "record_conflict")]


async def test_a_sale_id_booked_by_an_earlier_batch_is_set_aside(store: HQStore) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    br.sell("S1", 1_000)
    await store.ingest(br.batch(1, 1), NOW_MS, 0)
    br.sell("S1", 1_000)
    br.sell("S3", 300)

    result = await store.ingest(br.batch(2, 3), NOW_MS + 1, 0)

    assert (result.acked_seq, [(q.seq, q.code) for q in result.quarantined]) == (3, [(2, "record_conflict")])
    assert await sales(store, "BR01") == (2, 1_300)


def top_up(br: Branch, entry_id: str, amount_fen: int) -> None:
    br.write(
        "ledger",
        entry_id,
        "entry",
        {"card_id": "K-1", "ledger": "stored_value", "kind": "top_up", "amount": amount_fen},
    )


async def test_two_different_directory_records_under_one_id_set_the_second_aside(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    br01.write(
        "member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "139", "cards": ["K-1"]}
    )
    top_up(br01, "L1", 5_000)
    top_up(br01, "L1", 50_000)  # the same entry id, another amount
    top_up(br01, "L2", 1_000)

    result = await store.ingest(br01.batch(1, 4), NOW_MS, 0)

    assert result.acked_seq == 4
    assert [(q.seq, q.code) for q in result.quarantined] == [(3, "ledger_entry_conflict")]
    card = await store.card("K-1")
    assert card is not None
    assert card["balances"]["stored_value"] == 6_000
    # BR02 learns the member and the two top-ups that count, and not the clashing one.
    forwarded = [
        (e.kind, e.entity_id) for e in await feed(store, "BR02") if e.kind in ("member", "directory")
    ]
    assert forwarded == [
        ("member", "M1"),
        ("directory", "registration:M1"),
        ("directory", "sighting:M1"),
        ("directory", "ledger:L1"),
        ("directory", "ledger:L2"),
    ]
    assert await set_aside(store) == [("BR01", 3, "ledger", "entry", "ledger_entry_conflict")]


async def test_an_entry_set_aside_changes_nothing_even_what_it_would_have_written_first(
    store: HQStore,
) -> None:
    """A second registration under M1's id would rename the member before its record
    clashes; set aside, it renames nobody and tells no branch."""
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    br01.write(
        "member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "139", "cards": ["K-1"]}
    )
    br01.write(
        "member", "M1", "register", {"home_branch": "BR01", "name": "Wang", "phone": "138", "cards": ["K-2"]}
    )
    br01.sell("S3", CUP_FEN)

    result = await store.ingest(br01.batch(1, 3), NOW_MS, 0)

    assert [(q.seq, q.code) for q in result.quarantined] == [(2, "registration_conflict")]
    member = await store.member("M1")
    assert member is not None
    assert (member["name"], member["phone"]) == ("Li", "139")
    assert [e.payload["profile"]["name"][0] for e in await feed(store, "BR02") if e.kind == "member"] == [
        "Li"
    ]
    assert await sales(store, "BR01") == (1, CUP_FEN)


async def test_effects_set_aside_are_listed_newest_first_and_by_branch(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    br01.write("sale", "S1", "checkout", ["not", "a", "map"])
    await store.ingest(br01.batch(1, 1), NOW_MS, 0)
    br02.write("sale", "S1", "checkout", sale_payload(total_fen=-1, warehouse="BR02-MAIN"))
    await store.ingest(br02.batch(1, 1), NOW_MS + 1_000, 0)
    br01.write("sale", "S2", "checkout", sale_payload(total_fen=None))
    await store.ingest(br01.batch(2, 2), NOW_MS + 2_000, 0)

    assert await set_aside(store) == [
        ("BR01", 2, "sale", "checkout", "payload_invalid"),
        ("BR02", 1, "sale", "checkout", "payload_invalid"),
        ("BR01", 1, "sale", "checkout", "payload_invalid"),
    ]
    assert [q.seq for q in await store.quarantined_effects("BR01")] == [2, 1]
    assert [(b.code, b.effects_quarantined) for b in await store.branches()] == [("BR01", 2), ("BR02", 1)]


async def test_a_resend_of_an_entry_set_aside_is_a_duplicate_and_sets_nothing_aside_again(
    store: HQStore,
) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    br.write("sale", "S1", "checkout", sale_payload(total_fen="lots"))
    await store.ingest(br.batch(1, 1), NOW_MS, 0)

    again = await store.ingest(br.batch(1, 1), NOW_MS + 1, 0)

    assert (again.acked_seq, again.applied, again.duplicates, again.quarantined) == (1, 0, 1, ())
    assert len(await store.quarantined_effects(None)) == 1


async def test_a_bug_of_ours_while_applying_fails_the_push_loudly_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: Any, sales: Any) -> None:
        raise ZeroDivisionError("a bug in HQ")

    monkeypatch.setattr(reports, "record_sales", broken)
    store = await SqliteHQStore.open(tmp_path / "hq.sqlite")
    try:
        br = Branch("BR01")
        await enroll(store, br)
        br.sell("S1", CUP_FEN)

        with pytest.raises(ZeroDivisionError):
            await store.ingest(br.batch(1, 1), NOW_MS, 0)

        branch = await store.branch("BR01")
        assert branch is not None
        assert (branch.acked_seq, branch.effects_quarantined) == (0, 0)
        assert await store.log_entries("BR01", 1, 1) == []
    finally:
        await store.close()
