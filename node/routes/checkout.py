"""Sales at the till: ring one up, read one back, the day's summary and an export
(node.services.checkout, which takes the holds at HQ too)."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from node.routes.context import ACTOR, CONTEXT, json_body
from node.services import checkout, discounts, fields, member_stats, settlement
from node.services.cards import day_of
from protocol.access import requires
from protocol.limits import MAX_AT_MS

routes = web.RouteTableDef()
# Who may take a line down to nothing at the till: a store manager's permission.
UNLIMITED_DISCOUNT = "sales:edit"


def _discount_limit_percent(request: web.Request) -> int | None:
    """What the operator at the till may take off a line, in percent of what it pays
    after offers: anything (None) with UNLIMITED_DISCOUNT, else the branch's clerk limit."""
    if UNLIMITED_DISCOUNT in request[ACTOR].permissions:
        return None
    return request.app[CONTEXT].config.clerk_discount_limit_percent


@routes.post("/api/sales")
@requires("sales:add")
async def create_sale(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    sale = checkout.parse_sale(
        await json_body(request),
        request.headers.get("Idempotency-Key"),
        discount_limit_percent=_discount_limit_percent(request),
    )
    result = await checkout.sell(
        context.store, context.hq, context.config, sale, context.new_id(), context.card_passwords
    )
    return web.json_response(result, status=200 if result["replayed"] else 201)


@routes.post("/api/sales/preview")
@requires("sales:add")
async def preview_sale(request: web.Request) -> web.Response:
    """The sale as POST /api/sales would book it, booking nothing: its total, change
    and the points it would earn with each reason, so the cashier can say before the
    customer pays. Refused as the sale would be, a till discount beyond the operator's
    limit included. Without tenders it is reckoned as paid in cash, and the change is
    not known (null)."""
    context = request.app[CONTEXT]
    body = await json_body(request)
    sale = checkout.parse_sale(
        body, None, preview=True, discount_limit_percent=_discount_limit_percent(request)
    )
    now_ms = context.store.writer.now_ms()
    day = day_of(now_ms, context.config.zone)
    found = await context.store.read(
        lambda conn: checkout.preview(conn, sale, now_ms, day, context.config.branch)
    )
    if "tenders" not in body:
        found["change_fen"] = None
    return web.json_response(found)


@routes.get("/api/discounts")
@requires("sales:view")
async def list_discounts(request: web.Request) -> web.Response:
    """HQ's special prices, bundles and rebate rules as this branch holds them
    (switched-off ones marked): what the till's discounts come from."""
    return web.json_response(await request.app[CONTEXT].store.read(discounts.offers_listing))


@routes.get("/api/sales/summary")
@requires("sales:view")
async def sales_summary(request: web.Request) -> web.Response:
    """Every sale and return so far, or of ?from=&to= (the branch's business days, both inclusive;
    `to` is today when only `from` is given)."""
    context = request.app[CONTEXT]
    shown: dict[str, str | None] = {}
    if "from" in request.query or "to" in request.query:
        days = context.config.business_day
        period = member_stats.parse_period(request.query, context.store.writer.now_ms(), days.zone)
        from_ms = 0 if period.first is None else days.bounds_ms(period.first)[0]
        to_ms = days.bounds_ms(period.last)[1]
        summary = await context.store.read(lambda conn: checkout.sales_summary(conn, from_ms, to_ms))
        shown = {
            "from": None if period.first is None else period.first.isoformat(),
            "to": period.last.isoformat(),
        }
    else:
        summary = await context.store.read(checkout.sales_summary)
    return web.json_response({"branch": context.config.branch, **shown, **summary.as_json()})


@routes.get("/api/sales/export")
@requires("sales:export")
async def export_sales(request: web.Request) -> web.Response:
    """The branch's sales as CSV for a spreadsheet: ?from_ms=&to_ms= (epoch ms, to
    exclusive; default all)."""
    context = request.app[CONTEXT]
    from_ms = fields.query_count(request.query, "from_ms", 0, MAX_AT_MS)
    to_ms = fields.query_count(request.query, "to_ms", MAX_AT_MS, MAX_AT_MS)
    rows = await context.store.read(lambda conn: checkout.sales_export(conn, from_ms, to_ms))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(checkout.EXPORT_COLUMNS)
    writer.writerows(rows)
    name = f"sales-{context.config.branch}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@routes.get("/api/sales")
@requires("sales:view")
async def list_sales(request: web.Request) -> web.Response:
    """The sales of one of the branch's business days (?day=YYYY-MM-DD, today when not
    given), newest first, at most ?limit= (100; at most 500): what a till picks a sale
    to return from."""
    context = request.app[CONTEXT]
    days = context.config.business_day
    day = settlement.asked_day(request.query.get("day"), context.store.writer.now_ms(), days)
    limit = fields.query_count(request.query, "limit", 100, checkout.MAX_LISTED_SALES)
    from_ms, to_ms = days.bounds_ms(day)
    found = await context.store.read(lambda conn: checkout.sales_listing(conn, from_ms, to_ms, limit))
    return web.json_response({"branch": context.config.branch, "day": day.isoformat(), "sales": found})


@routes.get("/api/sales/{sale_id}")
@requires("sales:view")
async def show_sale(request: web.Request) -> web.Response:
    sale_id = request.match_info["sale_id"]
    return web.json_response(
        await request.app[CONTEXT].store.read(lambda conn: checkout.sale_view(conn, sale_id))
    )
