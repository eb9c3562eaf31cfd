"""A small data set of sales and a return at two branches, for the console's report
tests, with its figures, worked by hand with the demo catalogue's preset costs (nothing
received yet, so each unit sold is costed at its preset purchase price). Categories:
TEA-GREEN-100 is TEA (Tea); CUP-CERAMIC and GIFT-BOX are WARE (Tableware).
- BR01, sale A, credited to BR01-S01: 2 green tea (25,600, cost 15,200) and a cup
  (2,500, cost 1,100): 28,100 taken, cost 16,300, gross profit 11,800.
- BR01, sale B, no salesperson: a gift box, 29,900, cost 16,500; brought back the same
  day: 29,900 refunded, 16,500 of cost back on the shelf. Net 0.
- BR02, sale C, credited to BR02-S01: a green tea, 12,800, cost 7,600: profit 5,200.
So, returns netted:
- by branch: BR01 2 sales, 1 return, net 28,100, cost 16,300, profit 11,800; BR02 1 sale,
  net 12,800, cost 7,600, profit 5,200. Totals: net 40,900, cost 23,900, profit 17,000.
- by product: green tea 3 units, 38,400, cost 22,800, profit 15,600; cup 1 unit, 2,500,
  cost 1,100, profit 1,400; gift box 1 unit sold and 1 returned, net 0, profit 0.
- by category: TEA 38,400, profit 15,600; WARE 2 units, 1 returned, net 2,500, cost
  1,100, profit 1,400.
- by salesperson: BR01-S01 28,100 (profit 11,800), BR02-S01 12,800 (5,200), none: 1
  sale and 1 return, net 0.
The period before and the same month a year earlier hold nothing.
"""

from __future__ import annotations

from tests.harness import Chain, sale, wait_until


async def seeded(chain: Chain) -> None:
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    await chain.post(
        chain.hq.url + "/api/categories",
        [{"code": "TEA", "name": "Tea"}, {"code": "WARE", "name": "Tableware"}],
        status=200,
    )
    await chain.post(
        chain.hq.url + "/api/products",
        [
            {"sku": "TEA-GREEN-100", "category": "TEA"},
            {"sku": "CUP-CERAMIC", "category": "WARE"},
            {"sku": "GIFT-BOX", "category": "WARE"},
        ],
        status=200,
    )
    a = await chain.post(
        br01.url + "/api/sales", {**sale(("TEA-GREEN-100", 2), ("CUP-CERAMIC", 1)), "salesperson": "BR01-S01"}
    )
    assert a["total_fen"] == 28_100
    b = await chain.post(br01.url + "/api/sales", sale(("GIFT-BOX", 1)))
    await chain.post(f"{br01.url}/api/sales/{b['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    c = await chain.post(br02.url + "/api/sales", {**sale(("TEA-GREEN-100", 1)), "salesperson": "BR02-S01"})
    assert c["total_fen"] == 12_800

    async def all_at_hq() -> bool:
        summary = await chain.get(chain.hq.url + "/api/sales/summary")
        return bool((summary["count"], summary["returns"]) == (3, 1))

    await wait_until(all_at_hq, "the three sales and the return to reach HQ")
