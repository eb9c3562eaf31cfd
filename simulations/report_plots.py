"""The simulation report's plots: backlog over time with fault windows shaded,
peak backlog and bytes sent per branch, as PNG bytes drawn headless (Agg).

Same run, same bytes: fixed sizes and resolution, matplotlib's default style
whatever the user's settings, and no software metadata in the PNG.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from matplotlib import style as mpl_style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter

from simulations.model import HOUR_MS, MINUTE_MS, Crash, RunResult, Scenario

# Past this many shaded windows the backlog plot is a solid smear and Agg slows down;
# the faults table still lists every fault, the caption says how many were left out.
MAX_SHADED_SPANS = 1_000
# A legend longer than this covers the plot; the branch table names every branch anyway.
MAX_LEGEND_BRANCHES = 20
# Fixed so a figure's pixels depend only on the run, never on a user's matplotlibrc.
PLOT_DPI = 100
PLOT_HEIGHT_IN = 4.0
BAR_WIDTH_PER_BRANCH_IN = 0.45
PLOT_WIDTH_MIN_IN = 7.0
PLOT_WIDTH_MAX_IN = 24.0

FAULT_COLOURS = {
    "partition": "#d62728",
    "HQ outage": "#9467bd",
    "link faults": "#ff7f0e",
    "crash": "#7f7f7f",
}


def branch_order(result: RunResult) -> list[str]:
    """The scenario's order, then any branch the scenario does not name, by code."""
    named = [b.code for b in result.scenario.branches if b.code in result.branches]
    return named + sorted(set(result.branches) - set(named))


@dataclass(frozen=True)
class FaultSpan:
    """One window to shade on the backlog plot."""

    kind: str  # a key of FAULT_COLOURS
    start_ms: int
    end_ms: int


def _crash_windows(crash: Crash) -> Iterator[FaultSpan]:
    for n in range(crash.repeat):
        start_ms = crash.at_ms + n * crash.every_ms
        yield FaultSpan("crash", start_ms, start_ms + crash.down_ms)


def shaded_spans(scenario: Scenario) -> tuple[list[FaultSpan], int]:
    """The fault windows to shade (each crash repeat its own), at most MAX_SHADED_SPANS; and how many
    were left out. Crash repeats are counted, not expanded, so a huge `repeat` costs nothing."""
    windows = itertools.chain(
        (FaultSpan("partition", p.start_ms, p.start_ms + p.duration_ms) for p in scenario.partitions),
        (FaultSpan("HQ outage", o.start_ms, o.start_ms + o.duration_ms) for o in scenario.hq_outages),
        (FaultSpan("link faults", f.start_ms, f.start_ms + f.duration_ms) for f in scenario.link_faults),
        *(_crash_windows(c) for c in scenario.crashes),
    )
    shown = list(itertools.islice(windows, MAX_SHADED_SPANS))
    total = (
        len(scenario.partitions)
        + len(scenario.hq_outages)
        + len(scenario.link_faults)
        + sum(max(c.repeat, 0) for c in scenario.crashes)
    )
    return shown, total - len(shown)


def _time_axis(result: RunResult) -> tuple[int, str, int]:
    """(unit in ms, its name, the axis end in ms): hours for runs of two hours or more, else minutes."""
    last_ms = max([result.ended_at_ms, result.scenario.duration_ms, *(t for t, _ in result.backlog_samples)])
    unit_ms, unit_name = (HOUR_MS, "hours") if last_ms >= 2 * HOUR_MS else (MINUTE_MS, "minutes")
    return unit_ms, unit_name, max(last_ms, 1)


def _new_figure(width_in: float) -> Figure:
    # A bare Figure, not pyplot: nothing is registered globally, so nothing needs closing and
    # the process's pyplot backend is left alone; rendering is Agg, explicitly.
    figure = Figure(figsize=(width_in, PLOT_HEIGHT_IN), dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # Software=None drops the only varying PNG text chunk (matplotlib's version); no tIME is written.
    figure.savefig(buffer, format="png", dpi=PLOT_DPI, bbox_inches="tight", metadata={"Software": None})
    figure.clear()
    return buffer.getvalue()


def _width_for(branch_count: int) -> float:
    width_in = 2.0 + BAR_WIDTH_PER_BRANCH_IN * branch_count
    return min(max(width_in, PLOT_WIDTH_MIN_IN), PLOT_WIDTH_MAX_IN)


def backlog_png(result: RunResult, spans: Sequence[FaultSpan]) -> bytes:
    return _over_time_png(result, spans, result.backlog_samples, 1, "backlog (entries)", "Backlog per branch")


def lag_png(result: RunResult, spans: Sequence[FaultSpan]) -> bytes:
    return _over_time_png(
        result, spans, result.lag_samples, 60_000, "lag (minutes)", "Replication lag per branch"
    )


def _over_time_png(
    result: RunResult,
    spans: Sequence[FaultSpan],
    samples: Sequence[tuple[int, dict[str, int]]],
    value_unit: int,
    ylabel: str,
    title: str,
) -> bytes:
    unit_ms, unit_name, last_ms = _time_axis(result)
    with mpl_style.context("default"):
        figure = _new_figure(PLOT_WIDTH_MIN_IN + 3.0)
        axes = figure.add_subplot()
        kinds_shown: list[str] = []
        for span in spans:
            axes.axvspan(
                span.start_ms / unit_ms,
                span.end_ms / unit_ms,
                color=FAULT_COLOURS[span.kind],
                alpha=0.15,
                linewidth=0,
            )
            if span.kind not in kinds_shown:
                kinds_shown.append(span.kind)
        codes = branch_order(result)
        for code in codes:
            points = [(t, values[code]) for t, values in samples if code in values]
            axes.plot(
                [t / unit_ms for t, _ in points],
                [v / value_unit for _, v in points],
                label=code,
                linewidth=1.2,
            )
        if not samples:
            axes.text(0.5, 0.5, "no samples in this mode", transform=axes.transAxes, ha="center", va="center")
        axes.set_xlim(0, last_ms / unit_ms)
        axes.set_ylim(bottom=0)
        axes.set_xlabel(f"simulated time ({unit_name})")
        axes.set_ylabel(ylabel)
        axes.set_title(title)
        handles, _ = axes.get_legend_handles_labels()
        if len(codes) > MAX_LEGEND_BRANCHES:
            handles = []
        handles += [Patch(color=FAULT_COLOURS[k], alpha=0.3, label=k) for k in kinds_shown]
        if handles:
            axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        return _png(figure)


def _bar_png(result: RunResult, values: list[int], title: str, ylabel: str, in_bytes: bool) -> bytes:
    codes = branch_order(result)
    with mpl_style.context("default"):
        figure = _new_figure(_width_for(len(codes)))
        axes = figure.add_subplot()
        axes.bar(range(len(codes)), values, color="#1f77b4")
        if len(codes) > 12:
            axes.set_xticks(range(len(codes)), codes, rotation=45, ha="right")
        else:
            axes.set_xticks(range(len(codes)), codes)
        axes.set_title(title)
        axes.set_ylabel(ylabel)
        if in_bytes:
            axes.yaxis.set_major_formatter(EngFormatter(unit="B"))
        return _png(figure)


def peak_backlog_png(result: RunResult) -> bytes:
    values = [result.branches[code].peak_backlog for code in branch_order(result)]
    return _bar_png(result, values, "Peak backlog per branch", "peak backlog", in_bytes=False)


def bytes_sent_png(result: RunResult) -> bytes:
    values = [result.branches[code].bytes_sent for code in branch_order(result)]
    return _bar_png(result, values, "Bytes sent per branch", "bytes sent", in_bytes=True)
