"""A node's key speaks for its own branch, in its own time (hq.trust): entries that
claim another branch's warehouse, or are stamped out of order or before the branch
enrolled, are stored and acknowledged, their effects set aside for an operator, and
everything after them still applies."""

from __future__ import annotations

from typing import Any

from hq.errors import BeyondItsBranch
from hq.operators import new_operator
from hq.storage.base import HQStore, OperatorRecord
from hq.trust import BranchFacts, screen
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.limits import MAX_CLOCK_DRIFT_MS
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll, sales

MINUTE_MS = 60_000


def operator_of(branch: str) -> OperatorRecord:
    return new_operator(
        operator_id=f"op-{branch.lower()}",
        login=f"{branch.lower()}-li",
        name=None,
        role="clerk",
        branch=branch,
        password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        now_ms=NOW_MS,
    )


OPERATOR_OF_BR02, OPERATOR_OF_BR03 = operator_of("BR02"), operator_of("BR03")


def moving(warehouse: str, qty: int = -1) -> dict[str, Any]:
    """A stock adjustment's payload shape as far as trust reads it: its moves."""
    return {
        "warehouse": warehouse,
        "moves": [{"warehouse": warehouse, "sku": "CUP", "qty": qty, "cost_fen": 0}],
    }


def entry(seq: int, hlc: int, payload: Any, actor: str = "") -> Entry:
    return encode_entry(
        actor=actor,
        origin="BR03",
        seq=seq,
        hlc=hlc,
        prev_hash=GENESIS_HASH,
        kind="stocktake",
        entity_id=f"E{seq}",
        op="post",
        payload=payload,
    )


FACTS = BranchFacts(
    "BR03", NOW_MS, NOW_MS << 16, frozenset({"BR03-MAIN", "BR03-BACK"}), frozenset({"op-br03-li"})
)


def codes(entries: list[Entry], facts: BranchFacts = FACTS) -> list[str]:
    allowed, refused = screen(entries, facts)
    by_seq = {r.entry.seq: r.refusal.code for r in refused} | {e.seq: "ok" for e in allowed}
    return [by_seq[e.seq] for e in entries]


def test_a_stamp_not_after_the_one_before_it_is_out_of_order() -> None:
    stamp = (NOW_MS + 5) << 16
    assert codes(
        [entry(1, stamp, {}), entry(2, stamp, {}), entry(3, stamp - 1, {}), entry(4, stamp + 1, {})]
    ) == [
        "ok",
        "stamp_out_of_order",
        "stamp_out_of_order",
        "ok",
    ]
    # The first entry of a batch is held to the stored entry before it.
    assert codes([entry(1, NOW_MS << 16, {})]) == ["stamp_out_of_order"]


def test_a_stamp_from_before_enrollment_is_refused_beyond_the_drift_allowed() -> None:
    fresh = BranchFacts("BR03", NOW_MS, 0, frozenset({"BR03-MAIN"}))
    earliest = NOW_MS - MAX_CLOCK_DRIFT_MS
    assert codes([entry(1, earliest << 16, {}), entry(2, (earliest + 1) << 16, {})], fresh) == ["ok", "ok"]
    assert codes([entry(1, (earliest - 1) << 16, {})], fresh) == ["stamp_out_of_order"]
    assert codes([entry(1, 1 << 16, {})], fresh) == ["stamp_out_of_order"]  # 1970


def test_only_the_branchs_own_warehouses_may_be_named() -> None:
    stamps = [(NOW_MS + n) << 16 for n in range(1, 6)]
    entries = [
        entry(1, stamps[0], moving("BR03-MAIN")),
        entry(2, stamps[1], moving("BR03-BACK")),
        entry(3, stamps[2], moving("BR02-MAIN")),
        entry(4, stamps[3], {"warehouse": "BR03-MAIN", "moves": [{"warehouse": "NOWHERE"}]}),
        entry(5, stamps[4], moving("BR03-MAIN")),
    ]
    assert codes(entries) == ["ok", "ok", "beyond_its_branch", "beyond_its_branch", "ok"]
    _, refused = screen(entries, FACTS)
    assert str(refused[0].refusal) == (
        "entry BR03#3 (stocktake/post) names warehouse 'BR02-MAIN', which is not one of BR03's at HQ"
    )
    assert isinstance(refused[0].refusal, BeyondItsBranch)


def test_only_the_branchs_own_operators_may_be_named_as_acting() -> None:
    stamps = [(NOW_MS + n) << 16 for n in range(1, 5)]
    entries = [
        entry(1, stamps[0], moving("BR03-MAIN"), actor="op-br03-li"),
        entry(2, stamps[1], moving("BR03-MAIN")),  # the node's own work: no operator
        entry(3, stamps[2], moving("BR03-MAIN"), actor="op-br02-wang"),
        entry(4, stamps[3], moving("BR03-MAIN"), actor="op-br03-li"),
    ]
    assert codes(entries) == ["ok", "ok", "beyond_its_branch", "ok"]
    _, refused = screen(entries, FACTS)
    assert str(refused[0].refusal) == (
        "entry BR03#3 (stocktake/post) names operator 'op-br02-wang' as acting,"
        " who is not one of BR03's at HQ"
    )


# -- through real ingest -------------------------------------------------------------


async def test_a_branch_moving_another_branchs_stock_is_set_aside_and_the_next_sale_applies(
    store: HQStore,
) -> None:
    br02, br03 = Branch("BR02"), Branch("BR03")
    await enroll(store, br02)
    await enroll(store, br03)
    br02.sell("S1", 2_500)
    await store.ingest(br02.batch(1, 1), NOW_MS, 0)
    before = await store.stock_levels("BR02-MAIN", None)
    forged = {
        "member_id": None,
        "warehouse": "BR02-MAIN",
        "at_ms": NOW_MS,
        "lines": [{"sku": "CUP", "qty": 500, "unit_price_fen": 1, "amount_fen": 500}],
        "tenders": [{"kind": "cash", "amount_fen": 500}],
        "total_fen": 500,
        "change_fen": 0,
        "moves": [{"warehouse": "BR02-MAIN", "sku": "CUP", "qty": -500, "cost_fen": 0, "cause": "sale"}],
    }
    br03.write("sale", "F1", "checkout", forged)
    br03.sell("S2", 1_000)

    result = await store.ingest(br03.batch(1, 2), NOW_MS + 1, 0)

    assert (result.acked_seq, result.applied) == (2, 2)
    assert [(q.seq, q.code) for q in result.quarantined] == [(1, "beyond_its_branch")]
    assert await store.stock_levels("BR02-MAIN", None) == before
    assert await sales(store, "BR03") == (1, 1_000)
    assert [(q.origin, q.seq, q.code) for q in await store.quarantined_effects("BR03")] == [
        ("BR03", 1, "beyond_its_branch")
    ]


async def test_a_sale_naming_another_branchs_operator_is_set_aside(store: HQStore) -> None:
    br02, br03 = Branch("BR02"), Branch("BR03")
    await enroll(store, br02)
    await enroll(store, br03)
    await store.put_operator(OPERATOR_OF_BR02, 0, NOW_MS)
    await store.put_operator(OPERATOR_OF_BR03, 0, NOW_MS)
    sale = br03.sell("S0", 700).payload
    br03.write("sale", "S1", "checkout", sale, actor=OPERATOR_OF_BR03.id)
    br03.write("sale", "S2", "checkout", sale, actor=OPERATOR_OF_BR02.id)  # not BR03's to name
    br03.write("sale", "S3", "checkout", sale, actor="op-nobody-made")

    result = await store.ingest(br03.batch(1, 4), NOW_MS + 1, 0)

    assert result.acked_seq == 4
    assert [(q.seq, q.code) for q in result.quarantined] == [
        (3, "beyond_its_branch"),
        (4, "beyond_its_branch"),
    ]
    assert await sales(store, "BR03") == (2, 1_400)


async def test_a_sale_stamped_1970_and_a_registration_stamped_before_enrollment_apply_nothing(
    store: HQStore,
) -> None:
    br01, br03 = Branch("BR01"), Branch("BR03")
    await enroll(store, br01)
    await enroll(store, br03)
    br01.write("member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "13900000001"})
    await store.ingest(br01.batch(1, 1), NOW_MS, 0)
    # BR03 claims the same phone, stamped long before anyone enrolled, to win the merge.
    early = (NOW_MS - MAX_CLOCK_DRIFT_MS - MINUTE_MS) << 16
    br03.write(
        "member", "M9", "register", {"home_branch": "BR03", "name": "Fake", "phone": "13900000001"}, hlc=early
    )
    br03.sell("S1", 1_000)  # stamped after: HQ holds it to the stamp of the entry before it, which is fine
    result = await store.ingest(br03.batch(1, 2), NOW_MS + 1, 0)

    assert [(q.seq, q.code) for q in result.quarantined] == [(1, "stamp_out_of_order")]
    found = await store.member_by_phone("13900000001")
    assert [(m["id"], m["name"]) for m in found] == [("M1", "Li")]
    assert await sales(store, "BR03") == (1, 1_000)

    br03.write("sale", "S1970", "checkout", {**br03.entries[1].payload, "at_ms": 0}, hlc=1 << 16)
    result = await store.ingest(br03.batch(3, 3), NOW_MS + 2, 0)
    assert [(q.seq, q.code) for q in result.quarantined] == [(3, "stamp_out_of_order")]
    assert await sales(store, "BR03") == (1, 1_000)
    (set_aside,) = [q for q in await store.quarantined_effects("BR03") if q.seq == 3]
    assert set_aside.message.startswith("entry BR03#3 (sale/checkout) is stamped")


async def test_an_early_stamp_cannot_take_over_a_member_hq_already_holds(store: HQStore) -> None:
    br01, br03 = Branch("BR01"), Branch("BR03")
    await enroll(store, br01)
    await enroll(store, br03)
    for n in range(5):
        br01.sell(f"S{n}", 100)
    member = {"home_branch": "BR01", "name": "Li", "phone": "13900000001", "cards": ["K-1"]}
    br01.write("member", "M1", "register", member)  # stamped NOW + 5 ms
    await store.ingest(br01.batch(1, 6), NOW_MS + 10, 0)
    # BR03 claims the same phone and card later, stamped NOW + 1 ms: after its
    # enrollment and in order for BR03, so HQ stores and applies it. By stamps it
    # would be "first" and take the member, its card and whatever follows the survivor.
    claim = {"home_branch": "BR03", "name": "Fake", "phone": "13900000001", "cards": ["K-1", "K-9"]}
    br03.write("member", "M9", "register", claim, hlc=(NOW_MS + 1) << 16)
    result = await store.ingest(br03.batch(1, 1), NOW_MS + 20, 0)

    assert (result.applied, result.quarantined) == (1, ())
    found = await store.member_by_phone("13900000001")
    assert [(m["id"], m["name"], m["aliases"]) for m in found] == [("M1", "Li", ["M9"])]
    card = await store.card("K-1")
    assert card is not None
    assert card["member_id"] == "M1"
    (duplicate,) = await store.conflicts("open")
    assert (duplicate.id, duplicate.subject) == ("duplicate:M9", "M1")
    assert duplicate.details["survivor"]["seen_by_hq"] == 1
    assert duplicate.details["alias"]["seen_by_hq"] == 2
