"""HQ's plain status page: the branches, their replication state and sales."""

from __future__ import annotations

import datetime
import html
from typing import Any


def _when(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never"
    age_s = max(0, (now_ms - ms) // 1000)
    stamp = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%H:%M:%S UTC")
    return f"{stamp} ({age_s} s ago)"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def duration(ms: int) -> str:
    """An age as a person reads it: 45 s, 12 min, 5 h 3 min, 2 d 4 h."""
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def branches_page(
    rows: list[dict[str, Any]],
    summaries: dict[str, tuple[int, int, int]],
    now_ms: int,
    open_conflicts: dict[str, int] | None = None,
    in_transit: tuple[int, int | None] = (0, None),
) -> str:
    body = []
    for row in rows:
        count, net_fen, profit_fen = summaries.get(row["code"], (0, 0, 0))
        if row["quarantined"]:
            state = f'<span class="bad">quarantined: {html.escape(row["quarantine_reason"])}</span>'
        elif row["online"]:
            state = '<span class="ok">online</span>'
        else:
            state = '<span class="warn">offline</span>'
        body.append(
            f"<tr><td>{html.escape(row['code'])}</td><td>{state}</td>"
            f"<td>{_when(row['last_seen'], now_ms)}</td><td class=n>{row['acked_seq']:,}</td>"
            f"<td class=n>{row['backlog']:,}</td><td class=n>{count:,}</td>"
            f"<td class=n>{yuan(net_fen)}</td><td class=n>{yuan(profit_fen)}</td></tr>"
        )
    table = "\n".join(body) or "<tr><td colspan=8>No branch is enrolled yet.</td></tr>"
    waiting = open_conflicts or {}
    if waiting:
        kinds = ", ".join(
            f"{count} {html.escape(kind.replace('_', ' '))}" for kind, count in sorted(waiting.items())
        )
        conflicts = (
            f'<p class="warn">Open conflicts in the member directory: {kinds}.'
            " Review them with <code>branchline hq conflicts list --data HQ_FOLDER</code>.</p>"
        )
    else:
        conflicts = '<p class="ok">No open conflicts in the member directory.</p>'
    transfers, oldest_age_ms = in_transit
    if transfers:
        oldest = "" if oldest_age_ms is None else f"; the oldest left {duration(oldest_age_ms)} ago"
        transit = (
            f'<p class="warn">{transfers:,} transfer{"s" if transfers != 1 else ""} in transit{oldest}.'
            ' See <a href="/api/transfers?state=in_transit">/api/transfers?state=in_transit</a>.</p>'
        )
    else:
        transit = '<p class="ok">No transfer is in transit.</p>'
    set_aside = [(row["code"], row["effects_quarantined"]) for row in rows if row["effects_quarantined"]]
    if set_aside:
        counts = ", ".join(f"{html.escape(code)} {count:,}" for code, count in set_aside)
        effects = (
            f'<p class="warn">Entries stored but not applied (their effects are quarantined): {counts}.'
            " Review them with <code>branchline hq quarantine list --data HQ_FOLDER</code>.</p>"
        )
    else:
        effects = '<p class="ok">Every entry the branches sent is applied.</p>'

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Branchline HQ</title>
<meta http-equiv="refresh" content="5">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .4rem .9rem; border-bottom: 1px solid #ddd; }}
th {{ text-align: left; background: #f4f4f4; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.ok {{ color: #1a7f37; }} .warn {{ color: #9a6700; }} .bad {{ color: #cf222e; font-weight: bold; }}
</style></head><body>
<h1>Branchline HQ</h1>
<p>Branches, their replication state and today's sales (a business day).
This page refreshes every 5 seconds.</p>
<table>
<tr><th>Branch</th><th>State</th><th>Last seen</th><th>Acked seq</th><th>Backlog</th>
<th>Sales today</th><th>Takings today, returns netted</th><th>Gross profit today</th></tr>
{table}
</table>
{conflicts}
{effects}
{transit}
<p><a href="/api/branches">/api/branches</a> · <a href="/api/sales/summary">/api/sales/summary</a>
· <a href="/api/stock">/api/stock</a> · <a href="/api/transfers">/api/transfers</a>
· <a href="/api/payables">/api/payables</a></p>
</body></html>
"""


LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Branchline HQ · 登录 / Log in</title>
<link rel="icon" href="data:,">
<style>body{font-family:sans-serif;max-width:22em;margin:4em auto}label,input,button{display:block;width:100%;
margin:.3em 0}input,button{padding:.4em;font-size:1em}#error{color:#b00}</style></head>
<body><h1>Branchline HQ</h1>
<form id="login"><label>登录名 / Login <input name="login" autocomplete="username" required autofocus></label>
<label>密码 / Password
<input name="password" type="password" autocomplete="current-password" required></label>
<button>登录 / Log in</button><p id="error" role="alert"></p></form>
<script>
// The session comes back as an HttpOnly cookie; this page never sees the token.
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({login: form.get("login"), password: form.get("password")})});
  if (response.ok) { location.href = "/"; return; }
  const answer = await response.json().catch(() => ({message: response.statusText}));
  document.getElementById("error").textContent = answer.message;
});
</script></body></html>
"""
