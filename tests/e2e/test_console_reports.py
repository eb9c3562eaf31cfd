"""The console's sales report and its export, on real servers and both HQ backends,
against the figures worked by hand in tests.sales_seed."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import aiohttp
import openpyxl
import pytest

from protocol.business_day import DEFAULT as BUSINESS_DAY
from tests.harness import Chain, clerk_login, hq_edit, hq_rows, log_in, manager_login, sale, wait_until
from tests.sales_seed import seeded

REPORT = "/api/reports/sales"
EXPORT = "/api/reports/sales/export"


def figures(line: dict[str, Any]) -> tuple[int, ...]:
    return (
        line["count"],
        line["returns"],
        line["total_fen"],
        line["returned_fen"],
        line["net_fen"],
        line["cost_fen"],
        line["gross_profit_fen"],
    )


async def test_the_sales_report_by_each_grouping_matches_the_hand_computed_figures(chain: Chain) -> None:
    await seeded(chain)
    url = chain.hq.url + REPORT

    by_branch = await chain.get(url, params={"by": "branch"})
    assert [(line["key"], figures(line)) for line in by_branch["lines"]] == [
        ("BR01", (2, 1, 58_000, 29_900, 28_100, 16_300, 11_800)),
        ("BR02", (1, 0, 12_800, 0, 12_800, 7_600, 5_200)),
    ]
    assert figures(by_branch["totals"]) == (3, 1, 70_800, 29_900, 40_900, 23_900, 17_000)
    assert by_branch["period"]["kind"] == "month"
    assert (by_branch["previous"]["net_fen"], by_branch["year_earlier"]["net_fen"]) == (0, 0)

    by_product = await chain.get(url, params={"by": "product"})
    assert [(line["key"], line["category"], figures(line)) for line in by_product["lines"]] == [
        ("TEA-GREEN-100", "TEA", (3, 0, 38_400, 0, 38_400, 22_800, 15_600)),
        ("CUP-CERAMIC", "WARE", (1, 0, 2_500, 0, 2_500, 1_100, 1_400)),
        ("GIFT-BOX", "WARE", (1, 1, 29_900, 29_900, 0, 0, 0)),
    ]
    by_category = await chain.get(url, params={"by": "category"})
    assert [(line["key"], line["label"], figures(line)) for line in by_category["lines"]] == [
        ("TEA", "Tea", (3, 0, 38_400, 0, 38_400, 22_800, 15_600)),
        ("WARE", "Tableware", (2, 1, 32_400, 29_900, 2_500, 1_100, 1_400)),
    ]
    only_ware = await chain.get(url, params={"by": "product", "category": "WARE"})
    assert [line["key"] for line in only_ware["lines"]] == ["CUP-CERAMIC", "GIFT-BOX"]
    assert only_ware["totals"]["net_fen"] == 2_500

    by_salesperson = await chain.get(url, params={"by": "salesperson"})
    assert [(line["key"], figures(line)) for line in by_salesperson["lines"]] == [
        ("BR01-S01", (1, 0, 28_100, 0, 28_100, 16_300, 11_800)),
        ("BR02-S01", (1, 0, 12_800, 0, 12_800, 7_600, 5_200)),
        ("", (1, 1, 29_900, 29_900, 0, 0, 0)),
    ]
    # Narrowed to one salesperson: their sales only, by day and by branch.
    one = await chain.get(url, params={"by": "branch", "salesperson": "BR02-S01"})
    assert [(line["key"], figures(line)) for line in one["lines"]] == [
        ("BR02", (1, 0, 12_800, 0, 12_800, 7_600, 5_200))
    ]
    nobody = await chain.get(url, params={"by": "salesperson", "salesperson": "BR01-S09"})
    assert (nobody["lines"], nobody["totals"]["net_fen"]) == ([], 0)
    today = BUSINESS_DAY.day_text(int(time.time() * 1000))  # the branches' (default) business day
    by_day = await chain.get(url, params={"by": "day", "period": "day", "date": today})
    assert [(line["key"], line["net_fen"]) for line in by_day["lines"]] == [(today, 40_900)]
    last_year = await chain.get(url, params={"period": "year", "date": "2001-06-01"})
    assert (last_year["period"]["from"], last_year["period"]["to"], last_year["lines"]) == (
        "2001-01-01",
        "2001-12-31",
        [],
    )


async def test_a_store_manager_sees_their_own_store_and_a_clerk_no_report_nor_export(chain: Chain) -> None:
    await seeded(chain)
    url = chain.hq.url + REPORT
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR01'))}"}
    clerk = {"Authorization": f"Bearer {await log_in(chain.hq.url, clerk_login('BR01'))}"}
    own = await chain.get(url, params={"by": "branch"}, headers=manager)
    assert [line["key"] for line in own["lines"]] == ["BR01"]
    assert own["totals"]["net_fen"] == 28_100
    products = await chain.get(url, params={"by": "product"}, headers=manager)
    assert {line["key"]: line["count"] for line in products["lines"]}["TEA-GREEN-100"] == 2  # not BR02's
    async with chain.session.get(url, params={"branch": "BR02"}, headers=manager) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")
    for path in (REPORT, EXPORT):
        async with chain.session.get(chain.hq.url + path, headers=clerk) as response:
            assert (response.status, (await response.json())["error"]) == (403, "forbidden"), path
    # The warehouse role reads reports but exports none.
    warehouse = {"Authorization": f"Bearer {await chain.hq_token('wh-sun', 'warehouse')}"}
    assert (await chain.get(url, headers=warehouse))["totals"]["net_fen"] == 40_900
    async with chain.session.get(chain.hq.url + EXPORT, headers=warehouse) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")


async def test_the_export_is_the_report_with_its_filters_in_csv_and_xlsx(chain: Chain) -> None:
    await seeded(chain)
    finance = {"Authorization": f"Bearer {await chain.hq_token('fin-qian', 'finance')}"}
    params = {"by": "product", "category": "WARE"}
    async with chain.session.get(
        chain.hq.url + EXPORT, params={**params, "format": "csv"}, headers=finance
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        assert "sales-by-product-all-" in response.headers["Content-Disposition"]
        text = (await response.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "product",
        "name",
        "category",
        "units",
        "units returned",
        "takings (yuan)",
        "returned (yuan)",
        "net takings (yuan)",
        "cost (yuan)",
        "gross profit (yuan)",
    ]
    assert [row[0] for row in rows[1:]] == ["CUP-CERAMIC", "GIFT-BOX"]  # the filter applied
    assert rows[1][3:] == ["1", "0", "25.00", "0.00", "25.00", "11.00", "14.00"]
    assert rows[2][3:] == ["1", "1", "299.00", "299.00", "0.00", "0.00", "0.00"]

    async with chain.session.get(
        chain.hq.url + EXPORT, params={"by": "branch", "format": "xlsx"}, headers=finance
    ) as response:
        assert response.status == 200
        book = openpyxl.load_workbook(io.BytesIO(await response.read()))
    sheet = book.active
    assert [cell.value for cell in sheet[1]][:2] == ["branch", "name"]
    br01 = [cell for cell in sheet[2]]
    assert [cell.value for cell in br01] == ["BR01", "BR01", 2, 1, 58_000, 29_900, 28_100, 16_300, 11_800]
    assert isinstance(br01[6].value, int)  # integer fen in the cell, shown as yuan
    assert br01[6].number_format == '#,##0"."00;-#,##0"."00'


async def test_bad_report_queries_are_refused_with_400(chain: Chain) -> None:
    """Each bad query gets 400 invalid_query and says what is wrong."""
    await chain.add_node("BR01")
    finance = {"Authorization": f"Bearer {await chain.hq_token('fin-qian', 'finance')}"}
    bad = (
        {"period": "fortnight"},
        {"by": "colour"},
        {"period": "custom", "from": "2026-01-01"},
        {"period": "custom", "from": "2026-02-01", "to": "2026-01-01"},
        {"period": "custom", "from": "2024-01-01", "to": "2026-01-01"},
        {"date": "2026-02-30"},
        {"by": "day", "category": "TEA"},
        {"by": "product", "salesperson": "BR01-S01"},
        {"by": "member", "salesperson": "BR01-S01"},
        {"salesperson": "BR01-S01", "level": "GOLD"},
        {"by": "product", "product": "CUP-CERAMIC", "level": "GOLD"},
    )
    for params in bad:
        async with chain.session.get(chain.hq.url + REPORT, params=params, headers=finance) as response:
            assert (response.status, (await response.json())["error"]) == (400, "invalid_query"), params
    async with chain.session.get(
        chain.hq.url + EXPORT, params={"format": "pdf"}, headers=finance
    ) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")


async def test_the_console_page_needs_a_log_in_and_its_assets_carry_no_data(chain: Chain) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(chain.hq.url + "/", allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, "/login")
        async with anonymous.get(chain.hq.url + "/console/console.js") as response:
            assert (response.status, response.content_type) == (200, "text/javascript")
        async with anonymous.get(chain.hq.url + "/console/font/cjk.ttf") as response:  # ./dev installs it
            assert (response.status, response.content_type) == (200, "font/ttf")
            assert (await response.read())[:4] == b"\x00\x01\x00\x00"  # a TrueType font
        for name in ("../api.py", "..%2Fapi.py", "missing.js", "__init__.py"):
            async with anonymous.get(chain.hq.url + "/console/" + name) as response:
                assert response.status == 404, name


async def test_profit_by_member_and_by_the_level_the_member_held(chain: Chain) -> None:
    """By hand: Li Na buys two cups (5,000, cost 2,200) before she holds any level; HQ
    grades her REGULAR; she buys a gift box (29,900, cost 16,500) and brings it back. A
    soap sold to nobody is in neither report. By member: Li Na 2 sales, 1 return,
    34,900 taken, 29,900 refunded, net 5,000, cost 2,200, profit 2,800. By level: none
    5,000 (profit 2,800); REGULAR the gift box and its return, net 0."""
    br01 = await chain.add_node("BR01")
    member = (await chain.post(br01.url + "/api/members", {"name": "Li Na", "phone": "13900005555"}))["id"]
    await chain.post(br01.url + "/api/sales", {**sale(("CUP-CERAMIC", 2)), "member_id": member})
    await chain.post(br01.url + "/api/sales", sale(("SOAP-BAR", 1)))

    async def sales_at_hq(count: int, returns: int = 0) -> bool:
        summary = await chain.get(chain.hq.url + "/api/sales/summary")
        return bool((summary["count"], summary["returns"]) == (count, returns))

    await wait_until(lambda: sales_at_hq(2), "the first sales to reach HQ")
    level = {"code": "REGULAR", "name": "Regular / 常客", "rank": 1, "min_visits": 1}
    await chain.post(chain.hq.url + "/api/levels", level, status=200)
    await chain.post(chain.hq.url + "/api/levels/grade", None, status=200)
    box = await chain.post(br01.url + "/api/sales", {**sale(("GIFT-BOX", 1)), "member_id": member})
    await chain.post(f"{br01.url}/api/sales/{box['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    await wait_until(lambda: sales_at_hq(3, 1), "the gift box and its return to reach HQ")

    by_member = await chain.get(chain.hq.url + REPORT, params={"by": "member"})
    assert [(line["key"], line["label"], figures(line)) for line in by_member["lines"]] == [
        (member, "Li Na", (2, 1, 34_900, 29_900, 5_000, 2_200, 2_800))
    ]
    by_level = await chain.get(chain.hq.url + REPORT, params={"by": "level"})
    assert [(line["key"], figures(line)) for line in by_level["lines"]] == [
        ("", (1, 0, 5_000, 0, 5_000, 2_200, 2_800)),
        ("REGULAR", (1, 1, 29_900, 29_900, 0, 0, 0)),
    ]
    assert by_level["totals"]["net_fen"] == 5_000  # members' sales only: not the soap
    regulars = await chain.get(chain.hq.url + REPORT, params={"by": "member", "level": "REGULAR"})
    assert [(line["label"], figures(line)) for line in regulars["lines"]] == [
        ("Li Na", (1, 1, 29_900, 29_900, 0, 0, 0))
    ]


async def test_the_report_tables_rebuilt_from_the_entries_give_the_same_figures(chain: Chain) -> None:
    """After an upgrade HQ's new aggregates hold nothing of the entries taken in before
    it (here: emptied behind HQ's back). Rebuilt from the entries, every report is what
    it was, the return netted; finance may not rebuild."""
    await seeded(chain)
    url = chain.hq.url + REPORT
    before = {by: await chain.get(url, params={"by": by}) for by in ("branch", "product", "salesperson")}
    for table in ("product_daily", "salesperson_daily", "sales_daily", "sales", "sale_returns"):
        await hq_edit(chain, f"DELETE FROM {table}")
    assert (await chain.get(url, params={"by": "product"}))["lines"] == []
    rebuilt = await chain.post(chain.hq.url + "/api/reports/rebuild", None, status=200)
    assert rebuilt["replayed"] >= 4  # three sales and a return, among the branches' other entries
    for by, report in before.items():
        assert await chain.get(url, params={"by": by}) == report, by
    # An entry whose effect was set aside stays out of the rebuilt figures.
    ((origin, seq),) = await hq_rows(chain, "SELECT origin, seq FROM sale_returns")
    await hq_edit(
        chain,
        "INSERT INTO effect_quarantine (origin, seq, kind, op, entity_id, code, message, at_ms)"
        " VALUES (?, ?, 'sale_return', 'post', 'r', 'out_of_bounds', 'set aside by the test', 0)",
        origin,
        seq,
    )
    await chain.post(chain.hq.url + "/api/reports/rebuild", None, status=200)
    by_branch = await chain.get(url, params={"by": "branch"})
    assert (by_branch["totals"]["returns"], by_branch["totals"]["net_fen"]) == (0, 70_800)
    finance = {"Authorization": f"Bearer {await chain.hq_token('fin-qian', 'finance')}"}
    async with chain.session.post(chain.hq.url + "/api/reports/rebuild", headers=finance) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")


async def test_an_export_too_large_to_answer_at_once_is_built_in_the_background(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the inline limit at one row, the report by product (three rows) is answered
    202 with where to fetch it; fetched, it is the file an inline export gives. Another
    operator, and an id that names none, get 404."""
    await seeded(chain)
    finance = {"Authorization": f"Bearer {await chain.hq_token('fin-qian', 'finance')}"}
    params = {"by": "product", "format": "csv"}
    async with chain.session.get(chain.hq.url + EXPORT, params=params, headers=finance) as response:
        inline = await response.read()
    monkeypatch.setattr("hq.export_api.EXPORT_INLINE_ROWS", 1)
    async with chain.session.get(chain.hq.url + EXPORT, params=params, headers=finance) as response:
        assert response.status == 202
        asked = await response.json()
    assert asked["rows"] == 3
    fetched: list[bytes] = []

    async def built() -> bool:
        async with chain.session.get(chain.hq.url + asked["url"], headers=finance) as response:
            if response.status == 200:
                fetched.append(await response.read())
                assert "sales-by-product-all-" in response.headers["Content-Disposition"]
            return response.status == 200

    await wait_until(built, "the export to be built")
    assert fetched == [inline]
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR01'))}"}
    for url, headers in ((asked["url"], manager), ("/api/exports/0123456789abcdef", finance)):
        async with chain.session.get(chain.hq.url + url, headers=headers) as response:
            assert (response.status, (await response.json())["error"]) == (404, "not_found"), url
