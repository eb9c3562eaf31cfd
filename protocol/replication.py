"""The replicator's decisions, sans-IO: what to push, what an ack means, when to retry.

Rules, in order of importance:
1. HQ's ack is authoritative. `acked_seq` is the highest sequence HQ holds
   durably, contiguous from 1. An ack below what we believed rewinds us (HQ was
   restored from a backup); re-sending is always safe because HQ checks known
   entries for identical bytes and skips them.
2. One request in flight per direction; the shell reports its outcome.
3. After a commit the pusher lingers LINGER_MS so that commits arriving
   together travel in one batch (one signature, one HQ transaction). When
   the tills keep it busy (entries were committed while a push was out), the
   next push leaves PUSH_SPACING_MS after the last one at the earliest: each
   costs the node a signature and a round trip and HQ a transaction whatever
   it carries, so a till that pushed back to back would spend on pushing what
   it could spend on selling. A backlog is the exception: while the last push
   was a full batch, the next goes at once, and someone waiting for HQ to hold
   our log (an online hold) hurries the next push past both waits.
4. A failed request backs off exponentially with jitter, capped at
   BACKOFF_CAP_MS; any success resets it, and a success in one direction
   (`link_up`) cuts the other's wait short, so a healed link drains at once.
   A connection HQ's host refused outright (nothing listens: HQ is stopped or
   restarting) waits at most REFUSED_CAP_MS: a refusal costs HQ nothing, so
   asking again soon protects nobody, and a branch catches up within about
   two seconds of HQ's return rather than ten.
5. While the link is in doubt (a failure since the last success) a push
   carries at most PROBE_BATCH_ENTRIES, so retries into a dead link stay small,
   and a feed read asks HQ to answer at once rather than hold it (the first read
   after a start too): an empty answer is what tells a branch with nothing to
   push that HQ is back, which a held read would keep to itself for its whole
   wait.
6. A refusal that retrying cannot fix (fork, quarantine, bad key) halts the
   direction until a person acts; retrying it would only repeat the refusal.

Time (monotonic milliseconds) and randomness are arguments, so the simulator
drives this exactly as the node's I/O shell does.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from protocol.errors import InvariantBroken
from protocol.limits import MAX_BATCH_ENTRIES

LINGER_MS = 5  # long enough for a burst of tills to share a batch, short next to p99 < 1 s
# Measured at a till under load (benchmarks.checkout --http): pushing back to back
# carried ~17 entries a push and cost HQ 123 us of CPU a sale; spaced 50 ms, HQ's
# share fell to 43 us and the till's checkouts rose by 17 to 30% (same-sitting runs).
# A sale still reaches HQ within this and a round trip.
PUSH_SPACING_MS = 50
BACKOFF_BASE_MS = 250
# A branch notices HQ is back within 10 s at worst; with half of each delay
# random, a thousand branches retrying a dead HQ send ~130 requests/s.
BACKOFF_CAP_MS = 10_000
# A refused connection is answered by the host's kernel, not by HQ: a thousand
# branches probing a stopped HQ at this cap send under 1,000 SYNs a second, which
# no server notices, while HQ's own answers (5xx, timeouts) still back off fully.
REFUSED_CAP_MS = 2_000
_MAX_BACKOFF_EXPONENT = 16
# After a failed push the next attempts carry this many entries at most: a
# link that is still down wastes a small request, not a full batch, each
# retry; the first ack restores full batches.
PROBE_BATCH_ENTRIES = 20  # keeps 2**attempt bounded however long HQ is away


class Phase(enum.Enum):
    IDLE = "idle"  # nothing to do until something happens
    READY = "ready"  # something to send once `due_ms` is reached
    IN_FLIGHT = "in_flight"  # one request out, waiting for its outcome
    BACKOFF = "backoff"  # the last request failed; retry at `due_ms`
    HALTED = "halted"  # refused for a reason retrying cannot fix


class Event(enum.Enum):
    WORK = "work"  # a local commit (push) or a wake-up to poll (pull)
    SEND = "send"
    DONE = "done"  # success: ack received or page applied
    FAIL = "fail"  # transient failure: unreachable, timeout, 5xx
    HALT = "halt"
    RESUME = "resume"


# The legal transitions, as data (h11 style). A pair missing here is a bug in
# the shell driving the machine and raises InvariantBroken. DONE goes to READY
# or IDLE depending on whether work remains; both are listed.
TRANSITIONS: dict[tuple[Phase, Event], frozenset[Phase]] = {
    (Phase.IDLE, Event.WORK): frozenset({Phase.READY}),
    (Phase.READY, Event.WORK): frozenset({Phase.READY}),
    (Phase.READY, Event.SEND): frozenset({Phase.IN_FLIGHT}),
    (Phase.IN_FLIGHT, Event.WORK): frozenset({Phase.IN_FLIGHT}),
    (Phase.IN_FLIGHT, Event.DONE): frozenset({Phase.READY, Phase.IDLE}),
    (Phase.IN_FLIGHT, Event.FAIL): frozenset({Phase.BACKOFF}),
    (Phase.IN_FLIGHT, Event.HALT): frozenset({Phase.HALTED}),
    (Phase.BACKOFF, Event.WORK): frozenset({Phase.BACKOFF}),
    (Phase.BACKOFF, Event.SEND): frozenset({Phase.IN_FLIGHT}),
    (Phase.HALTED, Event.WORK): frozenset({Phase.HALTED}),
    (Phase.HALTED, Event.RESUME): frozenset({Phase.READY}),
}


@dataclass(frozen=True, slots=True)
class Push:
    """Send entries first_seq..last_seq (the shell may cut it shorter by bytes)."""

    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class Fetch:
    """Ask HQ for the feed after `after_seq`; `wait`: HQ may hold the read until the
    feed grows (a long poll), else it answers at once (rule 5)."""

    after_seq: int
    wait: bool = True


@dataclass(frozen=True, slots=True)
class WaitUntil:
    at_ms: int


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing to do until the next event."""


class Backoff:
    """Exponential backoff with equal jitter: half fixed, half random, so
    retries never hot-loop yet a fleet of branches does not retry in step."""

    def __init__(
        self, rng: random.Random, base_ms: int = BACKOFF_BASE_MS, cap_ms: int = BACKOFF_CAP_MS
    ) -> None:
        self.rng = rng
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.attempts = 0

    def next_delay_ms(self, cap_ms: int | None = None) -> int:
        """The next wait; `cap_ms` lowers this one's cap below the usual."""
        cap = self.cap_ms if cap_ms is None else min(cap_ms, self.cap_ms)
        ceiling = min(cap, self.base_ms << min(self.attempts, _MAX_BACKOFF_EXPONENT))
        self.attempts += 1
        half = ceiling // 2
        return half + self.rng.randint(0, ceiling - half)

    def reset(self) -> None:
        self.attempts = 0


class _Machine:
    def __init__(self, rng: random.Random) -> None:
        self.phase = Phase.IDLE
        self.due_ms = 0
        self.backoff = Backoff(rng)
        self.halt_reason: str | None = None
        self.failures = 0

    def _move(self, event: Event, target: Phase) -> None:
        allowed = TRANSITIONS.get((self.phase, event), frozenset())
        if target not in allowed:
            raise InvariantBroken(
                f"{type(self).__name__}: {event.value} is not allowed in {self.phase.value}"
                f" (to {target.value})"
            )
        self.phase = target

    def _due(self, now_ms: int) -> bool | WaitUntil:
        if self.phase in (Phase.READY, Phase.BACKOFF):
            if now_ms >= self.due_ms:
                return True
            return WaitUntil(self.due_ms)
        return False

    def failed(self, now_ms: int, *, refused: bool = False) -> None:
        """A transient failure: HQ unreachable, timed out or answered 5xx. `refused`:
        the connection itself was refused (nothing listens), so the wait is capped at
        REFUSED_CAP_MS (rule 4)."""
        self.failures += 1
        self._move(Event.FAIL, Phase.BACKOFF)
        self.due_ms = now_ms + self.backoff.next_delay_ms(REFUSED_CAP_MS if refused else None)

    def link_up(self, now_ms: int) -> None:
        """HQ answered the other direction: a pending retry need not wait."""
        if self.phase is Phase.BACKOFF:
            self.due_ms = min(self.due_ms, now_ms)
            self.backoff.reset()

    def halted(self, reason: str) -> None:
        """A refusal retrying cannot fix; a person must act (see `resume`)."""
        self._move(Event.HALT, Phase.HALTED)
        self.halt_reason = reason

    def resume(self, now_ms: int) -> None:
        self._move(Event.RESUME, Phase.READY)
        self.halt_reason = None
        self.due_ms = now_ms


class PushMachine(_Machine):
    """Decides which of the node's entries go to HQ, and when."""

    def __init__(
        self,
        *,
        head_seq: int,
        acked_seq: int,
        now_ms: int,
        rng: random.Random,
        linger_ms: int = LINGER_MS,
        spacing_ms: int = PUSH_SPACING_MS,
        max_batch_entries: int = MAX_BATCH_ENTRIES,
    ) -> None:
        super().__init__(rng)
        if acked_seq > head_seq:
            raise InvariantBroken(f"acked {acked_seq} is beyond the local head {head_seq}")
        self.head_seq = head_seq
        self.acked_seq = acked_seq
        self.linger_ms = linger_ms
        self.spacing_ms = spacing_ms
        self.max_batch_entries = max_batch_entries
        # When the last push left, its last entry, and whether it was a full batch (rule 3).
        self.sent_ms: int | None = None
        self.sent_last_seq = 0
        self.draining = False
        self.hurried = False
        if self.backlog:
            self._move(Event.WORK, Phase.READY)
            self.due_ms = now_ms

    @property
    def backlog(self) -> int:
        return self.head_seq - self.acked_seq

    def committed(self, seq: int, now_ms: int) -> None:
        if seq <= self.head_seq:
            raise InvariantBroken(f"commit {seq} does not move the head {self.head_seq} forward")
        self.head_seq = seq
        was_idle = self.phase is Phase.IDLE
        self._move(Event.WORK, self.phase if not was_idle else Phase.READY)
        if was_idle:
            self.due_ms = now_ms + self.linger_ms  # a quiet till's sale goes within the linger

    def poll(self, now_ms: int) -> Push | WaitUntil | Idle:
        due = self._due(now_ms)
        if isinstance(due, WaitUntil):
            return due
        if not due:
            return Idle()
        self._move(Event.SEND, Phase.IN_FLIGHT)
        first = self.acked_seq + 1
        size = (
            self.max_batch_entries
            if self.backoff.attempts == 0
            else min(PROBE_BATCH_ENTRIES, self.max_batch_entries)
        )
        last = min(self.head_seq, self.acked_seq + size)
        self.sent_ms, self.sent_last_seq = now_ms, last
        self.draining = last - first + 1 == size
        self.hurried = False
        return Push(first, last)

    def hurry(self, now_ms: int) -> None:
        """Someone waits for HQ to hold our log (rule 3): a pending push need not wait
        out the linger or the spacing. A retry's backoff stands."""
        if self.phase is Phase.READY:
            self.due_ms = min(self.due_ms, now_ms)
        elif self.phase is Phase.IN_FLIGHT:
            self.hurried = True  # the push after this one

    def _spaced(self, now_ms: int) -> int:
        """The earliest a push may leave under the spacing of rule 3."""
        return now_ms if self.sent_ms is None else max(now_ms, self.sent_ms + self.spacing_ms)

    def acked(self, acked_seq: int, now_ms: int) -> None:
        """HQ holds everything up to `acked_seq` (rule 1: it may also rewind us)."""
        if not 0 <= acked_seq <= self.head_seq:
            raise InvariantBroken(f"HQ acked {acked_seq}, outside 0..{self.head_seq} (the shell checks)")
        self.acked_seq = acked_seq
        self.backoff.reset()
        if self.backlog:
            self._move(Event.DONE, Phase.READY)
            # Draining, hurried, or HQ took less than we sent (cut by bytes, or rewound): at once.
            at_once = self.draining or self.hurried or acked_seq < self.sent_last_seq
            self.due_ms = now_ms if at_once else self._spaced(now_ms)
        else:
            self._move(Event.DONE, Phase.IDLE)


class PullMachine(_Machine):
    """Decides when to read HQ's feed after the node's cursor."""

    def __init__(self, *, cursor_seq: int, now_ms: int, rng: random.Random) -> None:
        super().__init__(rng)
        self.cursor_seq = cursor_seq
        self.heard = False  # an answer since the start or the last failure (rule 5)
        self._move(Event.WORK, Phase.READY)
        self.due_ms = now_ms

    def failed(self, now_ms: int, *, refused: bool = False) -> None:
        super().failed(now_ms, refused=refused)
        self.heard = False

    def poll(self, now_ms: int) -> Fetch | WaitUntil | Idle:
        due = self._due(now_ms)
        if isinstance(due, WaitUntil):
            return due
        if not due:
            return Idle()
        self._move(Event.SEND, Phase.IN_FLIGHT)
        return Fetch(self.cursor_seq, wait=self.heard)

    def applied(self, cursor_seq: int, now_ms: int) -> None:
        """A page was applied (or was empty after a long poll): read again at once."""
        if cursor_seq < self.cursor_seq:
            raise InvariantBroken(f"feed cursor moved back from {self.cursor_seq} to {cursor_seq}")
        self.cursor_seq = cursor_seq
        self.heard = True
        self.backoff.reset()
        self._move(Event.DONE, Phase.READY)
        self.due_ms = now_ms
