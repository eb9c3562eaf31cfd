"""protocol.throttle's rules, on a clock the test moves."""

from __future__ import annotations

import pytest

from protocol.errors import TooManyAttempts
from protocol.throttle import FailureThrottle, LoginThrottle


def throttle(**bounds: int) -> FailureThrottle:
    settings = {"max_failures": 3, "window_ms": 10_000, "lockout_ms": 30_000, "max_keys": 100} | bounds
    return FailureThrottle(what="log-ins", **settings)


def locked(gate: FailureThrottle, key: str, now_ms: int) -> bool:
    try:
        gate.check(key, now_ms)
    except TooManyAttempts:
        return True
    return False


def test_the_third_failure_in_the_window_locks_the_key_for_the_lockout_and_no_longer() -> None:
    gate = throttle()
    gate.failed("a", 0)
    gate.failed("a", 1_000)
    assert not locked(gate, "a", 2_000)
    gate.failed("a", 2_000)
    assert locked(gate, "a", 2_000)
    assert locked(gate, "a", 31_999)
    assert not locked(gate, "a", 32_000)
    assert not locked(gate, "b", 2_000)  # another key is untouched


def test_the_refusal_says_what_and_how_long_to_wait_rounded_up() -> None:
    gate = throttle()
    for at in (0, 1, 2):
        gate.failed("a", at)
    with pytest.raises(
        TooManyAttempts, match="too many failed log-ins from here; try again in 30 s"
    ) as refused:
        gate.check("a", 2)
    assert refused.value.retry_after_s == 30
    assert (refused.value.http_status, refused.value.code) == (429, "too_many_attempts")
    with pytest.raises(TooManyAttempts, match="in 1 s"):
        gate.check("a", 29_500)


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    gate = throttle()
    for at in range(0, 100_000, 5_001):  # two per window at most
        gate.failed("a", at)
        assert not locked(gate, "a", at)


def test_a_success_clears_the_count() -> None:
    gate = throttle()
    gate.failed("a", 0)
    gate.failed("a", 1)
    gate.succeeded("a")
    gate.failed("a", 2)
    gate.failed("a", 3)
    assert not locked(gate, "a", 3)


def test_after_a_lockout_the_count_starts_afresh() -> None:
    gate = throttle()
    for at in (0, 1, 2):
        gate.failed("a", at)
    gate.failed("a", 40_000)
    gate.failed("a", 40_001)
    assert not locked(gate, "a", 40_001)
    gate.failed("a", 40_002)
    assert locked(gate, "a", 40_002)


def test_a_flood_of_keys_is_bounded_by_forgetting_the_oldest() -> None:
    gate = throttle(max_keys=3)
    for key in "abcde":
        gate.failed(key, 0)
    assert len(gate) == 3
    for at in (1, 2):
        gate.failed("e", at)
    assert locked(gate, "e", 2)  # the newest keys keep their counts


def test_a_failure_reported_while_locked_neither_counts_nor_extends_the_lock() -> None:
    gate = throttle()
    for at in (0, 1, 2):
        gate.failed("a", at)
    gate.failed("a", 20_000)
    assert not locked(gate, "a", 30_002)


def test_nonsense_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one failure"):
        throttle(max_failures=0)


def test_log_ins_are_slowed_per_login_whatever_its_case_and_per_address() -> None:
    guard = LoginThrottle()
    for attempt in range(5):
        guard.check("Li-Na", f"10.0.0.{attempt}", 0)  # from five addresses
        guard.failed("li-na" if attempt % 2 else "LI-NA", f"10.0.0.{attempt}", 0)
    with pytest.raises(TooManyAttempts, match="log-ins for this login"):
        guard.check("li-NA", "10.0.0.99", 1_000)
    guard.check("wang", "10.0.0.99", 1_000)  # another login from there is tried
    # One address guessing many logins is stopped at twenty.
    for number in range(20):
        guard.check(f"guess-{number}", "10.9.9.9", 2_000)
        guard.failed(f"guess-{number}", "10.9.9.9", 2_000)
    with pytest.raises(TooManyAttempts, match="try again in 60 s"):
        guard.check("guess-new", "10.9.9.9", 2_000)
    guard.check("guess-new", "10.9.9.8", 2_000)
    # A success clears the login's count; a minute after the lock it is tried again.
    guard.succeeded("wang")
    guard.check("li-na", "10.0.0.1", 61_000)
