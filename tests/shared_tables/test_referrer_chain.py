"""Who referred whom, upwards (directory_store.referrer_chain), as loyalty's referral
points will walk it: nearest first, as persons (survivors), stopping at the top, at an
id this replica does not know, and where the chain loops back."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.duplicates import Registration
from conflict.profile import stamp_fields
from node.store import schema
from protocol.errors import InvariantBroken
from shared_tables import directory_store
from tests.conflict.strategies import PROPERTY


def store() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    schema.migrate(conn)
    return conn


def register(
    conn: sqlite3.Connection,
    member_id: str,
    referrer: str | None = None,
    *,
    phone: str | None = None,
    hlc: int = 1,
) -> None:
    """A member registered at BR01 (phone defaulting to one of its own), naming a referrer."""
    phone = phone or f"phone-of-{member_id}"
    directory_store.add_records(conn, [Registration(member_id, phone, frozenset({member_id}), hlc, "BR01")])
    profile = {"name": member_id, "phone": phone, "referrer": referrer}
    directory_store.store_profile(conn, member_id, "BR01", stamp_fields(profile, hlc, "BR01"))


def refer(
    conn: sqlite3.Connection, member_id: str, referrer: str | None, hlc: int, node: str = "BR02"
) -> None:
    """An edit of the member's referrer (as a branch's edit or HQ's upsert merges it)."""
    directory_store.merge_profile(conn, member_id, "?", stamp_fields({"referrer": referrer}, hlc, node))


def test_the_chain_runs_upwards_nearest_first_to_the_top_and_within_its_depth() -> None:
    conn = store()
    register(conn, "M-A")  # the top: nobody referred A
    register(conn, "M-B", "M-A")
    register(conn, "M-C", "M-B")
    register(conn, "M-D", "M-C")
    assert directory_store.referrer_chain(conn, "M-D", 10) == ["M-C", "M-B", "M-A"]
    assert directory_store.referrer_chain(conn, "M-D", 2) == ["M-C", "M-B"]
    assert directory_store.referrer_chain(conn, "M-D", 0) == []
    assert directory_store.referrer_chain(conn, "M-A", 10) == []


def test_a_loop_written_at_two_branches_apart_stops_the_chain_before_it_repeats() -> None:
    conn = store()
    register(conn, "M-A")
    register(conn, "M-B", "M-A")
    register(conn, "M-C", "M-B")
    # Apart, BR02 made C the referrer of A, closing the loop A <- B <- C <- A;
    # last-writer-wins per field keeps every side of it.
    refer(conn, "M-A", "M-C", hlc=5)
    assert directory_store.referrer_chain(conn, "M-C", 10) == ["M-B", "M-A"]
    assert directory_store.referrer_chain(conn, "M-A", 10) == ["M-C", "M-B"]
    assert directory_store.referrer_chain(conn, "M-B", 10) == ["M-A", "M-C"]
    # D, referred by C, walks into the loop and stops where it would come round again.
    register(conn, "M-D", "M-C")
    assert directory_store.referrer_chain(conn, "M-D", 10) == ["M-C", "M-B", "M-A"]


def test_a_member_named_as_its_own_referrer_has_no_chain() -> None:
    conn = store()
    register(conn, "M-A")
    refer(conn, "M-A", "M-A", hlc=5)
    assert directory_store.referrer_chain(conn, "M-A", 10) == []


def test_the_chain_stops_at_a_referrer_this_replica_does_not_know() -> None:
    conn = store()
    register(conn, "M-B", "M-ELSEWHERE")  # registered at a branch whose entries have not arrived
    register(conn, "M-C", "M-B")
    assert directory_store.referrer_chain(conn, "M-C", 10) == ["M-B"]
    assert directory_store.referrer_chain(conn, "M-UNKNOWN", 10) == []


def test_the_chain_names_persons_a_duplicate_stands_for_its_survivor() -> None:
    conn = store()
    # B registered twice with one phone (two branches apart): B1 first, so B1 survives.
    register(conn, "M-B1", phone="13900000001", hlc=1)
    register(conn, "M-B2", phone="13900000001", hlc=2)
    register(conn, "M-A")
    refer(conn, "M-B2", "M-A", hlc=5)  # the referrer was set on the duplicate's profile
    register(conn, "M-C", "M-B2")
    assert directory_store.referrer_chain(conn, "M-C", 10) == ["M-B1", "M-A"]
    # A referrer that is the member's own duplicate is the member itself.
    refer(conn, "M-B1", "M-B2", hlc=6)
    assert directory_store.referrer_chain(conn, "M-B2", 10) == []


def test_a_depth_below_zero_is_a_bug_and_stops_loudly() -> None:
    with pytest.raises(InvariantBroken, match="below zero"):
        directory_store.referrer_chain(store(), "M-A", -1)


# -- the walk as a property over any referral graph ------------------------------------------

MEMBERS = ("M-0", "M-1", "M-2", "M-3", "M-4", "M-5")
graphs = st.dictionaries(
    st.sampled_from(MEMBERS), st.none() | st.sampled_from((*MEMBERS, "M-UNKNOWN")), min_size=1
)


@PROPERTY
@given(graphs, st.sampled_from((*MEMBERS, "M-UNKNOWN")), st.integers(min_value=0, max_value=8))
def test_any_chain_follows_referrers_never_repeats_and_stops_only_for_a_reason(
    referrers: dict[str, str | None], start: str, depth: int
) -> None:
    conn = store()
    for member, referrer in referrers.items():
        register(conn, member, referrer)
    chain = directory_store.referrer_chain(conn, start, depth)
    assert len(chain) <= depth
    assert len(set(chain)) == len(chain)
    assert start not in chain
    walked = [start, *chain]
    for lower, upper in zip(walked, chain, strict=False):
        assert referrers.get(lower) == upper  # each is the referrer of the one before
    if len(chain) < depth and start in referrers:
        last = referrers[walked[-1]]
        assert last is None or last not in referrers or last in walked
