"""The replicator's decisions, sans-IO: what to push, what an ack means, when to retry.

Time is an argument and randomness a seeded `random.Random`, so every example here replays
exactly, and the rule-based test drives the machine as a flaky link would.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocol.errors import InvariantBroken
from protocol.replication import (
    _MAX_BACKOFF_EXPONENT,
    BACKOFF_BASE_MS,
    BACKOFF_CAP_MS,
    LINGER_MS,
    PROBE_BATCH_ENTRIES,
    PUSH_SPACING_MS,
    REFUSED_CAP_MS,
    TRANSITIONS,
    Backoff,
    Event,
    Fetch,
    Idle,
    Phase,
    PullMachine,
    Push,
    PushMachine,
    WaitUntil,
)
from tests.protocol.strategies import PROPERTY

Decision = Push | Fetch | WaitUntil | Idle


class Dice(random.Random):
    """A die that always lands on its lowest or its highest face, to show the bounds of the jitter."""

    def __init__(self, face: str) -> None:
        super().__init__(0)
        self.face = face

    def randint(self, a: int, b: int) -> int:
        return a if self.face == "lowest" else b


def ceiling_ms(attempts: int) -> int:
    return min(BACKOFF_CAP_MS, BACKOFF_BASE_MS << min(attempts, _MAX_BACKOFF_EXPONENT))


def phase_of(machine: PushMachine | PullMachine) -> Phase:
    """The phase, read through a call so a type checker does not pin it across a transition."""
    return machine.phase


def idle_pusher(now_ms: int = 1000, **options: int) -> PushMachine:
    return PushMachine(head_seq=0, acked_seq=0, now_ms=now_ms, rng=random.Random(7), **options)


def in_flight(machine: PushMachine, now_ms: int) -> Push:
    action = machine.poll(now_ms)
    assert isinstance(action, Push), action
    return action


# -- pushing: worked examples ---------------------------------------------------------------------


def test_a_commit_lingers_then_pushes_everything_committed_meanwhile() -> None:
    pusher = idle_pusher(now_ms=1000)
    assert pusher.poll(1000) == Idle()
    pusher.committed(1, now_ms=1000)
    assert LINGER_MS == 5
    assert pusher.poll(1000) == WaitUntil(1005)
    pusher.committed(2, now_ms=1002)  # a second till, within the linger: same batch
    pusher.committed(3, now_ms=1004)
    assert pusher.poll(1004) == WaitUntil(1005)
    assert pusher.poll(1005) == Push(first_seq=1, last_seq=3)
    assert pusher.phase is Phase.IN_FLIGHT
    assert pusher.poll(1006) == Idle()  # one request in flight at a time


def test_an_ack_of_everything_returns_to_idle() -> None:
    pusher = idle_pusher()
    pusher.committed(3, now_ms=1000)
    in_flight(pusher, 1005)
    pusher.acked(3, now_ms=1020)
    assert (pusher.acked_seq, pusher.backlog, pusher.phase) == (3, 0, Phase.IDLE)
    assert pusher.poll(5000) == Idle()


def test_a_commit_during_a_push_waits_for_its_ack_then_for_the_spacing() -> None:
    pusher = idle_pusher()
    pusher.committed(3, now_ms=1000)
    assert in_flight(pusher, 1005) == Push(1, 3)
    pusher.committed(4, now_ms=1010)
    assert pusher.poll(1010) == Idle()
    pusher.acked(3, now_ms=1030)
    assert pusher.phase is Phase.READY
    assert PUSH_SPACING_MS == 50
    assert pusher.poll(1030) == WaitUntil(1055)  # spacing after the last push left at 1005
    pusher.committed(9, now_ms=1040)  # the tills keep selling: the same push takes it
    assert pusher.poll(1055) == Push(4, 9)  # no second linger


def test_a_busy_till_pushes_once_a_spacing_whatever_it_commits_meanwhile() -> None:
    pusher = idle_pusher(now_ms=0)
    pushes: list[Push] = []
    for now_ms in range(0, 1000):  # a commit every millisecond; HQ acks 10 ms after each push
        pusher.committed(pusher.head_seq + 1, now_ms)
        if pushes and now_ms == pusher.sent_ms + 10:  # type: ignore[operator]
            pusher.acked(pushes[-1].last_seq, now_ms)
        action = pusher.poll(now_ms)
        if isinstance(action, Push):
            pushes.append(action)
    assert [(p.first_seq, p.last_seq) for p in pushes[:3]] == [(1, 6), (7, 56), (57, 106)]
    sent_at = [p.last_seq - 1 for p in pushes]  # a commit a millisecond: a push's last seq - 1 is its time
    assert all(later - earlier == PUSH_SPACING_MS for earlier, later in itertools.pairwise(sent_at))
    assert len(pushes) == 20


def test_a_quiet_till_whose_push_was_all_acked_only_lingers() -> None:
    pusher = idle_pusher(now_ms=0)
    pusher.committed(1, now_ms=0)
    in_flight(pusher, LINGER_MS)
    pusher.acked(1, now_ms=20)
    pusher.committed(2, now_ms=30)  # within the spacing of the last push, but nothing waited
    assert pusher.poll(30) == WaitUntil(30 + LINGER_MS)
    assert in_flight(pusher, 30 + LINGER_MS) == Push(2, 2)


def test_a_full_batch_is_followed_at_once_and_so_is_what_hq_cut_or_rewound() -> None:
    pusher = PushMachine(head_seq=700, acked_seq=0, now_ms=0, rng=random.Random(1), max_batch_entries=500)
    assert in_flight(pusher, 0) == Push(1, 500)
    pusher.acked(500, now_ms=40)
    assert pusher.poll(40) == Push(501, 700)  # the last push was full: draining
    pusher.committed(710, now_ms=50)
    pusher.acked(650, now_ms=60)  # HQ cut the batch by bytes
    assert pusher.poll(60) == Push(651, 710)
    pusher.committed(720, now_ms=70)
    pusher.acked(600, now_ms=80)  # HQ rewound below what it held
    assert pusher.poll(80) == Push(601, 720)
    pusher.committed(730, now_ms=90)
    pusher.acked(720, now_ms=100)  # all it was sent, not a full batch: spaced
    assert pusher.poll(100) == WaitUntil(80 + PUSH_SPACING_MS)


def test_someone_waiting_for_hq_hurries_the_next_push_but_not_a_retry() -> None:
    pusher = idle_pusher(now_ms=0)
    pusher.committed(1, now_ms=0)
    pusher.hurry(now_ms=1)  # an online hold waits for seq 1: no linger
    assert pusher.poll(1) == Push(1, 1)
    pusher.committed(2, now_ms=2)
    pusher.hurry(now_ms=3)  # it waits for seq 2, which the push in flight lacks
    pusher.acked(1, now_ms=10)
    assert pusher.poll(10) == Push(2, 2)  # no spacing
    pusher.committed(3, now_ms=11)
    pusher.acked(2, now_ms=12)
    assert pusher.poll(12) == WaitUntil(1 + PUSH_SPACING_MS + 9)  # not hurried this time
    in_flight(pusher, 60)
    pusher.failed(now_ms=70)
    due_ms = pusher.due_ms
    pusher.hurry(now_ms=71)
    assert pusher.due_ms == due_ms > 71  # HQ failing is not hurried


def test_a_long_backlog_drains_in_batches_of_max_batch_entries_back_to_back() -> None:
    pusher = PushMachine(head_seq=1200, acked_seq=0, now_ms=0, rng=random.Random(1), max_batch_entries=500)
    assert pusher.poll(0) == Push(1, 500)  # a restart with a backlog does not linger
    pusher.acked(500, now_ms=40)
    assert pusher.poll(40) == Push(501, 1000)
    pusher.acked(1000, now_ms=80)
    assert pusher.poll(80) == Push(1001, 1200)
    pusher.acked(1200, now_ms=120)
    assert pusher.poll(120) == Idle()


def test_a_partial_ack_sends_the_rest_next() -> None:
    pusher = PushMachine(head_seq=10, acked_seq=0, now_ms=0, rng=random.Random(1))
    assert in_flight(pusher, 0) == Push(1, 10)
    pusher.acked(6, now_ms=30)  # HQ cut the batch by bytes
    assert pusher.poll(30) == Push(7, 10)


def test_an_ack_below_what_we_believed_rewinds_and_resends_from_there() -> None:
    # HQ was restored from last night's backup: it holds 1..3, we believed 1..8.
    pusher = PushMachine(head_seq=10, acked_seq=8, now_ms=0, rng=random.Random(1))
    assert in_flight(pusher, 0) == Push(9, 10)
    pusher.acked(3, now_ms=20)
    assert (pusher.acked_seq, pusher.backlog) == (3, 7)
    assert pusher.poll(20) == Push(4, 10)


def test_a_failure_backs_off_between_half_the_ceiling_and_the_ceiling() -> None:
    pusher = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=random.Random(3))
    in_flight(pusher, 0)
    pusher.failed(now_ms=100)
    assert pusher.phase is Phase.BACKOFF
    assert 100 + BACKOFF_BASE_MS // 2 <= pusher.due_ms <= 100 + BACKOFF_BASE_MS
    assert pusher.poll(100) == WaitUntil(pusher.due_ms)
    assert pusher.poll(pusher.due_ms) == Push(1, 5)  # a retry starts again after the ack
    assert pusher.failures == 1


@pytest.mark.parametrize(
    ("face", "delays_ms"),
    [
        ("lowest", [125, 250, 500, 1000, 2000, 4000, 5000, 5000]),
        ("highest", [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]),
    ],
)
def test_backoff_doubles_from_250_ms_and_stops_at_its_cap(face: str, delays_ms: list[int]) -> None:
    backoff = Backoff(Dice(face), base_ms=250, cap_ms=10_000)
    assert [backoff.next_delay_ms() for _ in delays_ms] == delays_ms


def test_backoff_stays_bounded_however_long_hq_is_away() -> None:
    backoff = Backoff(Dice("highest"))
    delays = [backoff.next_delay_ms() for _ in range(1000)]
    assert max(delays) == BACKOFF_CAP_MS
    assert backoff.attempts == 1000


@PROPERTY
@given(seed=st.integers(0, 2**32), failures=st.integers(1, 25))
def test_every_retry_waits_within_half_to_all_of_its_ceiling(seed: int, failures: int) -> None:
    pusher = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=random.Random(seed))
    now_ms = 0
    for attempt in range(failures):
        now_ms = pusher.due_ms
        in_flight(pusher, now_ms)
        pusher.failed(now_ms)
        ceiling = ceiling_ms(attempt)
        assert ceiling // 2 <= pusher.due_ms - now_ms <= ceiling
        assert ceiling == min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2**attempt)


def test_a_refused_connection_waits_at_most_two_seconds_and_hqs_own_failures_the_full_cap() -> None:
    """Nothing listening at HQ's address (stopped, restarting) costs HQ nothing to ask
    again, so the branch finds HQ back within REFUSED_CAP_MS; a timeout or a 5xx, which
    HQ itself pays for, still backs off to BACKOFF_CAP_MS."""
    refused = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=Dice("highest"))
    answered = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=Dice("highest"))
    refused_waits: list[int] = []
    answered_waits: list[int] = []
    for machine, waits, was_refused in ((refused, refused_waits, True), (answered, answered_waits, False)):
        now_ms = 0
        for _ in range(10):
            now_ms = machine.due_ms
            in_flight(machine, now_ms)
            machine.failed(now_ms, refused=was_refused)
            waits.append(machine.due_ms - now_ms)
    assert REFUSED_CAP_MS == 2_000
    assert refused_waits == [250, 500, 1000, 2000, 2000, 2000, 2000, 2000, 2000, 2000]
    assert answered_waits[-1] == BACKOFF_CAP_MS
    # The refusals still count as attempts: HQ's first real failure after them backs off
    # from where the refusals left off, not from the start.
    now_ms = refused.due_ms
    in_flight(refused, now_ms)
    refused.failed(now_ms)
    assert refused.due_ms - now_ms == BACKOFF_CAP_MS


def test_a_success_resets_the_backoff() -> None:
    pusher = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=Dice("highest"))
    for _ in range(4):
        in_flight(pusher, pusher.due_ms)
        pusher.failed(pusher.due_ms)
    assert pusher.backoff.attempts == 4
    now_ms = pusher.due_ms
    in_flight(pusher, now_ms)
    pusher.acked(2, now_ms)
    assert pusher.backoff.attempts == 0
    in_flight(pusher, now_ms)
    pusher.failed(now_ms)
    assert pusher.due_ms - now_ms == BACKOFF_BASE_MS  # back to the first step


def test_hq_answering_the_other_direction_cuts_a_pending_retry_short() -> None:
    pusher = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=Dice("highest"))
    for _ in range(3):
        in_flight(pusher, pusher.due_ms)
        pusher.failed(pusher.due_ms)
    now_ms = pusher.due_ms - 1000
    pusher.link_up(now_ms)
    assert pusher.poll(now_ms) == Push(1, 5)
    assert pusher.backoff.attempts == 0


def test_link_up_changes_nothing_outside_backoff() -> None:
    pusher = idle_pusher(now_ms=0)
    pusher.committed(2, now_ms=0)
    pusher.link_up(now_ms=1)
    assert pusher.poll(1) == WaitUntil(LINGER_MS)  # the linger is not cut short


def test_a_halted_pusher_stays_idle_until_a_person_resumes_it() -> None:
    pusher = PushMachine(head_seq=5, acked_seq=0, now_ms=0, rng=random.Random(1))
    in_flight(pusher, 0)
    pusher.halted("forked_log: HQ holds another history for B01")
    assert phase_of(pusher) is Phase.HALTED
    assert pusher.halt_reason is not None
    assert "forked_log" in pusher.halt_reason
    pusher.committed(6, now_ms=100)  # the tills keep selling
    assert pusher.poll(10**9) == Idle()
    pusher.resume(now_ms=2000)
    assert pusher.phase is Phase.READY
    assert pusher.halt_reason is None
    assert pusher.poll(2000) == Push(1, 6)


@pytest.mark.parametrize(
    ("name", "act"),
    [
        ("acked while idle", lambda m: m.acked(0, 0)),
        ("failed while idle", lambda m: m.failed(0)),
        ("halted while idle", lambda m: m.halted("x")),
        ("resumed while idle", lambda m: m.resume(0)),
        ("commit older than the head", lambda m: m.committed(2, 0)),
    ],
)
def test_illegal_transitions_of_the_pusher_are_bugs(name: str, act: Callable[[PushMachine], None]) -> None:
    pusher = PushMachine(head_seq=3, acked_seq=3, now_ms=0, rng=random.Random(1))
    assert pusher.phase is Phase.IDLE
    with pytest.raises(InvariantBroken):
        act(pusher)


def test_an_ack_beyond_the_local_head_or_below_zero_is_a_bug() -> None:
    pusher = PushMachine(head_seq=3, acked_seq=0, now_ms=0, rng=random.Random(1))
    in_flight(pusher, 0)
    with pytest.raises(InvariantBroken, match=r"outside 0\.\.3"):
        pusher.acked(4, now_ms=0)
    with pytest.raises(InvariantBroken, match=r"outside 0\.\.3"):
        pusher.acked(-1, now_ms=0)


def test_acked_beyond_the_head_at_start_is_a_bug() -> None:
    with pytest.raises(InvariantBroken):
        PushMachine(head_seq=3, acked_seq=4, now_ms=0, rng=random.Random(1))


def test_a_ready_pusher_cannot_ack_fail_or_halt_before_sending() -> None:
    pusher = PushMachine(head_seq=3, acked_seq=0, now_ms=0, rng=random.Random(1))
    assert pusher.phase is Phase.READY
    outcomes: list[Callable[[], None]] = [
        lambda: pusher.acked(3, 0),
        lambda: pusher.failed(0),
        lambda: pusher.halted("x"),
    ]
    for act in outcomes:
        with pytest.raises(InvariantBroken, match="not allowed in ready"):
            act()


def pusher_in(phase: Phase) -> PushMachine:
    if phase is Phase.IDLE:
        return PushMachine(head_seq=3, acked_seq=3, now_ms=0, rng=random.Random(1))
    pusher = PushMachine(head_seq=3, acked_seq=0, now_ms=0, rng=random.Random(1))
    if phase is not Phase.READY:
        in_flight(pusher, 0)
    if phase is Phase.BACKOFF:
        pusher.failed(0)
    elif phase is Phase.HALTED:
        pusher.halted("forked_log")
    assert pusher.phase is phase
    return pusher


OUTCOMES: dict[Event, Callable[[PushMachine], None]] = {
    Event.DONE: lambda m: m.acked(m.head_seq, 0),
    Event.FAIL: lambda m: m.failed(0),
    Event.HALT: lambda m: m.halted("quarantined"),
    Event.RESUME: lambda m: m.resume(0),
}


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@pytest.mark.parametrize("event", list(OUTCOMES), ids=lambda e: e.value)
def test_an_event_is_accepted_exactly_where_the_transition_table_lists_it(phase: Phase, event: Event) -> None:
    pusher = pusher_in(phase)
    if (phase, event) in TRANSITIONS:
        OUTCOMES[event](pusher)
        assert pusher.phase in TRANSITIONS[(phase, event)]
    else:
        with pytest.raises(InvariantBroken, match=f"{event.value} is not allowed in {phase.value}"):
            OUTCOMES[event](pusher)
        assert pusher.phase is phase


def test_a_commit_that_adds_nothing_never_produces_an_empty_push() -> None:
    pusher = PushMachine(head_seq=3, acked_seq=3, now_ms=0, rng=random.Random(1))
    try:
        pusher.committed(3, now_ms=0)
    except InvariantBroken:
        return  # refusing it loudly would be as good
    action = pusher.poll(LINGER_MS)
    assert not (isinstance(action, Push) and action.first_seq > action.last_seq), action


# -- pulling ----------------------------------------------------------------------------------------


def test_the_puller_reads_after_its_cursor_at_once_and_again_after_each_page() -> None:
    puller = PullMachine(cursor_seq=7, now_ms=0, rng=random.Random(1))
    # Rule 5: the first read since the start asks HQ to answer at once; once HQ has
    # answered, reads are long polls.
    assert puller.poll(0) == Fetch(after_seq=7, wait=False)
    assert puller.poll(1) == Idle()  # one fetch in flight
    puller.applied(9, now_ms=30)
    assert puller.poll(30) == Fetch(after_seq=9, wait=True)
    puller.applied(9, now_ms=30_030)  # an empty page after a long poll
    assert puller.poll(30_030) == Fetch(after_seq=9)


def test_the_puller_backs_off_after_a_failure_and_resets_on_success() -> None:
    puller = PullMachine(cursor_seq=0, now_ms=0, rng=Dice("lowest"))
    puller.poll(0)
    puller.failed(now_ms=10)
    assert puller.poll(10) == WaitUntil(10 + BACKOFF_BASE_MS // 2)
    assert puller.poll(10 + BACKOFF_BASE_MS // 2) == Fetch(0, wait=False)  # in doubt: at once
    puller.applied(4, now_ms=200)
    assert puller.backoff.attempts == 0
    assert puller.poll(200) == Fetch(4, wait=True)


def test_the_feed_cursor_never_moves_back() -> None:
    puller = PullMachine(cursor_seq=9, now_ms=0, rng=random.Random(1))
    puller.poll(0)
    with pytest.raises(InvariantBroken, match="moved back"):
        puller.applied(8, now_ms=1)


def test_a_halted_puller_waits_for_resume() -> None:
    puller = PullMachine(cursor_seq=0, now_ms=0, rng=random.Random(1))
    puller.poll(0)
    puller.halted("bad_signature: HQ's feed key changed")
    assert puller.poll(10**9) == Idle()
    puller.resume(now_ms=5)
    assert puller.poll(5) == Fetch(0, wait=False)  # HQ has not answered since the start


def test_the_puller_cannot_report_a_page_it_did_not_ask_for() -> None:
    puller = PullMachine(cursor_seq=0, now_ms=0, rng=random.Random(1))
    with pytest.raises(InvariantBroken):
        puller.applied(1, now_ms=0)


# -- a flaky link, as rules -------------------------------------------------------------------------


class FlakyLink(RuleBasedStateMachine):
    """Commits, polls, acks, rewinds, failures, halts and time passing, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.now_ms = 0
        self.pusher = PushMachine(head_seq=0, acked_seq=0, now_ms=0, rng=random.Random(0))
        self.sent: Push | None = None

    @initialize(
        acked=st.integers(0, 30),
        backlog=st.integers(0, 30),
        max_batch=st.integers(1, 8),
        seed=st.integers(0, 2**32),
    )
    def start(self, acked: int, backlog: int, max_batch: int, seed: int) -> None:
        self.pusher = PushMachine(
            head_seq=acked + backlog,
            acked_seq=acked,
            now_ms=0,
            rng=random.Random(seed),
            max_batch_entries=max_batch,
        )

    @rule(entries=st.integers(1, 20))
    def commit(self, entries: int) -> None:
        self.pusher.committed(self.pusher.head_seq + entries, self.now_ms)

    @rule(elapsed_ms=st.integers(0, BACKOFF_CAP_MS + 1000))
    def time_passes(self, elapsed_ms: int) -> None:
        self.now_ms += elapsed_ms

    @rule()
    def poll(self) -> None:
        phase, due_ms = self.pusher.phase, self.pusher.due_ms
        action = self.pusher.poll(self.now_ms)
        if isinstance(action, Push):
            assert phase in (Phase.READY, Phase.BACKOFF)
            assert self.now_ms >= due_ms
            assert action.first_seq == self.pusher.acked_seq + 1
            assert action.first_seq <= action.last_seq <= self.pusher.head_seq
            assert action.last_seq - action.first_seq + 1 <= self.pusher.max_batch_entries
            self.sent = action
        elif isinstance(action, WaitUntil):
            assert phase in (Phase.READY, Phase.BACKOFF)
            assert action.at_ms == due_ms > self.now_ms
        else:
            assert phase in (Phase.IDLE, Phase.IN_FLIGHT, Phase.HALTED)

    @precondition(lambda self: self.sent is not None)
    @rule(data=st.data())
    def hq_acks(self, data: st.DataObject) -> None:
        assert self.sent is not None
        seq = data.draw(st.integers(self.pusher.acked_seq, self.sent.last_seq), label="acked_seq")
        self.pusher.acked(seq, self.now_ms)
        self.sent = None
        assert self.pusher.acked_seq == seq
        assert (self.pusher.phase is Phase.IDLE) == (self.pusher.backlog == 0)

    @precondition(lambda self: self.sent is not None)
    @rule(data=st.data())
    def hq_restored_from_backup(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(0, self.pusher.acked_seq), label="rewound_to")
        self.pusher.acked(seq, self.now_ms)
        self.sent = None
        assert self.pusher.acked_seq == seq

    @precondition(lambda self: self.sent is not None)
    @rule()
    def request_fails(self) -> None:
        ceiling = ceiling_ms(self.pusher.backoff.attempts)
        self.pusher.failed(self.now_ms)
        self.sent = None
        assert ceiling // 2 <= self.pusher.due_ms - self.now_ms <= ceiling

    @precondition(lambda self: self.sent is not None)
    @rule()
    def hq_refuses_for_good(self) -> None:
        self.pusher.halted("quarantined")
        self.sent = None

    @precondition(lambda self: self.pusher.phase is Phase.HALTED)
    @rule()
    def operator_resumes(self) -> None:
        self.pusher.resume(self.now_ms)

    @rule()
    def pull_direction_reaches_hq(self) -> None:
        self.pusher.link_up(self.now_ms)

    @invariant()
    def acked_never_passes_the_head(self) -> None:
        assert 0 <= self.pusher.acked_seq <= self.pusher.head_seq

    @invariant()
    def in_flight_exactly_when_a_push_awaits_its_outcome(self) -> None:
        assert (self.pusher.phase is Phase.IN_FLIGHT) == (self.sent is not None)

    def teardown(self) -> None:
        # Heal phase: the operator resumes, the link stays up, HQ acks whole batches.
        pusher = self.pusher
        if pusher.phase is Phase.HALTED:
            pusher.resume(self.now_ms)
        if self.sent is not None:
            pusher.acked(self.sent.last_seq, self.now_ms)
        budget = 2 * (pusher.backlog // pusher.max_batch_entries + 2)
        for _ in range(budget):
            action = pusher.poll(self.now_ms)
            if isinstance(action, Push):
                pusher.acked(action.last_seq, self.now_ms)
            elif isinstance(action, WaitUntil):
                self.now_ms = action.at_ms
            else:
                break
        assert pusher.acked_seq == pusher.head_seq, f"{pusher.backlog} entries left after the heal"
        assert pusher.phase is Phase.IDLE


FlakyLink.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_a_flaky_link_never_breaks_the_push_rules_and_drains_once_healed = FlakyLink.TestCase


# -- determinism --------------------------------------------------------------------------------


def simulate(seed: int, steps: int = 400) -> list[Decision]:
    """A branch on a flaky link; every choice comes from `seed`."""
    world = random.Random(seed)
    pusher = PushMachine(head_seq=0, acked_seq=0, now_ms=0, rng=random.Random(seed), max_batch_entries=50)
    now_ms = 0
    decisions: list[Decision] = []
    for _ in range(steps):
        if world.random() < 0.3:
            pusher.committed(pusher.head_seq + world.randint(1, 40), now_ms)
        action = pusher.poll(now_ms)
        decisions.append(action)
        if isinstance(action, Push):
            if world.random() < 0.4:
                pusher.failed(now_ms)
            else:
                pusher.acked(world.randint(action.first_seq - 1, action.last_seq), now_ms)
        elif isinstance(action, WaitUntil):
            now_ms = action.at_ms
        else:
            now_ms += world.randint(1, 100)
    return decisions


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_the_same_seed_gives_identical_decisions(seed: int) -> None:
    decisions = simulate(seed)
    assert any(isinstance(action, Push) for action in decisions)
    assert simulate(seed) == decisions


def test_different_seeds_give_different_jitter() -> None:
    assert simulate(1) != simulate(2)


def test_after_a_failure_pushes_probe_with_a_small_batch_until_hq_acks() -> None:
    pusher = PushMachine(head_seq=1200, acked_seq=0, now_ms=0, rng=random.Random(1))
    assert pusher.poll(0) == Push(1, 500)
    pusher.failed(now_ms=0)
    retry_at = pusher.due_ms
    # HQ may still be away: the retry risks 20 entries, not 500.
    assert PROBE_BATCH_ENTRIES == 20
    assert pusher.poll(retry_at) == Push(1, 20)
    pusher.acked(20, now_ms=retry_at)
    # HQ answered: full batches again.
    assert pusher.poll(retry_at) == Push(21, 520)
