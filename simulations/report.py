"""What one simulation run shows an ops person: a terminal summary and a self-contained HTML report.

Both are drawn from the same plain tables (`run_tables`), so they say the same thing; the HTML
adds plots. The same `RunResult` always gives byte-identical HTML: CI compares reports by seed.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib import style as mpl_style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter
from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from simulations.model import HOUR_MS, MINUTE_MS, Crash, RunResult, Scenario

NOT_CONVERGED = "did not converge within budget"

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


def format_yuan(amount_fen: int) -> str:
    """123456 fen -> '¥1,234.56'. Integer arithmetic only: money never passes through a float."""
    yuan, fen = divmod(abs(amount_fen), 100)
    sign = "-" if amount_fen < 0 else ""
    return f"{sign}¥{yuan:,}.{fen:02d}"


def format_duration(duration_ms: int) -> str:
    """4321 -> '4.321s', 90000 -> '1m 30s', 7200000 -> '2h 00m 00s'."""
    sign = "-" if duration_ms < 0 else ""
    left_ms = abs(duration_ms)
    if left_ms < 1000:
        return f"{sign}{left_ms} ms"
    hours, left_ms = divmod(left_ms, HOUR_MS)
    minutes, left_ms = divmod(left_ms, MINUTE_MS)
    seconds, millis = divmod(left_ms, 1000)
    fraction = f".{millis:03d}" if millis else ""
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {seconds:02d}{fraction}s"
    if minutes:
        return f"{sign}{minutes}m {seconds:02d}{fraction}s"
    return f"{sign}{seconds}{fraction}s"


def format_at(at_ms: int) -> str:
    """A simulated instant, as time since the run started."""
    return f"T+{format_duration(at_ms)}"


def _count(n: int) -> str:
    return f"{n:,}"


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


@dataclass(frozen=True)
class ReportTable:
    """One table of the report as plain strings, ready for either renderer."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right_aligned: tuple[int, ...] = ()  # column indexes holding figures
    key_value: bool = False  # rows are (label, value); no header line


@dataclass(frozen=True)
class FaultSpan:
    """One window to shade on the backlog plot."""

    kind: str  # a key of FAULT_COLOURS
    start_ms: int
    end_ms: int


def branch_order(result: RunResult) -> list[str]:
    """The scenario's order, then any branch the scenario does not name, by code."""
    named = [b.code for b in result.scenario.branches if b.code in result.branches]
    return named + sorted(set(result.branches) - set(named))


def verdict(result: RunResult) -> str:
    if result.ok:
        return "OK"
    return f"FAILED ({len(result.violations)} violation{'s' if len(result.violations) != 1 else ''})"


def run_tables(result: RunResult) -> list[ReportTable]:
    """Everything the summary and the HTML report show, in the order they show it."""
    scenario = result.scenario
    converged = "never" if result.converged_at_ms is None else format_at(result.converged_at_ms)
    tables = [
        ReportTable(
            title="Run",
            headers=("", ""),
            key_value=True,
            rows=(
                ("scenario", scenario.name),
                ("description", scenario.description),
                ("seed", str(result.seed)),
                ("simulated duration", format_duration(result.ended_at_ms)),
                ("trading", format_duration(scenario.duration_ms)),
                ("heal budget", format_duration(scenario.heal_budget_ms)),
                ("branches", _count(len(result.branches))),
                ("replicas all equal at", converged),
                ("verdict", verdict(result)),
            ),
        )
    ]
    if result.violations:
        tables.append(
            ReportTable(
                title="Violations",
                headers=("invariant", "detail"),
                rows=tuple((v.invariant, v.detail) for v in result.violations),
            )
        )
    tables += [_branch_table(result), _fault_table(scenario), _heal_table(result)]
    tables.append(
        ReportTable(
            title="Network and engine",
            headers=("", ""),
            key_value=True,
            rows=(
                ("messages dropped", _count(result.messages_dropped)),
                ("messages duplicated", _count(result.messages_duplicated)),
                ("bytes sent in all", _count(result.bytes_total)),
                ("events run", _count(result.events_run)),
            ),
        )
    )
    return tables


def _branch_table(result: RunResult) -> ReportTable:
    figures = [result.branches[code] for code in branch_order(result)]
    rows = [
        (
            f.code,
            _count(f.sales),
            format_yuan(f.sales_total_fen),
            _count(f.registrations),
            _count(f.refused),
            _count(f.peak_backlog),
            _count(f.batches_sent),
            _count(f.bytes_sent),
            _count(f.crashes),
        )
        for f in figures
    ]
    rows.append(
        (
            "all branches",
            _count(sum(f.sales for f in figures)),
            format_yuan(sum(f.sales_total_fen for f in figures)),
            _count(sum(f.registrations for f in figures)),
            _count(sum(f.refused for f in figures)),
            "",  # peaks at different moments do not add up
            _count(sum(f.batches_sent for f in figures)),
            _count(sum(f.bytes_sent for f in figures)),
            _count(sum(f.crashes for f in figures)),
        )
    )
    return ReportTable(
        title="Branches",
        headers=(
            "branch",
            "sales",
            "sales total",
            "registrations",
            "refused",
            "peak backlog",
            "batches sent",
            "bytes sent",
            "crashes",
        ),
        rows=tuple(rows),
        right_aligned=tuple(range(1, 9)),
    )


def _fault_table(scenario: Scenario) -> ReportTable:
    """One row per fault the scenario lists (a repeated crash is one row)."""
    rows: list[tuple[str, str, str, str]] = []

    def window(start_ms: int, duration_ms: int) -> str:
        return f"{format_at(start_ms)} – {format_at(start_ms + duration_ms)}"

    for p in scenario.partitions:
        rows.append(("partition", ", ".join(p.branches), window(p.start_ms, p.duration_ms), ""))
    for o in scenario.hq_outages:
        rows.append(("HQ outage", "HQ", window(o.start_ms, o.duration_ms), ""))
    for lf in scenario.link_faults:
        low_ms, high_ms = lf.extra_latency_ms
        detail = (
            f"loss {_percent(lf.loss)}, duplicate {_percent(lf.duplicate)}, "
            f"reorder {_percent(lf.reorder)}, extra latency {low_ms}–{high_ms} ms"
        )
        branches = ", ".join(lf.branches) or "all"
        rows.append(("link faults", branches, window(lf.start_ms, lf.duration_ms), detail))
    for c in scenario.crashes:
        detail = f"down {format_duration(c.down_ms)}"
        if c.repeat > 1:
            detail += f"; the first of {c.repeat}, every {format_duration(c.every_ms)}"
        rows.append(("crash", c.branch, window(c.at_ms, c.down_ms), detail))
    return ReportTable(
        title="Faults",
        headers=("fault", "branches", "window", "detail"),
        rows=tuple(rows),
    )


def _heal_table(result: RunResult) -> ReportTable:
    rows = tuple(
        (
            h.what,
            format_at(h.healed_at_ms),
            NOT_CONVERGED if h.converged_after_ms is None else format_duration(h.converged_after_ms),
        )
        for h in result.heals
    )
    return ReportTable(
        title="Convergence after each heal",
        headers=("healed", "at", "converged after"),
        rows=rows,
        right_aligned=(1, 2),
    )


# Terminal ---------------------------------------------------------------------------------------


def summary_table(result: RunResult, scenario_path: str) -> RenderableType:
    """The run for a terminal: print it with `rich.console.Console().print(...)`.

    On failure it ends with the command that replays the run exactly.
    """
    parts: list[RenderableType] = []
    title = Text(f"Simulation {result.scenario.name} — seed {result.seed} — ", style="bold")
    title.append(verdict(result), style="bold green" if result.ok else "bold red")
    parts.append(title)
    for report_table in run_tables(result):
        parts.append(_rich_table(report_table))
    if not result.ok:
        parts.append(Text("Replay this run exactly with:", style="bold red"))
        # Never wrapped: an ops person copies it whole into a shell.
        parts.append(Text(result.replay_command(scenario_path), no_wrap=True, overflow="ignore"))
    return Group(*parts)


def _rich_table(report_table: ReportTable) -> Table:
    table = Table(
        title=report_table.title,
        title_justify="left",
        title_style="bold",
        show_header=not report_table.key_value,
    )
    for index, header in enumerate(report_table.headers):
        justify: JustifyMethod = "right" if index in report_table.right_aligned else "left"
        table.add_column(
            header, justify=justify, style="bold" if report_table.key_value and index == 0 else None
        )
    if not report_table.rows:
        table.add_row(
            *(Text("none", style="dim") if i == 0 else "" for i in range(len(report_table.headers)))
        )
    for row in report_table.rows:
        # Text, not str: a scenario's text must not be read as rich markup.
        cells = [Text(cell, style=_cell_style(cell)) for cell in row]
        table.add_row(*cells)
    return table


def _cell_style(cell: str) -> str:
    if cell == NOT_CONVERGED or cell.startswith("FAILED"):
        return "red"
    if cell == "OK":
        return "green"
    return ""


# HTML -------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; } .failed { color: #cf222e; }
pre { background: #f6f8fa; padding: 0.6rem; border: 1px solid #ddd; }
figure { margin: 1rem 0 2rem; } img { max-width: 100%; }
"""


def render_html(result: RunResult, scenario_path: str) -> str:
    """The whole report as one page: no external assets, no timestamps, same run -> same bytes."""
    name = html.escape(result.scenario.name)
    verdict_class = "ok" if result.ok else "failed"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>Simulation {name} (seed {result.seed})</title>",
        f"<style>{_CSS}</style></head>",
        "<body>",
        f"<h1>Simulation {name} — seed {result.seed} — "
        f'<span class="{verdict_class}">{html.escape(verdict(result))}</span></h1>',
    ]
    if not result.ok:
        out.append('<p class="failed">Replay this run exactly with:</p>')
        out.append(f"<pre><code>{html.escape(result.replay_command(scenario_path))}</code></pre>")
    out += [_html_table(t) for t in run_tables(result)]
    shown, left_out = _shaded_spans(result.scenario)
    caption = "Backlog per branch over simulated time; shaded: fault windows."
    if left_out:
        caption += f" {left_out} further fault windows are not shaded (see the Faults table)."
    out.append(_html_figure(_backlog_png(result, shown), "Backlog per branch over time", caption))
    out.append(_html_figure(_peak_backlog_png(result), "Peak backlog per branch", "Peak backlog per branch."))
    out.append(_html_figure(_bytes_sent_png(result), "Bytes sent per branch", "Bytes sent per branch."))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write_html_report(result: RunResult, scenario_path: str, out_path: Path) -> None:
    # Bytes, not text: no platform newline translation, so the file is the same everywhere.
    out_path.write_bytes(render_html(result, scenario_path).encode("utf-8"))


def _html_table(report_table: ReportTable) -> str:
    lines = ["<table>", f"<caption>{html.escape(report_table.title)}</caption>"]
    if not report_table.key_value:
        lines.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in report_table.headers) + "</tr>")
    if not report_table.rows:
        lines.append(f'<tr><td colspan="{len(report_table.headers)}">none</td></tr>')
    for row in report_table.rows:
        cells = []
        for index, cell in enumerate(row):
            text = html.escape(cell)
            if report_table.key_value and index == 0:
                cells.append(f'<th scope="row">{text}</th>')
            elif index in report_table.right_aligned:
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _html_figure(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


# Plots ------------------------------------------------------------------------------------------


def _crash_windows(crash: Crash) -> Iterator[FaultSpan]:
    for n in range(crash.repeat):
        start_ms = crash.at_ms + n * crash.every_ms
        yield FaultSpan("crash", start_ms, start_ms + crash.down_ms)


def _shaded_spans(scenario: Scenario) -> tuple[list[FaultSpan], int]:
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


def _backlog_png(result: RunResult, spans: Sequence[FaultSpan]) -> bytes:
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
            points = [(t, backlog[code]) for t, backlog in result.backlog_samples if code in backlog]
            axes.plot([t / unit_ms for t, _ in points], [b for _, b in points], label=code, linewidth=1.2)
        if not result.backlog_samples:
            axes.text(0.5, 0.5, "no backlog samples", transform=axes.transAxes, ha="center", va="center")
        axes.set_xlim(0, last_ms / unit_ms)
        axes.set_ylim(bottom=0)
        axes.set_xlabel(f"simulated time ({unit_name})")
        axes.set_ylabel("backlog")
        axes.set_title("Backlog per branch")
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


def _peak_backlog_png(result: RunResult) -> bytes:
    values = [result.branches[code].peak_backlog for code in branch_order(result)]
    return _bar_png(result, values, "Peak backlog per branch", "peak backlog", in_bytes=False)


def _bytes_sent_png(result: RunResult) -> bytes:
    values = [result.branches[code].bytes_sent for code in branch_order(result)]
    return _bar_png(result, values, "Bytes sent per branch", "bytes sent", in_bytes=True)
