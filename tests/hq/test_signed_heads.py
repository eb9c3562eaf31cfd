"""HQ keeps every signed head a push brings as a checkpoint, so any entry it holds can
be proven to be the branch's: the entries from it to the first checkpoint at or
after it, that head and the branch's key, checked with the protocol's own functions.

The figures: BR01 pushes sales 1-3 in one batch and 4-5 in another, so HQ keeps the
heads 3 and 5; entry 2 is proven by head 3 (entries 2, 3), entry 4 by head 5.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hq.errors import NotFound, ProofTooLong
from hq.log_proof import LogProof
from hq.storage.base import HQStore
from hq.storage.sqlite import SqliteHQStore, logs
from hq.storage.sqlite.schema import MIGRATIONS
from node.config import read_private_key
from protocol.batch import SignedBatch, verify_batch
from protocol.entry import GENESIS_HASH, check_chain, decode_entry
from protocol.errors import ProtocolError
from protocol.signing import Head, public_key_bytes, verify_head
from tests.harness import Chain
from tests.hq.test_bad_input import push_body, push_ok, sales_log
from tests.hq.test_storage_contract import NOW_MS, Branch, enroll
from tests.protocol.strategies import flip_bit


def verify_proof(proof: dict[str, Any]) -> None:
    """What anyone holding the proof does: decode the entries, check they chain to the
    head, and check the branch signed the head. Raises ProtocolError if any fails."""
    entries = [decode_entry(bytes.fromhex(raw)) for raw in proof["entries"]]
    check_chain(entries, origin=proof["origin"])
    head = Head(proof["origin"], proof["head"]["seq"], bytes.fromhex(proof["head"]["hash"]))
    if entries[0].seq != proof["seq"] or (entries[-1].seq, entries[-1].hash) != (head.seq, head.hash):
        raise ProtocolError(f"the entries run from {entries[0].seq} to {entries[-1].seq}, not to the head")
    verify_head(bytes.fromhex(proof["public_key"]), head, bytes.fromhex(proof["head"]["signature"]))


async def two_pushes(store: HQStore) -> Branch:
    br = Branch("BR01")
    await enroll(store, br)
    for number in range(1, 6):
        br.sell(f"S{number}", 100 * number)
    await store.ingest(br.batch(1, 3), NOW_MS, 0)
    await store.ingest(br.batch(4, 5), NOW_MS + 1, 0)
    return br


async def test_an_entry_is_proven_by_the_first_signed_head_at_or_after_it(store: HQStore) -> None:
    br = await two_pushes(store)

    second = await store.log_proof("BR01", 2)
    fourth = await store.log_proof("BR01", 4)

    assert (second.seq, second.head.seq, second.entries) == (2, 3, (br.entries[1].raw, br.entries[2].raw))
    assert (fourth.head.seq, len(fourth.entries)) == (5, 2)
    assert (await store.log_proof("BR01", 5)).entries == (br.entries[4].raw,)
    assert second.head.signature == br.batch(1, 3).signature
    assert second.public_key == public_key_bytes(br.key)
    for seq in range(1, 6):
        verify_proof((await store.log_proof("BR01", seq)).as_json())


async def test_a_resend_leaves_no_checkpoint_and_an_overlapping_push_leaves_its_head(store: HQStore) -> None:
    br = Branch("BR01")
    await enroll(store, br)
    for number in range(1, 5):
        br.sell(f"S{number}", 100)
    await store.ingest(br.batch(1, 2), NOW_MS, 0)
    await store.ingest(br.batch(1, 2), NOW_MS, 0)  # all held: nothing new, no head kept
    await store.ingest(br.batch(2, 4), NOW_MS, 0)  # 2 held, 3 and 4 new: head 4 kept

    assert [(await store.log_proof("BR01", seq)).head.seq for seq in (1, 2, 3, 4)] == [2, 2, 4, 4]
    assert (await store.log_proof("BR01", 3)).head.signature == br.batch(2, 4).signature


async def test_a_proof_with_any_byte_tampered_fails_to_verify(store: HQStore) -> None:
    await two_pushes(store)
    proof = (await store.log_proof("BR01", 1)).as_json()
    verify_proof(proof)
    raw = bytes.fromhex(proof["entries"][0])
    # Every byte of the proven entry, the head's hash and its signature.
    for bit in range(0, len(raw) * 8, 8):
        tampered = {**proof, "entries": [flip_bit(raw, bit).hex(), *proof["entries"][1:]]}
        with pytest.raises(ProtocolError):
            verify_proof(tampered)
    for field in ("hash", "signature"):
        value = bytes.fromhex(proof["head"][field])
        for bit in range(0, len(value) * 8, 8):
            tampered = {**proof, "head": {**proof["head"], field: flip_bit(value, bit).hex()}}
            with pytest.raises(ProtocolError):
                verify_proof(tampered)


async def test_an_entry_hq_does_not_hold_cannot_be_proven(store: HQStore) -> None:
    await two_pushes(store)
    with pytest.raises(NotFound, match="entries 1 to 5"):
        await store.log_proof("BR01", 6)
    with pytest.raises(NotFound, match="not 0"):
        await store.log_proof("BR01", 0)
    with pytest.raises(NotFound, match="no log of BR77"):
        await store.log_proof("BR77", 1)


async def test_a_proof_longer_than_one_answer_is_refused_not_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteHQStore.open(tmp_path / "hq.sqlite")
    try:
        br = await two_pushes(store)
        # Room for entries 2 and 3, not for the three entry 1 is proven over.
        monkeypatch.setattr(logs, "MAX_PROOF_BYTES", len(br.entries[1].raw) + len(br.entries[2].raw))
        with pytest.raises(ProofTooLong, match="entry 1 of BR01 is proven by its head 3"):
            await store.log_proof("BR01", 1)
        assert len((await store.log_proof("BR01", 2)).entries) == 2
    finally:
        await store.close()


def schema_3_store(path: Path, br: Branch, acked_seq: int) -> None:
    """A store as HQ kept it before schema 4: entries 1..acked_seq of BR01 and only the
    newest head's signature, on the nodes row."""
    batch = br.batch(1, acked_seq)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for script in MIGRATIONS[:3]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("PRAGMA user_version=3")
        conn.execute(
            "INSERT INTO nodes (code, public_key, enrolled_at_ms, acked_seq, head_hash, head_signature,"
            " last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "BR01",
                public_key_bytes(br.key),
                NOW_MS,
                acked_seq,
                batch.head.hash,
                batch.signature,
                NOW_MS + 9,
            ),
        )
        conn.executemany(
            "INSERT INTO log_entries (origin, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)",
            [("BR01", e.seq, e.hlc, e.hash, e.raw) for e in batch.entries],
        )


async def test_an_older_store_upgrades_with_its_newest_head_as_the_first_checkpoint(tmp_path: Path) -> None:
    br = Branch("BR01")
    for number in range(1, 5):
        br.sell(f"S{number}", 100)
    schema_3_store(tmp_path / "hq.sqlite", br, acked_seq=3)
    # Builds of schema 3 created their store 0644; today's refuses one until it is 0600.
    (tmp_path / "hq.sqlite").chmod(0o600)

    store = await SqliteHQStore.open(tmp_path / "hq.sqlite")
    try:
        old: LogProof = await store.log_proof("BR01", 1)
        assert (old.head.seq, len(old.entries)) == (3, 3)
        verify_proof(old.as_json())
        # Pushes after the upgrade keep their heads; the quarantine of effects is there too.
        result = await store.ingest(br.batch(4, 4), NOW_MS + 10, 0)
        assert (result.acked_seq, result.quarantined) == (4, ())
        assert (await store.log_proof("BR01", 4)).head.seq == 4
        assert await store.quarantined_effects(None) == []
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "hq.sqlite")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute(
            "SELECT origin, seq, received_at_ms FROM signed_heads ORDER BY seq"
        ).fetchall() == [
            ("BR01", 3, NOW_MS + 9),
            ("BR01", 4, NOW_MS + 10),
        ]
        assert conn.execute("SELECT head_signature FROM nodes").fetchall() == [(None,)]


# -- the operator's endpoint ----------------------------------------------------------------


async def test_the_proof_endpoint_answers_a_proof_that_verifies(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)
    key = read_private_key(chain.root / "BR01" / "node.key")
    log = sales_log(5)
    await push_ok(chain, push_body(key, log[:3]))
    await push_ok(chain, push_body(key, log[3:]))

    proof = await chain.get(chain.hq.url + "/api/log/BR01/proof", params={"seq": "2"})

    assert sorted(proof) == ["entries", "head", "origin", "public_key", "seq"]
    assert (proof["origin"], proof["seq"], proof["head"]["seq"]) == ("BR01", 2, 3)
    assert proof["entries"] == [log[1].raw.hex(), log[2].raw.hex()]
    verify_proof(proof)
    # The same checks as a batch: the proof is the stretch of the log that head signed.
    entries = tuple(decode_entry(bytes.fromhex(raw)) for raw in proof["entries"])
    signed = SignedBatch("BR01", entries, bytes.fromhex(proof["head"]["signature"]))
    verify_batch(signed, bytes.fromhex(proof["public_key"]))
    assert entries[0].prev_hash == log[0].hash != GENESIS_HASH


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        pytest.param("/api/log/BR01/proof?seq=1", False, 401, "not_logged_in", id="not-logged-in"),
        pytest.param("/api/log/BR01/proof", True, 400, "invalid_query", id="no-seq"),
        pytest.param("/api/log/BR01/proof?seq=one", True, 400, "invalid_query", id="seq-not-a-number"),
        pytest.param("/api/log/BR01/proof?seq=4", True, 404, "not_found", id="beyond-the-log"),
        pytest.param("/api/log/BR77/proof?seq=1", True, 404, "not_found", id="unknown-branch"),
        pytest.param("/api/log/BR%2001/proof?seq=1", True, 400, "malformed", id="not-a-branch-code"),
    ],
)
async def test_the_proof_endpoint_refuses_what_it_cannot_answer(
    chain: Chain, path: str, headers: bool, status: int, code: str
) -> None:
    await chain.add_node("BR01", start=False)
    key = read_private_key(chain.root / "BR01" / "node.key")
    await push_ok(chain, push_body(key, sales_log(3)))
    # Without a session: an empty bearer token, so the chain's session adds none.
    anonymous = {} if headers else {"Authorization": "Bearer "}
    async with chain.session.get(chain.hq.url + path, headers=anonymous) as response:
        assert (response.status, (await response.json())["error"]) == (status, code)
