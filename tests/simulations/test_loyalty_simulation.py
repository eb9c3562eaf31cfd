"""Points and vouchers under simulation: three stores, two of them cut off from HQ for
forty minutes, while members earn points by HQ's rules, pay with them, turn them into
stored value, bring sales back and use vouchers (the same one at both cut-off stores),
hold every invariant; and each points and voucher checker is shown naming the breakage
it guards against, in a world broken after the run or by broken production code."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import hq.conflicts
from node.services import cards
from simulations.engine import Simulation
from simulations.invariants import INVARIANTS, Checker, check_all
from simulations.loyalty_invariants import EARNED_ONCE, LOYALTY_INVARIANTS, VOUCHERS_QUEUED
from simulations.loyalty_ops import POINTS_RULES
from simulations.model import RunResult
from simulations.points_laws import POINTS_CONSERVED, SALE_POINTS, points_entries
from simulations.real import not_applied
from simulations.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"
POINTS = SCENARIOS / "points-partition.toml"
# About 3.5 s a seed on this machine (75 simulated minutes, 40 of them cut off), so one
# seed here: it pays with points on both sides of the cut (overdrafts of points in HQ's
# queue), reuses vouchers there (voucher_reused conflicts), gives voucher uses back by
# whole returns and pays referrers. `branchline simulate ... --seeds N` sweeps more.
SEEDS = (1,)
# The seed whose run is also judged broken, after the run and with broken code.
BROKEN_SEED = 1


@dataclass(frozen=True)
class Seen:
    """A run's outcome, and what its tills, HQ's directory and HQ's queue show of points."""

    result: RunResult
    kinds_at_hq: Counter[str]  # points entries at HQ, by kind
    points_overdrafts: int  # overdraft conflicts on the points ledger in HQ's queue
    paid_with_points: Counter[str]  # sales paid with points, by branch
    rules_applied: frozenset[str]  # HQ's rules some sale's points reasons name
    reinstated: int  # voucher uses a return gave back, as the tills were told
    corrupted: Corrupted


@dataclass(frozen=True)
class Corrupted:
    """The same world once judged, then changed behind its replicas' backs: BR02's copy of
    an earning worth 7 points more in its balance column than its record says, and a line
    of a BR01 sale claiming a point more than the sale earned. What the registry found,
    and found with each checker left out (by the checker's name)."""

    card: str  # the card whose earning BR02 holds wrong
    sale: str  # the BR01 sale whose line was changed
    everything: dict[str, list[str]]
    without: dict[str, set[str]]


_seen: dict[int, Seen] = {}
# The checkers the corrupted world is judged without, one at a time.
CORRUPTION_NAMED_BY = ("points_conserved", "sale_points_add_up")


async def _broken(registry: Sequence[Checker], simulation: Simulation) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for checker in registry:
        for violation in await checker(simulation):
            found.setdefault(violation.invariant, []).append(violation.detail)
    return found


async def _judged(simulation: Simulation, checker: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What the registry finds, and what it finds with `checker` left out."""
    left_out = [each for each in INVARIANTS if each.__name__ != checker]
    assert len(left_out) == len(INVARIANTS) - 1, f"no checker {checker} in the registry"
    return await _broken(INVARIANTS, simulation), await _broken(left_out, simulation)


def _corrupt(path: Path, statement: str) -> str:
    """Run one UPDATE on a replica's file behind its back; the key it names of the row."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        changed = conn.execute(statement).fetchone()
        conn.commit()
    assert changed is not None, f"nothing to corrupt: {statement}"
    return str(changed[0])


async def _corrupted(simulation: Simulation) -> Corrupted:
    card = _corrupt(
        simulation.nodes["BR02"].root / "node.sqlite",
        "UPDATE dir_ledger SET amount = amount + 7 WHERE entry_id = (SELECT MIN(entry_id) FROM dir_ledger"
        " WHERE ledger = 'points' AND amount > 0) RETURNING card_id",
    )
    sale = _corrupt(
        simulation.nodes["BR01"].root / "node.sqlite",
        "UPDATE sale_lines SET points = points + 1 WHERE (sale_id, line_no) = (SELECT sale_id, line_no"
        " FROM sale_lines WHERE points > 0 ORDER BY sale_id, line_no LIMIT 1) RETURNING sale_id",
    )
    without = {}
    for checker in CORRUPTION_NAMED_BY:
        everything, left_out = await _judged(simulation, checker)
        without[checker] = set(left_out)
    return Corrupted(card, sale, everything, without)


async def _observed(simulation: Simulation) -> Seen:
    result = await simulation.run()
    result.violations = await check_all(simulation)
    with contextlib.closing(sqlite3.connect(simulation.hq.root / "hq.sqlite")) as conn:
        kinds = Counter(entry.kind for entry in points_entries(conn))
    queue = await simulation.hq.hq.store.conflicts(None)
    told = simulation.ledger.loyalty
    return Seen(
        result,
        kinds,
        sum(1 for c in queue if c.kind == "overdraft" and c.details.get("ledger") == "points"),
        Counter(sale.branch for sale in told.sales.values() if sale.points_paid),
        frozenset(code for sale in told.sales.values() for code in sale.rules),
        len(told.reinstated),
        await _corrupted(simulation),  # last: it spoils the world
    )


def points_run(seed: int, tmp_path_factory: pytest.TempPathFactory) -> Seen:
    """The scenario's run for `seed`, run once per test session however many tests ask."""
    if seed not in _seen:

        async def run() -> Seen:
            simulation = Simulation(load_scenario(POINTS), seed, tmp_path_factory.mktemp(f"points-{seed}"))
            try:
                return await _observed(simulation)
            finally:
                await simulation.close()

        _seen[seed] = asyncio.run(run())
    return _seen[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_members_earning_and_spending_points_on_both_sides_of_a_cut_hold_every_invariant_for_seed(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    seen = points_run(seed, tmp_path_factory)
    assert seen.result.violations == [], f"replay: {seen.result.replay_command(str(POINTS))}"
    assert seen.result.converged_at_ms is not None


def test_the_run_earns_by_hqs_rules_pays_converts_returns_and_reuses_vouchers_while_apart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    seen = points_run(BROKEN_SEED, tmp_path_factory)
    # Every rule HQ authored reached the branches and shaped some sale's points.
    assert seen.rules_applied >= {rule["code"] for rule in POINTS_RULES}
    # Earned, paid with at both cut-off stores, given back and taken back by returns,
    # turned into stored value, paid to referrers by HQ.
    assert {"earn", "redeem", "refund", "return", "referral"} <= set(seen.kinds_at_hq), seen.kinds_at_hq
    assert seen.paid_with_points["BR02"] > 0
    assert seen.paid_with_points["BR03"] > 0
    assert sum(f.points_converted for f in seen.result.branches.values()) > 0
    # The same points spent at both sides of the cut, the same vouchers used at both, and
    # whole returns giving voucher uses back.
    assert seen.points_overdrafts > 0
    assert seen.result.conflicts_found("voucher_reused") > 0
    assert seen.reinstated > 0


def test_points_rates_default_to_nothing_and_real_mode_says_it_does_not_apply_them() -> None:
    plain = load_scenario(SCENARIOS / "promotion-partition.toml")
    assert not plain.uses_loyalty
    assert load_scenario(POINTS).uses_loyalty
    assert any("points rules" in note for note in not_applied(load_scenario(POINTS)))
    assert not any("points rules" in note for note in not_applied(plain))


# -- each checker, shown naming the breakage it guards against ----------------------------


@pytest.mark.parametrize(
    ("checker", "invariant", "named"),
    [
        ("points_conserved", POINTS_CONSERVED, "BR02: card {card}: earn "),
        ("sale_points_add_up", SALE_POINTS, "BR01: sale {sale} earned "),
    ],
)
def test_a_replicas_ledger_row_or_sale_line_changed_behind_its_back_is_named(
    checker: str, invariant: str, named: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The clean run held every invariant; changed behind the replicas' backs, the checker
    names the replica, the card or sale, and what does not add up."""
    corrupted = points_run(BROKEN_SEED, tmp_path_factory).corrupted
    shown = named.format(card=corrupted.card, sale=corrupted.sale)
    assert any(shown in detail for detail in corrupted.everything.get(invariant, [])), corrupted.everything
    assert invariant not in corrupted.without[checker]


def an_earning_booked_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The till is told a sale earned its points; the card is given them twice, the second
    time under an id of its own (so the directory takes both)."""
    real = cards.record_ledger_entry

    def twice(
        tx: Any, entry_id: str, card_id: str, ledger: str, kind: str, amount: int, **context: Any
    ) -> Any:
        booked = real(tx, entry_id, card_id, ledger, kind, amount, **context)
        if ledger == "points" and kind == "earn":
            real(tx, f"{entry_id}-again", card_id, ledger, kind, amount, **context)
        return booked

    # Wherever the checkout books points from (the name each module imported).
    for name in ("node.services.checkout", "node.services.points_book"):
        with contextlib.suppress(ModuleNotFoundError):
            module = importlib.import_module(name)
            if hasattr(module, "record_ledger_entry"):
                monkeypatch.setattr(module, "record_ledger_entry", twice)


def hq_overlooks_reused_vouchers(monkeypatch: pytest.MonkeyPatch) -> None:
    """HQ's conflict queue takes every standing use of a voucher for its only one."""
    monkeypatch.setattr(hq.conflicts, "voucher_reuses", lambda redemptions, voucher_id: [])


@dataclass(frozen=True)
class Case:
    checker: str  # the checker's name in simulations.invariants.INVARIANTS
    invariant: str  # the invariant its violations name
    breaks: Callable[[pytest.MonkeyPatch], None]
    detail: str  # what its violation says, in part


CASES = (
    Case("points_earned_once", EARNED_ONCE, an_earning_booked_twice, "HQ's logs hold 2 earnings for it"),
    Case(
        "reused_vouchers_queued",
        VOUCHERS_QUEUED,
        hq_overlooks_reused_vouchers,
        "HQ's queue has no voucher_reused conflict naming it",
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.checker)
async def test_a_points_checker_catches_broken_code_and_nothing_stands_in_for_it(
    case: Case, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    case.breaks(monkeypatch)
    simulation = Simulation(load_scenario(POINTS), BROKEN_SEED, tmp_path)
    try:
        await simulation.run()
        everything, without_it = await _judged(simulation, case.checker)
    finally:
        await simulation.close()
    replay = f"branchline simulate {POINTS} --seed {BROKEN_SEED}"
    assert case.invariant in everything, (
        f"{case.checker} let {case.breaks.__name__} through; replay: {replay}"
    )
    assert any(case.detail in detail for detail in everything[case.invariant]), everything[case.invariant]
    assert case.invariant not in without_it


def test_every_points_checker_is_registered_and_shown_failing_here() -> None:
    shown = {case.checker for case in CASES} | set(CORRUPTION_NAMED_BY)
    assert {checker.__name__ for checker in LOYALTY_INVARIANTS} == shown
    assert set(LOYALTY_INVARIANTS) <= set(INVARIANTS)
