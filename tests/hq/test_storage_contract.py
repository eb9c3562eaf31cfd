"""The contract every HQ storage backend keeps, run against each backend.

The `store` fixture (tests/hq/conftest.py) opens each backend in turn. SQLite is the
only backend today; a PostgreSQL backend joins `BACKENDS` there and must pass every
test here unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hq.errors import EnrollmentRefused, Quarantined, UnknownBranch
from hq.storage.base import FeedChange, HQStore, Product
from protocol.batch import SignedBatch, sign_batch
from protocol.entry import GENESIS_HASH, Entry, check_chain, decode_entry, encode_entry
from protocol.errors import ForkedLog, SequenceGap
from protocol.signing import generate_private_key, public_key_bytes

NOW_MS = 1_795_000_000_000
DAY_MS = 24 * 3600 * 1000


class Branch:
    """A branch's side of the log: its key and the entries it has written."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.key: Ed25519PrivateKey = generate_private_key()
        self.entries: list[Entry] = []

    def write(
        self, kind: str, entity_id: str, op: str, payload: Any, *, hlc: int | None = None, actor: str = ""
    ) -> Entry:
        previous = self.entries[-1] if self.entries else None
        entry = encode_entry(
            origin=self.code,
            seq=len(self.entries) + 1,
            hlc=(NOW_MS + len(self.entries)) << 16 if hlc is None else hlc,
            prev_hash=previous.hash if previous else GENESIS_HASH,
            kind=kind,
            entity_id=entity_id,
            op=op,
            payload=payload,
            actor=actor,
        )
        self.entries.append(entry)
        return entry

    def sell(self, sale_id: str, total_fen: int) -> Entry:
        return self.write(
            "sale",
            sale_id,
            "checkout",
            {
                "member_id": None,
                "warehouse": f"{self.code}-MAIN",
                "at_ms": NOW_MS,
                "lines": [{"sku": "CUP", "qty": 1, "unit_price_fen": total_fen, "amount_fen": total_fen}],
                "tenders": [{"kind": "cash", "amount_fen": total_fen}],
                "total_fen": total_fen,
                "change_fen": 0,
            },
        )

    def batch(self, first: int, last: int) -> SignedBatch:
        return sign_batch(self.key, self.code, self.entries[first - 1 : last])


async def enroll(store: HQStore, branch: Branch) -> None:
    await store.add_enroll_token(branch.code, f"hash-{branch.code}", NOW_MS + DAY_MS)
    await store.redeem_enroll_token(
        f"hash-{branch.code}", branch.code, public_key_bytes(branch.key), NOW_MS, NOW_MS
    )


async def sales(store: HQStore, branch: str) -> tuple[int, int]:
    """The branch's sales at HQ: how many, and their total in fen."""
    totals = await store.sales_totals(branch)
    return totals.count, totals.total_fen


async def feed(store: HQStore, code: str) -> list[Entry]:
    raws, available = await store.feed_after(code, 0, 10_000, 10_000_000)
    entries = [decode_entry(raw) for raw in raws]
    assert len(entries) == available
    check_chain(entries, origin=f"hq:{code}", prev_hash=GENESIS_HASH)
    return entries


async def test_a_token_enrolls_once_before_it_expires(store: HQStore) -> None:
    key = public_key_bytes(generate_private_key())

    async def refusal(token: str, branch: str, now_ms: int) -> str:
        with pytest.raises(EnrollmentRefused) as refused:
            await store.redeem_enroll_token(token, branch, key, now_ms, NOW_MS)
        return refused.value.reason

    await store.add_enroll_token("BR01", "h1", NOW_MS + 1000)
    assert "expired" in await refusal("h1", "BR01", NOW_MS + 1001)
    await store.add_enroll_token("BR01", "h2", NOW_MS + 1000)
    assert "not BR02" in await refusal("h2", "BR02", NOW_MS)
    await store.redeem_enroll_token("h2", "BR01", key, NOW_MS, NOW_MS)
    assert "already used" in await refusal("h2", "BR01", NOW_MS)
    assert "unknown" in await refusal("nope", "BR01", NOW_MS)


async def test_a_new_branch_feed_starts_with_the_catalogue(store: HQStore) -> None:
    await store.upsert_master([Product("A", "Apple", 300), Product("B", "Bread", 850)], NOW_MS)
    await enroll(store, Branch("BR01"))
    entries = await feed(store, "BR01")
    assert [(e.kind, e.entity_id, e.payload["price_fen"]) for e in entries] == [
        ("product", "A", 300),
        ("product", "B", 850),
    ]
    await store.upsert_master([Product("A", "Apple", 320)], NOW_MS)
    assert [e.payload["price_fen"] for e in await feed(store, "BR01")] == [300, 850, 320]


async def test_ingest_applies_once_and_skips_identical_resends(store: HQStore) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    for number, fen in enumerate([1000, 2550, 399], start=1):
        br.sell(f"S{number}", fen)
    first = await store.ingest(br.batch(1, 2), NOW_MS, 1)
    assert (first.acked_seq, first.applied, first.duplicates) == (2, 2, 0)
    overlapping = await store.ingest(br.batch(1, 3), NOW_MS, 0)
    assert (overlapping.acked_seq, overlapping.applied, overlapping.duplicates) == (3, 1, 2)
    again = await store.ingest(br.batch(2, 3), NOW_MS, 0)
    assert (again.acked_seq, again.applied, again.duplicates) == (3, 0, 2)
    # 10.00 + 25.50 + 3.99 yuan, each counted once.
    assert await sales(store, "BR01") == (3, 3949)
    assert await store.log_entries("BR01", 1, 3) == [e.raw for e in br.entries]


async def test_a_batch_beyond_the_next_sequence_is_a_gap(store: HQStore) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    for number in range(4):
        br.sell(f"S{number}", 100)
    await store.ingest(br.batch(1, 2), NOW_MS, 0)
    with pytest.raises(SequenceGap) as gap:
        await store.ingest(br.batch(4, 4), NOW_MS, 0)
    assert gap.value.expected_seq == 3
    assert await sales(store, "BR01") == (2, 200)


async def test_a_different_entry_under_a_known_sequence_quarantines_and_changes_nothing(
    store: HQStore,
) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    br.sell("S1", 100)
    br.sell("S2", 200)
    await store.ingest(br.batch(1, 2), NOW_MS, 0)
    br.entries.pop()
    br.sell("S2-forged", 99_999)
    with pytest.raises(ForkedLog, match="quarantined"):
        await store.ingest(br.batch(2, 2), NOW_MS, 0)
    branch = await store.branch("BR01")
    assert branch is not None
    assert branch.quarantined_reason is not None
    assert branch.acked_seq == 2
    assert await sales(store, "BR01") == (2, 300)
    br.sell("S3", 300)
    with pytest.raises(Quarantined):
        await store.ingest(br.batch(3, 3), NOW_MS, 0)


async def test_member_writes_merge_and_reach_every_other_branch_and_hqs_order_reaches_all(
    store: HQStore,
) -> None:
    a, b, c = Branch("BR01"), Branch("BR02"), Branch("BR03")
    for branch in (a, b, c):
        await enroll(store, branch)
    a.write("member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "13900000001"})
    result = await store.ingest(a.batch(1, 1), NOW_MS, 0)
    assert result.feeds_grown == ("BR01", "BR02", "BR03")
    sighting = {"type": "sighting", "record": ["M1", 1]}
    # The writer holds its registration; it learns only where HQ put it in its order.
    assert [(e.entity_id, e.payload) for e in await feed(store, "BR01")] == [("sighting:M1", sighting)]
    b_feed = await feed(store, "BR02")
    # The profile, the registration record the directory merges duplicates by, and
    # HQ's sighting of it (the order duplicates survive in).
    assert [(e.kind, e.op, e.entity_id) for e in b_feed] == [
        ("member", "upsert", "M1"),
        ("directory", "record", "registration:M1"),
        ("directory", "record", "sighting:M1"),
    ]
    assert b_feed[0].payload["profile"]["name"][0] == "Li"
    assert b_feed[1].payload == {
        "type": "registration",
        "record": ["M1", "13900000001", [], NOW_MS << 16, "BR01"],
    }
    assert b_feed[2].payload == sighting
    found = await store.member_by_phone("13900000001")
    assert [(m["id"], m["home_branch"], m["name"]) for m in found] == [("M1", "BR01", "Li")]

    b.write("member", "M2", "register", {"home_branch": "BR02", "name": "Wu", "phone": "13900000002"})
    await store.ingest(b.batch(1, 1), NOW_MS, 0)
    assert [e.payload for e in await feed(store, "BR01")][-1] == {"type": "sighting", "record": ["M2", 2]}


async def test_the_feed_is_paged_by_count_and_bytes(store: HQStore) -> None:
    await enroll(store, Branch("BR01"))
    await store.publish(
        [FeedChange("note", f"N{n}", "upsert", {"text": "x" * 1000}) for n in range(10)], NOW_MS
    )
    raws, available = await store.feed_after("BR01", 0, 4, 10_000_000)
    assert (len(raws), available) == (4, 10)
    raws, _ = await store.feed_after("BR01", 4, 100, 2_500)
    assert len(raws) == 2, "a page stops before the byte budget, but always holds one entry"
    raws, _ = await store.feed_after("BR01", 10, 100, 10_000_000)
    assert raws == []


async def test_unknown_branches_are_refused(store: HQStore) -> None:
    stranger = Branch("BR99")
    stranger.sell("S1", 100)
    with pytest.raises(UnknownBranch):
        await store.ingest(stranger.batch(1, 1), NOW_MS, 0)
    assert await store.branch("BR99") is None


async def test_a_separation_regroups_and_leaves_the_other_duplicates_queued(store: HQStore) -> None:
    branches = [Branch(code) for code in ("BR01", "BR02", "BR03")]
    for branch in branches:
        await enroll(store, branch)
    # The same phone registered at three branches while apart, BR01's first.
    for number, branch in enumerate(branches, start=1):
        branch.write(
            "member",
            f"M{number}",
            "register",
            {"home_branch": branch.code, "name": "Xu", "phone": "13900000777", "cards": [f"K-{number}"]},
        )
        await store.ingest(branch.batch(1, 1), NOW_MS, 0)
    queued = {c.id: c for c in await store.conflicts("open")}
    assert sorted(queued) == ["duplicate:M2", "duplicate:M3"]
    assert {c.subject for c in queued.values()} == {"M1"}

    resolved, feeds = await store.resolve_conflict("duplicate:M2", "separate", "two people", "ops-li", NOW_MS)
    assert (resolved.state, feeds) == ("resolved", ["BR01", "BR02", "BR03"])
    # M2 is apart from M1, so not through M3 either; M3 stays M1's alias.
    assert [c.id for c in await store.conflicts("open")] == ["duplicate:M3"]
    assert (await store.member("M2"))["aliases"] == []  # type: ignore[index]
    assert (await store.member("M3"))["id"] == "M1"  # type: ignore[index]
    tail = [(e.kind, e.op) for e in (await feed(store, "BR03"))[-2:]]
    assert tail == [("directory", "record"), ("conflict", "resolve")]


async def test_the_directory_digest_follows_every_change_and_is_computed_once_per_state(
    store: HQStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_bytes = store.directory_bytes
    computed: list[bytes] = []

    async def counted() -> bytes:
        data = await real_bytes()
        computed.append(data)
        return data

    monkeypatch.setattr(store, "directory_bytes", counted)
    # Thirty callers at once, then one more: one computation, shared.
    answers = await asyncio.gather(*(store.directory_digest() for _ in range(30)))
    empty = await store.directory_digest()
    assert set(answers) == {empty}
    assert len(computed) == 1
    assert empty == (hashlib.sha256(computed[0]).hexdigest(), len(computed[0]))

    br = Branch("BR01")
    await enroll(store, br)
    br.write("member", "M1", "register", {"home_branch": "BR01", "name": "Li", "phone": "13900000001"})
    await store.ingest(br.batch(1, 1), NOW_MS, 0)
    grown = await store.directory_digest()
    assert grown != empty
    assert grown == (hashlib.sha256(await real_bytes()).hexdigest(), len(await real_bytes()))
    # PostgreSQL also announces the change to every process, this one included; by now
    # the announcement has arrived, and a process's own write is not a second change.
    await asyncio.sleep(0.3)
    assert await store.directory_digest() == grown
    assert len(computed) == 2
