"""HQ refuses bad input from nodes with a JSON error a person can act on, and changes nothing.

Each batch is crafted by hand and signed with BR01's real key (read from its data
folder), so a test controls exactly which byte, signature, sequence or clock is wrong.
BR01 is enrolled but not started: no replicator pushes behind the test's back.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hq.api import HQ_KEY
from node.config import load_config, read_private_key
from node.sync.hq_client import auth_header
from node.sync.replicator import wall_ms
from protocol import hlc, messages
from protocol.batch import SignedBatch, sign_batch, verify_batch
from protocol.entry import GENESIS_HASH, Entry, decode_entry, encode_entry
from protocol.limits import MAX_BATCH_ENTRIES, MAX_CLOCK_DRIFT_MS, MAX_MESSAGE_BYTES
from protocol.signing import generate_private_key, public_key_bytes, sign_backlog, sign_request
from tests.harness import Chain, hq_rows

MSGPACK = "application/x-msgpack"
CUP_PRICE_FEN = 2500  # CUP-CERAMIC, 25.00 yuan in the demo catalogue
# Ten minutes before the tests run: in the past, well inside any drift bound, and
# within the drift HQ allows before a branch's enrollment (hq.trust).
SOLD_AT_MS = time.time_ns() // 1_000_000 - 10 * 60_000
ALL_SEQS = 1_000_000_000  # an upper bound when reading a whole log


# -- crafting BR01's log ---------------------------------------------------------


def cup_sale(qty: int) -> dict[str, Any]:
    """The payload node/checkout.py records for a cash sale of `qty` cups, paid exactly."""
    amount_fen = CUP_PRICE_FEN * qty
    return {
        "member_id": None,
        "warehouse": "BR01-MAIN",
        "lines": [
            {"sku": "CUP-CERAMIC", "qty": qty, "unit_price_fen": CUP_PRICE_FEN, "amount_fen": amount_fen}
        ],
        "tenders": [{"kind": "cash", "amount_fen": amount_fen}],
        "total_fen": amount_fen,
        "change_fen": 0,
        "at_ms": SOLD_AT_MS,
    }


def sale_entry(
    seq: int,
    prev_hash: bytes,
    payload: Any = None,
    *,
    origin: str = "BR01",
    stamped_ms: int = SOLD_AT_MS,
) -> Entry:
    """Sale number `seq`; unless told otherwise it sells `seq` cups."""
    return encode_entry(
        origin=origin,
        seq=seq,
        hlc=hlc.pack(stamped_ms, seq),
        prev_hash=prev_hash,
        kind="sale",
        entity_id=f"sale-{origin}-{seq}",
        op="checkout",
        payload=cup_sale(seq) if payload is None else payload,
    )


def sales_log(last_seq: int, *, origin: str = "BR01") -> list[Entry]:
    """Entries 1..last_seq, chained; sale n sells n cups, so 1..n total 2500 x n(n+1)/2 fen."""
    entries: list[Entry] = []
    prev_hash = GENESIS_HASH
    for seq in range(1, last_seq + 1):
        entries.append(sale_entry(seq, prev_hash, origin=origin))
        prev_hash = entries[-1].hash
    return entries


def push_body(key: Ed25519PrivateKey, entries: list[Entry], origin: str = "BR01") -> bytes:
    batch = sign_batch(key, origin, entries)
    return messages.encode(messages.PushRequest(batch, reported_backlog=0))


def with_byte_flipped(entry: Entry, at: int) -> Entry:
    raw = bytearray(entry.raw)
    raw[at] ^= 0x01
    return decode_entry(bytes(raw))


def total_fen_high_byte(entry: Entry) -> int:
    """Offset of the high byte of total_fen (a msgpack uint16: 0xcd, high, low)."""
    at = entry.raw.index(b"total_fen") + len(b"total_fen")
    assert entry.raw[at] == 0xCD, "total_fen is expected to encode as a uint16"
    return at + 1


# -- talking to HQ ---------------------------------------------------------------


@pytest.fixture
async def br01_key(chain: Chain) -> Ed25519PrivateKey:
    await chain.add_node("BR01", start=False)
    return read_private_key(chain.root / "BR01" / "node.key")


async def push_ok(chain: Chain, body: bytes) -> messages.PushAck:
    async with chain.session.post(
        chain.hq.url + "/api/push", data=body, headers={"Content-Type": MSGPACK}
    ) as response:
        data = await response.read()
        assert response.status == 200, f"push: {response.status} {data[:300]!r}"
        assert response.content_type == MSGPACK
    ack = messages.decode(data)
    assert isinstance(ack, messages.PushAck)
    return ack


async def refused(
    chain: Chain,
    path: str,
    body: bytes = b"",
    *,
    content_type: str = MSGPACK,
    method: str = "POST",
    **kwargs: Any,
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a refusal; asserts the body is `{"error": code, "message": text}`."""
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    async with chain.session.request(
        method, chain.hq.url + path, data=body, headers=headers, **kwargs
    ) as response:
        status = response.status
        assert response.content_type == "application/json", f"{status} {await response.read()!r}"
        refusal = await response.json()
    assert isinstance(refusal, dict), refusal
    assert {"error", "message"} <= refusal.keys(), refusal
    assert isinstance(refusal["error"], str), refusal
    assert isinstance(refusal["message"], str), refusal
    assert refusal["message"], refusal
    return status, refusal


async def effects_set_aside(chain: Chain) -> list[dict[str, Any]]:
    """HQ's quarantine of effects, as an operator lists it."""
    listing = await chain.get(chain.hq.url + "/api/quarantine")
    found: list[dict[str, Any]] = listing["quarantined"]
    return found


async def hq_state(chain: Chain) -> dict[str, Any]:
    """Everything a push or a feed read could change at HQ, as HQ reports or stores it."""
    store = chain.hq.app[HQ_KEY].store
    rows = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    summary = await chain.get(chain.hq.url + "/api/sales/summary")
    shown = ("acked_seq", "last_seen", "backlog", "quarantined", "quarantine_reason")
    return {
        "branches": {row["code"]: {name: row[name] for name in shown} for row in rows},
        "sales": (summary["count"], summary["total_fen"]),
        "logs": {row["code"]: await store.log_entries(row["code"], 1, ALL_SEQS) for row in rows},
        "feeds": {
            row["code"]: (await store.feed_after(row["code"], 0, 1, MAX_MESSAGE_BYTES))[1] for row in rows
        },
        "forks": (await hq_rows(chain, "SELECT COUNT(*) FROM forks"))[0][0],
    }


# -- tampering and foreign signatures ----------------------------------------------


async def test_the_backlog_a_push_reports_counts_only_signed_by_the_branch_for_that_push(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(4)

    def pushed(entries: list[Entry], backlog: int, signature: bytes) -> bytes:
        return messages.encode(
            messages.PushRequest(sign_batch(br01_key, "BR01", entries), backlog, signature)
        )

    await push_ok(chain, pushed(log[:1], 3, sign_backlog(br01_key, "BR01", 1, 3)))
    assert (await hq_state(chain))["branches"]["BR01"]["backlog"] == 3
    before = await hq_state(chain)
    # Changed on the way (the signature is for 3), or replayed from another push: refused whole.
    for forged in (pushed(log[1:2], 0, sign_backlog(br01_key, "BR01", 2, 3)),
                   pushed(log[1:2], 3, sign_backlog(br01_key, "BR01", 1, 3))):  # fmt: skip
        status, refusal = await refused(chain, "/api/push", forged)
        assert (status, refusal["error"]) == (401, "bad_signature")
        assert "the backlog BR01 reported" in refusal["message"]
        assert await hq_state(chain) == before
    # A push without the signature (an older node) is taken, its backlog not: HQ keeps its figure.
    await push_ok(chain, pushed(log[1:2], 0, b""))
    after = await hq_state(chain)
    assert (after["branches"]["BR01"]["acked_seq"], after["branches"]["BR01"]["backlog"]) == (2, 3)
    await push_ok(chain, pushed(log[2:4], 0, sign_backlog(br01_key, "BR01", 4, 0)))
    assert (await hq_state(chain))["branches"]["BR01"]["backlog"] == 0


async def test_batch_with_a_flipped_byte_in_its_head_entry_is_refused_401_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(3)
    await push_ok(chain, push_body(br01_key, log[:2]))
    before = await hq_state(chain)
    signed = sign_batch(br01_key, "BR01", [log[2]])
    # Sale 3 is 3 cups, total_fen 7500 = 0x1D4C; flipping one bit of the high byte makes it 0x1C4C = 7244.
    tampered = with_byte_flipped(log[2], total_fen_high_byte(log[2]))
    assert tampered.payload["total_fen"] == 7244
    body = messages.encode(messages.PushRequest(SignedBatch("BR01", (tampered,), signed.signature), 0))

    status, refusal = await refused(chain, "/api/push", body)

    assert (status, refusal["error"]) == (401, "bad_signature")
    assert "signature does not verify" in refusal["message"]
    assert await hq_state(chain) == before
    assert before["sales"] == (2, 2500 * (1 + 2))


async def test_batch_with_a_flipped_byte_before_its_head_is_refused_422_chain_broken_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(4)
    await push_ok(chain, push_body(br01_key, log[:2]))
    before = await hq_state(chain)
    signed = sign_batch(br01_key, "BR01", log[2:4])
    # The head (entry 4) is intact and its signature verifies, but entry 4 no longer
    # links to the altered entry 3: the chain check names the break.
    tampered = with_byte_flipped(log[2], total_fen_high_byte(log[2]))
    body = messages.encode(messages.PushRequest(SignedBatch("BR01", (tampered, log[3]), signed.signature), 0))

    status, refusal = await refused(chain, "/api/push", body)

    assert (status, refusal["error"]) == (422, "chain_broken")
    assert "entry 4 does not link to entry 3" in refusal["message"]
    assert await hq_state(chain) == before


async def test_batch_signed_by_another_branchs_key_is_refused_401_bad_signature_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    await chain.add_node("BR02", start=False)
    br02_key = read_private_key(chain.root / "BR02" / "node.key")
    before = await hq_state(chain)

    status, refusal = await refused(chain, "/api/push", push_body(br02_key, sales_log(3)))

    assert (status, refusal["error"]) == (401, "bad_signature")
    assert "head BR01#3" in refusal["message"]
    assert await hq_state(chain) == before
    assert before["branches"]["BR01"]["acked_seq"] == 0


async def test_batch_from_a_branch_never_enrolled_is_refused_403_unknown_branch_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    before = await hq_state(chain)

    body = push_body(generate_private_key(), sales_log(2, origin="BR77"), origin="BR77")
    status, refusal = await refused(chain, "/api/push", body)

    assert (status, refusal["error"]) == (403, "unknown_branch")
    assert "BR77" in refusal["message"]
    assert await hq_state(chain) == before
    assert await chain.hq.app[HQ_KEY].store.log_entries("BR77", 1, ALL_SEQS) == []


# -- re-sends are safe -------------------------------------------------------------------


async def test_replayed_batch_is_acknowledged_again_and_applies_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    body = push_body(br01_key, sales_log(3))

    first = await push_ok(chain, body)
    after_first = await hq_state(chain)
    again = await push_ok(chain, body)

    assert first == messages.PushAck("BR01", acked_seq=3, applied=3, duplicates=0)
    assert again == messages.PushAck("BR01", acked_seq=3, applied=0, duplicates=3)
    # 1 + 2 + 3 cups at 25.00 yuan: 150.00 yuan, counted once.
    assert after_first["sales"] == (3, 15_000)
    after_again = await hq_state(chain)
    assert after_again["sales"] == (3, 15_000)
    assert after_again["logs"] == after_first["logs"]
    assert after_again["branches"]["BR01"]["acked_seq"] == 3


async def test_recut_resend_of_accepted_entries_is_acknowledged_and_applies_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(5)
    assert await push_ok(chain, push_body(br01_key, log)) == messages.PushAck("BR01", 5, 5, 0)
    before = await hq_state(chain)

    # Entries 2..4 cut into their own batch and signed afresh over head 4.
    ack = await push_ok(chain, push_body(br01_key, log[1:4]))

    assert ack == messages.PushAck("BR01", acked_seq=5, applied=0, duplicates=3)
    after = await hq_state(chain)
    # 1 + 2 + 3 + 4 + 5 = 15 cups at 25.00 yuan.
    assert after["sales"] == before["sales"] == (5, 37_500)
    assert after["logs"] == before["logs"]
    assert after["branches"]["BR01"]["acked_seq"] == 5


async def test_batch_overlapping_hqs_head_applies_only_the_new_entries(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(5)
    await push_ok(chain, push_body(br01_key, log[:3]))

    ack = await push_ok(chain, push_body(br01_key, log[1:5]))

    assert ack == messages.PushAck("BR01", acked_seq=5, applied=2, duplicates=2)
    assert (await hq_state(chain))["sales"] == (5, 37_500)


# -- forks and gaps ------------------------------------------------------------------------


async def test_different_entry_under_a_known_sequence_is_refused_409_forked_log_and_quarantines_the_branch(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(4)
    await push_ok(chain, push_body(br01_key, log[:3]))
    before = await hq_state(chain)
    # Another entry 3, validly signed by BR01: 9 cups instead of 3.
    other_3 = sale_entry(3, log[1].hash, cup_sale(9))
    assert other_3.raw != log[2].raw

    status, refusal = await refused(chain, "/api/push", push_body(br01_key, [other_3]))

    assert (status, refusal["error"]) == (409, "forked_log")
    assert "entry 3" in refusal["message"]
    assert "quarantined" in refusal["message"]
    after = await hq_state(chain)
    assert after["branches"]["BR01"]["quarantined"] is True
    assert after["branches"]["BR01"]["quarantine_reason"].startswith("forked log at entry 3")
    assert after["forks"] == before["forks"] + 1  # the two signed histories are kept as evidence
    assert after["logs"] == before["logs"]
    assert after["sales"] == before["sales"] == (3, 15_000)
    assert after["branches"]["BR01"]["acked_seq"] == 3

    # Quarantined: even the true entry 4 is refused until an operator reviews.
    status, refusal = await refused(chain, "/api/push", push_body(br01_key, [log[3]]))

    assert (status, refusal["error"]) == (423, "quarantined")
    assert "forked log at entry 3" in refusal["message"]
    assert await hq_state(chain) == after


async def test_entry_not_linking_to_hqs_head_is_refused_409_forked_log(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(3)
    await push_ok(chain, push_body(br01_key, log))
    before = await hq_state(chain)
    # BR01 signed a history 1, 2, 3', 4'; HQ holds 1, 2, 3 and is offered only 4'.
    other_3 = sale_entry(3, log[1].hash, cup_sale(9))
    other_4 = sale_entry(4, other_3.hash)
    assert other_4.prev_hash != log[2].hash

    status, refusal = await refused(chain, "/api/push", push_body(br01_key, [other_4]))

    assert (status, refusal["error"]) == (409, "forked_log")
    after = await hq_state(chain)
    assert after["branches"]["BR01"]["quarantined"] is True
    assert after["logs"] == before["logs"]
    assert after["sales"] == before["sales"]
    assert after["branches"]["BR01"]["acked_seq"] == 3


async def test_batch_starting_past_hqs_next_sequence_is_refused_409_sequence_gap_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    log = sales_log(6)
    await push_ok(chain, push_body(br01_key, log[:3]))
    before = await hq_state(chain)

    status, refusal = await refused(chain, "/api/push", push_body(br01_key, log[4:6]))

    assert (status, refusal["error"]) == (409, "sequence_gap")
    assert refusal["acked_seq"] == 3  # the node rewinds and resends from 4
    assert await hq_state(chain) == before
    assert before["branches"]["BR01"]["quarantined"] is False


# -- bodies that are not a push ---------------------------------------------------------------

# A push of sale 1 with a zeroed signature: well-formed, for cutting short.
UNSIGNED_PUSH = messages.encode(messages.PushRequest(SignedBatch("BR01", tuple(sales_log(1)), bytes(64)), 0))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"\xc1\x00\xffnot msgpack at all", MSGPACK, id="garbage"),
        pytest.param(b"", MSGPACK, id="empty"),
        pytest.param(
            json.dumps({"origin": "BR01", "entries": [], "signature": ""}).encode(),
            "application/json",
            id="json",
        ),
        pytest.param(UNSIGNED_PUSH[:-1], MSGPACK, id="truncated-push"),
    ],
)
async def test_body_that_is_not_a_msgpack_message_is_refused_400_malformed_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey, body: bytes, content_type: str
) -> None:
    before = await hq_state(chain)

    status, refusal = await refused(chain, "/api/push", body, content_type=content_type)

    assert (status, refusal["error"]) == (400, "malformed")
    assert await hq_state(chain) == before


async def test_message_of_another_type_is_refused_400_invalid_query(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    before = await hq_state(chain)
    enroll = messages.EnrollRequest("some-token", "BR01", public_key_bytes(br01_key))

    status, refusal = await refused(chain, "/api/push", messages.encode(enroll))

    assert (status, refusal["error"]) == (400, "invalid_query")
    assert "push message" in refusal["message"]
    assert await hq_state(chain) == before


async def test_body_over_the_message_bound_is_refused_413_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    before = await hq_state(chain)

    status, refusal = await refused(chain, "/api/push", bytes(MAX_MESSAGE_BYTES + 1))

    assert status == 413
    assert refusal["error"] == "too_large"
    assert str(MAX_MESSAGE_BYTES) in refusal["message"]
    assert await hq_state(chain) == before


async def test_batch_over_the_entry_bound_is_refused_413_too_large_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    before = await hq_state(chain)
    log = sales_log(MAX_BATCH_ENTRIES + 1)
    # The message decoder refuses the count before any signature is checked.
    body = messages.encode(messages.PushRequest(SignedBatch("BR01", tuple(log), bytes(64)), 0))
    assert len(body) < MAX_MESSAGE_BYTES

    status, refusal = await refused(chain, "/api/push", body)

    assert (status, refusal["error"]) == (413, "too_large")
    assert str(MAX_BATCH_ENTRIES) in refusal["message"]
    assert await hq_state(chain) == before


# -- signed but unacceptable entries ------------------------------------------------------------


async def test_entry_stamped_beyond_the_clock_drift_bound_is_refused_422_clock_drift_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    before = await hq_state(chain)
    now_ms = time.time_ns() // 1_000_000
    # One minute past the accepted hour of drift: a broken clock, not a slow one.
    future = sale_entry(1, GENESIS_HASH, stamped_ms=now_ms + MAX_CLOCK_DRIFT_MS + 60_000)

    status, refusal = await refused(chain, "/api/push", push_body(br01_key, [future]))

    assert (status, refusal["error"]) == (422, "clock_drift")
    assert "correct the sender's system clock" in refusal["message"]
    assert await hq_state(chain) == before

    # One minute inside the bound is accepted: an hour-off branch PC still trades.
    late = sale_entry(1, GENESIS_HASH, stamped_ms=now_ms + MAX_CLOCK_DRIFT_MS - 60_000)
    assert await push_ok(chain, push_body(br01_key, [late])) == messages.PushAck("BR01", 1, 1, 0)


def packed_sale_entry(seq: int, prev_hash: bytes, payload: dict[Any, Any]) -> Entry:
    """Sale `seq` packed as msgpack packs anything, for a payload encode_entry refuses."""
    stamp, entity_id = hlc.pack(SOLD_AT_MS, seq), f"sale-BR01-{seq}"
    raw: bytes = msgpack.packb(
        [1, "BR01", seq, stamp, prev_hash, "sale", entity_id, "checkout", payload], use_bin_type=True
    )
    digest = hashlib.sha256(raw).digest()
    return Entry("BR01", seq, stamp, prev_hash, "sale", entity_id, "checkout", payload, raw, digest)


@pytest.mark.parametrize(
    "change",
    [
        # The contract leaves a sale's map open to a newer node's keys: what such a key
        # holds is still only what the wire carries.
        pytest.param({"added_by_a_newer_node": 1.5}, id="float-under-a-key-the-contract-leaves-open"),
        pytest.param({"added_by_a_newer_node": [1, {"deep": 0.5}]}, id="float-deep-under-an-open-key"),
        pytest.param({b"added_by_a_newer_node": 1}, id="bytes-key"),
        pytest.param({"total_fen": 5000.0}, id="float-where-the-contract-names-an-integer"),
    ],
)
async def test_signed_sale_holding_a_float_or_a_bytes_key_is_refused_400_malformed_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey, change: dict[Any, Any]
) -> None:
    before = await hq_state(chain)
    entry = packed_sale_entry(1, GENESIS_HASH, {**cup_sale(2), **change})

    status, refusal = await refused(chain, "/api/push", push_body(br01_key, [entry]))

    assert (status, refusal["error"]) == (400, "malformed")
    assert await hq_state(chain) == before
    # The same sale without it is taken: the refusal was for what was added.
    plain = packed_sale_entry(1, GENESIS_HASH, cup_sale(2))
    assert await push_ok(chain, push_body(br01_key, [plain])) == messages.PushAck("BR01", 1, 1, 0)


_DROP = object()  # marks a payload field to leave out


def _ill_formed(change: dict[str, Any]) -> dict[str, Any]:
    """Sale 2 (two cups) with `change` applied to its payload."""
    payload = cup_sale(2)
    payload.update(change)
    return {key: value for key, value in payload.items() if value is not _DROP}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        # Each breaks the wire contract, which HQ reads a branch's entries by.
        pytest.param(_ill_formed({"total_fen": "5000"}), "payload_invalid", id="total_fen-a-string"),
        pytest.param(_ill_formed({"lines": _DROP}), "payload_invalid", id="no-lines"),
        pytest.param(_ill_formed({"at_ms": None}), "payload_invalid", id="at_ms-null"),
        pytest.param(["not", "a", "map"], "payload_invalid", id="payload-a-list"),
        pytest.param(
            _ill_formed({"at_ms": 2**62}),
            "payload_invalid",
            id="at_ms-beyond-the-calendar",
        ),
        pytest.param(
            _ill_formed({"total_fen": 2**63}),
            "payload_invalid",
            id="total_fen-beyond-int64",
        ),
        # Within the contract but beyond what HQ will add up: HQ's own business bound.
        pytest.param(
            _ill_formed({"total_fen": 10**13 + 1}),
            "out_of_bounds",
            id="total_fen-beyond-hqs-bound",
        ),
    ],
)
async def test_signed_sale_with_an_ill_formed_payload_is_stored_and_acknowledged_and_applies_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey, payload: Any, code: str
) -> None:
    good_1 = sale_entry(1, GENESIS_HASH)
    bad_2 = sale_entry(2, good_1.hash, payload)
    good_3 = sale_entry(3, bad_2.hash)

    # The entry is BR01's own, validly signed: refusing the batch would wedge BR01's
    # replication for good, so HQ keeps it, acknowledges it and sets only its effect aside.
    ack = await push_ok(chain, push_body(br01_key, [good_1, bad_2, good_3]))

    assert ack == messages.PushAck("BR01", acked_seq=3, applied=3, duplicates=0)
    after = await hq_state(chain)
    # Sales 1 and 3: 1 + 3 cups at 25.00 yuan; sale 2 adds nothing.
    assert after["sales"] == (2, 10_000)
    assert after["logs"]["BR01"] == [good_1.raw, bad_2.raw, good_3.raw]
    assert after["branches"]["BR01"]["quarantined"] is False
    (effect,) = await effects_set_aside(chain)
    assert (effect["origin"], effect["seq"], effect["kind"], effect["code"]) == ("BR01", 2, "sale", code)
    assert "BR01#2" in effect["message"]
    (branch,) = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
    assert branch["effects_quarantined"] == 1


async def test_signed_member_registration_with_a_name_that_is_not_text_is_stored_and_registers_nobody(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    before = await hq_state(chain)
    registration = encode_entry(
        origin="BR01",
        seq=1,
        hlc=hlc.pack(SOLD_AT_MS),
        prev_hash=GENESIS_HASH,
        kind="member",
        entity_id="member-BR01-1",
        op="register",
        payload={"home_branch": "BR01", "name": ["Li", "Lei"], "phone": "13900001234"},
    )

    ack = await push_ok(chain, push_body(br01_key, [registration]))

    assert ack == messages.PushAck("BR01", acked_seq=1, applied=1, duplicates=0)
    after = await hq_state(chain)
    assert after["logs"]["BR01"] == [registration.raw]
    assert after["feeds"] == before["feeds"]
    assert (await chain.get(chain.hq.url + "/api/members", params={"phone": "13900001234"}))["members"] == []
    (effect,) = await effects_set_aside(chain)
    assert (effect["seq"], effect["kind"], effect["op"], effect["code"]) == (
        1,
        "member",
        "register",
        "payload_invalid",
    )
    assert "name must be text" in effect["message"]


# -- feed reads -----------------------------------------------------------------------------------


def _signed_header(key: Ed25519PrivateKey, path_qs: str, timestamp_ms: int, branch: str = "BR01") -> str:
    signature = sign_request(key, branch, "GET", path_qs, timestamp_ms)
    return f"Branchline branch={branch},ts={timestamp_ms},sig={signature.hex()}"


FEED = "/api/feed?after=0"
# Beyond the accepted drift: HQ's window is MAX_CLOCK_DRIFT_MS (one hour).
BEYOND_DRIFT_MS = MAX_CLOCK_DRIFT_MS + 60_000
TEN_MINUTES_MS = 10 * 60 * 1000


def _no_header(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {}


def _bearer(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {"Authorization": "Bearer 0123456789abcdef"}


def _another_key(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {"Authorization": _signed_header(generate_private_key(), FEED, now_ms)}


def _stale(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {"Authorization": _signed_header(key, FEED, now_ms - BEYOND_DRIFT_MS)}


def _from_the_future(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {"Authorization": _signed_header(key, FEED, now_ms + BEYOND_DRIFT_MS)}


def _signed_for_another_cursor(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {"Authorization": _signed_header(key, "/api/feed?after=5", now_ms)}


def _garbled_signature(key: Ed25519PrivateKey, now_ms: int) -> dict[str, str]:
    return {"Authorization": f"Branchline branch=BR01,ts={now_ms},sig=zz"}


@pytest.mark.parametrize(
    "make_headers",
    [
        _no_header,
        _bearer,
        _another_key,
        _stale,
        _from_the_future,
        _signed_for_another_cursor,
        _garbled_signature,
    ],
)
async def test_feed_read_without_a_valid_signed_header_is_refused_401_auth_failed_and_changes_nothing(
    chain: Chain, br01_key: Ed25519PrivateKey, make_headers: Any
) -> None:
    before = await hq_state(chain)
    headers = make_headers(br01_key, time.time_ns() // 1_000_000)

    status, refusal = await refused(chain, FEED, method="GET", headers=headers)

    assert (status, refusal["error"]) == (401, "auth_failed")
    assert await hq_state(chain) == before  # not even last_seen moves


async def test_feed_read_from_a_branch_whose_clock_is_ten_minutes_fast_is_served(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    header = _signed_header(br01_key, FEED, time.time_ns() // 1_000_000 + TEN_MINUTES_MS)
    async with chain.session.get(chain.hq.url + FEED, headers={"Authorization": header}) as response:
        assert response.status == 200


async def test_feed_read_naming_a_branch_never_enrolled_is_refused_403_unknown_branch(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    header = _signed_header(br01_key, FEED, time.time_ns() // 1_000_000, branch="BR77")

    status, refusal = await refused(chain, FEED, method="GET", headers={"Authorization": header})

    assert (status, refusal["error"]) == (403, "unknown_branch")


async def test_feed_read_signed_by_the_branch_returns_a_page_signed_by_hq(
    chain: Chain, br01_key: Ed25519PrivateKey
) -> None:
    pinned_hq_key = load_config(chain.root / "BR01").hq_public_key

    headers = {"Authorization": auth_header(br01_key, "BR01", "GET", FEED, wall_ms())}
    async with chain.session.get(chain.hq.url + FEED, headers=headers) as response:
        assert response.status == 200
        assert response.content_type == MSGPACK
        page = messages.decode(await response.read())

    assert isinstance(page, messages.FeedPage)
    assert page.origin == "hq:BR01"
    assert page.batch is not None
    verify_batch(page.batch, pinned_hq_key)
    # A new branch's feed starts with its main warehouse, the demo catalogue (ten
    # products, three card types, two top-up rules), the demo employees (two at each of
    # three branches) and its two operators (a store manager and a clerk).
    assert page.available_seq == 24
    assert [entry.seq for entry in page.batch.entries] == list(range(1, 25))
    assert [entry.kind for entry in page.batch.entries] == (
        ["warehouse"]
        + ["product"] * 10
        + ["card_type"] * 3
        + ["top_up_rule"] * 2
        + ["employee"] * 6
        + ["operator"] * 2
    )
