"""The run summary and the HTML report: figures a person can check by hand, escaping, and
byte-identical output for the same run (CI compares reports by seed)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from simulations.model import (
    HOUR_MS,
    MINUTE_MS,
    BranchFigures,
    BranchSpec,
    Crash,
    Heal,
    Partition,
    RunResult,
    Scenario,
    Violation,
    format_duration,
)
from simulations.report import (
    NOT_CONVERGED,
    format_yuan,
    render_html,
    summary_table,
    write_html_report,
)

SCENARIO_PATH = "simulations/scenarios/promo_cut.toml"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# (B01, B02, B03) every 30 simulated minutes: B02 and B03 pile up while cut off (1h-3h), then drain.
BACKLOG_EVERY_HALF_HOUR = (
    (0, 0, 0),
    (2, 3, 1),
    (1, 150, 140),
    (3, 300, 290),
    (2, 410, 380),
    (0, 120, 100),
    (1, 0, 0),
    (0, 0, 0),
    (12, 0, 0),
    (0, 1, 0),
    (2, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
)


def sample_run(*, failed: bool = False, name: str = "promo-cut") -> RunResult:
    """Three branches; B02 and B03 cut off from HQ for 2h, B01 crashes once; 6h of trading."""
    scenario = Scenario(
        name=name,
        description="Stores 2 and 3 cut off during a promotion.",
        seed=4242,
        duration_ms=6 * HOUR_MS,
        heal_budget_ms=30 * MINUTE_MS,
        branches=(BranchSpec("B01"), BranchSpec("B02", clock_skew_ms=1500), BranchSpec("B03")),
        partitions=(Partition(branches=("B02", "B03"), start_ms=1 * HOUR_MS, duration_ms=2 * HOUR_MS),),
        crashes=(Crash(branch="B01", at_ms=4 * HOUR_MS, down_ms=5 * MINUTE_MS),),
    )
    branches = {
        "B01": BranchFigures(
            "B01",
            sales=700,
            sales_total_fen=123456,
            registrations=70,
            refused=0,
            peak_backlog=12,
            bytes_sent=1_204_300,
            batches_sent=360,
            crashes=1,
        ),
        "B02": BranchFigures(
            "B02",
            sales=650,
            sales_total_fen=99_999_999,
            registrations=61,
            refused=3,
            peak_backlog=410,
            bytes_sent=998_000,
            batches_sent=300,
            crashes=0,
        ),
        "B03": BranchFigures(
            "B03",
            sales=5,
            sales_total_fen=5,
            registrations=1,
            refused=0,
            peak_backlog=380,
            bytes_sent=1_500,
            batches_sent=290,
            crashes=0,
        ),
    }
    samples = [
        (n * 30 * MINUTE_MS, dict(zip(("B01", "B02", "B03"), backlog, strict=True)))
        for n, backlog in enumerate(BACKLOG_EVERY_HALF_HOUR)
    ]
    heals = [
        Heal("partition B02, B03", healed_at_ms=3 * HOUR_MS, converged_after_ms=4321),
        Heal("crash B01", healed_at_ms=4 * HOUR_MS + 5 * MINUTE_MS, converged_after_ms=None),
    ]
    violations = (
        [Violation("convergence", "replicas of B01 and HQ differ at entry 812 after the heal budget")]
        if failed
        else []
    )
    return RunResult(
        scenario=scenario,
        seed=4242,
        ended_at_ms=6 * HOUR_MS + 30 * MINUTE_MS,
        converged_at_ms=None if failed else 3 * HOUR_MS + 4321,
        branches=branches,
        heals=heals,
        violations=violations,
        backlog_samples=samples,
        messages_dropped=17,
        messages_duplicated=4,
        bytes_total=2_300_000,
        events_run=98_765,
    )


def summary_text(result: RunResult) -> str:
    console = Console(record=True, width=160)
    console.print(summary_table(result, SCENARIO_PATH))
    return console.export_text()


def test_yuan_is_formatted_from_integer_fen() -> None:
    assert format_yuan(123456) == "¥1,234.56"
    assert format_yuan(99_999_999) == "¥999,999.99"
    assert format_yuan(5) == "¥0.05"
    assert format_yuan(0) == "¥0.00"
    assert format_yuan(-250) == "-¥2.50"


def test_durations_read_as_hours_minutes_seconds() -> None:
    assert format_duration(250) == "250 ms"
    assert format_duration(4321) == "4.321s"
    assert format_duration(90_000) == "1m 30s"
    assert format_duration(6 * HOUR_MS + 30 * MINUTE_MS) == "6h 30m 00s"


def test_summary_shows_seed_verdict_figures_and_heals() -> None:
    text = summary_text(sample_run())
    assert "promo-cut" in text
    assert "4242" in text
    assert "OK" in text
    assert "FAILED" not in text
    assert "6h 30m 00s" in text  # simulated duration
    # Sales totals from fen, worked by hand: 123456 fen, 99999999 fen, 5 fen; sum 100123460 fen.
    assert "¥1,234.56" in text
    assert "¥999,999.99" in text
    assert "¥0.05" in text
    assert "¥1,001,234.60" in text
    assert "1,204,300" in text  # bytes sent by B01
    assert "4.321s" in text  # the partition's heal converged
    assert NOT_CONVERGED in text  # the crash's did not
    assert "98,765" in text  # events run
    assert "branchline simulate" not in text  # no replay command when the run passed


def test_failed_summary_lists_each_violation_and_the_replay_command() -> None:
    result = sample_run(failed=True)
    text = summary_text(result)
    assert "FAILED (1 violation)" in text
    assert "convergence" in text
    assert "replicas of B01 and HQ differ at entry 812" in text
    assert result.replay_command(SCENARIO_PATH) in text
    assert f"branchline simulate {SCENARIO_PATH} --seed 4242" in text


def table_rows(text: str, title: str) -> dict[str, list[str]]:
    """The rows of the summary's table `title`, by first cell, each as its stripped cells."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    rows = {}
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def test_member_directory_figures_and_hqs_conflict_queue_are_shown_when_the_run_used_them() -> None:
    result = sample_run()
    assert "Member directory" not in summary_text(result)
    assert "Conflicts in HQ's queue" not in summary_text(result)
    result.branches["B02"].spends_online = 7
    result.branches["B02"].spends_offline = 13
    result.branches["B03"].duplicate_registrations = 2
    # 4 overdrafts found: 1 still open, 2 written off or collected, 1 cleared by a late top-up.
    result.conflicts = {
        "duplicate_member": {"open": 2},
        "overdraft": {"cleared": 1, "open": 1, "resolved": 2},
    }
    text = summary_text(result)
    # Branches that did nothing with the directory are left out: B01 is not listed.
    assert table_rows(text, "Member directory") == {
        "B02": ["0", "0", "0", "7", "13", "0", "0"],
        "B03": ["2", "0", "0", "0", "0", "0", "0"],
    }
    assert table_rows(text, "Conflicts in HQ's queue") == {
        "duplicate_member": ["2", "2", "0", "0"],
        "overdraft": ["4", "1", "2", "1"],
    }


def test_summary_does_not_read_scenario_text_as_markup() -> None:
    text = summary_text(sample_run(name="[bold]cut[/bold]"))
    assert "[bold]cut[/bold]" in text


def test_html_has_the_tables_and_three_embedded_pngs() -> None:
    page = render_html(sample_run(failed=True), SCENARIO_PATH)
    for caption in ("Run", "Violations", "Branches", "Faults", "Convergence after each heal"):
        assert f"<caption>{caption}</caption>" in page
    assert "¥1,234.56" in page
    assert NOT_CONVERGED in page
    assert f"branchline simulate {SCENARIO_PATH} --seed 4242" in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4
    for image in images:
        assert base64.b64decode(image).startswith(PNG_SIGNATURE)
    # Self-contained: nothing fetched from elsewhere.
    assert "http://" not in page
    assert "https://" not in page


def test_html_escapes_the_scenario_name() -> None:
    page = render_html(sample_run(name="<script>alert(1)</script>"), SCENARIO_PATH)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("failed", [False, True])
def test_same_run_gives_byte_identical_html(tmp_path: Path, failed: bool) -> None:
    first, second, third = tmp_path / "first.html", tmp_path / "second.html", tmp_path / "third.html"
    write_html_report(sample_run(failed=failed), SCENARIO_PATH, first)
    write_html_report(sample_run(failed=failed), SCENARIO_PATH, second)
    # A fresh interpreter (its own hash seed, font cache lookups, matplotlib state).
    code = (
        "import sys; from pathlib import Path;"
        "from simulations.report import write_html_report;"
        "from tests.simulations.test_report import SCENARIO_PATH, sample_run;"
        "write_html_report(sample_run(failed=sys.argv[1] == 'failed'), SCENARIO_PATH, Path(sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, "failed" if failed else "ok", str(third)],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=120,
    )
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == third.read_bytes()
