"""What one simulation run shows an ops person: a terminal summary and a self-contained HTML report.

Both are drawn from the same plain tables (`run_tables`), so they say the same thing; the HTML
adds plots. The same `RunResult` always gives byte-identical HTML: CI compares reports by seed.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from simulations.model import Heal, RunResult, Scenario, format_duration
from simulations.report_plots import (
    backlog_png,
    branch_order,
    bytes_sent_png,
    lag_png,
    peak_backlog_png,
    shaded_spans,
)

NOT_CONVERGED = "did not converge within budget"


def format_yuan(amount_fen: int) -> str:
    """123456 fen -> '¥1,234.56'. Integer arithmetic only: money never passes through a float."""
    yuan, fen = divmod(abs(amount_fen), 100)
    sign = "-" if amount_fen < 0 else ""
    return f"{sign}¥{yuan:,}.{fen:02d}"


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
    tables.append(_branch_table(result))
    tables += _directory_tables(result)
    tables += _inventory_tables(result)
    tables += _card_tables(result)
    tables += [_fault_table(scenario), _heal_table(result)]
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
    if result.event_kinds:
        tables.append(_event_table(result))
    return tables


def _event_table(result: RunResult) -> ReportTable:
    total = sum(result.event_kinds.values())
    ranked = sorted(result.event_kinds.items(), key=lambda kind: (-kind[1], kind[0]))
    return ReportTable(
        title="Events by kind",
        headers=("event", "run", "share"),
        right_aligned=(1, 2),
        rows=tuple((kind, _count(n), f"{n / total:.1%}") for kind, n in ranked),
    )


def time_summary(result: RunResult) -> RenderableType:
    """Where the run's wall time went, by kind of event, most first, for a terminal."""
    return _rich_table(_time_table(result))


def _time_table(result: RunResult) -> ReportTable:
    total = sum(result.event_wall_s.values()) or 1.0
    ranked = sorted(result.event_wall_s.items(), key=lambda kind: (-kind[1], kind[0]))
    return ReportTable(
        title="Wall time by kind of event (this run; not in the report)",
        headers=("event", "run", "wall s", "share", "µs each"),
        right_aligned=(1, 2, 3, 4),
        rows=tuple(
            (
                kind,
                _count(result.event_kinds.get(kind, 0)),
                f"{wall:.2f}",
                f"{wall / total:.1%}",
                f"{wall * 1e6 / max(1, result.event_kinds.get(kind, 0)):,.0f}",
            )
            for kind, wall in ranked[:12]
        ),
    )


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
            format_duration(f.peak_lag_ms),
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
            "",
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
            "peak lag",
            "batches sent",
            "bytes sent",
            "crashes",
        ),
        rows=tuple(rows),
        right_aligned=tuple(range(1, 10)),
    )


def _directory_tables(result: RunResult) -> list[ReportTable]:
    """The member directory's figures, when the run used it: what the tills did, and what
    HQ's conflict queue holds at the end. A run without them shows neither table."""
    figures = [result.branches[code] for code in branch_order(result)]
    rows = [
        (
            f.code,
            _count(f.duplicate_registrations),
            _count(f.edits),
            _count(f.top_ups),
            _count(f.spends_online),
            _count(f.spends_offline),
            _count(f.status_changes),
            _count(f.voucher_redemptions),
        )
        for f in figures
        if f.duplicate_registrations
        + f.edits
        + f.top_ups
        + f.spends_online
        + f.spends_offline
        + f.status_changes
        + f.voucher_redemptions
    ]
    tables = []
    if rows:
        tables.append(
            ReportTable(
                title="Member directory",
                headers=(
                    "branch",
                    "registered twice",
                    "edits",
                    "top-ups",
                    "card paid online",
                    "card paid offline",
                    "card status changes",
                    "vouchers used",
                ),
                rows=tuple(rows),
                right_aligned=tuple(range(1, 8)),
            )
        )
    if result.conflicts:
        states = ("open", "resolved", "cleared")
        tables.append(
            ReportTable(
                title="Conflicts in HQ's queue",
                headers=("kind", "found", *states),
                rows=tuple(
                    (
                        kind,
                        _count(result.conflicts_found(kind)),
                        *(_count(by_state.get(s, 0)) for s in states),
                    )
                    for kind, by_state in sorted(result.conflicts.items())
                ),
                right_aligned=(1, 2, 3, 4),
            )
        )
    return tables


def _inventory_tables(result: RunResult) -> list[ReportTable]:
    """Stock, when the run moved it between warehouses: each node's receipts, returns, counts
    and transfers, and how long transfers spent in transit. A run without them shows neither."""
    inventory = result.inventory
    if inventory is None:
        return []
    figures = [result.branches[code] for code in branch_order(result)]
    rows = [
        (
            f.code,
            _count(f.receipts),
            _count(f.returns),
            _count(f.stocktakes),
            _count(f.transfers_sent),
            _count(f.transfers_refused),
            _count(f.transfers_received),
        )
        for f in figures
    ]
    return [
        ReportTable(
            title="Stock",
            headers=(
                "warehouse node",
                "receipts",
                "returns",
                "stocktakes",
                "transfers sent",
                "transfers refused",
                "transfers received",
            ),
            rows=tuple(rows),
            right_aligned=tuple(range(1, 7)),
        ),
        ReportTable(
            title="Transfers",
            headers=("", ""),
            key_value=True,
            rows=(
                ("sent", _count(inventory.sent)),
                ("received at their destination", _count(inventory.received)),
                ("in transit at the end", _count(inventory.in_transit)),
                ("longest in transit", format_duration(inventory.max_in_transit_ms)),
            ),
        ),
    ]


def _card_tables(result: RunResult) -> list[ReportTable]:
    """Cards of a type, when the run sold or used any: what each branch's tills did with
    them and what they refused (by refusal code). Overspent uses are in the conflicts table."""
    figures = [result.branches[code] for code in branch_order(result)]
    shown = [f for f in figures if f.card_sales or f.uses_spent or f.time_card_visits or f.card_refusals]
    if not shown:
        return []
    rows = [
        (
            f.code,
            _count(f.card_sales),
            format_yuan(f.card_sales_fen),
            _count(f.uses_spent),
            _count(f.time_card_visits),
            ", ".join(f"{code} {n:,}" for code, n in sorted(f.card_refusals.items())) or "none",
        )
        for f in shown
    ]
    return [
        ReportTable(
            title="Cards of a type",
            headers=("branch", "cards sold", "card takings", "uses spent", "time-card visits", "refused"),
            rows=tuple(rows),
            right_aligned=(1, 2, 3, 4),
        )
    ]


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


def _converged_after(heal: Heal) -> str:
    if heal.converged_after_ms is not None:
        return format_duration(heal.converged_after_ms)
    if heal.superseded_by is not None:
        return f"not before the {heal.superseded_by} healed"
    return NOT_CONVERGED


def _heal_table(result: RunResult) -> ReportTable:
    rows = tuple(
        (
            h.what,
            format_at(h.healed_at_ms),
            _converged_after(h),
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
    shown, left_out = shaded_spans(result.scenario)
    caption = "Backlog per branch over simulated time; shaded: fault windows."
    if left_out:
        caption += f" {left_out} further fault windows are not shaded (see the Faults table)."
    out.append(_html_figure(backlog_png(result, shown), "Backlog per branch over time", caption))
    out.append(
        _html_figure(
            lag_png(result, shown),
            "Replication lag per branch over time",
            "How long ago the oldest change HQ had not acknowledged was made, per branch.",
        )
    )
    out.append(_html_figure(peak_backlog_png(result), "Peak backlog per branch", "Peak backlog per branch."))
    out.append(_html_figure(bytes_sent_png(result), "Bytes sent per branch", "Bytes sent per branch."))
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
