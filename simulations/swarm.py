"""Swarm testing, as TigerBeetle's VOPR does it: each seed derives its own world.

A scenario file asks one question; a swarm asks thousands nobody thought to
write down. From a base scenario (its branches, its trading time, its heal
budget and which kinds of business it runs) each seed draws which branches are
cut off and when, how lossy, duplicating, reordering and slow their links are,
which branches crash and how often, when HQ goes down, how far each branch's
clock is off, and how busy each kind of trading is. The run is the engine's two
phases: trading with every fault (safety), then the faults healed and the heal
budget for everything to converge (liveness). The same seed always derives the
same world, so a failing seed replays with `--swarm --seed N`.
"""

from __future__ import annotations

import random
from dataclasses import fields, replace

from simulations.model import (
    MINUTE_MS,
    SECOND_MS,
    Crash,
    HQOutage,
    LinkFaults,
    Load,
    Partition,
    Scenario,
    format_duration,
)

# How far a branch's clock may be off: within what HQ and the branches accept.
MAX_SKEW_S = 10 * 60
# Each kind of trading runs at a draw between these multiples of the base's rate;
# a kind the base does not run (rate 0) stays off, so a swarm of a scenario without
# stock or the directory exercises what that scenario exercises.
LOAD_FACTORS = (0.25, 2.5)
# Rates, not shares: what LOAD_FACTORS multiply.
_RATES = tuple(f.name for f in fields(Load) if f.name.endswith("_per_minute"))


def derive(base: Scenario, seed: int) -> Scenario:
    """The world of `seed`, drawn from `base`: the same for the same seed, on any machine."""
    rng = random.Random(f"branchline-swarm-{seed}")
    codes = [branch.code for branch in base.branches]
    trading_ms = base.duration_ms

    def instant() -> int:  # in the first three quarters of trading, to the second
        return rng.randrange(0, max(1, trading_ms * 3 // 4 // SECOND_MS)) * SECOND_MS

    def window(longest_share: float) -> tuple[int, int]:
        longest_s = max(MINUTE_MS, int(trading_ms * longest_share)) // SECOND_MS
        return instant(), rng.randint(30, longest_s) * SECOND_MS

    def some(most: int) -> tuple[str, ...]:
        return tuple(sorted(rng.sample(codes, rng.randint(1, min(most, len(codes))))))

    partitions = tuple(
        Partition(some(max(1, len(codes) // 2)), *window(0.4)) for _ in range(rng.randint(0, 2))
    )
    link_faults = tuple(
        LinkFaults(
            *window(0.8),
            branches=() if rng.random() < 0.5 else some(len(codes)),
            loss=round(rng.uniform(0, 0.3), 2),
            duplicate=round(rng.uniform(0, 0.2), 2),
            reorder=round(rng.uniform(0, 0.2), 2),
            extra_latency_ms=(0, rng.choice((0, 200, 1_000, 3_000))),
        )
        for _ in range(rng.randint(0, 2))
    )
    crashes = []
    for code in rng.sample(codes, rng.randint(0, min(3, len(codes)))):
        down_ms = rng.randint(5, 120) * SECOND_MS
        repeat = rng.choice((1, 1, 2, 3))
        crashes.append(
            Crash(
                code,
                instant(),
                down_ms,
                repeat=repeat,
                every_ms=down_ms + rng.randint(30, 180) * SECOND_MS if repeat > 1 else 0,
            )
        )
    hq_outages = tuple(
        HQOutage(instant(), rng.randint(30, 300) * SECOND_MS) for _ in range(rng.choice((0, 0, 1, 1, 2)))
    )
    branches = tuple(
        replace(
            branch,
            clock_skew_ms=rng.randint(-MAX_SKEW_S, MAX_SKEW_S) * SECOND_MS if rng.random() < 0.3 else 0,
        )
        for branch in base.branches
    )
    load = replace(
        base.load,
        **{rate: round(getattr(base.load, rate) * rng.uniform(*LOAD_FACTORS), 3) for rate in _RATES},
    )
    return replace(
        base,
        name=f"{base.name} (swarm seed {seed})",
        seed=seed,
        branches=branches,
        load=load,
        partitions=partitions,
        link_faults=link_faults,
        crashes=tuple(crashes),
        hq_outages=hq_outages,
    )


def describe(scenario: Scenario) -> list[str]:
    """Every option a swarm seed derived, one line each, as printed before its run."""
    at = format_duration
    lines = [f"seed {scenario.seed}: {scenario.name}"]
    for p in scenario.partitions:
        lines.append(f"  partition of {', '.join(p.branches)} at {at(p.start_ms)} for {at(p.duration_ms)}")
    for f in scenario.link_faults:
        lines.append(
            f"  link faults on {', '.join(f.branches) or 'every branch'} at {at(f.start_ms)} for"
            f" {at(f.duration_ms)}: loss {f.loss:g}, duplicate {f.duplicate:g}, reorder {f.reorder:g},"
            f" extra latency up to {f.extra_latency_ms[1]} ms"
        )
    for c in scenario.crashes:
        again = f", {c.repeat} times {at(c.every_ms)} apart" if c.repeat > 1 else ""
        lines.append(f"  crash of {c.branch} at {at(c.at_ms)}, down {at(c.down_ms)}{again}")
    for o in scenario.hq_outages:
        lines.append(f"  HQ down at {at(o.start_ms)} for {at(o.duration_ms)}")
    skewed = [b for b in scenario.branches if b.clock_skew_ms]
    if skewed:
        lines.append(
            "  clocks off: " + ", ".join(f"{b.code} {b.clock_skew_ms / SECOND_MS:+g}s" for b in skewed)
        )
    rates = [f"{rate.removesuffix('_per_minute')} {getattr(scenario.load, rate):g}" for rate in _RATES]
    lines.append("  per branch per minute: " + ", ".join(r for r in rates if not r.endswith(" 0")))
    return lines
