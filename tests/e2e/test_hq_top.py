"""Today's sales per branch at HQ (`GET /api/sales/by-branch`) and `branchline hq top`,
the terminal view ops keep open, on real servers and both HQ backends.

Worked by hand: BR01 sells a festival gift box (29,900, cost 16,500 at its preset
price) and a cup (2,500, cost 1,100); the gift box comes back. Today at BR01: one sale,
one return of 29,900, net takings 25.00 yuan, gross profit 14.00. BR02 sells a soap bar
(12.00, cost 4.50): net 12.00, gross profit 7.50.
"""

from __future__ import annotations

import datetime
import time

from protocol.business_day import DEFAULT as BUSINESS_DAY
from tests.harness import TEST_PASSWORD, Chain, branchline, hq_login, log_in, manager_login, sale, wait_until


async def test_today_per_branch_and_the_terminal_view(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    sold = await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1), ("CUP-CERAMIC", 1)))
    await chain.post(f"{br01.url}/api/sales/{sold['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    await chain.post(br02.url + "/api/sales", sale(("SOAP-BAR", 1)))
    url = chain.hq.url + "/api/sales/by-branch"

    async def both_in() -> bool:
        rows = (await chain.get(url))["branches"]
        return [(row["branch"], row["count"], row["returns"]) for row in rows] == [
            ("BR01", 1, 1),
            ("BR02", 1, 0),
        ]

    await wait_until(both_in, "both branches' sales and BR01's return to reach HQ")
    today = await chain.get(url)
    # Today is the branches' business day (both on the default, China's): not UTC's date.
    business_today = BUSINESS_DAY.day_of(int(time.time() * 1000))
    assert today["from"] == today["to"] == business_today.isoformat()
    br01_row, br02_row = today["branches"]
    assert (br01_row["net_fen"], br01_row["returned_fen"], br01_row["gross_profit_fen"]) == (
        2_500,
        29_900,
        1_400,
    )
    assert (br02_row["net_fen"], br02_row["cost_fen"], br02_row["gross_profit_fen"]) == (1_200, 450, 750)
    yesterday = (business_today - datetime.timedelta(days=1)).isoformat()
    assert (await chain.get(url, params={"to": yesterday}))["branches"] == []

    # BR01's store manager gets BR01's row only, and asking for BR02's is refused.
    token = await log_in(chain.hq.url, manager_login("BR01"))
    headers = {"Authorization": f"Bearer {token}"}
    own = await chain.get(url, headers=headers)
    assert [row["branch"] for row in own["branches"]] == ["BR01"]
    async with chain.session.get(url, params={"branch": "BR02"}, headers=headers) as response:
        assert response.status == 403
    async with chain.session.get(url, params={"from": "2026-01-02", "to": "2026-01-01"}) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")

    # HQ's status page shows the same day per branch.
    async with chain.session.get(chain.hq.url + "/status") as response:
        page = await response.text()
    br01_page_row = next(line for line in page.splitlines() if line.startswith("<tr><td>BR01</td>"))
    assert br01_page_row.endswith("<td class=n>1</td><td class=n>¥25.00</td><td class=n>¥14.00</td></tr>")

    code, out = await branchline(
        "hq", "top", "--once", "--login", hq_login(), "--hq", chain.hq.url, password=TEST_PASSWORD
    )
    assert code == 0, out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 8}
    assert set(rows) >= {"BR01", "BR02"}
    assert "online" in rows["BR01"]
    assert [cell.strip() for cell in rows["BR01"].split("│")[6:10]] == ["1", "25.00", "1 (299.00)", "14.00"]
    assert [cell.strip() for cell in rows["BR02"].split("│")[6:10]] == ["1", "12.00", "0 (0.00)", "7.50"]
    assert "0 conflicts waiting · 0 transfers in transit" in out

    code, out = await branchline(
        "hq", "top", "--once", "--login", hq_login(), "--hq", chain.hq.url, password="wrong"
    )
    assert code != 0
    assert "401" in out
