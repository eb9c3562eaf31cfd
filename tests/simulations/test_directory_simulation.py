"""The member directory under simulation: two stores cut off during a promotion hold every
invariant across seeds, really raise every kind of conflict, and a broken ingredient is caught."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conflict.card_status import CardEvent
from conflict.wire import DirectoryRecord
from hq.plan import Plan
from simulations.model import RunResult, Violation
from simulations.real import not_applied
from simulations.report import render_html
from simulations.run import run_scenario
from simulations.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"
PROMOTION = SCENARIOS / "promotion-partition.toml"
# Each seed is a different interleaving of roaming spends, duplicate sign-ups,
# lost holds and the operator's decisions; the sweep takes under a minute.
SEEDS = range(1, 31)
# A seed whose run has duplicate members and overdrafts, for the broken HQ below.
BROKEN_SEED = 1
# Cards reported lost and suspended ten times as often as in the scenario, and a
# seed in which a card reported lost at one store is later suspended at another.
BUSY_CARD_DESK_PER_MINUTE = 0.5
BUSY_CARD_DESK_SEED = 2

_results: dict[int, RunResult] = {}


def promotion_run(seed: int) -> RunResult:
    """The scenario's run for `seed`, run once per test session however many tests ask."""
    if seed not in _results:
        _results[seed] = asyncio.run(run_scenario(load_scenario(PROMOTION), seed)).result
    return _results[seed]


def invariants_of(violations: Iterable[Violation]) -> set[str]:
    return {v.invariant for v in violations}


def test_every_seed_holds_every_invariant_raises_every_kind_of_conflict_and_spends_both_ways() -> None:
    """Every seed in one test, so the seeds run once, on one worker (a test per seed ran
    some of them on both)."""
    results = [promotion_run(seed) for seed in SEEDS]
    for result in results:
        assert result.violations == [], f"replay: {result.replay_command(str(PROMOTION))}"
        assert result.converged_at_ms is not None
    found = {
        kind: sum(r.conflicts_found(kind) for r in results)
        for kind in ("duplicate_member", "overdraft", "voucher_reused")
    }
    assert all(count > 0 for count in found.values()), found
    # Overdrafts come from stores spending one balance while apart; most seeds show some.
    assert sum(1 for r in results if r.conflicts_found("overdraft")) >= len(results) // 2
    # The operator decided some, and later data cleared or kept the rest.
    assert sum(r.conflicts.get(kind, {}).get("resolved", 0) for r in results for kind in found) > 0
    figures = [f for r in results for f in r.branches.values()]
    assert sum(f.spends_online for f in figures) > 0
    assert sum(f.spends_offline for f in figures) > 0
    assert sum(f.duplicate_registrations for f in figures) > 0
    assert sum(f.status_changes for f in figures) > 0
    assert sum(f.edits for f in figures) > 0


def test_the_same_seed_gives_a_byte_identical_report() -> None:
    first = promotion_run(3)
    second = asyncio.run(run_scenario(load_scenario(PROMOTION), 3)).result
    assert render_html(first, "promotion.toml") == render_html(second, "promotion.toml")
    assert "Conflicts in HQ&#x27;s queue" in render_html(first, "promotion.toml")


async def test_hq_skipping_conflict_detection_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def detects_nothing(conn: Any, records: list[DirectoryRecord], now_ms: int) -> None:
        return None

    monkeypatch.setattr("hq.storage.sqlite.directory.refresh_conflicts", detects_nothing)
    result = (await run_scenario(load_scenario(PROMOTION), BROKEN_SEED)).result
    assert "conflicts surfaced" in invariants_of(result.violations)
    details = " ".join(v.detail for v in result.violations)
    assert "overdraft conflicts missing from HQ's queue, e.g. overdraft:" in details
    assert "duplicate_member conflicts missing from HQ's queue, e.g. duplicate:" in details


async def test_hq_dropping_a_stores_card_spends_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import hq.plan

    real_plan = hq.plan.plan_entries

    def drops_br02_spends(entries: Any, *days: Any) -> Plan:
        plan = real_plan(entries, *days)
        plan.directory = [
            write
            for write in plan.directory
            if not (write.origin == "BR02" and getattr(write.record, "kind", None) == "spend")
        ]
        return plan

    monkeypatch.setattr("hq.storage.sqlite.ingest.plan_entries", drops_br02_spends)
    result = (await run_scenario(load_scenario(PROMOTION), BROKEN_SEED)).result
    broken = invariants_of(result.violations)
    assert {"directory writes exactly once", "directory converges"} <= broken
    assert any("is lost" in v.detail for v in result.violations)


async def test_card_status_merged_last_writer_wins_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop rule: a loss report stays in force until an unlock that saw it. Taking
    the latest event instead lets a later suspension or resume hide the loss."""
    shown = {"report_lost": "lost", "suspend": "suspended", "return": "returned"}

    def last_writer_wins(events: Iterable[CardEvent]) -> str:
        latest = max(events, key=lambda e: e.stamp, default=None)
        return "active" if latest is None else shown.get(latest.kind, "active")

    monkeypatch.setattr("shared_tables.directory_store.status", last_writer_wins)
    scenario = load_scenario(PROMOTION)
    scenario = replace(
        scenario, load=replace(scenario.load, status_changes_per_minute=BUSY_CARD_DESK_PER_MINUTE)
    )
    result = (await run_scenario(scenario, BUSY_CARD_DESK_SEED)).result
    assert "lost cards stay lost" in invariants_of(result.violations)


def test_real_mode_says_it_does_not_ring_up_the_directory() -> None:
    assert any("member directory" in note for note in not_applied(load_scenario(PROMOTION)))
    assert not any(
        "member directory" in note for note in not_applied(load_scenario(SCENARIOS / "ci-small.toml"))
    )


async def test_hq_keeping_its_sightings_to_itself_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """HQ orders registrations (who survives among duplicates) but tells no branch:
    the branches would rank duplicates by stamp and disagree with HQ."""
    from conflict.duplicates import Registration, Sighting
    from shared_tables import directory_store

    def sight_quietly(conn: Any, registration: Registration, *_: Any) -> Sighting:
        sighting = Sighting(registration.member_id, directory_store.next_sighting(conn))
        directory_store.add_records(conn, [sighting])
        return sighting

    monkeypatch.setattr("hq.storage.sqlite.directory.sight", sight_quietly)
    result = (await run_scenario(load_scenario(PROMOTION), BROKEN_SEED)).result
    assert "directory converges" in invariants_of(result.violations)
    assert any("sightings (0 here" in v.detail for v in result.violations)
