"""UUIDv7 (RFC 9562): 48 bits of milliseconds, version 7, RFC variant, 74 random bits."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.ids import uuid7
from tests.protocol.strategies import EPOCH_MS, PROPERTY

millis = st.integers(0, 2**48 - 1)
randomness = st.binary(min_size=10, max_size=16)


def test_a_worked_example_reads_back_its_milliseconds_and_random_bits() -> None:
    # 1_700_000_000_000 ms = 0x018bcfe56800; version nibble 7; variant bits 10.
    identifier = uuid7(EPOCH_MS, bytes(10))
    assert identifier == "018bcfe5-6800-7000-8000-000000000000"
    assert uuid7(EPOCH_MS, b"\xff" * 10) == "018bcfe5-6800-7fff-bfff-ffffffffffff"


@PROPERTY
@given(now_ms=millis, random_bytes=randomness)
def test_a_uuid7_has_version_7_the_rfc_variant_and_its_time_in_the_top_48_bits(
    now_ms: int, random_bytes: bytes
) -> None:
    identifier = uuid7(now_ms, random_bytes)
    parsed = uuid.UUID(identifier)
    assert str(parsed) == identifier  # the canonical text: lower case, dashes in place
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == now_ms
    rand_a = (parsed.int >> 64) & 0xFFF
    rand_b = parsed.int & ((1 << 62) - 1)
    assert (rand_a << 62) | rand_b == int.from_bytes(random_bytes[:10], "big") & ((1 << 74) - 1)


@PROPERTY
@given(earlier_ms=millis, gap_ms=st.integers(1, 10**6), first=randomness, second=randomness)
def test_uuid7s_sort_by_time_as_strings(earlier_ms: int, gap_ms: int, first: bytes, second: bytes) -> None:
    later_ms = min(earlier_ms + gap_ms, 2**48 - 1)
    if later_ms == earlier_ms:
        return
    assert uuid7(earlier_ms, first) < uuid7(later_ms, second)


@PROPERTY
@given(now_ms=millis, random_bytes=randomness)
def test_the_same_time_and_randomness_give_the_same_id(now_ms: int, random_bytes: bytes) -> None:
    assert uuid7(now_ms, random_bytes) == uuid7(now_ms, bytes(random_bytes))


def test_uuid7_needs_ten_random_bytes() -> None:
    with pytest.raises(ValueError, match="10 random bytes"):
        uuid7(EPOCH_MS, bytes(9))
