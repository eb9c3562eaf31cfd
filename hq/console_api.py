"""HQ's web console: its page and assets (served by HQ itself, no CDN), the live
stream of sales and branch figures (server-sent events, hq.live), the sales, members
and purchases reports (hq.sales_report, hq.member_report, hq.purchase_report) and
their export (hq.export), and the operator's language."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hq import export, live, member_report, purchase_report, stock_report
from hq.errors import ExportFailed, InvalidQuery, NotFound
from hq.http_common import ACTOR, HQ_KEY, branch_scope, day_query, int_query, json_body, session_token
from hq.member_report import members_report
from hq.sales_report import FILTERS, GROUPINGS, Period, SalesReport, period_of, sales_report
from hq.service import wall_ms
from hq.storage.base import HQStore
from protocol.access import Scope, logged_in, public, requires
from protocol.business_day import DEFAULT as DEFAULT_DAYS
from protocol.codec import check_branch_code
from protocol.errors import NotLoggedIn

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

ASSETS = Path(__file__).with_name("console")
ASSET_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}
LANGUAGES = ("zh-CN", "en")
# The live stream looks for new sales this often: a sale reaches an open page well
# within a second of HQ booking it, whichever HQ process booked it.
LIVE_POLL_S = 0.25
FIGURES_EVERY_S = 2.0
# A stream re-checks its operator's session this often, and ends once it has ended.
SESSION_CHECK_S = 10.0
KEEPALIVE_S = 15.0


def _asset(name: str) -> web.Response:
    path = ASSETS / name
    if path.parent != ASSETS or path.suffix not in ASSET_TYPES or not path.is_file():
        raise NotFound(f"the console has no file {name!r}")
    return web.Response(
        body=path.read_bytes(),
        content_type=ASSET_TYPES[path.suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@routes.get("/")
@logged_in
async def console(request: web.Request) -> web.Response:
    """The console's one page; what it shows follows the operator's permissions, and
    every figure it reads is checked again by the route that serves it."""
    return _asset("index.html")


@routes.get("/console/{name}")
@public
async def console_asset(request: web.Request) -> web.Response:
    """The console's scripts, style and texts: no figure and no member data in them."""
    return _asset(request.match_info["name"])


# A CJK font for browsers that have none, served from HQ's own machine (Debian's
# fonts-droid-fallback: one TrueType file covering Chinese); the page asks for the
# browser's own CJK fonts first and for this one only when it has none.
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf"),
)


@routes.get("/console/font/cjk.ttf")
@public
async def cjk_font(request: web.Request) -> web.FileResponse:
    for path in CJK_FONTS:
        if path.is_file():
            return web.FileResponse(
                path, headers={"Content-Type": "font/ttf", "Cache-Control": "max-age=86400"}
            )
    raise NotFound("HQ's machine has no CJK font to serve (apt-get install fonts-droid-fallback)")


@routes.put("/api/me/language")
@logged_in
async def set_language(request: web.Request) -> web.Response:
    body = await json_body(request, '{"language": "zh-CN" or "en"}')
    language = body.get("language") if isinstance(body, dict) else None
    if language not in LANGUAGES:
        raise InvalidQuery(f"language must be one of {', '.join(LANGUAGES)}")
    await request.app[HQ_KEY].store.set_operator_language(request[ACTOR].login, language)
    return web.json_response({"language": language})


def _sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@routes.get("/api/live")
@requires("reports:view", Scope.STORE)
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `sale` for each sale or return as HQ books it, `figures` for
    today's totals and branch health every two seconds and after sales. Each event's
    id is the stream's cursor (hq.live): a browser reconnects with it (Last-Event-ID),
    a tool with ?after=, and misses nothing."""
    hq = request.app[HQ_KEY]
    actor = request[ACTOR]
    branch = branch_scope(request)
    chain_wide = branch is None and actor.at_hq
    branches = await hq.store.branches()
    resume = request.headers.get("Last-Event-ID", request.query.get("after"))
    cursor = live.present(branches, branch) if resume is None else live.Cursor.parse(resume)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    figures_due = session_due = keepalive_due = 0.0
    token = session_token(request)
    with contextlib.suppress(ConnectionResetError):
        await response.write(b"retry: 1000\n\n")
        while not hq.notifier.closed:
            now = loop.time()
            if now >= session_due:
                try:
                    await hq.accounts.authenticate(token)
                except NotLoggedIn as exc:
                    await response.write(_sse("logged_out", {"message": str(exc)}))
                    break
                session_due = now + SESSION_CHECK_S
            sales, after = await live.sales_after(hq.store, cursor, branches, branch)
            for sale, event_id in live.stamped(sales, cursor, after):
                await response.write(_sse("sale", sale.as_json(), event_id))
            cursor = after
            if sales or now >= figures_due:
                data = await live.figures(hq.store, branches, branch, wall_ms(), chain_wide=chain_wide)
                await response.write(_sse("figures", data, cursor.text()))
                figures_due = keepalive_due = now + FIGURES_EVERY_S
            elif now >= keepalive_due:
                await response.write(b": keepalive\n\n")
                keepalive_due = now + KEEPALIVE_S
            await asyncio.sleep(LIVE_POLL_S)
            branches = await hq.store.branches()
    return response


def _period_query(request: web.Request) -> Period:
    """?period=day|week|month|quarter|year&date= (this month by default), or
    ?period=custom&from=&to=."""
    today = DEFAULT_DAYS.day_of(wall_ms())
    kind = request.query.get("period", "month")
    anchor = day_query(request, "date", today)
    first = day_query(request, "from", datetime.date.min) if "from" in request.query else None
    last = day_query(request, "to", datetime.date.max) if "to" in request.query else None
    return period_of(kind, anchor, first, last)


def _report_query(request: web.Request) -> tuple[Period, str, str | None, dict[str, str]]:
    period = _period_query(request)
    grouping = request.query.get("by", "day")
    if grouping not in GROUPINGS:
        raise InvalidQuery(f"by {grouping!r} is not one of {', '.join(GROUPINGS)}")
    filters = {name: request.query[name] for name in FILTERS if request.query.get(name)}
    for name, value in filters.items():
        if len(value) > 64 or not value.isprintable():
            raise InvalidQuery(f"{name} must be at most 64 printable characters")
    return period, grouping, branch_scope(request), filters


async def _sales_report(request: web.Request) -> SalesReport:
    period, grouping, branch, filters = _report_query(request)
    return await sales_report(request.app[HQ_KEY].store, period, grouping, branch, filters)


@routes.get("/api/reports/sales")
@requires("reports:view", Scope.STORE)
async def sales_report_json(request: web.Request) -> web.Response:
    """?period=day|week|month|quarter|year&date=, or period=custom&from=&to= (business days);
    ?by=day|branch|category|product|salesperson|member|level; ?branch=, and one of
    ?category= (with ?product=, or either), ?salesperson=, ?level=."""
    return web.json_response((await _sales_report(request)).as_json())


@routes.get("/api/reports/sales/export")
@requires("reports:export", Scope.STORE)
async def sales_report_export(request: web.Request) -> web.Response:
    """The report the same query shows, as ?format=csv or xlsx, filters applied."""
    fmt = _format(request)
    report = await _sales_report(request)
    scope = report.branch or "all"
    name = f"sales-by-{report.grouping}-{scope}-{report.period.first}-{report.period.last}"
    return await _download(request, fmt, name, *report.table())


@routes.get("/api/reports/members")
@requires("reports:view", Scope.STORE)
async def members_report_json(request: web.Request) -> web.Response:
    """Members registered (by day and per salesperson) and cards sold by type, for the
    period the query names (as the sales report's), of ?branch= or every branch."""
    report = await members_report(request.app[HQ_KEY].store, _period_query(request), branch_scope(request))
    return web.json_response(report.as_json())


@routes.get("/api/reports/members/export")
@requires("reports:export", Scope.STORE)
async def members_report_export(request: web.Request) -> web.Response:
    """One section of the members report (?section=trend|salespeople|card_types)."""
    fmt = _format(request)
    section = _section(request, member_report.SECTIONS)
    report = await members_report(request.app[HQ_KEY].store, _period_query(request), branch_scope(request))
    name = f"members-{section}-{report.branch or 'all'}-{report.period.first}-{report.period.last}"
    return await _download(request, fmt, name, *report.table(section))


@routes.post("/api/reports/rebuild")
@requires("replication:edit", Scope.HQ)
async def rebuild_reports(request: web.Request) -> web.Response:
    """Derive the report tables afresh from every entry HQ holds: after an upgrade that
    adds an aggregate, so the entries taken in before it count too. One transaction;
    ingest waits for it."""
    replayed = await request.app[HQ_KEY].store.rebuild_reports()
    log.warning("%s rebuilt the report tables from %d entries", request[ACTOR].login, replayed)
    return web.json_response({"replayed": replayed})


MAX_PACE_DAYS = 366


@routes.get("/api/reports/stock")
@requires("stock:view", Scope.HQ)
async def stock_ranking(request: web.Request) -> web.Response:
    """Each product's stock against its pace of sale over the last ?days= (30), with
    its days of cover, the date it reaches its lower limit, and its turnover; ?branch=
    for one branch's warehouses. The soonest warning first."""
    return web.json_response(await _stock_ranking(request))


@routes.get("/api/reports/stock/export")
@requires("reports:export", Scope.HQ)
async def stock_ranking_export(request: web.Request) -> web.Response:
    found = await _stock_ranking(request)
    return await _records_download(request, f"stock-{found['today']}", found["lines"], STOCK_COLUMNS)


STOCK_COLUMNS = (
    "sku",
    "name",
    "qty",
    "cost_fen",
    "lower_limit",
    "sold",
    "sold_cost_fen",
    "days_of_cover",
    "warning_date",
    "turnover_permille",
)


async def _stock_ranking(request: web.Request) -> dict[str, Any]:
    days = int_query(request, "days", 30)
    if not 1 <= days <= MAX_PACE_DAYS:
        raise InvalidQuery(f"days must be 1 to {MAX_PACE_DAYS}")
    branch = request.query.get("branch")
    if branch is not None:
        branch = check_branch_code(branch)
    today = DEFAULT_DAYS.day_of(wall_ms())
    report = await stock_report.stock_report(request.app[HQ_KEY].store, today, days, branch)
    return report.as_json()


# The churn warning looks back at most this far, and lists at most this many members.
MAX_CHURN_DAYS = 3650
MAX_LAPSED = 500


@routes.get("/api/reports/churn")
@requires("members:view", Scope.STORE)
async def churn_warning(request: web.Request) -> web.Response:
    """Members who have not visited (bought) for ?days= days (90 by default): at the
    operator's branch for a branch's operator, anywhere for HQ (?branch= narrows)."""
    return web.json_response(await _churn(request))


@routes.get("/api/reports/churn/export")
@requires("members:export", Scope.STORE)
async def churn_export(request: web.Request) -> web.Response:
    found = await _churn(request)
    name = f"churn-{found['branch'] or 'all'}-{found['days']}-days"
    return await _records_download(request, name, found["members"], CHURN_COLUMNS)


CHURN_COLUMNS = ("member_id", "name", "home_branch", "last_visit_ms", "days_since", "visits")


async def _churn(request: web.Request) -> dict[str, Any]:
    days = int_query(request, "days", 90)
    if not 1 <= days <= MAX_CHURN_DAYS:
        raise InvalidQuery(f"days must be 1 to {MAX_CHURN_DAYS}")
    now = wall_ms()
    branch = branch_scope(request)
    found = await request.app[HQ_KEY].store.lapsed_members(branch, now - days * 86_400_000, MAX_LAPSED)
    return {
        "branch": branch,
        "days": days,
        "members": [
            {
                "member_id": member,
                "name": name,
                "home_branch": home,
                "last_visit_ms": last,
                "days_since": (now - last) // 86_400_000,
                "visits": visits,
            }
            for member, name, home, last, visits in found
        ],
    }


# A visit cycle is judged on at least this many visits.
MIN_CYCLE_VISITS = 3


@routes.get("/api/reports/visit-cycle")
@requires("members:view", Scope.STORE)
async def visit_cycle_warning(request: web.Request) -> web.Response:
    """Members whose time since their last visit is over one and a half times their
    usual interval (three visits at least), the most overdue first: at the operator's
    branch for a branch's operator, anywhere for HQ (?branch= narrows)."""
    return web.json_response(await _visit_cycle(request))


@routes.get("/api/reports/visit-cycle/export")
@requires("members:export", Scope.STORE)
async def visit_cycle_export(request: web.Request) -> web.Response:
    found = await _visit_cycle(request)
    name = f"visit-cycle-{found['branch'] or 'all'}"
    return await _records_download(request, name, found["members"], CYCLE_COLUMNS)


CYCLE_COLUMNS = ("member_id", "name", "visits", "usual_days", "last_visit_ms", "days_since")


async def _visit_cycle(request: web.Request) -> dict[str, Any]:
    now = wall_ms()
    branch = branch_scope(request)
    found = await request.app[HQ_KEY].store.off_cycle_members(branch, now, MIN_CYCLE_VISITS, MAX_LAPSED)
    return {
        "branch": branch,
        "members": [
            {
                "member_id": member,
                "name": name,
                "visits": visits,
                "usual_days": interval // 86_400_000,
                "last_visit_ms": last,
                "days_since": (now - last) // 86_400_000,
            }
            for member, name, visits, interval, last in found
        ],
    }


# Credit is owed this many days before the warning counts it overdue, unless asked.
CREDIT_TERM_DAYS = 30


@routes.get("/api/reports/credit-overdue")
@requires("members:view")
async def credit_warning(request: web.Request) -> web.Response:
    """Members owing credit for longer than ?days= (30), the longest first: the chain's
    whole member directory, as every branch holds it."""
    return web.json_response(await _credit(request))


@routes.get("/api/reports/credit-overdue/export")
@requires("members:export")
async def credit_export(request: web.Request) -> web.Response:
    found = await _credit(request)
    return await _records_download(
        request, f"credit-overdue-{found['days']}-days", found["cards"], CREDIT_COLUMNS
    )


CREDIT_COLUMNS = ("card", "member_id", "owed_fen", "owed_since_ms", "days")


async def _credit(request: web.Request) -> dict[str, Any]:
    days = int_query(request, "days", CREDIT_TERM_DAYS)
    if not 1 <= days <= MAX_CHURN_DAYS:
        raise InvalidQuery(f"days must be 1 to {MAX_CHURN_DAYS}")
    return {"days": days, "cards": await request.app[HQ_KEY].store.overdue_credit(wall_ms(), days)}


@routes.get("/api/reports/purchases")
@requires("reports:view", Scope.STORE)
async def purchases_report_json(request: web.Request) -> web.Response:
    """Receipts and purchase returns of the period, per supplier and document by
    document with the operator who booked each; of ?branch= or every branch."""
    return web.json_response((await _purchases_report(request)).as_json())


@routes.get("/api/reports/purchases/export")
@requires("reports:export", Scope.STORE)
async def purchases_report_export(request: web.Request) -> web.Response:
    """One section of the purchases report (?section=suppliers|documents)."""
    fmt = _format(request)
    section = _section(request, purchase_report.SECTIONS)
    report = await _purchases_report(request)
    name = f"purchases-{section}-{report.branch or 'all'}-{report.period.first}-{report.period.last}"
    return await _download(request, fmt, name, *report.table(section))


async def _purchases_report(request: web.Request) -> purchase_report.PurchasesReport:
    store = request.app[HQ_KEY].store
    period, branch = _period_query(request), branch_scope(request)
    record = None if branch is None else await store.branch(branch)
    days = DEFAULT_DAYS if record is None else record.business_day
    return await purchase_report.purchases_report(store, period, branch, days)


async def _records_download(
    request: web.Request, name: str, records: list[dict[str, Any]], columns: tuple[str, ...]
) -> web.Response:
    """A list report's records as an export: a column each (money where it is `_fen`,
    shown as yuan), blanks for what a record does not have."""
    rows: list[list[int | str]] = [
        ["" if record.get(column) is None else record[column] for column in columns] for record in records
    ]
    header = [column.removesuffix("_fen") for column in columns]
    money = {i for i, column in enumerate(columns) if column.endswith("_fen")}
    return await _download(request, _format(request), name, header, rows, money)


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "csv")
    if fmt not in export.FORMATS:
        raise InvalidQuery(f"format must be one of {', '.join(export.FORMATS)}")
    return fmt


def _section(request: web.Request, sections: tuple[str, ...]) -> str:
    section = request.query.get("section", sections[0])
    if section not in sections:
        raise InvalidQuery(f"section must be one of {', '.join(sections)}")
    return section


# An export of more rows than this is built in the background: the request answers at
# once (202) with where to fetch the file, so no download waits on a proxy's timeout.
EXPORT_INLINE_ROWS = 20_000
# The background builds under way, held so none is collected before it is done.
_BUILDING: set[asyncio.Task[None]] = set()


async def _download(
    request: web.Request, fmt: str, name: str, header: list[str], rows: list[list[int | str]], money: set[int]
) -> web.Response:
    def build() -> bytes:
        return (
            export.to_csv(header, rows, money) if fmt == "csv" else export.to_xlsx(name, header, rows, money)
        )

    filename = f"{name}.{fmt}"
    login = request[ACTOR].login
    if len(rows) <= EXPORT_INLINE_ROWS:
        log.info("%s exported %s (%d rows)", login, filename, len(rows))
        return _file(filename, export.CONTENT_TYPES[fmt], build())
    store = request.app[HQ_KEY].store
    export_id = secrets.token_hex(16)
    await store.start_export(export_id, login, filename, export.CONTENT_TYPES[fmt], wall_ms())
    task = asyncio.create_task(_build_in_background(store, export_id, build))
    _BUILDING.add(task)
    task.add_done_callback(_BUILDING.discard)
    log.info(
        "%s asked for %s (%d rows), built in the background as %s", login, filename, len(rows), export_id
    )
    url = f"/api/exports/{export_id}"
    return web.json_response({"export": export_id, "rows": len(rows), "url": url}, status=202)


async def _build_in_background(store: HQStore, export_id: str, build: Callable[[], bytes]) -> None:
    try:
        body = await asyncio.to_thread(build)
    except Exception as exc:  # recorded for the operator who asked, never lost silently
        log.exception("export %s failed", export_id)
        await store.finish_export(export_id, None, f"{type(exc).__name__}: {exc}")
        return
    await store.finish_export(export_id, body, None)


@routes.get("/api/exports/{export_id}")
@requires("reports:export")
async def fetch_export(request: web.Request) -> web.Response:
    """An export built in the background, to the operator who asked for it: 202 while it
    is built, then the file; kept a day."""
    export_id = request.match_info["export_id"]
    found = await request.app[HQ_KEY].store.export(export_id, request[ACTOR].login)
    if found is None:
        raise NotFound(f"no export {export_id} of yours: exports are kept a day; ask for it again")
    name, content_type, body, error = found
    if error is not None:
        raise ExportFailed(f"export {export_id} failed: {error}")
    if body is None:
        return web.json_response({"export": export_id, "status": "building"}, status=202)
    return _file(name, content_type, body)


def _file(filename: str, content_type: str, body: bytes) -> web.Response:
    return web.Response(
        body=body,
        headers={"Content-Type": content_type, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
