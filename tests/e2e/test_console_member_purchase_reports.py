"""The members report (R1) and the purchases report (R3), on real servers and both HQ
backends, against the figures worked by hand in tests.sales_seed.members_and_purchases."""

from __future__ import annotations

import csv
import datetime
import io

import openpyxl

from protocol.business_day import DEFAULT as BUSINESS_DAY
from tests.harness import Chain, clerk_login, hq_edit, hq_rows, log_in, manager_login, sale, wait_until
from tests.sales_seed import GOLD, STORED, members_and_purchases


def _age(birthday: str, on: datetime.date) -> int:
    born = datetime.date.fromisoformat(birthday)
    return on.year - born.year - (1 if (on.month, on.day) < (born.month, born.day) else 0)


def _band(age: int) -> str:
    """The report's bands, written out: under 18, 18-24, then by ten years to 65+."""
    if age < 18:
        return "0-17"
    if age < 25:
        return "18-24"
    if age >= 65:
        return "65+"
    low = 25 + (age - 25) // 10 * 10
    return f"{low}-{low + 9}"


async def test_the_members_report_matches_the_hand_computed_figures(chain: Chain) -> None:
    await members_and_purchases(chain)
    report = await chain.get(chain.hq.url + "/api/reports/members")
    assert (report["joined"], report["previous"]["joined"], report["year_earlier"]["joined"]) == (4, 0, 0)
    assert [(row["salesperson"], row["joined"]) for row in report["salespeople"]] == [
        ("BR01-S01", 2),
        ("", 1),
        ("BR02-S01", 1),
    ]
    assert [(row["card_type"], row["cards"], row["price_fen"]) for row in report["card_types"]] == [
        (GOLD, 1, 1_680_000),
        (STORED, 1, 100_000),
    ]
    assert sum(day["joined"] for day in report["trend"]) == 4
    assert [(row["key"], row["joined"]) for row in report["gender"]] == [("female", 2), ("", 1), ("male", 1)]
    assert [(row["key"], row["joined"]) for row in report["region"]] == [("浦东", 2), ("", 1), ("海淀", 1)]
    (registered,) = [datetime.date.fromisoformat(day["day"]) for day in report["trend"]]
    bands = sorted([_band(_age("1990-05-01", registered)), _band(_age("2010-01-01", registered))])
    assert [(row["key"], row["joined"]) for row in report["age_band"]] == [
        ("", 2),
        (bands[0], 1),
        (bands[1], 1),
    ]
    (referrer,) = report["referrers"]
    assert (referrer["name"], referrer["referred"]) == ("Member 0001", 2)
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR02'))}"}
    own = await chain.get(chain.hq.url + "/api/reports/members", headers=manager)
    assert (own["joined"], own["card_types"]) == (1, [])
    finance = {"Authorization": f"Bearer {await chain.hq_token('fin-qian', 'finance')}"}
    async with chain.session.get(
        chain.hq.url + "/api/reports/members/export",
        params={"section": "card_types", "format": "csv"},
        headers=finance,
    ) as response:
        rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows == [
        ["card type", "name", "cards sold", "price (yuan)"],
        [GOLD, "Gold card / 金卡", "1", "16800.00"],
        [STORED, "Stored value 1,000 / 储值卡", "1", "1000.00"],
    ]


async def test_the_purchases_report_names_who_booked_each_document(chain: Chain) -> None:
    await members_and_purchases(chain)
    report = await chain.get(chain.hq.url + "/api/reports/purchases", params={"branch": "BR01"})
    (supplier,) = report["suppliers"]
    assert (supplier["supplier"], supplier["name"]) == ("SUP-1", "Jingdezhen Wholesale")
    figures = (supplier["receipts"], supplier["received_fen"], supplier["returns"], supplier["returned_fen"])
    assert figures == (2, 22_250, 1, 2_000)
    assert (supplier["net_fen"], report["net_fen"]) == (20_250, 20_250)
    assert [(d["doc_kind"], d["amount_fen"], d["operator"]) for d in report["documents"]] == [
        ("receipt", 20_000, manager_login("BR01")),
        ("purchase_return", -2_000, manager_login("BR01")),
        ("receipt", 2_250, manager_login("BR01")),
    ]
    elsewhere = await chain.get(chain.hq.url + "/api/reports/purchases", params={"branch": "BR02"})
    assert (elsewhere["suppliers"], elsewhere["documents"]) == ([], [])
    clerk = {"Authorization": f"Bearer {await log_in(chain.hq.url, clerk_login('BR01'))}"}
    for path in ("/api/reports/purchases", "/api/reports/members", "/api/reports/purchases/export"):
        async with chain.session.get(chain.hq.url + path, headers=clerk) as response:
            assert (response.status, (await response.json())["error"]) == (403, "forbidden"), path
    async with chain.session.get(
        chain.hq.url + "/api/reports/purchases/export", params={"section": "invoices"}
    ) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")


async def test_the_churn_warning_lists_members_who_stopped_coming(chain: Chain) -> None:
    """Two members buy at BR01; one's visit is moved 100 days back (as if she last came
    then). Not seen for 90 days: she alone, 100 days since, one visit. Not seen for 101
    days: nobody. BR02's manager, whose branch she never visited, gets nobody."""
    br01 = await chain.add_node("BR01")
    await chain.add_node("BR02")
    lapsed = (await chain.post(br01.url + "/api/members", {"name": "Wu Fang", "phone": "13900007001"}))["id"]
    regular = (await chain.post(br01.url + "/api/members", {"name": "He Lei", "phone": "13900007002"}))["id"]
    for member in (lapsed, regular):
        await chain.post(br01.url + "/api/sales", {**sale(("SOAP-BAR", 1)), "member_id": member})

    async def visits_at_hq() -> bool:
        return len(await hq_rows(chain, "SELECT 1 FROM member_sales")) == 2

    await wait_until(visits_at_hq, "both visits to reach HQ")
    await hq_edit(
        chain, "UPDATE member_sales SET at_ms = at_ms - ? WHERE member_id = ?", 100 * 86_400_000, lapsed
    )
    url = chain.hq.url + "/api/reports/churn"
    found = (await chain.get(url, params={"days": "90"}))["members"]
    assert [(m["member_id"], m["name"], m["days_since"], m["visits"]) for m in found] == [
        (lapsed, "Wu Fang", 100, 1)
    ]
    assert (await chain.get(url, params={"days": "101"}))["members"] == []
    async with chain.session.get(url + "/export", params={"days": "90"}) as response:
        rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0] == ["member_id", "name", "home_branch", "last_visit_ms", "days_since", "visits"]
    assert [(row[0], row[1], row[4], row[5]) for row in rows[1:]] == [(lapsed, "Wu Fang", "100", "1")]
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR02'))}"}
    assert (await chain.get(url, params={"days": "90"}, headers=manager))["members"] == []
    for days in ("0", "3651", "x"):
        async with chain.session.get(url, params={"days": days}) as response:
            assert (response.status, (await response.json())["error"]) == (400, "invalid_query"), days


async def test_the_stock_ranking_warns_when_a_product_will_reach_its_lower_limit(chain: Chain) -> None:
    """By hand: BR01 receives 20 cups at 1,000 (lower limit 5), sells 6 and takes 1 back:
    over the last 30 days 5 sold (5,000 of cost); 15 left, worth 15,000. Pace 5 in 30
    days: 90 days of cover; 10 above the limit, so it reaches it in 60 days; turnover
    5,000 / 15,000 = 333 thousandths. Nothing else is stocked or sold."""
    br01 = await chain.add_node("BR01")
    await chain.post(
        chain.hq.url + "/api/suppliers", {"code": "SUP-1", "name": "Jingdezhen Wholesale"}, status=200
    )
    await chain.post(chain.hq.url + "/api/products", {"sku": "CUP-CERAMIC", "lower_limit": 5}, status=200)

    async def received() -> bool:
        body = {"supplier": "SUP-1", "lines": [{"sku": "CUP-CERAMIC", "qty": 20, "unit_cost_fen": 1_000}]}
        async with chain.session.post(
            br01.url + "/api/receipts", json=body, headers={"Idempotency-Key": "r"}
        ) as r:
            return r.status == 201

    await wait_until(received, "the supplier to reach BR01")
    sold = await chain.post(br01.url + "/api/sales", sale(("CUP-CERAMIC", 6)))
    await chain.post(f"{br01.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    await wait_until(lambda: chain.drained("BR01"), "BR01 to drain to HQ")
    report = await chain.get(chain.hq.url + "/api/reports/stock")
    (cup,) = report["lines"]
    today = datetime.date.fromisoformat(report["today"])
    assert (cup["sku"], cup["qty"], cup["cost_fen"], cup["sold"], cup["sold_cost_fen"]) == (
        "CUP-CERAMIC",
        15,
        15_000,
        5,
        5_000,
    )
    assert (cup["days_of_cover"], cup["turnover_permille"]) == (90, 333)
    assert cup["warning_date"] == (today + datetime.timedelta(days=60)).isoformat()
    async with chain.session.get(
        chain.hq.url + "/api/reports/stock/export", params={"format": "xlsx"}
    ) as response:
        sheet = openpyxl.load_workbook(io.BytesIO(await response.read())).active
    assert [cell.value for cell in sheet[1]][:4] == ["sku", "name", "qty", "cost (yuan)"]
    assert [cell.value for cell in sheet[2]][:4] == ["CUP-CERAMIC", "Ceramic cup / 陶瓷杯", 15, 15_000]
    assert (await chain.get(chain.hq.url + "/api/reports/stock", params={"branch": "BR02"}))["lines"] == []
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR01'))}"}
    async with chain.session.get(chain.hq.url + "/api/reports/stock", headers=manager) as response:
        assert response.status == 403  # stock across warehouses is HQ's
    for days in ("0", "367"):
        async with chain.session.get(chain.hq.url + "/api/reports/stock", params={"days": days}) as response:
            assert (response.status, (await response.json())["error"]) == (400, "invalid_query")


async def test_the_visit_cycle_warning_lists_members_late_on_their_own_rhythm(chain: Chain) -> None:
    """Three members buy three times each at BR01; their visits are moved back (as if
    made then). Xu came 40, 30 and 20 days ago: every 10 days, 20 since, over one and a
    half cycles: warned. Ma came 3, 2 and 1 days ago: every day, 1 since: not warned.
    Lu came 30 and 20 days ago only: two visits make no cycle yet."""
    br01 = await chain.add_node("BR01")
    visits = {"Xu": (40, 30, 20), "Ma": (3, 2, 1), "Lu": (30, 20)}
    ids = {}
    for n, (name, ago) in enumerate(visits.items()):
        ids[name] = (await chain.post(br01.url + "/api/members", {"name": name, "phone": f"1390000800{n}"}))[
            "id"
        ]
        for _ in ago:
            await chain.post(br01.url + "/api/sales", {**sale(("SOAP-BAR", 1)), "member_id": ids[name]})

    async def all_at_hq() -> bool:
        return len(await hq_rows(chain, "SELECT 1 FROM member_sales")) == 8

    await wait_until(all_at_hq, "the visits to reach HQ")
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    for name, ago in visits.items():
        rows = await hq_rows(
            chain, "SELECT sale_id FROM member_sales WHERE member_id = ? ORDER BY at_ms", ids[name]
        )
        for (sale_id,), days in zip(rows, ago, strict=True):
            await hq_edit(
                chain,
                "UPDATE member_sales SET at_ms = ? WHERE sale_id = ?",
                now_ms - days * 86_400_000,
                sale_id,
            )
    found = (await chain.get(chain.hq.url + "/api/reports/visit-cycle"))["members"]
    assert [(m["name"], m["visits"], m["usual_days"], m["days_since"]) for m in found] == [("Xu", 3, 10, 20)]
    async with chain.session.get(chain.hq.url + "/api/reports/visit-cycle/export") as response:
        exported = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [(row[1], row[2], row[3], row[5]) for row in exported[1:]] == [("Xu", "3", "10", "20")]
    clerk = {"Authorization": f"Bearer {await log_in(chain.hq.url, clerk_login('BR01'))}"}
    async with chain.session.get(chain.hq.url + "/api/reports/visit-cycle/export", headers=clerk) as response:
        assert response.status == 403  # a clerk sees members, exports none


async def test_points_outstanding_by_the_month_they_expire(chain: Chain) -> None:
    """By hand (1 point per yuan, HQ's default; a point worth 2 fen here): Lu buys two
    cups (5,000 fen) while points never expire: 50 points, never. Points then expire
    after 60 days; she buys a gift box (29,900): 299 points, in the month of 60 days
    from now. She pays a cup with 20 points (taken from the lot that expires first, the
    gift box's: 279 left) and 2,460 fen in cash, which earns 25 points, expiring with
    the box's. Outstanding: 304 in that month (608 fen), 50 never (100 fen); 354 in
    all, 708 fen."""
    br01 = await chain.add_node("BR01")
    await chain.post(
        chain.hq.url + "/api/points-settings", {"code": "chain", "point_value_fen": 2}, status=200
    )
    member = (await chain.post(br01.url + "/api/members", {"name": "Lu", "phone": "13900009101"}))["id"]
    await chain.post(br01.url + "/api/sales", {**sale(("CUP-CERAMIC", 2)), "member_id": member})
    settings = {"code": "chain", "expiry_days": 60, "point_value_fen": 2}
    await chain.post(chain.hq.url + "/api/points-settings", settings, status=200)

    async def expiry_at_branch() -> bool:
        return bool((await chain.get(br01.url + "/api/points-rules"))["settings"]["expiry_days"] == 60)

    await wait_until(expiry_at_branch, "the 60-day expiry to reach BR01")
    box = await chain.post(br01.url + "/api/sales", {**sale(("GIFT-BOX", 1)), "member_id": member})
    assert box["points_earned"] == 299
    cup = {
        "member_id": member,
        "lines": [{"sku": "CUP-CERAMIC", "qty": 1}],
        "tenders": [{"kind": "points", "card": member, "points": 20}, {"kind": "cash", "amount_fen": 2_460}],
    }
    assert (await chain.post(br01.url + "/api/sales", cup))["points_earned"] == 25
    await wait_until(lambda: chain.drained("BR01"), "BR01 to drain to HQ")
    shown = await chain.get(chain.hq.url + "/api/liability/points")
    lots = (await chain.get(f"{br01.url}/api/cards/{member}/points"))["lots"]
    expires_at_ms = max(lot["expires_at_ms"] or 0 for lot in lots)
    expiry_month = BUSINESS_DAY.day_of(expires_at_ms - 1).isoformat()[:7]
    assert [(m["month"], m["points"], m["value_fen"]) for m in shown["months"]] == [
        (expiry_month, 304, 608),
        ("never", 50, 100),
    ]
    assert (shown["points"], shown["value_fen"], shown["owed_points"]) == (354, 708, 0)
    # The month's points moved, kept by day at ingest: 50 + 299 + 25 earned, 20 redeemed;
    # what is outstanding is what moved.
    report = await chain.get(chain.hq.url + "/api/reports/sales")
    assert (report["points"], report["points_net"]) == ({"earn": 374, "redeem": -20}, 354)
    await hq_edit(chain, "DELETE FROM points_daily")  # as before an upgrade that adds it
    await chain.post(chain.hq.url + "/api/reports/rebuild", None, status=200)
    assert (await chain.get(chain.hq.url + "/api/reports/sales"))["points"] == {"earn": 374, "redeem": -20}
