"""A benchmark of this tree and of an older commit, side by side in one sitting.

`--against REV` on a benchmark checks REV out into a temporary git worktree and
runs that commit's own script and ours in turn, each in a fresh process with its
own tree first on the path, alternating for `--rounds` rounds so drift on a busy
machine touches both alike. Each script prints its rich table; the figures are
read back from it, so any commit whose script prints the same figure names can
be compared (the old commit needs its own dependencies in this virtualenv).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import FIGURES_ENV, Report

ROOT = Path(__file__).resolve().parents[1]
# One run of a benchmark script stays near a minute; five is a hang.
RUN_BOUND_S = 300
TABLE_EDGE = "│"


@dataclass(frozen=True)
class Compared:
    figure: str
    ours: list[float]
    theirs: list[float]
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        """Ours over theirs, medians; above 1 is better where higher is better."""
        return statistics.median(self.ours) / statistics.median(self.theirs)


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """REV checked out beside this tree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-against-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), rev],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )


def run_script(tree: Path, module: str, args: Sequence[str]) -> str:
    """`python -m MODULE ARGS` with `tree` first on the path; its output."""
    # The inner runs' own tables are not figures of their own (run_all collects this one's).
    env = {key: value for key, value in os.environ.items() if key != FIGURES_ENV}
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_BOUND_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} in {tree} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def figures(output: str) -> dict[str, str]:
    """The rows of a benchmark's table: figure name -> measured text."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip(TABLE_EDGE).split(TABLE_EDGE)]
        if len(cells) >= 2 and cells[0] and cells[1] and cells[0] != "figure":
            found[cells[0]] = cells[1]
    return found


def number(measured: str) -> float:
    """The leading figure of a measured cell: "6,718" -> 6718, "5.2 s" -> 5.2."""
    head = measured.split()[0].replace(",", "").rstrip("x")
    return float(head)


def compare(
    module: str,
    args: Sequence[str],
    rev: str,
    rounds: int,
    wanted: dict[str, bool],
) -> list[Compared]:
    """Run MODULE here and at REV alternately; the wanted figures (name -> higher is
    better) from every round."""
    ours: dict[str, list[float]] = {name: [] for name in wanted}
    theirs: dict[str, list[float]] = {name: [] for name in wanted}
    with worktree(rev) as old_tree:
        for _ in range(rounds):
            for tree, into in ((old_tree, theirs), (ROOT, ours)):
                found = figures(run_script(tree, module, args))
                for name in wanted:
                    if name not in found:
                        raise RuntimeError(f"{module} at {tree} printed no figure {name!r}: {sorted(found)}")
                    into[name].append(number(found[name]))
    return [Compared(name, ours[name], theirs[name], wanted[name]) for name in wanted]


def report(title: str, rev: str, compared: list[Compared]) -> Report:
    table = Report(
        f"{title}: this tree against {rev}, same sitting, medians of {len(compared[0].ours)} rounds"
    )
    for row in compared:
        better = row.ratio >= 1 if row.higher_is_better else row.ratio <= 1
        table.add(
            row.figure,
            f"{_shown(statistics.median(row.ours))} vs {_shown(statistics.median(row.theirs))}",
            f"ratio {row.ratio:.2f} ({'higher' if row.higher_is_better else 'lower'} is better)",
            better,
        )
    return table


def _shown(value: float) -> str:
    """A median as its figure reads: a ratio (0.19) keeps two places, a rate or a time one."""
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
