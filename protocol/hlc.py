"""Hybrid logical clock: wall-clock milliseconds with a logical counter.

A timestamp is one int, `physical_ms << 16 | logical`, so it sorts and compares
as a number and encodes compactly. Time is an argument; nothing here reads a clock.
"""

from __future__ import annotations

from protocol.errors import ClockDriftTooLarge
from protocol.limits import MAX_CLOCK_DRIFT_MS

LOGICAL_BITS = 16
LOGICAL_MAX = (1 << LOGICAL_BITS) - 1


def pack(physical_ms: int, logical: int = 0) -> int:
    return (physical_ms << LOGICAL_BITS) | logical


def physical_ms(timestamp: int) -> int:
    return timestamp >> LOGICAL_BITS


def logical(timestamp: int) -> int:
    return timestamp & LOGICAL_MAX


class HybridLogicalClock:
    """Monotonic timestamps that respect causality across nodes (Kulkarni et al.)."""

    def __init__(self, last: int = 0, *, max_drift_ms: int = MAX_CLOCK_DRIFT_MS) -> None:
        self.last = last
        self.max_drift_ms = max_drift_ms

    def tick(self, wall_ms: int) -> int:
        """A timestamp for a local event, later than every timestamp seen so far."""
        candidate = pack(wall_ms)
        if candidate > self.last:
            self.last = candidate
        else:
            self.last = self._successor(self.last)
        return self.last

    def observe(self, remote: int, wall_ms: int) -> int:
        """Take in a remote timestamp; refuse it if it is too far in our future."""
        check_drift(remote, wall_ms, self.max_drift_ms)
        if remote > self.last:
            self.last = remote
        return self.tick(wall_ms)

    @staticmethod
    def _successor(timestamp: int) -> int:
        # When the counter is exhausted within one millisecond, borrow the next
        # millisecond rather than wrap: order must never go backwards.
        if logical(timestamp) == LOGICAL_MAX:
            return pack(physical_ms(timestamp) + 1)
        return timestamp + 1


def check_drift(remote: int, wall_ms: int, max_drift_ms: int = MAX_CLOCK_DRIFT_MS) -> None:
    ahead_ms = physical_ms(remote) - wall_ms
    if ahead_ms > max_drift_ms:
        raise ClockDriftTooLarge(
            f"timestamp is {ahead_ms // 1000} s ahead of this clock (accepted drift "
            f"{max_drift_ms // 1000} s); correct the sender's system clock"
        )
