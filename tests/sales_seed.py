"""Small data sets for the console's report tests. `members_and_purchases`: members,
cards and purchases (its docstring has the figures). `seeded`: sales and a return at
two branches, with its figures worked by hand with the demo catalogue's preset costs (nothing
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

from typing import Any

from tests.harness import Chain, Server, sale, wait_until


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


GOLD, STORED = "GOLD-16800", "STORED-1000"


async def _card_types_at(chain: Chain, node: Server) -> None:
    async def arrived() -> bool:
        listed = (await chain.get(node.url + "/api/card-types"))["card_types"]
        return {GOLD, STORED} <= {t["code"] for t in listed}

    await wait_until(arrived, "the card types to reach the branch")


async def _member(chain: Chain, node: Server, phone: str, salesperson: str | None, **profile: str) -> str:
    body: dict[str, Any] = {"name": f"Member {phone[-4:]}", "phone": phone, **profile}
    if salesperson is not None:
        body["salesperson"] = salesperson
    return str((await chain.post(node.url + "/api/members", body))["id"])


async def members_and_purchases(chain: Chain) -> None:
    """By hand:
    - BR01 registers three members, two credited to BR01-S01 and one to nobody, and sells
      a GOLD-16800 card (1,680,000) to the first and a STORED-1000 card (100,000) to the
      second; BR02 registers one, credited to BR02-S01.
      So: 4 members joined this month, none the month before; per salesperson BR01-S01 2,
      nobody 1, BR02-S01 1; cards: one gold (16,800 yuan), one stored-value (1,000 yuan).
      Their profiles: the first female, born 1990-05-01, of 浦东; the second male, born
      2010-01-01, of 浦东, referred by the first; the third nothing but that the first
      referred it too; the fourth female, of 海淀. So by gender female 2, none 1, male 1; by region
      浦东 2, none 1, 海淀 1; by age (at registration) the first's band and the second's
      once each, none 2; the first referred 2.
    - BR01 (as br01-manager) receives 20 cups from SUP-1 at 1,000 (20,000 owed), sends
      two back against that receipt (2,000 credited) and receives 5 soaps at 450 (2,250):
      SUP-1 two receipts of 22,250, one return of 2,000, net 20,250; three documents,
      each booked by br01-manager.
    """
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    await chain.post(
        chain.hq.url + "/api/suppliers", {"code": "SUP-1", "name": "Jingdezhen Wholesale"}, status=200
    )
    await _card_types_at(chain, br01)
    first = await _member(
        chain, br01, "13900000001", "BR01-S01", gender="female", birthday="1990-05-01", region="浦东"
    )
    second = await _member(
        chain,
        br01,
        "13900000002",
        "BR01-S01",
        gender="male",
        birthday="2010-01-01",
        region="浦东",
        referrer=first,
    )
    await _member(chain, br01, "13900000003", None, referrer=first)
    await _member(chain, br02, "13900000004", "BR02-S01", gender="female", region="海淀")
    for member, card_type, card, price in (
        (first, GOLD, "G-0001", 1_680_000),
        (second, STORED, "S-0001", 100_000),
    ):
        body = {
            "member_id": member,
            "card_type": card_type,
            "card": card,
            "tenders": [{"kind": "cash", "amount_fen": price}],
        }
        await chain.post(br01.url + "/api/card-sales", body)
    receipt: dict[str, Any] = {}

    async def received() -> bool:  # once SUP-1 has reached the branch
        body = {"supplier": "SUP-1", "lines": [{"sku": "CUP-CERAMIC", "qty": 20, "unit_cost_fen": 1_000}]}
        async with chain.session.post(
            br01.url + "/api/receipts", json=body, headers={"Idempotency-Key": "r1"}
        ) as r:
            if r.status == 201:
                receipt.update(await r.json())
            return r.status == 201

    await wait_until(received, "the supplier to reach BR01")
    await chain.post(
        br01.url + "/api/purchase-returns",
        {"supplier": "SUP-1", "receipt_id": receipt["id"], "lines": [{"sku": "CUP-CERAMIC", "qty": 2}]},
    )
    soaps = {"supplier": "SUP-1", "lines": [{"sku": "SOAP-BAR", "qty": 5, "unit_cost_fen": 450}]}
    await chain.post(br01.url + "/api/receipts", soaps)

    async def all_at_hq() -> bool:
        for code in ("BR01", "BR02"):
            if not await chain.drained(code):
                return False
        return True

    await wait_until(all_at_hq, "both branches to drain to HQ")
