"""The shapes a simulation is described and reported in.

A `Scenario` is what an ops person writes (as TOML, see simulations/scenario.py);
a `RunResult` is what one seeded run produced, from which the terminal summary
and the HTML report are drawn. Times are simulated milliseconds from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True)
class Load:
    """Trading per branch. Rates are events per simulated minute (Poisson)."""

    sales_per_minute: float = 2.0
    registrations_per_minute: float = 0.2
    # Share of sales made by a member registered at another branch (roaming).
    roaming_share: float = 0.1


@dataclass(frozen=True)
class Busy:
    """A window of heavier trading, e.g. a promotion: rates multiplied."""

    start_ms: int
    duration_ms: int
    multiplier: float
    branches: tuple[str, ...] = ()  # empty: every branch


@dataclass(frozen=True)
class BranchSpec:
    code: str
    clock_skew_ms: int = 0  # the branch's wall clock minus true time
    load: Load | None = None  # None: the scenario's load


@dataclass(frozen=True)
class Partition:
    """The listed branches cannot reach HQ (nor HQ them) during the window."""

    branches: tuple[str, ...]
    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class LinkFaults:
    """Unreliable links between the listed branches (empty: all) and HQ."""

    start_ms: int
    duration_ms: int
    branches: tuple[str, ...] = ()
    loss: float = 0.0  # probability a message is dropped
    duplicate: float = 0.0  # probability a message is delivered twice
    reorder: float = 0.0  # probability a message is held back behind later ones
    extra_latency_ms: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Crash:
    """The branch's process dies at `at_ms` and restarts `down_ms` later,
    `repeat` times in all, `every_ms` apart."""

    branch: str
    at_ms: int
    down_ms: int
    repeat: int = 1
    every_ms: int = 0


@dataclass(frozen=True)
class HQOutage:
    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    duration_ms: int  # how long the branches trade
    heal_budget_ms: int  # after the last fault heals, everything converges within this
    branches: tuple[BranchSpec, ...]
    load: Load = Load()
    latency_ms: tuple[int, int] = (5, 40)  # one-way latency on a healthy link
    busy: tuple[Busy, ...] = ()
    partitions: tuple[Partition, ...] = ()
    link_faults: tuple[LinkFaults, ...] = ()
    crashes: tuple[Crash, ...] = ()
    hq_outages: tuple[HQOutage, ...] = ()

    def last_fault_end_ms(self) -> int:
        ends = [p.start_ms + p.duration_ms for p in self.partitions]
        ends += [f.start_ms + f.duration_ms for f in self.link_faults]
        ends += [c.at_ms + (c.repeat - 1) * c.every_ms + c.down_ms for c in self.crashes]
        ends += [o.start_ms + o.duration_ms for o in self.hq_outages]
        return max(ends, default=0)


@dataclass(frozen=True)
class Heal:
    """A fault's end and how long after it everything had converged (None: never, within budget)."""

    what: str
    healed_at_ms: int
    converged_after_ms: int | None


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str


@dataclass
class BranchFigures:
    code: str
    sales: int = 0
    sales_total_fen: int = 0
    registrations: int = 0
    refused: int = 0  # tills refused (e.g. a roaming member not yet synced here)
    peak_backlog: int = 0
    peak_lag_ms: int = 0  # age of the oldest entry HQ had not acknowledged, at its worst
    bytes_sent: int = 0
    batches_sent: int = 0
    crashes: int = 0


@dataclass
class RunResult:
    scenario: Scenario
    seed: int
    ended_at_ms: int
    converged_at_ms: int | None  # when all replicas last became equal; None if they never did
    branches: dict[str, BranchFigures]
    heals: list[Heal] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    # Samples of (time_ms, backlog per branch) taken every sample interval.
    backlog_samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    # Samples of (time_ms, replication lag in ms per branch): how long ago the
    # oldest change HQ has not acknowledged was made at the branch.
    lag_samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    messages_dropped: int = 0
    messages_duplicated: int = 0
    bytes_total: int = 0
    events_run: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def replay_command(self, scenario_path: str) -> str:
        return f"branchline simulate {scenario_path} --seed {self.seed}"
