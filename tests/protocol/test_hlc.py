"""Hybrid logical clock: timestamps `physical_ms << 16 | logical` that never go backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import hlc
from protocol.errors import ClockDriftTooLarge
from protocol.hlc import LOGICAL_MAX, HybridLogicalClock, check_drift
from protocol.limits import MAX_CLOCK_DRIFT_MS
from tests.protocol.strategies import EPOCH_MS, PROPERTY

T = EPOCH_MS


def parts(timestamp: int) -> tuple[int, int]:
    return hlc.physical_ms(timestamp), hlc.logical(timestamp)


def test_a_timestamp_packs_milliseconds_above_a_16_bit_counter() -> None:
    assert hlc.pack(1, 2) == 0x1_0002
    assert parts(hlc.pack(T, 7)) == (T, 7)
    assert hlc.pack(T, LOGICAL_MAX) < hlc.pack(T + 1, 0)


def test_tick_takes_wall_time_when_it_moves_forward() -> None:
    clock = HybridLogicalClock()
    assert parts(clock.tick(T)) == (T, 0)
    assert parts(clock.tick(T + 1)) == (T + 1, 0)
    assert parts(clock.tick(T + 250)) == (T + 250, 0)


def test_tick_counts_logically_while_wall_time_stands_still() -> None:
    clock = HybridLogicalClock()
    assert [parts(clock.tick(T)) for _ in range(3)] == [(T, 0), (T, 1), (T, 2)]


def test_tick_stays_ahead_when_wall_time_goes_backwards() -> None:
    clock = HybridLogicalClock()
    assert parts(clock.tick(T)) == (T, 0)
    assert parts(clock.tick(T - 1000)) == (T, 1)  # NTP stepped the clock back a second
    assert parts(clock.tick(T - 1)) == (T, 2)
    assert parts(clock.tick(T + 1)) == (T + 1, 0)  # wall time caught up again


def test_a_full_logical_counter_borrows_the_next_millisecond_instead_of_wrapping() -> None:
    clock = HybridLogicalClock(last=hlc.pack(T, LOGICAL_MAX - 1))
    assert parts(clock.tick(T)) == (T, 65535)
    assert parts(clock.tick(T)) == (T + 1, 0)
    assert parts(clock.tick(T)) == (T + 1, 1)
    assert parts(clock.tick(T + 1)) == (T + 1, 2)
    assert parts(clock.tick(T + 2)) == (T + 2, 0)


def test_observe_adopts_a_later_remote_timestamp_and_the_next_tick_exceeds_it() -> None:
    clock = HybridLogicalClock(last=hlc.pack(T, 3))
    remote = hlc.pack(T + 2000, 7)  # HQ's clock is two seconds ahead of ours
    after = clock.observe(remote, wall_ms=T + 500)
    assert parts(after) == (T + 2000, 8)
    assert parts(clock.tick(T + 600)) == (T + 2000, 9)
    assert parts(clock.tick(T + 2001)) == (T + 2001, 0)


def test_observe_of_an_older_remote_timestamp_is_an_ordinary_tick() -> None:
    clock = HybridLogicalClock(last=hlc.pack(T, 3))
    assert parts(clock.observe(hlc.pack(T - 60_000, 9), wall_ms=T)) == (T, 4)


def test_observe_of_a_remote_with_a_full_counter_moves_to_the_next_millisecond() -> None:
    clock = HybridLogicalClock()
    assert parts(clock.observe(hlc.pack(T, LOGICAL_MAX), wall_ms=T)) == (T + 1, 0)


def test_observe_refuses_a_remote_more_than_the_accepted_drift_ahead() -> None:
    clock = HybridLogicalClock(last=hlc.pack(T, 3), max_drift_ms=1000)
    with pytest.raises(ClockDriftTooLarge, match="correct the sender"):
        clock.observe(hlc.pack(T + 1001), wall_ms=T)
    assert parts(clock.last) == (T, 3)  # the refused timestamp left no trace
    assert parts(clock.observe(hlc.pack(T + 1000), wall_ms=T)) == (T + 1000, 1)  # exactly at the bound


def test_the_default_accepted_drift_is_one_hour() -> None:
    assert MAX_CLOCK_DRIFT_MS == 3_600_000
    check_drift(hlc.pack(T + 3_600_000, LOGICAL_MAX), wall_ms=T)
    with pytest.raises(ClockDriftTooLarge) as refused:
        check_drift(hlc.pack(T + 3_600_001), wall_ms=T)
    assert refused.value.http_status == 422
    assert "3600 s ahead" in str(refused.value)


Operation = tuple[str, int, int]
operations = st.lists(
    st.tuples(
        st.sampled_from(["tick", "observe"]),
        st.integers(-5_000, 5_000),  # wall clock step, backwards allowed
        st.integers(-10_000, 10_000),  # remote physical offset from wall
    ),
    max_size=60,
)


@PROPERTY
@given(ops=operations, start_logical=st.integers(0, LOGICAL_MAX))
def test_every_timestamp_exceeds_every_earlier_one_and_every_remote_observed(
    ops: list[Operation], start_logical: int
) -> None:
    clock = HybridLogicalClock(last=hlc.pack(T, start_logical), max_drift_ms=5_000)
    wall_ms = T
    highest_seen = clock.last
    for op, step_ms, remote_offset_ms in ops:
        wall_ms += step_ms
        if op == "tick":
            stamp = clock.tick(wall_ms)
        else:
            remote = hlc.pack(wall_ms + remote_offset_ms, abs(remote_offset_ms) % (LOGICAL_MAX + 1))
            if remote_offset_ms > 5_000:
                with pytest.raises(ClockDriftTooLarge):
                    clock.observe(remote, wall_ms)
                assert clock.last == highest_seen
                continue
            stamp = clock.observe(remote, wall_ms)
            assert stamp > remote
        assert stamp > highest_seen
        assert stamp >= hlc.pack(wall_ms)
        assert stamp == clock.last
        assert 0 <= hlc.logical(stamp) <= LOGICAL_MAX
        highest_seen = stamp
