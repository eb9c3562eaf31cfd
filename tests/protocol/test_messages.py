"""Messages between nodes and HQ: `[type, version, ...fields]`, decoded strictly or refused.

A receiver decodes, then verifies the batch; every corruption of a push ends in a ProtocolError,
except a flip inside `reported_backlog`, which is advisory (HQ's status page) and unsigned.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec, messages
from protocol.batch import SignedBatch, sign_batch, sign_stored, verify_batch
from protocol.errors import (
    BadSignature,
    MalformedMessage,
    MessageTooLarge,
    ProtocolError,
    UnsupportedVersion,
)
from protocol.limits import MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES
from protocol.messages import EnrollRequest, EnrollResponse, FeedPage, PushAck, PushRequest
from protocol.signing import public_key_bytes, sign_backlog, verify_backlog
from tests.protocol.make_vectors import read_vector
from tests.protocol.strategies import (
    FEW,
    NODE_KEY,
    NODE_PUBLIC_KEY,
    PROPERTY,
    UINT64_MAX,
    branch_codes,
    flip_bit,
    make_chain,
    names,
    signed_batches,
)

KEY_32 = NODE_PUBLIC_KEY  # a usable key: each refusal below is for what its id names
# Public keys of private keys drawn from their 32-byte seeds: what a real node or HQ sends.
public_keys = st.binary(min_size=32, max_size=32).map(
    lambda seed: public_key_bytes(Ed25519PrivateKey.from_private_bytes(seed))
)
counts = st.integers(0, UINT64_MAX)


def three_sales(origin: str = "B01") -> SignedBatch:
    entries = make_chain(origin, [{"amount_fen": 1800}, {"amount_fen": 3600}, {"amount_fen": 500}])
    return sign_batch(NODE_KEY, origin, entries)


def wire(*fields: Any) -> bytes:
    """A message built by hand, bypassing `encode`, to show what the decoder refuses."""
    return msgpack.packb(list(fields), use_bin_type=True)


def accepted_push(data: bytes) -> PushRequest | None:
    """What a receiver accepts from `data`: the verified push, or None if refused with a ProtocolError."""
    try:
        message = messages.decode(data)
        if not isinstance(message, PushRequest):
            pytest.fail(f"a corrupted push decoded as {message!r}")
        verify_batch(message.batch, NODE_PUBLIC_KEY)
    except ProtocolError:
        return None
    return message


# -- round trips ----------------------------------------------------------------------------------


@PROPERTY
@given(
    token=st.text(min_size=1, max_size=messages.MAX_TOKEN_CHARS),
    branch=branch_codes,
    key=public_keys,
)
def test_an_enroll_request_round_trips(token: str, branch: str, key: bytes) -> None:
    message = EnrollRequest(token, branch, key)
    assert messages.decode(messages.encode(message)) == message


@PROPERTY
@given(branch=branch_codes, key=public_keys, feed_origin=names)
def test_an_enroll_response_round_trips(branch: str, key: bytes, feed_origin: str) -> None:
    message = EnrollResponse(branch, key, feed_origin)
    assert messages.decode(messages.encode(message)) == message


@PROPERTY
@given(batch=signed_batches(max_entries=10), backlog=counts)
def test_a_push_request_round_trips_and_its_batch_still_verifies(batch: SignedBatch, backlog: int) -> None:
    message = PushRequest(batch, backlog)
    decoded = messages.decode(messages.encode(message))
    assert decoded == message
    assert isinstance(decoded, PushRequest)
    assert [entry.raw for entry in decoded.batch.entries] == [entry.raw for entry in batch.entries]
    verify_batch(decoded.batch, NODE_PUBLIC_KEY)


@PROPERTY
@given(batch=signed_batches(max_entries=10), backlog=counts)
def test_a_push_built_from_stored_entries_is_byte_for_byte_the_push_of_their_decoded_batch(
    batch: SignedBatch, backlog: int
) -> None:
    stored = sign_stored(NODE_KEY, batch.origin, [entry.raw for entry in batch.entries])
    assert stored.head == batch.head
    # Ed25519 signatures are deterministic, so the two are the same bytes.
    signed = sign_backlog(NODE_KEY, batch.origin, batch.last_seq, backlog)
    assert messages.encode_push(stored, backlog, signed) == messages.encode(
        PushRequest(batch, backlog, signed)
    )


def test_a_push_carries_its_backlog_signed_and_a_push_without_that_signature_still_reads() -> None:
    batch = three_sales("B01")
    signed = sign_backlog(NODE_KEY, "B01", batch.last_seq, 7)
    decoded = messages.decode(messages.encode(PushRequest(batch, 7, signed)))
    assert isinstance(decoded, PushRequest)
    assert (decoded.reported_backlog, decoded.backlog_signature) == (7, signed)
    verify_backlog(NODE_PUBLIC_KEY, "B01", batch.last_seq, 7, decoded.backlog_signature)
    with pytest.raises(BadSignature):  # the figure changed on the way: the signature says so
        verify_backlog(NODE_PUBLIC_KEY, "B01", batch.last_seq, 0, decoded.backlog_signature)
    with pytest.raises(BadSignature):  # nor can it be replayed onto another push
        verify_backlog(NODE_PUBLIC_KEY, "B01", batch.last_seq + 1, 7, decoded.backlog_signature)
    legacy = messages.decode(messages.encode(PushRequest(batch, 7)))
    assert isinstance(legacy, PushRequest)
    assert legacy.backlog_signature == b""
    raw = msgpack.unpackb(messages.encode(PushRequest(batch, 7, signed)))
    raw[-1] = b"short"
    with pytest.raises(MalformedMessage, match="backlog_signature must be 64 bytes"):
        messages.decode(msgpack.packb(raw))


def test_signing_stored_entries_refuses_none_too_many_and_another_origins() -> None:
    raws = [entry.raw for entry in three_sales("B01").entries]
    with pytest.raises(MalformedMessage, match="at least one"):
        sign_stored(NODE_KEY, "B01", [])
    with pytest.raises(MessageTooLarge, match=f"limit is {MAX_BATCH_ENTRIES}"):
        sign_stored(NODE_KEY, "B01", raws * MAX_BATCH_ENTRIES)
    with pytest.raises(MalformedMessage, match="an entry of 'B01' in a batch of 'B02'"):
        sign_stored(NODE_KEY, "B02", raws)


@PROPERTY
@given(origin=names, acked=counts, applied=counts, duplicates=counts)
def test_a_push_ack_round_trips(origin: str, acked: int, applied: int, duplicates: int) -> None:
    message = PushAck(origin, acked, applied, duplicates)
    assert messages.decode(messages.encode(message)) == message


@PROPERTY
@given(batch=signed_batches(max_entries=10), available=counts)
def test_a_feed_page_with_a_batch_round_trips(batch: SignedBatch, available: int) -> None:
    message = FeedPage(batch.origin, batch, available)
    assert messages.decode(messages.encode(message)) == message


@PROPERTY
@given(origin=names, available=counts)
def test_a_feed_page_without_a_batch_round_trips(origin: str, available: int) -> None:
    message = FeedPage(origin, None, available)
    assert messages.encode(message) == codec.pack(["feed", 1, origin, [], b"", available])
    assert messages.decode(messages.encode(message)) == message


def test_a_push_ack_on_the_wire_is_type_version_then_fields() -> None:
    # fixarray 6, "ack", 1, "B01", 42, 40, 2
    assert messages.encode(PushAck("B01", 42, 40, 2)) == bytes.fromhex("96 a361636b 01 a3423031 2a 28 02")


# -- refusals ---------------------------------------------------------------------------------------

GOOD_PUSH_FIELDS: list[Any] = ["B01", [entry.raw for entry in three_sales().entries], bytes(64), 0]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(wire("pull", 1), MalformedMessage, id="unknown-type"),
        pytest.param(wire("PUSH", 1, *GOOD_PUSH_FIELDS), MalformedMessage, id="type-is-case-sensitive"),
        pytest.param(wire(1, "push"), MalformedMessage, id="type-not-str"),
        pytest.param(wire("push"), MalformedMessage, id="no-version"),
        pytest.param(wire(), MalformedMessage, id="empty-array"),
        pytest.param(codec.pack({"type": "push"}), MalformedMessage, id="map-not-array"),
        pytest.param(wire("push", 2, *GOOD_PUSH_FIELDS), UnsupportedVersion, id="version-2"),
        pytest.param(wire("push", 0, *GOOD_PUSH_FIELDS), UnsupportedVersion, id="version-0"),
        pytest.param(wire("push", True, *GOOD_PUSH_FIELDS), UnsupportedVersion, id="version-true"),
        pytest.param(wire("push", "1", *GOOD_PUSH_FIELDS), UnsupportedVersion, id="version-str"),
        pytest.param(wire("push", 1, *GOOD_PUSH_FIELDS[:3]), MalformedMessage, id="push-3-fields"),
        pytest.param(wire("push", 1, *GOOD_PUSH_FIELDS, 0), MalformedMessage, id="push-5-fields"),
        pytest.param(wire("push", 1, "B01", [], bytes(64), 0), MalformedMessage, id="push-no-entries"),
        pytest.param(wire("push", 1, "B01", "raws", bytes(64), 0), MalformedMessage, id="push-raws-str"),
        pytest.param(wire("push", 1, "B01", ["x"], bytes(64), 0), MalformedMessage, id="push-raw-is-str"),
        pytest.param(wire("push", 1, "B01", GOOD_PUSH_FIELDS[1], "sig", 0), MalformedMessage, id="sig-str"),
        pytest.param(wire("push", 1, "", *GOOD_PUSH_FIELDS[1:]), MalformedMessage, id="origin-empty"),
        pytest.param(wire("push", 1, *GOOD_PUSH_FIELDS[:3], -1), MalformedMessage, id="backlog-negative"),
        pytest.param(wire("push", 1, *GOOD_PUSH_FIELDS[:3], True), MalformedMessage, id="backlog-true"),
        pytest.param(wire("push", 1, "B01", [b"\x00"], bytes(64), 0), MalformedMessage, id="raw-not-entry"),
        pytest.param(wire("ack", 1, "B01", 3, 3), MalformedMessage, id="ack-3-fields"),
        pytest.param(wire("ack", 1, "B01", True, 1, 0), MalformedMessage, id="ack-acked-true"),
        pytest.param(wire("ack", 1, "B01", 3, False, 0), MalformedMessage, id="ack-applied-false"),
        pytest.param(wire("ack", 1, "B01", 3, 3, -1), MalformedMessage, id="ack-duplicates-negative"),
        pytest.param(wire("ack", 1, "B01", 3, "3", 0), MalformedMessage, id="ack-applied-str"),
        pytest.param(wire("ack", 1, "B01", 3, 3, 0.0), MalformedMessage, id="ack-float"),
        pytest.param(wire("feed", 1, "HQ", [], b""), MalformedMessage, id="feed-3-fields"),
        pytest.param(wire("feed", 1, "HQ", [], b"", True), MalformedMessage, id="feed-available-true"),
        pytest.param(wire("feed", 1, "HQ", [], b"", -1), MalformedMessage, id="feed-available-negative"),
        pytest.param(wire("enroll", 1, "tok", "B01"), MalformedMessage, id="enroll-2-fields"),
        pytest.param(wire("enroll", 1, "", "B01", KEY_32), MalformedMessage, id="enroll-token-empty"),
        pytest.param(wire("enroll", 1, "t" * 129, "B01", KEY_32), MalformedMessage, id="enroll-token-129"),
        pytest.param(wire("enroll", 1, "tok", "B 01", KEY_32), MalformedMessage, id="enroll-branch-space"),
        pytest.param(wire("enroll", 1, "tok", "B01", KEY_32[:31]), MalformedMessage, id="enroll-key-31"),
        pytest.param(wire("enroll", 1, "tok", "B01", KEY_32 + b"\0"), MalformedMessage, id="enroll-key-33"),
        pytest.param(wire("enroll", 1, "tok", "B01", KEY_32.hex()), MalformedMessage, id="enroll-key-hex"),
        pytest.param(wire("enrolled", 1, "B01", KEY_32[:31], "HQ"), MalformedMessage, id="enrolled-key-31"),
        pytest.param(wire("enrolled", 1, "B01", KEY_32, ""), MalformedMessage, id="enrolled-origin-empty"),
        pytest.param(wire("enrolled", 1, "-B01", KEY_32, "HQ"), MalformedMessage, id="enrolled-branch-dash"),
    ],
)
def test_decode_refuses_messages_not_of_the_format(data: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        messages.decode(data)


def test_decode_refuses_a_message_over_2_mib_before_decoding_it() -> None:
    with pytest.raises(MessageTooLarge):
        messages.decode(b"\x00" * (MAX_MESSAGE_BYTES + 1))


def test_decode_refuses_a_batch_of_more_than_500_entries() -> None:
    raws = [entry.raw for entry in three_sales().entries] * 167  # 501 entries
    assert len(raws) == MAX_BATCH_ENTRIES + 1
    with pytest.raises(MessageTooLarge, match="500"):
        messages.decode(wire("push", 1, "B01", raws, bytes(64), 0))


def test_decode_refuses_trailing_bytes_after_a_message() -> None:
    data = messages.encode(PushAck("B01", 3, 3, 0))
    with pytest.raises(MalformedMessage):
        messages.decode(data + b"\x00")


def test_a_batch_signature_of_the_wrong_length_is_refused_at_verification_too() -> None:
    batch = three_sales()
    with pytest.raises(BadSignature, match="64 bytes"):
        verify_batch(SignedBatch("B01", batch.entries, batch.signature[:63]), NODE_PUBLIC_KEY)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_decode_refuses_a_push_signature_that_is_not_64_bytes(length: int) -> None:
    with pytest.raises(MalformedMessage):
        messages.decode(wire("push", 1, *GOOD_PUSH_FIELDS[:2], bytes(length), 0))


def test_decode_refuses_an_enroll_request_whose_branch_ends_in_a_newline() -> None:
    with pytest.raises(MalformedMessage):
        messages.decode(wire("enroll", 1, "tok", "B01\n", KEY_32))


# -- truncation and corruption ------------------------------------------------------------------


def test_every_truncation_of_a_push_request_is_malformed() -> None:
    data = read_vector("push_request.hex")
    for cut in range(len(data)):
        with pytest.raises(MalformedMessage):
            messages.decode(data[:cut])


@FEW
@given(batch=signed_batches(max_entries=8), backlog=counts)
def test_every_truncation_of_any_push_request_is_malformed(batch: SignedBatch, backlog: int) -> None:
    data = messages.encode(PushRequest(batch, backlog))
    for cut in range(len(data)):
        with pytest.raises(MalformedMessage):
            messages.decode(data[:cut])


def test_every_flipped_bit_of_a_push_request_is_refused_except_inside_the_unsigned_backlog() -> None:
    data = read_vector("push_request.hex")  # three entries, reported_backlog 0: the last byte, 0x00
    original = messages.decode(data)
    assert isinstance(original, PushRequest)
    backlogs_accepted: list[int] = []
    for bit in range(len(data) * 8):
        accepted = accepted_push(flip_bit(data, bit))
        if accepted is not None:
            assert bit // 8 == len(data) - 1, f"bit {bit} flipped outside the backlog was accepted"
            assert accepted.batch == original.batch
            backlogs_accepted.append(accepted.reported_backlog)
    # 0x00 with one of its low seven bits set reads 1, 2, 4 ... 64; the top bit makes 0x80,
    # an empty map, which is not a count and is refused.
    assert backlogs_accepted == [1, 2, 4, 8, 16, 32, 64]


@PROPERTY
@given(batch=signed_batches(max_entries=10), backlog=counts, data=st.data())
def test_any_flipped_bit_of_any_push_request_is_refused_or_only_changes_the_backlog(
    batch: SignedBatch, backlog: int, data: st.DataObject
) -> None:
    original = PushRequest(batch, backlog)
    encoded = messages.encode(original)
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1), label="bit")
    accepted = accepted_push(flip_bit(encoded, bit))
    if accepted is not None:
        assert accepted.batch == batch
        assert accepted.reported_backlog != backlog


@PROPERTY
@given(data=st.binary(max_size=300))
def test_decode_of_random_bytes_returns_a_message_or_refuses_with_a_protocol_error(data: bytes) -> None:
    try:
        message = messages.decode(data)
    except ProtocolError:
        return
    assert isinstance(message, EnrollRequest | EnrollResponse | PushRequest | PushAck | FeedPage)


anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 9), children, max_size=3)
    ),
    max_leaves=12,
)


@PROPERTY
@given(
    kind=st.sampled_from(["enroll", "enrolled", "push", "ack", "feed", "other"]),
    version=st.sampled_from([1, 1, 1, 2, True]),
    fields=st.lists(anything, max_size=5),
)
def test_decode_of_any_well_framed_value_returns_a_message_or_refuses_with_a_protocol_error(
    kind: str, version: int, fields: list[Any]
) -> None:
    data = msgpack.packb([kind, version, *fields], use_bin_type=True, strict_types=False)
    with contextlib.suppress(ProtocolError):
        messages.decode(data)


@pytest.mark.parametrize("field", ["enroll", "enrolled"])
def test_an_enrollment_naming_a_key_no_private_key_makes_is_malformed(field: str) -> None:
    identity = bytes([1]) + bytes(31)  # verifies a trivial signature over anything
    body = (
        wire("enroll", 1, "a-token", "B01", identity)
        if field == "enroll"
        else wire("enrolled", 1, "B01", identity, "hq:B01")
    )
    with pytest.raises(MalformedMessage, match="is not a usable Ed25519 key"):
        messages.decode(body)
