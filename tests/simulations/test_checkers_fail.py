"""Each invariant checker, shown failing: production code broken the way the checker
guards against, the seeded run, and the checker's violation among what the registry
finds. The same run judged by the registry with that checker left out lets the
breakage through, so no checker is dead weight and none stands in for another.

Checkers whose breakage needs a scenario of their own (the member directory's
conflicts, stock transfers, cards of a type, points and vouchers) are shown in the test named for them in
`SHOWN_ELSEWHERE`; every checker in the registry is shown in one place or the other.
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.services import checkout
from node.store.writer import Tx
from protocol import replication
from protocol.entry import Entry
from protocol.ingest import AllHeld, Decision, Fork
from shared_tables import directory_store
from simulations.engine import Simulation
from simulations.invariants import INVARIANTS, Checker
from tests.simulations.test_simulation import TINY

SEED = 7
REPLAY = f"the tiny scenario (tests/simulations/test_simulation.py) with seed {SEED}"


def hq_serves_its_copy_of_a_log_out_of_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """HQ's read of a branch's log (what an auditor and the restore read) ordered by
    the entries' hashes, not by sequence: every entry there, hardly one in its place."""
    from hq.storage.sqlite import logs

    real = logs.log_entries

    def by_hash(conn: Any, origin: str, first_seq: int, last_seq: int) -> list[bytes]:
        return sorted(real(conn, origin, first_seq, last_seq), key=lambda raw: hashlib.sha256(raw).digest())

    monkeypatch.setattr(logs, "log_entries", by_hash)


def a_branch_loses_every_fourth_sale_it_acknowledged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The till hears "booked" but the branch's sales table loses the row."""
    real = checkout.checkout_job
    booked = {"sales": 0}

    def loses_some(*args: Any, **kwargs: Any) -> Callable[[Tx], dict[str, Any]]:
        job = real(*args, **kwargs)

        def run(tx: Tx) -> dict[str, Any]:
            result: dict[str, Any] = job(tx)
            booked["sales"] += 1
            if booked["sales"] % 4 == 0:
                tx.conn.execute("DELETE FROM sales WHERE id = ?", (result["id"],))
            return result

        return run

    monkeypatch.setattr(checkout, "checkout_job", loses_some)


def hq_takes_a_repeated_push_for_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch HQ already holds (a retry, a duplicated message) decided as two histories:
    the branch is quarantined though it never forged anything."""
    from hq.storage.sqlite import ingest

    real = ingest.decide  # type: ignore[attr-defined]

    def suspicious(entries: Sequence[Entry], **kwargs: Any) -> Decision:
        decision = real(entries, **kwargs)
        if isinstance(decision, AllHeld):
            return Fork(entries[0].seq, b"", entries[0].raw)
        return decision

    monkeypatch.setattr(ingest, "decide", suspicious)


def the_replicator_backs_off_for_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after a failure wait an hour or two: the branches stay behind long after
    the faults have healed."""
    monkeypatch.setattr(replication.Backoff.__init__, "__defaults__", (3_600_000, 7_200_000))


def hq_shows_points_rounded_to_hundreds(monkeypatch: pytest.MonkeyPatch) -> None:
    """HQ's member view rounds each balance of points down to a hundred."""
    real = directory_store.member_json

    def rounded(conn: Any, member_id: str) -> dict[str, Any] | None:
        view = real(conn, member_id)
        if view is not None:
            view["balances"] = {**view["balances"], "points": view["balances"]["points"] // 100 * 100}
        return view

    monkeypatch.setattr(directory_store, "member_json", rounded)


def the_writer_forgets_who_is_acting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer reads the acting operator from a variable no session sets: every entry
    names nobody, though the till logged in."""
    from node.store import writer

    monkeypatch.setattr(writer, "ACTING_OPERATOR", contextvars.ContextVar("nobody", default=""))


@dataclass(frozen=True)
class Case:
    checker: str  # the checker's name in simulations.invariants.INVARIANTS
    invariant: str  # the invariant its violations name
    breaks: Callable[[pytest.MonkeyPatch], None]


CASES = (
    Case("logs_converged", "logs converge", hq_serves_its_copy_of_a_log_out_of_order),
    Case(
        "acknowledged_sales_exactly_once",
        "no sale lost or doubled",
        a_branch_loses_every_fourth_sale_it_acknowledged,
    ),
    Case("no_quarantine_without_fork", "no quarantine without a fork", hq_takes_a_repeated_push_for_a_fork),
    Case("converged_within_budget", "converges within budget", the_replicator_backs_off_for_hours),
    Case("balances_equal_ledger", "balances equal the ledger", hq_shows_points_rounded_to_hundreds),
    Case("sales_name_their_operator", "sales name their operator", the_writer_forgets_who_is_acting),
)

# Checkers shown failing by a test of their own: module, test.
SHOWN_ELSEWHERE = {
    "members_everywhere": (
        "test_simulation",
        "test_a_broken_directory_merge_is_caught_and_the_seed_is_reported",
    ),
    "sales_totals_match": ("test_simulation", "test_sales_dropped_by_a_broken_ingest_are_caught"),
    "every_effect_applied": ("test_simulation", "test_an_hq_setting_aside_effects_it_could_apply_is_caught"),
    "directory_converged": ("test_directory_simulation", "test_hq_keeping_its_sightings_to_itself_is_caught"),
    "directory_writes_exactly_once": (
        "test_directory_simulation",
        "test_hq_dropping_a_stores_card_spends_is_caught",
    ),
    "conflicts_surfaced": ("test_directory_simulation", "test_hq_skipping_conflict_detection_is_caught"),
    "lost_cards_stay_lost": (
        "test_directory_simulation",
        "test_card_status_merged_last_writer_wins_is_caught",
    ),
    "stock_conserved": ("test_inventory_simulation", "test_a_destination_booking_a_delivery_twice_is_caught"),
    "transfers_booked_exactly_once": (
        "test_inventory_simulation",
        "test_an_hq_dropping_transfer_deliveries_is_caught",
    ),
    "cost_conserved": ("test_inventory_simulation", "test_a_destination_booking_at_the_wrong_cost_is_caught"),
    "hq_stock_matches_nodes": (
        "test_inventory_simulation",
        "test_an_hq_missing_the_stock_transfers_book_in_is_caught",
    ),
    **dict.fromkeys(
        (
            "uses_conserved",
            "overspent_uses_are_conflicts",
            "card_money_conserved",
            "replaced_numbers_refused",
            "card_changes_take_the_latest",
            "stale_upgrades_queued",
            "passwords_guard_spends",
            "card_paid_returns_refunded",
        ),
        (
            "test_card_simulation",
            "test_a_card_checker_catches_what_it_guards_against_and_nothing_stands_in_for_it",
        ),
    ),
    **dict.fromkeys(
        ("points_conserved", "sale_points_add_up"),
        (
            "test_loyalty_simulation",
            "test_a_replicas_ledger_row_or_sale_line_changed_behind_its_back_is_named",
        ),
    ),
    **dict.fromkeys(
        ("points_earned_once", "reused_vouchers_queued"),
        ("test_loyalty_simulation", "test_a_points_checker_catches_broken_code_and_nothing_stands_in_for_it"),
    ),
}


async def _invariants_broken(registry: Sequence[Checker], simulation: Simulation) -> set[str]:
    return {violation.invariant for checker in registry for violation in await checker(simulation)}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.checker)
async def test_a_checker_catches_what_it_guards_against_and_nothing_stands_in_for_it(
    case: Case, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    case.breaks(monkeypatch)
    simulation = Simulation(TINY, SEED, tmp_path)
    try:
        await simulation.run()
        everything = await _invariants_broken(INVARIANTS, simulation)
        left_out = [checker for checker in INVARIANTS if checker.__name__ != case.checker]
        assert len(left_out) == len(INVARIANTS) - 1, f"no checker {case.checker} in the registry"
        without_it = await _invariants_broken(left_out, simulation)
    finally:
        await simulation.close()
    assert case.invariant in everything, (
        f"{case.checker} let {case.breaks.__name__} through; replay: {REPLAY}"
    )
    assert case.invariant not in without_it, (
        f"with {case.checker} left out of the registry, another checker still reports"
        f" {case.invariant!r}: one of them stands in for the other"
    )


def test_every_checker_in_the_registry_is_shown_failing_somewhere() -> None:
    registered = {checker.__name__ for checker in INVARIANTS}
    shown_here = {case.checker for case in CASES}
    assert not shown_here & set(SHOWN_ELSEWHERE), "a checker is listed twice"
    assert registered == shown_here | set(SHOWN_ELSEWHERE), (
        f"checkers never shown failing: {sorted(registered - shown_here - set(SHOWN_ELSEWHERE))};"
        f" named but not registered: {sorted((shown_here | set(SHOWN_ELSEWHERE)) - registered)}"
    )
    for module, test in SHOWN_ELSEWHERE.values():
        assert callable(getattr(importlib.import_module(f"tests.simulations.{module}"), test, None)), test
