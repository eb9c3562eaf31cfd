"""HQ's decision on an incoming batch (protocol/ingest.py): held, new, gap or fork.

The worked examples use one branch log of five sales. In each, HQ holds the first
`acked_seq` of them and is offered a slice; the property then checks every slice
of a true history and of a history that forked, against an oracle written from
the module's rules.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.entry import GENESIS_HASH, Entry
from protocol.errors import InvariantBroken, SequenceGap
from protocol.ingest import AllHeld, Decision, Fork, Gap, NewEntries, decide, held_range
from tests.protocol.strategies import PROPERTY, make_chain

LOG = make_chain("BR01", [{"amount_fen": 100 * n} for n in range(1, 6)])
# BR01's other history: the same first two sales, then a different third onwards.
OTHER = LOG[:2] + make_chain("BR01", [{"amount_fen": 9_999}] * 3, first_seq=3, prev_hash=LOG[1].hash)


def at(seq: int, log: list[Entry] = LOG) -> Entry:
    return log[seq - 1]


def hq_holding(acked_seq: int, log: list[Entry] = LOG) -> tuple[bytes, dict[int, bytes]]:
    """HQ's head hash and stored bytes when it holds the first `acked_seq` entries of `log`."""
    head_hash = at(acked_seq, log).hash if acked_seq else GENESIS_HASH
    return head_hash, {entry.seq: entry.raw for entry in log[:acked_seq]}


def offer(first: int, last: int, acked_seq: int, log: list[Entry] = LOG) -> Decision:
    """HQ holds LOG[:acked_seq] and is offered entries first..last of `log`."""
    head_hash, held = hq_holding(acked_seq)
    return decide(log[first - 1 : last], acked_seq=acked_seq, head_hash=head_hash, held=held)


def test_a_first_batch_from_genesis_is_all_new() -> None:
    assert offer(1, 3, acked_seq=0) == NewEntries((at(1), at(2), at(3)), duplicates=0)


def test_a_batch_that_continues_the_held_log_is_all_new() -> None:
    assert offer(4, 5, acked_seq=3) == NewEntries((at(4), at(5)), duplicates=0)


def test_a_resend_of_held_entries_is_all_held() -> None:
    assert offer(1, 3, acked_seq=3) == AllHeld(duplicates=3)
    assert offer(2, 2, acked_seq=5) == AllHeld(duplicates=1)


def test_an_overlapping_batch_brings_only_the_entries_past_the_head() -> None:
    # HQ holds 1..3; offered 2..5: 2 and 3 are duplicates, 4 and 5 are new.
    assert offer(2, 5, acked_seq=3) == NewEntries((at(4), at(5)), duplicates=2)


def test_a_batch_past_the_next_sequence_is_a_gap_and_says_where_to_resume() -> None:
    gap = offer(5, 5, acked_seq=3)
    assert gap == Gap(expected_seq=4, first_seq=5)
    assert isinstance(gap, Gap)
    refusal = gap.refusal("BR01")
    assert isinstance(refusal, SequenceGap)
    assert refusal.expected_seq == 4
    assert str(refusal) == "HQ holds BR01 up to 3; the batch starts at 5"


def test_a_known_entry_that_differs_is_a_fork_at_its_sequence_with_both_entries() -> None:
    # HQ holds 1..4 of LOG; BR01 signed OTHER, whose entry 3 differs.
    assert offer(2, 4, acked_seq=4, log=OTHER) == Fork(3, at(3).raw, at(3, OTHER).raw)


def test_a_new_entry_not_linking_to_the_head_is_a_fork_at_the_head() -> None:
    # HQ holds 1..3 of LOG and is offered only OTHER's 4, which links to OTHER's 3.
    assert offer(4, 4, acked_seq=3, log=OTHER) == Fork(3, at(3).raw, at(4, OTHER).raw)


def test_a_first_entry_not_linking_to_genesis_is_a_fork_at_zero_with_nothing_held() -> None:
    orphan = make_chain("BR01", [{"amount_fen": 1}], prev_hash=LOG[0].hash)
    assert decide(orphan, acked_seq=0, head_hash=GENESIS_HASH, held={}) == Fork(0, b"", orphan[0].raw)


@pytest.mark.parametrize(
    ("first", "last", "acked_seq", "needed"),
    [
        pytest.param(1, 3, 0, [], id="nothing-held"),
        pytest.param(4, 5, 3, [3], id="continues: the head, as evidence"),
        pytest.param(2, 5, 3, [2, 3], id="overlaps"),
        pytest.param(1, 2, 5, [1, 2], id="all-held"),
        pytest.param(5, 5, 3, [], id="gap"),
    ],
)
def test_held_range_names_the_bytes_the_decision_reads(
    first: int, last: int, acked_seq: int, needed: list[int]
) -> None:
    assert list(held_range(first, last, acked_seq)) == needed


def test_held_bytes_missing_under_the_head_is_our_bug_and_raises_loudly() -> None:
    head_hash, held = hq_holding(3)
    del held[2]
    with pytest.raises(InvariantBroken, match="holds entry 2"):
        decide(LOG[1:4], acked_seq=3, head_hash=head_hash, held=held)


def test_an_unverified_batch_with_a_skipped_sequence_is_our_bug() -> None:
    with pytest.raises(InvariantBroken, match="consecutive"):
        decide([at(1), at(3)], acked_seq=0, head_hash=GENESIS_HASH, held={})


LENGTH = 8
TRUE = make_chain("BR09", [{"amount_fen": n} for n in range(LENGTH)])
# FORKED[f]: the same history up to entry f - 1, another from entry f on.
FORKED = {
    fork_at: TRUE[: fork_at - 1]
    + make_chain(
        "BR09",
        [{"amount_fen": -n} for n in range(fork_at, LENGTH + 1)],
        first_seq=fork_at,
        prev_hash=TRUE[fork_at - 2].hash if fork_at > 1 else GENESIS_HASH,
    )
    for fork_at in range(1, LENGTH + 1)
}


def expected(first: int, last: int, acked_seq: int, fork_at: int | None) -> Decision:
    """The rules, restated: the branch's history is LOG-like up to `fork_at` - 1 and
    different from `fork_at` on (None: no fork); HQ holds the true history's first
    `acked_seq` entries."""
    offered = TRUE if fork_at is None else FORKED[fork_at]
    if first > acked_seq + 1:
        return Gap(acked_seq + 1, first)
    if fork_at is not None:
        differing_known = max(first, fork_at)
        if differing_known <= min(last, acked_seq):
            return Fork(differing_known, TRUE[differing_known - 1].raw, offered[differing_known - 1].raw)
    if last <= acked_seq:
        return AllHeld(last - first + 1)
    if fork_at is not None and fork_at <= acked_seq:
        return Fork(acked_seq, TRUE[acked_seq - 1].raw, offered[acked_seq].raw)
    return NewEntries(tuple(offered[acked_seq:last]), acked_seq - first + 1 if first <= acked_seq else 0)


@PROPERTY
@given(
    acked_seq=st.integers(0, LENGTH),
    first=st.integers(1, LENGTH),
    span=st.integers(1, LENGTH),
    fork_at=st.none() | st.integers(1, LENGTH),
)
def test_every_slice_of_a_true_or_forked_history_is_decided_by_the_rules(
    acked_seq: int, first: int, span: int, fork_at: int | None
) -> None:
    last = min(LENGTH, first + span - 1)
    offered = TRUE if fork_at is None else FORKED[fork_at]
    head_hash = TRUE[acked_seq - 1].hash if acked_seq else GENESIS_HASH
    # HQ hands over only the bytes held_range names: the decision must need no more.
    needed = held_range(first, last, acked_seq)
    held = {seq: TRUE[seq - 1].raw for seq in needed}

    decision = decide(offered[first - 1 : last], acked_seq=acked_seq, head_hash=head_hash, held=held)

    assert decision == expected(first, last, acked_seq, fork_at)
    if isinstance(decision, NewEntries):
        # What is stored extends the held log into one unbroken chain.
        assert decision.entries[0].seq == acked_seq + 1
        assert decision.entries[0].prev_hash == head_hash
