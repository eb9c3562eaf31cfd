"""Scenario files: what they turn into, and every refusal naming the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.model import BranchSpec, Busy, Crash, HQOutage, LinkFaults, Load, Partition, Scenario
from simulations.scenario import ScenarioError, load_scenario, parse_scenario, with_branches

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"

# Four lines; the cases below add to it, so their lines start at 5.
BASE = """\
name = "Tiny"
duration = "1h"
heal_budget = "10m"
branches = 3
"""


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda path: path.name)
def test_every_ready_scenario_parses_and_has_a_name_and_description_for_ops(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name
    assert len(scenario.description) > 40
    assert 1 <= len(scenario.branches) <= 8


def test_the_six_ready_scenarios_are_there() -> None:
    assert {path.stem for path in SCENARIOS.glob("*.toml")} >= {
        "store-cut-off-for-a-day",
        "flapping-link",
        "hq-down-at-closing",
        "clock-skew-ten-minutes",
        "crash-while-draining",
        "ci-small",
    }


def test_a_worked_example_converts_durations_to_ms_and_expands_the_branch_count() -> None:
    text = """
name = "Worked example"
description = "BR02 cut off, then crashing"
seed = 7
duration = "8h"
heal_budget = "10m"
branches = 3

[network]
latency = ["5ms", "2s"]

[load]
sales_per_minute = 1.5

[[busy]]
start = "1h"
duration = "90m"
multiplier = 4

[[partitions]]
branches = ["BR02"]
start = "2h"
duration = "1d"

[[link_faults]]
start = "0s"
duration = "30s"
loss = 0.25
extra_latency = ["0ms", "1500ms"]

[[crashes]]
branch = "BR02"
at = "30m"
down = "20s"
repeat = 3
every = "3m"

[[hq_outages]]
start = "7h"
duration = "1h"
"""
    assert parse_scenario(text, "example.toml") == Scenario(
        name="Worked example",
        description="BR02 cut off, then crashing",
        seed=7,
        duration_ms=8 * 3_600_000,
        heal_budget_ms=10 * 60_000,
        branches=(BranchSpec("BR01"), BranchSpec("BR02"), BranchSpec("BR03")),
        # Only sales_per_minute given: the other rates keep the model's defaults.
        load=Load(sales_per_minute=1.5, registrations_per_minute=0.2, roaming_share=0.1),
        latency_ms=(5, 2000),
        busy=(Busy(start_ms=3_600_000, duration_ms=90 * 60_000, multiplier=4.0),),
        partitions=(Partition(branches=("BR02",), start_ms=7_200_000, duration_ms=86_400_000),),
        link_faults=(LinkFaults(start_ms=0, duration_ms=30_000, loss=0.25, extra_latency_ms=(0, 1500)),),
        crashes=(Crash(branch="BR02", at_ms=1_800_000, down_ms=20_000, repeat=3, every_ms=180_000),),
        hq_outages=(HQOutage(start_ms=7 * 3_600_000, duration_ms=3_600_000),),
    )


def test_defaults_when_only_the_required_keys_are_given() -> None:
    scenario = parse_scenario(BASE, "tiny.toml")
    assert scenario.seed == 0
    assert scenario.description == ""
    assert scenario.load == Load()
    assert scenario.latency_ms == (5, 40)
    assert [branch.code for branch in scenario.branches] == ["BR01", "BR02", "BR03"]
    assert (scenario.busy, scenario.partitions, scenario.link_faults, scenario.crashes) == ((), (), (), ())
    assert scenario.hq_outages == ()


def test_branch_tables_give_skew_both_ways_and_a_load_that_overrides_single_fields() -> None:
    text = """
name = "Skew"
duration = "1h"
heal_budget = "10m"

[load]
sales_per_minute = 2.0
roaming_share = 0.3

[[branches]]
code = "north"
clock_skew = "10m"
[branches.load]
sales_per_minute = 5.0

[[branches]]
code = "south-2"
clock_skew = "-90s"
"""
    assert parse_scenario(text, "skew.toml").branches == (
        BranchSpec(
            "north", 600_000, Load(sales_per_minute=5.0, registrations_per_minute=0.2, roaming_share=0.3)
        ),
        BranchSpec("south-2", -90_000, None),
    )


def test_the_member_directory_and_the_operator_are_asked_for_or_left_out() -> None:
    text = BASE + (
        "[load]\nduplicate_share = 0.3\ntop_ups_per_minute = 0.5\nstored_value_sales_per_minute = 1.0\n"
        "[operator]\nresolutions_per_minute = 0.5\n"
    )
    scenario = parse_scenario(text, "t.toml")
    assert scenario.load == Load(
        duplicate_share=0.3, top_ups_per_minute=0.5, stored_value_sales_per_minute=1.0
    )
    assert scenario.load.uses_directory
    assert scenario.resolutions_per_minute == 0.5
    # A scenario that names none of it trades as before the directory existed.
    plain = parse_scenario(BASE, "t.toml")
    assert not plain.load.uses_directory
    assert plain.resolutions_per_minute == 0.0


def test_shorthand_past_99_branches_numbers_with_three_digits() -> None:
    codes = [branch.code for branch in parse_scenario(BASE.replace("= 3", "= 120"), "t.toml").branches]
    assert codes[0] == "BR001"
    assert codes[-1] == "BR120"


def test_a_fault_may_run_past_the_end_of_trading() -> None:
    text = BASE + '[[partitions]]\nbranches = ["BR01"]\nstart = "59m"\nduration = "24h"\n'
    assert parse_scenario(text, "t.toml").partitions[0].duration_ms == 86_400_000


def test_back_to_back_crashes_of_one_branch_are_fine_once_it_has_restarted() -> None:
    text = BASE + crash("BR01", "10m", "1m") + crash("BR01", "661s", "1m")
    assert len(parse_scenario(text, "t.toml").crashes) == 2


def crash(branch: str, at: str, down: str) -> str:
    return f'[[crashes]]\nbranch = "{branch}"\nat = "{at}"\ndown = "{down}"\n'


def partition(*branches: str, start: str = "10m", duration: str = "5m") -> str:
    names = ", ".join(f'"{code}"' for code in branches)
    return f'[[partitions]]\nbranches = [{names}]\nstart = "{start}"\nduration = "{duration}"\n'


REFUSED = [
    # unknown keys, everywhere, with the nearest known key
    (BASE + 'nmae = "x"\n', 5, "unknown key 'nmae' at the top level (did you mean 'name'?)"),
    (
        BASE + "sales_per_minute = 2.0\n",
        5,
        "unknown key 'sales_per_minute' at the top level (it belongs in [load])",
    ),
    (BASE + "[netwrok]\n", 5, "unknown key 'netwrok' at the top level (did you mean 'network'?)"),
    (BASE + "[network]\nlatncy = 3\n", 6, "unknown key 'latncy' in [network] (did you mean 'latency'?)"),
    (BASE + "[load]\nsales = 2.0\n", 6, "unknown key 'sales' in [load]"),
    (
        BASE + '[[link_faults]]\nstart = "0s"\nduration = "1m"\nlose = 0.2\n',
        8,
        "unknown key 'lose' in [[link_faults]] #1 (did you mean 'loss'?)",
    ),
    (
        BASE + crash("BR01", "1m", "5s") + crash("BR02", "1m", "5s") + "dwon = 3\n",
        13,
        "unknown key 'dwon' in [[crashes]] #2 (did you mean 'down'?)",
    ),
    (
        BASE.replace("branches = 3\n", "")
        + '[[branches]]\ncode = "A"\n[branches.load]\nsales_per_minute = 1.0\n'
        + '[[branches]]\ncode = "B"\n[branches.load]\nsales_per_minut = 1.0\n',
        11,
        "unknown key 'sales_per_minut' in [branches.load] of [[branches]] #2",
    ),
    (
        BASE + '[[hq_outages]]\nstart = "1m"\nduration = "1m"\nwhy = \'x\'\n',
        8,
        "expected one of: start, duration",
    ),
    # missing required keys: at line 1 for the top level, at the table's header inside one
    (BASE.replace('name = "Tiny"\n', "seed = 1\n"), 1, "missing required key 'name' at the top level"),
    (BASE.replace('duration = "1h"\n', ""), 1, "missing required key 'duration'"),
    (BASE.replace('heal_budget = "10m"\n', ""), 1, "missing required key 'heal_budget'"),
    (BASE.replace("branches = 3\n", ""), 1, "missing required key 'branches'"),
    (
        BASE + '[[partitions]]\nbranches = ["BR01"]\nstart = "1m"\n',
        5,
        "missing required key 'duration' in [[partitions]] #1",
    ),
    (BASE + '[[crashes]]\nat = "1m"\ndown = "1s"\n', 5, "missing required key 'branch' in [[crashes]] #1"),
    (BASE.replace("branches = 3\n", "[[branches]]\nclock_skew = '1m'\n"), 4, "missing required key 'code'"),
    # wrong types
    (BASE.replace('"1h"', "3600"), 2, 'duration must be a duration such as "90s"'),
    (BASE.replace('"1h"', '"1.5h"'), 2, 'not the string "1.5h"'),
    (BASE.replace('"10m"', '"10 minutes"'), 3, 'heal_budget must be a duration such as "90s"'),
    (BASE.replace('"Tiny"', "5"), 1, "name must be a string, not the number 5"),
    (BASE.replace('"Tiny"', '"  "'), 1, "name must be one line of text"),
    (BASE + 'seed = "7"\n', 5, 'seed must be a whole number, not the string "7"'),
    (BASE + "seed = true\n", 5, "seed must be a whole number, not true"),
    (BASE + "seed = -1\n", 5, "seed is -1"),
    (BASE.replace("= 3", '= "three"'), 4, "branches must be a count (branches = 8) or [[branches]] tables"),
    (BASE.replace("= 3", '= ["BR01"]'), 4, "branches must be a count"),
    (BASE + "network = 5\n", 5, "network must be a table ([network]), not the number 5"),
    (BASE + '[busy]\nstart = "1m"\n', 5, "busy must be written [[busy]], a list of tables, not [busy]"),
    (
        BASE + crash("BR01", "1m", "5s") + "repeat = 2.0\n",
        9,
        "repeat in [[crashes]] #1 must be a whole number",
    ),
    (
        BASE + '[[partitions]]\nbranches = "BR01"\nstart = "1m"\nduration = "1m"\n',
        6,
        "must be a list of branch codes",
    ),
    (
        BASE + '[network]\nlatency = "5ms"\n',
        6,
        'latency in [network] must be [min, max], e.g. ["5ms", "40ms"]',
    ),
    (BASE + '[network]\nlatency = ["5ms"]\n', 6, "latency in [network] must be [min, max]"),
    # probabilities, multipliers and rates
    (
        BASE + '[[link_faults]]\nstart = "0s"\nduration = "1m"\nloss = 1.5\n',
        8,
        "loss in [[link_faults]] #1 is 1.5; a probability must be between 0 and 1",
    ),
    (
        BASE + '[[link_faults]]\nstart = "0s"\nduration = "1m"\nduplicate = -0.1\n',
        8,
        "duplicate in [[link_faults]] #1",
    ),
    (BASE + "[load]\nroaming_share = 2\n", 6, "roaming_share in [load] is 2; a probability"),
    (
        BASE + '[[busy]]\nstart = "1m"\nduration = "1m"\nmultiplier = 0\n',
        8,
        "multiplier in [[busy]] #1 is 0; it must be above 0",
    ),
    (BASE + '[[busy]]\nstart = "1m"\nduration = "1m"\nmultiplier = -2.0\n', 8, "it must be above 0"),
    (
        BASE + '[[busy]]\nstart = "1m"\nduration = "1m"\n',
        5,
        "missing required key 'multiplier' in [[busy]] #1",
    ),
    (
        BASE + "[load]\nregistrations_per_minute = -0.5\n",
        6,
        "registrations_per_minute in [load] is -0.5; a rate",
    ),
    (BASE + "[load]\nsales_per_minute = 1e6\n", 6, "MAX_RATE_PER_MINUTE"),
    # the member directory's load and HQ's operator
    (BASE + "[load]\nduplicate_share = 1.5\n", 6, "duplicate_share in [load] is 1.5; a probability"),
    (BASE + "[load]\ntop_ups_per_minute = -1\n", 6, "a rate per minute must not be negative"),
    (
        BASE + "[operator]\nresolutions = 1.0\n",
        6,
        "unknown key 'resolutions' in [operator] (did you mean 'resolutions_per_minute'?)",
    ),
    (BASE + "[operator]\nresolutions_per_minute = 1e6\n", 6, "MAX_RATE_PER_MINUTE"),
    (BASE + "[load]\nsales_per_minute = nan\n", 6, "sales_per_minute in [load] must be a finite number"),
    (BASE + "load.sales_per_minute = -1\n", 5, "sales_per_minute in [load] is -1"),
    # latency ranges
    (BASE + '[network]\nlatency = ["50ms", "5ms"]\n', 6, "latency in [network] runs from 50ms down to 5ms"),
    (BASE + '[network]\nlatency = ["-5ms", "5ms"]\n', 6, "latency must not be negative"),
    (BASE + 'network = { latency = ["9ms", "1ms"] }\n', 5, "write [min, max]"),
    (
        BASE + '[[link_faults]]\nstart = "0s"\nduration = "1m"\nextra_latency = ["0ms", "2h"]\n',
        8,
        "extra_latency in [[link_faults]] #1 reaches 2h; at most 10m (MAX_LATENCY_MS",
    ),
    # impossible times
    (BASE + partition("BR01", start="-1m"), 7, "start in [[partitions]] #1 is -1m; it must not be negative"),
    (BASE + partition("BR01", start="2h"), 7, "[[partitions]] #1 starts at 2h, at or after trading ends (1h"),
    (BASE + partition("BR01", start="1h"), 7, "starts at 1h, at or after trading ends"),
    (BASE + crash("BR01", "61m", "1s"), 7, "[[crashes]] #1 starts at 61m, at or after trading ends"),
    (BASE + '[[hq_outages]]\nstart = "3h"\nduration = "1m"\n', 6, "[[hq_outages]] #1 starts at 3h"),
    (BASE + '[[busy]]\nstart = "1d"\nduration = "1m"\nmultiplier = 2\n', 6, "[[busy]] #1 starts at 1d"),
    (
        BASE + partition("BR01", duration="0s"),
        8,
        "duration in [[partitions]] #1 is 0ms; it must be longer than zero",
    ),
    (BASE + partition("BR01", duration="-5m"), 8, "it must not be negative"),
    (BASE + crash("BR01", "1m", "0s"), 8, "down in [[crashes]] #1 is 0ms; it must be longer than zero"),
    (BASE.replace('"1h"', '"0s"'), 2, "duration is 0ms; it must be longer than zero"),
    (BASE.replace('"1h"', '"-1h"'), 2, "duration is -1h; it must not be negative"),
    (BASE.replace('"10m"', '"0ms"'), 3, "heal_budget is 0ms; it must be longer than zero"),
    (BASE + partition("BR01", duration="31d"), 8, "at most 30d (MAX_DURATION_MS"),
    # branches named by faults must exist, once each
    (
        BASE.replace("= 3", "= 8") + partition("BR03", "BR09"),
        6,
        "[[partitions]] #1 names BR09, but the scenario has BR01..BR08",
    ),
    (BASE + partition(), 6, "branches in [[partitions]] #1 must name at least one branch"),
    (BASE + partition("BR01", "BR01"), 6, "branches in [[partitions]] #1 names BR01 twice"),
    (
        BASE + crash("BR3", "1m", "1s"),
        6,
        "[[crashes]] #1 names BR3, but the scenario has BR01..BR03 (did you mean BR03?)",
    ),
    (
        BASE + '[[busy]]\nstart = "1m"\nduration = "1m"\nmultiplier = 2\nbranches = ["BR07"]\n',
        9,
        "[[busy]] #1 names BR07",
    ),
    (
        BASE + '[[link_faults]]\nbranches = ["X"]\nstart = "0s"\nduration = "1m"\n',
        6,
        "[[link_faults]] #1 names X",
    ),
    (
        BASE + '[[link_faults]]\nbranches = [3]\nstart = "0s"\nduration = "1m"\n',
        6,
        "must name branches by code",
    ),
    (
        BASE.replace("branches = 3\n", "")
        + '[[branches]]\ncode = "north"\n[[branches]]\ncode = "south"\n'
        + partition("east"),
        9,
        "names east, but the scenario has north, south",
    ),
    # branch codes: unique, and the shape the wire accepts
    (
        BASE.replace("branches = 3\n", "")
        + '[[branches]]\ncode = "A"\n[[branches]]\ncode = "B"\n'
        + '[[branches]]\ncode = "A"\n',
        9,
        "branch code A in [[branches]] #3 is already [[branches]] #1's",
    ),
    (
        BASE.replace("branches = 3\n", '[[branches]]\ncode = "BR 1"\n'),
        5,
        "must be 1 to 32 letters, digits, '-' or '_'",
    ),
    (BASE.replace("branches = 3\n", '[[branches]]\ncode = "-BR1"\n'), 5, "starting with a letter or digit"),
    (
        BASE.replace("branches = 3\n", f'[[branches]]\ncode = "{"B" * 33}"\n'),
        5,
        "code in [[branches]] #1 must be 1 to 32",
    ),
    # crashes: repeats need a period longer than the downtime; windows of one branch never overlap
    (
        BASE + crash("BR01", "1m", "5s") + "repeat = 0\n",
        9,
        "repeat in [[crashes]] #1 is 0; it must be from 1",
    ),
    (BASE + crash("BR01", "1m", "5s") + "repeat = 3\n", 9, "[[crashes]] #1 repeats 3 times but has no every"),
    (
        BASE + crash("BR01", "1m", "5s") + 'repeat = 3\nevery = "5s"\n',
        10,
        "every in [[crashes]] #1 (5s) must be longer than down (5s): BR01 must restart before it crashes",
    ),
    (
        BASE + crash("BR01", "10m", "2m") + crash("BR02", "10m", "2m") + crash("BR01", "11m", "10s"),
        15,
        "[[crashes]] #3 crashes BR01 at 11m, but it is down until 12m from [[crashes]] #1",
    ),
    (
        BASE + crash("BR01", "10m", "10s") + 'repeat = 5\nevery = "1m"\n' + crash("BR01", "12m", "1s"),
        13,
        "[[crashes]] #2 crashes BR01 at 12m, but it is down until 730s from [[crashes]] #1",
    ),
    # bounds
    (BASE.replace("= 3", "= 201"), 4, "a scenario has 1 to 200 branches"),
    (BASE.replace("= 3", "= 0"), 4, "branches is 0"),
    (BASE.replace('"1h"', '"31d"'), 2, "duration is 31d; at most 30d (MAX_DURATION_MS"),
    (BASE.replace('"10m"', '"2d"'), 3, "heal_budget is 2d; at most 1d (MAX_HEAL_BUDGET_MS)"),
    (
        BASE.replace("branches = 3\n", '[[branches]]\ncode = "A"\nclock_skew = "-400d"\n'),
        6,
        "clock_skew in [[branches]] #1 is -400d; at most 366d (MAX_CLOCK_SKEW_MS)",
    ),
    (
        BASE.replace("branches = 3\n", "") + "".join(f'[[branches]]\ncode = "B{n}"\n' for n in range(201)),
        4,
        "201 [[branches]]; a scenario has at most 200 (MAX_BRANCHES)",
    ),
    # lines are found past multi-line strings and arrays that look like keys and tables
    (
        BASE
        + 'description = """\nloss = 1.5\n[[crashes]]\n"""\n'
        + "[[partitions]]\nbranches = [\n  \"BR01\",  # ] a comment\n  'BR02',\n]\n"
        + 'start = "10m"\nduration = "0s"\n',
        15,
        "duration in [[partitions]] #1 is 0ms",
    ),
]


@pytest.mark.parametrize(("text", "line", "problem"), REFUSED)
def test_bad_input_is_refused_at_its_line_with_the_problem_named(text: str, line: int, problem: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(text, "busy-day.toml")
    assert refused.value.line == line, str(refused.value)
    assert str(refused.value).startswith(f"busy-day.toml:{line}: "), str(refused.value)
    assert problem in str(refused.value)


def test_a_toml_syntax_error_is_a_scenario_error_at_its_line() -> None:
    with pytest.raises(ScenarioError, match=r"^busy-day\.toml:3: not valid TOML: .*\(column \d+\)$"):
        parse_scenario('name = "x"\nduration = "1h"\nheal_budget = 10m\n', "busy-day.toml")


def test_a_key_given_twice_is_a_syntax_error_at_the_second() -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(BASE + 'duration = "2h"\n', "busy-day.toml")
    assert refused.value.line == 5


def test_a_string_left_open_is_refused_at_the_end() -> None:
    with pytest.raises(ScenarioError, match=r"^t\.toml:\d+: not valid TOML"):
        parse_scenario(BASE + 'description = """never closed\n', "t.toml")


def test_a_missing_file_is_a_scenario_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.toml: cannot read it"):
        load_scenario(tmp_path / "nope.toml")


def test_a_file_that_is_not_utf8_is_refused_at_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.encode() + 'description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.toml:5: not UTF-8"):
        load_scenario(path)


def test_a_byte_order_mark_from_a_windows_editor_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode())
    assert load_scenario(path).name == "Tiny"


def test_a_scenario_asked_of_more_branches_keeps_its_own_and_adds_more_at_its_load() -> None:
    scenario = parse_scenario(
        """
        name = "n"
        description = "d"
        duration = "1h"
        heal_budget = "10m"
        [[branches]]
        code = "BR02"
        clock_skew = "-5m"
        [[partitions]]
        branches = ["BR02"]
        start = "5m"
        duration = "10m"
        """,
        "n.toml",
    )
    grown = with_branches(scenario, 4)
    assert [b.code for b in grown.branches] == ["BR02", "BR01", "BR03", "BR04"]
    assert grown.branches[0] == scenario.branches[0]  # its settings kept
    assert all(b.load is None and b.clock_skew_ms == 0 for b in grown.branches[1:])
    assert (grown.partitions, grown.load) == (scenario.partitions, scenario.load)
    wide = with_branches(scenario, 120)
    assert [b.code for b in wide.branches[:3]] == ["BR02", "BR001", "BR002"]
    assert len({b.code for b in wide.branches}) == 120


def test_a_scenario_asked_of_fewer_branches_keeps_every_branch_its_faults_name() -> None:
    scenario = load_scenario(SCENARIOS / "ci-small.toml")  # BR02 partitioned, BR03 crashed
    assert [b.code for b in with_branches(scenario, 3).branches] == ["BR01", "BR02", "BR03"]
    with pytest.raises(
        ScenarioError, match="leave out BR03, which the scenario's faults name; keep at least 3"
    ):
        with_branches(scenario, 2)
    for count in (0, 201):
        with pytest.raises(ScenarioError, match="a scenario has 1 to 200"):
            with_branches(scenario, count)
