"""Scenario files: the TOML an ops person writes to ask "what happens if ...?".

`load_scenario` reads one into a `simulations.model.Scenario`, refusing anything
it cannot run with a `ScenarioError` that names the file and the line to fix.

The format, every key shown. At the top level only name, duration, heal_budget
and branches are required, and [network] and [load] show their defaults. Every
list table ([[busy]] ...) may appear any number of times, or not at all; in them
every key is required unless a comment says otherwise::

    name = "Stores 3 and 7 cut off during a promotion"
    description = "What ops sees when two stores lose their line on a busy day."  # optional
    seed = 7                  # optional, default 0; `--seed` overrides
    duration = "8h"           # how long branches trade
    heal_budget = "10m"       # after the last fault heals, all converge within this

    branches = 8              # shorthand: BR01..BR08, default settings (BR001.. past 99)
    # ... or one table per branch instead:
    # [[branches]]
    # code = "BR01"           # letters, digits, '-' and '_', up to 32
    # clock_skew = "10m"      # its wall clock minus true time; may be negative: "-10m"
    # [branches.load]         # overrides single fields of [load] for this branch
    # sales_per_minute = 5.0

    [network]
    latency = ["5ms", "40ms"] # one-way latency of a healthy link: [min, max]

    [load]                    # per branch; rates are per simulated minute (Poisson)
    sales_per_minute = 2.0
    registrations_per_minute = 0.2
    roaming_share = 0.1       # share of sales to members registered at another branch
    # The shared member directory: none of it unless asked for.
    duplicate_share = 0.0     # share of registrations by someone who just signed up elsewhere
    edits_per_minute = 0.0    # profile edits (name, birthday)
    top_ups_per_minute = 0.0  # stored value paid onto a member's card
    stored_value_sales_per_minute = 0.0  # paid by card: online with a hold, else offline
    status_changes_per_minute = 0.0      # cards reported lost, unlocked, suspended, resumed
    voucher_sales_per_minute = 0.0       # sales taking a single-use voucher
    voucher_reuse_share = 0.0 # share of those whose voucher was used at another branch
    # Stock beyond sales: none of it unless asked for. Asking for any (here, in a
    # branch's load or in [hq_warehouse]) adds node HQ, which keeps HQ's main
    # warehouse HQ-MAIN like any branch; faults may then name HQ too.
    receipts_per_minute = 0.0    # goods from a supplier arrive at the branch's warehouse
    transfers_per_minute = 0.0   # goods on hand sent to another warehouse
    stocktakes_per_minute = 0.0  # a few products counted, a little off the books
    returns_per_minute = 0.0     # a customer brings back part of a recent sale
    # Cards of a type (HQ's demo card types): none of it unless asked for.
    card_sales_per_minute = 0.0        # a member buys a count card, time card or stored-value card
    card_uses_per_minute = 0.0         # a service line paid with a count card's uses
    time_card_visits_per_minute = 0.0  # a service line a time card admits
    card_replacements_per_minute = 0.0 # a card replaced by a new number (its balances follow)
    card_renewals_per_minute = 0.0     # a card renewed for its type's days
    card_top_ups_per_minute = 0.0      # stored value paid onto a stored-value card, with its bonus
    card_spends_per_minute = 0.0       # goods paid with a stored-value card's balance
    card_payouts_per_minute = 0.0      # what was paid onto a card, paid back in cash
    card_credit_per_minute = 0.0       # a credit line granted, drawn on at checkout, or repaid
    card_upgrades_per_minute = 0.0     # a card made a card of a dearer type, for the difference
    card_password_changes_per_minute = 0.0  # a card given a password (its old one keyed in first)
    card_returns_per_minute = 0.0      # a sale paid with a card's uses, visits or money returned
    last_use_share = 0.0      # share of card uses spending a card's last uses (as tills were told)
    wrong_password_share = 0.0  # share of spends on a card with a password keying in a wrong one
    # Points beyond earning at every member's sale: none of it unless asked for. Asking for
    # any has HQ author a small points rule set (simulations/loyalty_ops.py) at the start.
    points_sales_per_minute = 0.0        # a member pays part of a basket with points
    points_conversions_per_minute = 0.0  # points turned into stored value on the member's card
    points_returns_per_minute = 0.0      # a sale that earned or paid with points, or took a voucher, returned
    referrals_per_minute = 0.0           # a new member signs up naming the member who referred them

    [hq_warehouse]            # HQ's main warehouse: no tills, just these
    receipts_per_minute = 0.0
    transfers_per_minute = 0.0   # to the branches' warehouses
    stocktakes_per_minute = 0.0

    [operator]                # someone at HQ working through the conflict queue
    resolutions_per_minute = 0.0  # open conflicts resolved per minute while branches trade

    [[busy]]                  # a promotion: rates multiplied during the window
    start = "1h"
    duration = "2h"
    multiplier = 4.0
    branches = ["BR03"]       # optional; empty or absent: every branch

    [[partitions]]            # the branches cannot reach HQ, nor HQ them
    branches = ["BR03", "BR07"]
    start = "2h"
    duration = "24h"          # may run past `duration`: branches just stop trading

    [[link_faults]]           # unreliable links to HQ
    branches = ["BR02"]       # optional; empty or absent: every branch
    start = "0s"
    duration = "1h"
    loss = 0.2                # probabilities, each optional, default 0
    duplicate = 0.05
    reorder = 0.1
    extra_latency = ["0ms", "2s"]   # optional, default ["0ms", "0ms"]

    [[crashes]]               # the branch's process dies and restarts `down` later
    branch = "BR02"
    at = "30m"
    down = "20s"
    repeat = 5                # optional, default 1
    every = "3m"              # crash to next crash; required when repeat > 1

    [[hq_outages]]            # HQ itself is down
    start = "7h"
    duration = "1h"

Durations are strings: a whole number then ms, s, m, h or d ("90s", "1d"), and
only clock_skew may be negative. A busy window or fault starts at 0 or later and
before trading ends, lasts longer than zero, and names only existing branches,
each once. A branch restarts before it crashes again. The bounds (MAX_...) below
say why they are what they are.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import NoReturn

from protocol.codec import check_branch_code
from protocol.errors import MalformedMessage
from simulations.model import (
    HOUR_MS,
    HQ_WAREHOUSE_LOAD,
    HQ_WAREHOUSE_NODE,
    MINUTE_MS,
    SECOND_MS,
    BranchSpec,
    Busy,
    Crash,
    HQOutage,
    LinkFaults,
    Load,
    Partition,
    Scenario,
)
from simulations.toml_lines import KeyLines, KeyPath

DAY_MS = 24 * HOUR_MS
DEFAULT_SEED = 0

# The simulator runs HQ and every branch, each with its own SQLite database, in
# one process on one event loop; three branches over a day already take ~45 s.
MAX_BRANCHES = 200
# A month covers the longest cut-off worth rehearsing (a store offline over a
# holiday); longer runs simulate millions of sales and take hours of real time.
MAX_DURATION_MS = 30 * DAY_MS
# A 50,000-entry backlog drains in seconds (README, measured figures); a budget
# over a day would hide a stuck replicator rather than measure one.
MAX_HEAL_BUDGET_MS = DAY_MS
# Beyond MAX_CLOCK_DRIFT_MS (an hour), so a clock HQ refuses can be rehearsed, up
# to the wrong year a PC shows after its battery dies.
MAX_CLOCK_SKEW_MS = 366 * DAY_MS
# A link slower than this is down, and that is a [[partitions]] entry.
MAX_LATENCY_MS = 10 * MINUTE_MS
# A branch's few tills ring up a few sales a second at most; every simulated sale
# is a real SQLite write, so higher rates make a run take hours.
MAX_RATE_PER_MINUTE = 600.0
# The busiest day of the year is about ten times a normal one.
MAX_BUSY_MULTIPLIER = 100.0
# Entries per fault list; more is a generated file gone wrong.
MAX_ENTRIES = 1000
# Crashes in one scenario, repeats counted: each one reopens a branch's database.
MAX_CRASHES = 10_000
# TOML integers are 64-bit; other TOML tools would refuse a larger seed.
MAX_SEED = 2**63 - 1
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
# Every list at its bound with every key set is under 1 MiB; the rest is for comments.
MAX_SCENARIO_BYTES = 4 * 1024 * 1024

_PLAIN_KEYS = (
    "name",
    "description",
    "seed",
    "duration",
    "heal_budget",
    "branches",
    "network",
    "load",
    "operator",
    "hq_warehouse",
)
_TOP_KEYS = (*_PLAIN_KEYS, "busy", "partitions", "link_faults", "crashes", "hq_outages")
_LOAD_RATES = (
    "sales_per_minute",
    "registrations_per_minute",
    "edits_per_minute",
    "top_ups_per_minute",
    "stored_value_sales_per_minute",
    "status_changes_per_minute",
    "voucher_sales_per_minute",
    "receipts_per_minute",
    "transfers_per_minute",
    "stocktakes_per_minute",
    "returns_per_minute",
    "card_sales_per_minute",
    "card_uses_per_minute",
    "time_card_visits_per_minute",
    "card_replacements_per_minute",
    "card_renewals_per_minute",
    "card_top_ups_per_minute",
    "card_spends_per_minute",
    "card_payouts_per_minute",
    "card_credit_per_minute",
    "card_upgrades_per_minute",
    "card_password_changes_per_minute",
    "card_returns_per_minute",
    "points_sales_per_minute",
    "points_conversions_per_minute",
    "points_returns_per_minute",
    "referrals_per_minute",
)
_HQ_WAREHOUSE_RATES = ("receipts_per_minute", "transfers_per_minute", "stocktakes_per_minute")
_LOAD_SHARES = (
    "roaming_share",
    "duplicate_share",
    "voucher_reuse_share",
    "last_use_share",
    "wrong_password_share",
)
_LOAD_KEYS = (*_LOAD_RATES, *_LOAD_SHARES)
_DURATION = re.compile(r"(-?)([0-9]{1,12})(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}


class ScenarioError(Exception):
    """A scenario that cannot be run: the file, the line to fix and what is wrong there."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        super().__init__(f"{source}: {problem}" if line is None else f"{source}:{line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


def load_scenario(path: Path) -> Scenario:
    """Read and check the scenario file at `path`."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SCENARIO_BYTES + 1)
    except OSError as error:
        raise ScenarioError(str(path), None, f"cannot read it: {error.strerror or error}") from error
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(str(path), None, f"larger than {MAX_SCENARIO_BYTES} bytes (MAX_SCENARIO_BYTES)")
    try:
        text = data.decode("utf-8-sig")  # Windows editors prepend a byte-order mark
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ScenarioError(str(path), line, "not UTF-8 text; save the file as UTF-8") from error
    return parse_scenario(text, str(path))


def parse_scenario(text: str, source: str) -> Scenario:
    """Check the scenario in `text`; `source` names it in errors (usually the file's path)."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, None, f"longer than {MAX_SCENARIO_BYTES} characters (MAX_SCENARIO_BYTES)")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(error, text, source) from error
    return _read_scenario(_Reader(text, source), _Table(document, (), ""))


def _syntax_error(error: tomllib.TOMLDecodeError, text: str, source: str) -> ScenarioError:
    # tomllib (before 3.14) carries its position only in the message's tail.
    message = str(error)
    found = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    if found is None:
        line = text.count("\n") + 1
        problem = message.removesuffix(" (at end of document)") + " (at the end)"
    else:
        line = int(found[1])
        problem = f"{message[: found.start()]} (column {found[2]})"
    return ScenarioError(source, line, f"not valid TOML: {problem}")


# -- the scenario, table by table ----------------------------------------------------------


def _read_scenario(r: _Reader, top: _Table) -> Scenario:
    r.known_keys(top, _TOP_KEYS)
    name = r.text(top, "name", None, MAX_NAME_CHARS)
    if not name.strip() or "\n" in name:
        r.fail(("name",), "name must be one line of text, not empty")
    why = "MAX_DURATION_MS: longer runs take hours of real time"
    duration_ms = r.duration(top, "duration", None, positive=True, why=why)
    load = Load()
    load_table = r.table(top, "load", "[load]")
    if load_table is not None:
        load = _read_load(r, load_table, load)
    branches = _read_branches(r, top, load)
    hq_warehouse = HQ_WAREHOUSE_LOAD
    hq_table = r.table(top, "hq_warehouse", "[hq_warehouse]")
    if hq_table is not None:
        r.known_keys(hq_table, _HQ_WAREHOUSE_RATES)
        rates = {key: r.rate(hq_table, key, 0.0) for key in _HQ_WAREHOUSE_RATES}
        hq_warehouse = replace(hq_warehouse, **rates)
    codes = [branch.code for branch in branches]
    loads = (load, hq_warehouse, *(branch.load for branch in branches if branch.load is not None))
    if any(each.uses_inventory for each in loads):
        if HQ_WAREHOUSE_NODE in codes:
            r.fail(
                ("branches",),
                f"a branch is named {HQ_WAREHOUSE_NODE}, the node that keeps HQ's main warehouse in a"
                " scenario that moves stock; give the branch another code",
            )
        codes.append(HQ_WAREHOUSE_NODE)
    scenario = Scenario(
        name=name,
        description=r.text(top, "description", "", MAX_DESCRIPTION_CHARS),
        seed=r.integer(top, "seed", DEFAULT_SEED, 0, MAX_SEED),
        duration_ms=duration_ms,
        heal_budget_ms=r.duration(
            top, "heal_budget", None, positive=True, maximum=MAX_HEAL_BUDGET_MS, why="MAX_HEAL_BUDGET_MS"
        ),
        branches=branches,
        load=load,
        busy=tuple(_read_busy(r, t, duration_ms, codes) for t in r.tables(top, "busy")),
        partitions=tuple(_read_partition(r, t, duration_ms, codes) for t in r.tables(top, "partitions")),
        link_faults=tuple(_read_link_faults(r, t, duration_ms, codes) for t in r.tables(top, "link_faults")),
        crashes=_read_crashes(r, r.tables(top, "crashes"), duration_ms, codes),
        hq_outages=tuple(_read_hq_outage(r, t, duration_ms) for t in r.tables(top, "hq_outages")),
        hq_warehouse=hq_warehouse,
    )
    operator = r.table(top, "operator", "[operator]")
    if operator is not None:
        r.known_keys(operator, ("resolutions_per_minute",))
        scenario = replace(scenario, resolutions_per_minute=r.rate(operator, "resolutions_per_minute", 0.0))
    network = r.table(top, "network", "[network]")
    if network is not None:
        r.known_keys(network, ("latency",))
        latency_ms = r.latency(network, "latency")
        if latency_ms is not None:
            scenario = replace(scenario, latency_ms=latency_ms)
    return scenario


def _read_load(r: _Reader, t: _Table, base: Load) -> Load:
    r.known_keys(t, _LOAD_KEYS)
    rates = {key: r.rate(t, key, getattr(base, key)) for key in _LOAD_RATES}
    shares = {key: r.probability(t, key, getattr(base, key)) for key in _LOAD_SHARES}
    return Load(**rates, **shares)


def _shorthand_codes(count: int) -> tuple[str, ...]:
    width = max(2, len(str(count)))
    return tuple(f"BR{number:0{width}d}" for number in range(1, count + 1))


def with_branches(scenario: Scenario, count: int, source: str = "--branches") -> Scenario:
    """The same question asked of `count` branches: the scenario's own branches first
    (with their settings), then as many more with the scenario's load as it takes; each
    branch trades at the scenario's per-branch rates, so the chain's load grows with it.
    Fewer branches keep the first `count`, which must include every branch a fault names."""
    if not 1 <= count <= MAX_BRANCHES:
        raise ScenarioError(
            source, None, f"{count} branches; a scenario has 1 to {MAX_BRANCHES} (MAX_BRANCHES)"
        )
    specs = list(scenario.branches[:count])
    kept = {spec.code for spec in specs}
    named = sorted(_named_branches(scenario) - kept)
    if named:
        needed = max(n for n, spec in enumerate(scenario.branches, start=1) if spec.code in named)
        raise ScenarioError(
            source,
            None,
            f"{count} branches would leave out {', '.join(named)}, which the scenario's faults name;"
            f" keep at least {needed}",
        )
    width = max(2, len(str(count)))
    number = 0
    while len(specs) < count:
        number += 1
        code = f"BR{number:0{width}d}"
        if code not in kept:
            specs.append(BranchSpec(code))
            kept.add(code)
    return replace(scenario, branches=tuple(specs))


def _named_branches(scenario: Scenario) -> set[str]:
    named = {crash.branch for crash in scenario.crashes}
    for windows in (scenario.partitions, scenario.link_faults, scenario.busy):
        for window in windows:
            named.update(window.branches)
    return named


def _read_branches(r: _Reader, top: _Table, load: Load) -> tuple[BranchSpec, ...]:
    value = top.values.get("branches")
    if value is None:
        r.fail((), "missing required key 'branches' at the top level (e.g. branches = 8)")
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_BRANCHES:
            r.fail(
                ("branches",),
                f"branches is {value}; a scenario has 1 to {MAX_BRANCHES} branches, "
                "as the simulator runs them all in one process (MAX_BRANCHES)",
            )
        return tuple(BranchSpec(code) for code in _shorthand_codes(value))
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        r.fail(
            ("branches",),
            "branches must be a count (branches = 8) or [[branches]] tables, "
            f"each with a code, not {_kind(value)}",
        )
    if len(value) > MAX_BRANCHES:
        r.fail(
            ("branches",), f"{len(value)} [[branches]]; a scenario has at most {MAX_BRANCHES} (MAX_BRANCHES)"
        )
    specs: list[BranchSpec] = []
    for t in r.tables(top, "branches"):
        r.known_keys(t, ("code", "clock_skew", "load"))
        code = r.code(t, "code")
        for number, earlier in enumerate(specs, start=1):
            if earlier.code == code:
                r.fail(
                    (*t.path, "code"), f"branch code {code} in {t.label} is already [[branches]] #{number}'s"
                )
        load_table = r.table(t, "load", f"[branches.load] of {t.label}")
        specs.append(
            BranchSpec(
                code=code,
                clock_skew_ms=r.duration(
                    t, "clock_skew", 0, signed=True, maximum=MAX_CLOCK_SKEW_MS, why="MAX_CLOCK_SKEW_MS"
                ),
                load=None if load_table is None else _read_load(r, load_table, load),
            )
        )
    return tuple(specs)


def _read_busy(r: _Reader, t: _Table, trading_ms: int, codes: Sequence[str]) -> Busy:
    r.known_keys(t, ("start", "duration", "multiplier", "branches"))
    multiplier = r.number(t, "multiplier", None)
    if not 0 < multiplier <= MAX_BUSY_MULTIPLIER:
        r.fail(
            (*t.path, "multiplier"),
            f"multiplier in {t.label} is {multiplier:g}; it must be above 0 "
            f"and at most {MAX_BUSY_MULTIPLIER:g} (MAX_BUSY_MULTIPLIER)",
        )
    return Busy(
        start_ms=r.start(t, "start", trading_ms),
        duration_ms=r.duration(t, "duration", None, positive=True),
        multiplier=multiplier,
        branches=r.branches(t, codes, required=False),
    )


def _read_partition(r: _Reader, t: _Table, trading_ms: int, codes: Sequence[str]) -> Partition:
    r.known_keys(t, ("branches", "start", "duration"))
    return Partition(
        branches=r.branches(t, codes, required=True),
        start_ms=r.start(t, "start", trading_ms),
        duration_ms=r.duration(t, "duration", None, positive=True),
    )


def _read_link_faults(r: _Reader, t: _Table, trading_ms: int, codes: Sequence[str]) -> LinkFaults:
    keys = ("branches", "start", "duration", "loss", "duplicate", "reorder", "extra_latency")
    r.known_keys(t, keys)
    return LinkFaults(
        branches=r.branches(t, codes, required=False),
        start_ms=r.start(t, "start", trading_ms),
        duration_ms=r.duration(t, "duration", None, positive=True),
        loss=r.probability(t, "loss", 0.0),
        duplicate=r.probability(t, "duplicate", 0.0),
        reorder=r.probability(t, "reorder", 0.0),
        extra_latency_ms=r.latency(t, "extra_latency") or (0, 0),
    )


def _read_crashes(
    r: _Reader, tables: list[_Table], trading_ms: int, codes: Sequence[str]
) -> tuple[Crash, ...]:
    crashes: list[Crash] = []
    for t in tables:
        r.known_keys(t, ("branch", "at", "down", "repeat", "every"))
        branch = r.branch(t, "branch", codes)
        at_ms = r.start(t, "at", trading_ms)
        down_ms = r.duration(t, "down", None, positive=True)
        repeat = r.integer(t, "repeat", 1, 1, MAX_CRASHES)
        every_ms = r.duration(t, "every", 0)
        if repeat > 1 and "every" not in t.values:
            r.fail(
                (*t.path, "repeat"),
                f"{t.label} repeats {repeat} times but has no every: say how long from one crash to the next",
            )
        if repeat > 1 and every_ms <= down_ms:
            r.fail(
                (*t.path, "every"),
                f"every in {t.label} ({_show(every_ms)}) must be longer than down "
                f"({_show(down_ms)}): {branch} must restart before it crashes again",
            )
        if sum(crash.repeat for crash in crashes) + repeat > MAX_CRASHES:
            r.fail((*t.path, "repeat"), f"more than {MAX_CRASHES} crashes in all (MAX_CRASHES)")
        crashes.append(Crash(branch, at_ms, down_ms, repeat, every_ms))
    # Each branch's (crash, restart) windows in time order must not overlap.
    for code in codes:
        windows = sorted(
            (crash.at_ms + n * crash.every_ms, number, crash.at_ms + n * crash.every_ms + crash.down_ms)
            for number, crash in enumerate(crashes, start=1)
            if crash.branch == code
            for n in range(crash.repeat)
        )
        for (_, before, restart_ms), (crash_ms, number, _) in pairwise(windows):
            if crash_ms <= restart_ms:
                r.fail(
                    ("crashes", number - 1, "at"),
                    f"[[crashes]] #{number} crashes {code} at "
                    f"{_show(crash_ms)}, but it is down until {_show(restart_ms)} from "
                    f"[[crashes]] #{before}; a branch must restart before it can crash again",
                )
    return tuple(crashes)


def _read_hq_outage(r: _Reader, t: _Table, trading_ms: int) -> HQOutage:
    r.known_keys(t, ("start", "duration"))
    return HQOutage(
        start_ms=r.start(t, "start", trading_ms),
        duration_ms=r.duration(t, "duration", None, positive=True),
    )


# -- reading single values, each failure at its line -----------------------------------------


@dataclass(frozen=True)
class _Table:
    values: dict[str, object]
    path: KeyPath  # keys and [[array]] indexes from the top, to find its lines
    label: str  # "[[crashes]] #2"; "" at the top level

    def ref(self, key: str) -> str:
        return f"{key} in {self.label}" if self.label else key


class _Reader:
    """Typed getters over parsed TOML that raise ScenarioError at the offending line."""

    def __init__(self, text: str, source: str) -> None:
        self._text = text
        self._source = source
        self._lines: KeyLines | None = None  # scanned only when an error needs a line

    def fail(self, path: KeyPath, problem: str) -> NoReturn:
        if self._lines is None:
            self._lines = KeyLines(self._text)
        raise ScenarioError(self._source, self._lines.line_of(path), problem)

    def missing(self, t: _Table, key: str) -> NoReturn:
        where = f"in {t.label}" if t.label else "at the top level"
        self.fail(t.path, f"missing required key '{key}' {where}")

    def value(self, t: _Table, key: str, default: object) -> object:
        """The value of `key`, else `default`; None as default: the key is required."""
        if key in t.values:
            return t.values[key]
        if default is None:
            self.missing(t, key)
        return default

    def wrong_type(self, t: _Table, key: str, expected: str) -> NoReturn:
        self.fail((*t.path, key), f"{t.ref(key)} must be {expected}, not {_kind(t.values[key])}")

    def known_keys(self, t: _Table, allowed: Sequence[str]) -> None:
        for key in t.values:
            if key in allowed:
                continue
            if not t.label and key in (*_LOAD_KEYS, "latency"):
                hint = f" (it belongs in [{'network' if key == 'latency' else 'load'}])"
            elif close := difflib.get_close_matches(key, allowed, n=1):
                hint = f" (did you mean '{close[0]}'?)"
            else:
                hint = f" (expected one of: {', '.join(allowed)})"
            where = f"in {t.label}" if t.label else "at the top level"
            self.fail((*t.path, key), f"unknown key '{key}' {where}{hint}")

    def table(self, t: _Table, key: str, label: str) -> _Table | None:
        if key not in t.values:
            return None
        value = t.values[key]
        if not isinstance(value, dict):
            self.wrong_type(t, key, f"a table ([{key}])")
        return _Table(value, (*t.path, key), label)

    def tables(self, t: _Table, key: str) -> list[_Table]:
        """The [[key]] tables in `t`, labelled from #1."""
        value = t.values.get(key, [])
        if isinstance(value, dict):
            self.fail((*t.path, key), f"{key} must be written [[{key}]], a list of tables, not [{key}]")
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.wrong_type(t, key, f"a list of [[{key}]] tables")
        if len(value) > MAX_ENTRIES:
            self.fail((*t.path, key), f"{len(value)} [[{key}]] entries; at most {MAX_ENTRIES} (MAX_ENTRIES)")
        return [_Table(item, (*t.path, key, i), f"[[{key}]] #{i + 1}") for i, item in enumerate(value)]

    def text(self, t: _Table, key: str, default: str | None, max_chars: int) -> str:
        value = self.value(t, key, default)
        if not isinstance(value, str):
            self.wrong_type(t, key, "a string")
        if len(value) > max_chars:
            self.fail((*t.path, key), f"{t.ref(key)} is longer than {max_chars} characters")
        return value

    def integer(self, t: _Table, key: str, default: int, low: int, high: int) -> int:
        value = self.value(t, key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            self.wrong_type(t, key, "a whole number")
        if not low <= value <= high:
            self.fail((*t.path, key), f"{t.ref(key)} is {value}; it must be from {low} to {high}")
        return value

    def number(self, t: _Table, key: str, default: float | None) -> float:
        value = self.value(t, key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.wrong_type(t, key, "a number")
        if not math.isfinite(value):
            self.fail((*t.path, key), f"{t.ref(key)} must be a finite number, not {value}")
        return float(value)

    def rate(self, t: _Table, key: str, default: float) -> float:
        rate = self.number(t, key, default)
        if not 0 <= rate <= MAX_RATE_PER_MINUTE:
            self.fail(
                (*t.path, key),
                f"{t.ref(key)} is {rate:g}; a rate per minute must not be negative "
                f"nor above {MAX_RATE_PER_MINUTE:g} (MAX_RATE_PER_MINUTE)",
            )
        return rate

    def probability(self, t: _Table, key: str, default: float) -> float:
        p = self.number(t, key, default)
        if not 0 <= p <= 1:
            self.fail((*t.path, key), f"{t.ref(key)} is {p:g}; a probability must be between 0 and 1")
        return p

    def duration(
        self,
        t: _Table,
        key: str,
        default: int | None,
        *,
        positive: bool = False,
        signed: bool = False,
        maximum: int = MAX_DURATION_MS,
        why: str = "MAX_DURATION_MS, the longest run",
    ) -> int:
        """A duration in ms; not negative unless `signed`, above zero if `positive`."""
        if key not in t.values:
            return self.missing(t, key) if default is None else default
        ms = self._ms(t, key, t.values[key])
        if ms < 0 and not signed:
            self.fail((*t.path, key), f"{t.ref(key)} is {_show(ms)}; it must not be negative")
        if positive and ms <= 0:
            self.fail((*t.path, key), f"{t.ref(key)} is {_show(ms)}; it must be longer than zero")
        if abs(ms) > maximum:
            self.fail((*t.path, key), f"{t.ref(key)} is {_show(ms)}; at most {_show(maximum)} ({why})")
        return ms

    def _ms(self, t: _Table, key: str, value: object) -> int:
        found = _DURATION.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            self.fail(
                (*t.path, key),
                f'{t.ref(key)} must be a duration such as "90s", "8h" or "1d" (a whole '
                f"number then ms, s, m, h or d), not {_kind(value)}",
            )
        return int(found[2]) * _UNIT_MS[found[3]] * (-1 if found[1] else 1)

    def start(self, t: _Table, key: str, trading_ms: int) -> int:
        start_ms = self.duration(t, key, None)
        if start_ms >= trading_ms:
            self.fail(
                (*t.path, key),
                f"{t.label} starts at {_show(start_ms)}, at or after trading ends "
                f"({_show(trading_ms)}, the duration); a fault must start while branches trade",
            )
        return start_ms

    def latency(self, t: _Table, key: str) -> tuple[int, int] | None:
        """A [min, max] range of durations, or None when `key` is absent."""
        if key not in t.values:
            return None
        value = t.values[key]
        if not isinstance(value, list) or len(value) != 2:
            self.fail((*t.path, key), f'{t.ref(key)} must be [min, max], e.g. ["5ms", "40ms"]')
        low, high = (self._ms(t, key, bound) for bound in value)
        if low < 0:
            self.fail((*t.path, key), f"{t.ref(key)} starts at {_show(low)}; latency must not be negative")
        if high > MAX_LATENCY_MS:
            self.fail(
                (*t.path, key),
                f"{t.ref(key)} reaches {_show(high)}; at most {_show(MAX_LATENCY_MS)} (MAX_LATENCY_MS: "
                "a link that slow is down, which is a [[partitions]] entry)",
            )
        if low > high:
            self.fail(
                (*t.path, key), f"{t.ref(key)} runs from {value[0]} down to {value[1]}; write [min, max]"
            )
        return low, high

    def code(self, t: _Table, key: str) -> str:
        value = self.value(t, key, None)
        try:
            return check_branch_code(value, t.ref(key))
        except MalformedMessage as error:
            self.fail((*t.path, key), f"{error}, not {_kind(value)}")

    def branch(self, t: _Table, key: str, codes: Sequence[str]) -> str:
        return self._named(t, key, self.value(t, key, None), codes)

    def branches(self, t: _Table, codes: Sequence[str], *, required: bool) -> tuple[str, ...]:
        value = self.value(t, "branches", None if required else [])
        if not isinstance(value, list):
            self.wrong_type(t, "branches", 'a list of branch codes, e.g. ["BR03"]')
        if required and not value:
            self.fail((*t.path, "branches"), f"branches in {t.label} must name at least one branch")
        named = [self._named(t, "branches", code, codes) for code in value]
        for code in named:
            if named.count(code) > 1:
                self.fail((*t.path, "branches"), f"branches in {t.label} names {code} twice")
        return tuple(named)

    def _named(self, t: _Table, key: str, code: object, codes: Sequence[str]) -> str:
        if not isinstance(code, str):
            self.fail((*t.path, key), f"{t.ref(key)} must name branches by code, not {_kind(code)}")
        if code not in codes:
            close = difflib.get_close_matches(code, codes, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.fail(
                (*t.path, key), f"{t.label} names {code}, but the scenario has {_describe(codes)}{hint}"
            )
        return code


def _kind(value: object) -> str:
    """How a TOML value looks, for 'must be X, not Y'."""
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, str):
        return f"the string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, dict):
        return "a table"
    return f"the date/time {value}"


def _show(ms: int) -> str:
    """A duration as written in a scenario: 600000 is "10m"."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def _describe(codes: Sequence[str]) -> str:
    if tuple(codes) == _shorthand_codes(len(codes)) and len(codes) > 2:
        return f"{codes[0]}..{codes[-1]}"
    if len(codes) <= 8:
        return ", ".join(codes)
    return f"{', '.join(codes[:6])}, ... ({len(codes)} in all)"
