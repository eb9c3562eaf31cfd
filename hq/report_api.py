"""HQ's reports over HTTP (FEATURES R1-R6), thin over the services that compute them:
hq.sales_report, hq.member_report, hq.purchase_report, hq.stock_report, the warnings
read off the member directory, the points liability, and the rebuild of the report
tables. Each report's export goes through hq.export_api."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from aiohttp import web

from hq import member_report, points_liability, purchase_report, stock_report
from hq.errors import InvalidQuery
from hq.export_api import download, records_download, requested_format, requested_section
from hq.http_common import ACTOR, HQ_KEY, branch_scope, day_query, int_query
from hq.member_report import members_report
from hq.sales_report import FILTERS, GROUPINGS, Period, SalesReport, period_of, sales_report
from hq.service import wall_ms
from protocol.access import Scope, requires
from protocol.business_day import DEFAULT as DEFAULT_DAYS
from protocol.codec import check_branch_code

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


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
    fmt = requested_format(request)
    report = await _sales_report(request)
    scope = report.branch or "all"
    name = f"sales-by-{report.grouping}-{scope}-{report.period.first}-{report.period.last}"
    return await download(request, fmt, name, *report.table())


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
    fmt = requested_format(request)
    section = requested_section(request, member_report.SECTIONS)
    report = await members_report(request.app[HQ_KEY].store, _period_query(request), branch_scope(request))
    name = f"members-{section}-{report.branch or 'all'}-{report.period.first}-{report.period.last}"
    return await download(request, fmt, name, *report.table(section))


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
    return await records_download(request, f"stock-{found['today']}", found["lines"], STOCK_COLUMNS)


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
    return await records_download(request, name, found["members"], CHURN_COLUMNS)


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
    return await records_download(request, name, found["members"], CYCLE_COLUMNS)


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
    return await records_download(
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
    fmt = requested_format(request)
    section = requested_section(request, purchase_report.SECTIONS)
    report = await _purchases_report(request)
    name = f"purchases-{section}-{report.branch or 'all'}-{report.period.first}-{report.period.last}"
    return await download(request, fmt, name, *report.table(section))


async def _purchases_report(request: web.Request) -> purchase_report.PurchasesReport:
    store = request.app[HQ_KEY].store
    period, branch = _period_query(request), branch_scope(request)
    record = None if branch is None else await store.branch(branch)
    days = DEFAULT_DAYS if record is None else record.business_day
    return await purchase_report.purchases_report(store, period, branch, days)


@routes.get("/api/liability/points")
@requires("reports:view", Scope.HQ)
async def points_liability_report(request: web.Request) -> web.Response:
    """The chain's points outstanding (FEATURES F1's other liability), by the month
    their lots expire (in the chain's default zone; "never" for lots that do not), each
    valued at the points settings' value of a point, and the points members owe."""
    return web.json_response(await points_liability.points_liability(request.app[HQ_KEY].store))
