"""A member's consumption over every branch, at HQ (FEATURES M6), on real servers and
both HQ backends: a duplicate registered at two branches while cut off from HQ, its
sales at both, a return; HQ's figures per branch and in all worked by hand, each
branch's own figures beside them, who may see which, and what each bad request gets.
The branch's own rules (its days, its refusals) are in tests/node/test_member_stats.py.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from hq.member_stats import MemberReturn, MemberSale
from hq.plan import plan_entries
from node.routes.context import CONTEXT
from protocol import hlc
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from tests.harness import Chain, hq_rows, log_in, manager_login, wait_until
from tests.node.test_member_stats import (
    DAY,
    UNKNOWN_ID,
    cash,
    favourite,
    local_ms,
    sale,
    set_clock,
    tenders,
)
from tests.vouchers import issue_to

PHONE = "13955556666"
PERIOD = {"from": "2025-03-14", "to": "2025-03-16"}


def nothing() -> dict[str, Any]:
    return {
        "visits": {"sales": 0, "days": 0},
        "sales": {"count": 0, "total_fen": 0},
        "returns": {"count": 0, "refund_fen": 0},
        "spend_fen": 0,
        "last_visit": None,
        "favourites": [],
        "tenders": tenders(),
    }


async def digests_agree(chain: Chain) -> bool:
    digests = {(await chain.get(chain.hq.url + "/api/directory/digest"))["sha256"]}
    for node in chain.nodes.values():
        digests.add((await chain.get(node.url + "/api/directory/digest"))["sha256"])
    return len(digests) == 1


async def online(chain: Chain, branch: str) -> bool:
    return bool((await chain.sync(branch))["hq_reachable"])


async def at_hq(
    chain: Chain, member_id: str, query: dict[str, str], headers: dict[str, str] | None = None
) -> Any:
    return await chain.get(f"{chain.hq.url}/api/members/{member_id}/stats", params=query, headers=headers)


async def refused(
    chain: Chain,
    url: str,
    status: int,
    code: str,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    async with chain.session.get(url, params=query, headers=headers) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]
        return str(answer["message"])


async def duplicate_with_sales(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Zhao Min registers at BR01 (M1) while BR02 is shut, and HQ issues her a 2,000
    voucher (V0601, valid in March 2025); with HQ cut off she registers again at BR02 (M2)
    and buys at both. HQ has seen BR01's registration first, so M1 survives and M2 is its
    alias. In Shanghai time (UTC+8):

    - BR01 14 Mar 09:00 (01:00 UTC) S1, M1: 2 TEA-OOLONG-250 (13,600) and a CUP-CERAMIC
      (2,500) = 16,100: 20,000 cash, 3,900 change.
    - BR02 14 Mar 20:00 (12:00 UTC) S2, M2: 3 SOAP-BAR = 3,600 in cash.
    - BR01 15 Mar 07:30 (still 14 Mar 23:30 UTC) S3, M1: 2 SOAP-BAR (2,400) and a
      TEA-GREEN-100 (12,800) = 15,200: voucher V0601 2,000 and 13,200 cash.
    - BR01 15 Mar 10:00 (02:00 UTC) S1's cup comes back: 2,500 refunded in cash.
    - BR02 16 Mar 10:00 (02:00 UTC) a GIFT-BOX for nobody (29,900, not hers), and S5, M2:
      a SNACK-NUTS (3,990): 4,000 cash, 10 change.
    """
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await wait_until(lambda: online(chain, "BR01"), "BR01 to reach HQ")
    await wait_until(lambda: online(chain, "BR02"), "BR02 to reach HQ")
    await b.stop()  # BR02 must not hear of M1 before M2 registers there
    first = await chain.post(a.url + "/api/members", {"name": "Zhao Min", "phone": PHONE})
    code = await issue_to(chain, first["id"], "V0601", a, valid=("2025-03-01", "2025-03-31"))
    await chain.hq.stop()
    await b.start()
    second = await chain.post(b.url + "/api/members", {"name": "Zhao Min", "phone": PHONE})
    m1, m2 = str(first["id"]), str(second["id"])
    assert m1 != m2

    set_clock(monkeypatch, a, DAY, 9, 0)
    s1 = await chain.post(
        a.url + "/api/sales", sale(m1, {"TEA-OOLONG-250": 2, "CUP-CERAMIC": 1}, cash(20_000))
    )
    assert (s1["total_fen"], s1["change_fen"]) == (16_100, 3_900)
    set_clock(monkeypatch, b, DAY, 20, 0)
    await chain.post(b.url + "/api/sales", sale(m2, {"SOAP-BAR": 3}, cash(3_600)))
    set_clock(monkeypatch, a, DAY + datetime.timedelta(days=1), 7, 30)
    voucher = {"kind": "voucher", "voucher": code, "amount_fen": 2_000}
    s3 = await chain.post(
        a.url + "/api/sales", sale(m1, {"SOAP-BAR": 2, "TEA-GREEN-100": 1}, voucher, cash(13_200))
    )
    assert s3["total_fen"] == 15_200
    set_clock(monkeypatch, a, DAY + datetime.timedelta(days=1), 10, 0)
    cup = await chain.post(f"{a.url}/api/sales/{s1['id']}/returns", {"lines": [{"line_no": 1, "qty": 1}]})
    assert cup["refunds"] == [{"tender_no": 0, "kind": "cash", "amount_fen": 2_500, "card": None}]
    set_clock(monkeypatch, b, DAY + datetime.timedelta(days=2), 10, 0)
    await chain.post(b.url + "/api/sales", sale(None, {"GIFT-BOX": 1}, cash(29_900)))
    s5 = await chain.post(b.url + "/api/sales", sale(m2, {"SNACK-NUTS": 1}, cash(4_000)))
    assert (s5["total_fen"], s5["change_fen"]) == (3_990, 10)

    # HQ orders duplicates as it sees them: BR02 stays shut until BR01's registration is in.
    # BR01 goes back to the real time: a branch refuses a feed stamped far ahead of its clock.
    monkeypatch.setattr(a.app[CONTEXT].store.writer, "_wall_ms", lambda: time.time_ns() // 1_000_000)
    await b.stop()
    await chain.hq.start()

    async def first_at_hq() -> bool:
        async with chain.session.get(f"{chain.hq.url}/api/members/{m1}") as response:
            return response.status == 200

    await wait_until(first_at_hq, "BR01's registration to reach HQ")
    await b.start()
    await wait_until(lambda: digests_agree(chain), "HQ and both branches to hold the same directory")
    for branch in ("BR01", "BR02"):
        await wait_until(lambda b=branch: chain.drained(b), f"{branch}'s backlog to reach HQ")  # type: ignore[misc]
    return m1, m2


async def test_hq_adds_up_a_members_branches_and_each_branch_its_own(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HQ's days are UTC days. Asked for M2 (the alias) from 14 to 16 March, HQ answers for M1:

    BR01: S1 and S3, both on the 14th in UTC: 2 visits on 1 day; 16,100 + 15,200 = 31,300
    sold, the cup's 2,500 returned, 28,800 spent; kept 2 oolong (13,600), 2 soaps (2,400:
    after the oolong, which cost more) and a green tea (12,800); cash 20,000 - 3,900 +
    13,200 = 29,300 paid, 2,500 refunded; the voucher 2,000. 29,300 + 2,000 = 31,300.
    BR02: S2 (14th) and S5 (16th): 2 visits on 2 days, 3,600 + 3,990 = 7,590 in cash
    (3,600 + 4,000 - 10); 3 soaps, a bag of nuts. The gift box was nobody's.
    In all: 4 visits on 2 days (the 14th at both), 38,890 sold, 36,390 spent; 5 soaps
    (6,000), 2 oolong (13,600), a green tea (12,800), nuts (3,990, after the tea); cash
    36,890 paid and 2,500 refunded, voucher 2,000; last at BR02 on the 16th.
    """
    m1, m2 = await duplicate_with_sales(chain, monkeypatch)
    br01: dict[str, Any] = {
        "visits": {"sales": 2, "days": 1},
        "sales": {"count": 2, "total_fen": 31_300},
        "returns": {"count": 1, "refund_fen": 2_500},
        "spend_fen": 28_800,
        "last_visit": {"at_ms": local_ms(DAY + datetime.timedelta(days=1), 7, 30), "day": "2025-03-14"},
        "favourites": [
            favourite("TEA-OOLONG-250", 2, 13_600),
            favourite("SOAP-BAR", 2, 2_400),
            favourite("TEA-GREEN-100", 1, 12_800),
        ],
        "tenders": tenders(cash=(29_300, 2_500), voucher=(2_000, 0)),
    }
    s5_ms = local_ms(DAY + datetime.timedelta(days=2), 10, 0)
    br02: dict[str, Any] = {
        "visits": {"sales": 2, "days": 2},
        "sales": {"count": 2, "total_fen": 7_590},
        "returns": {"count": 0, "refund_fen": 0},
        "spend_fen": 7_590,
        "last_visit": {"at_ms": s5_ms, "day": "2025-03-16"},
        "favourites": [favourite("SOAP-BAR", 3, 3_600), favourite("SNACK-NUTS", 1, 3_990)],
        "tenders": tenders(cash=(7_590, 0)),
    }
    found = await at_hq(chain, m2, PERIOD)
    assert found == {
        "member_id": m1,
        "looked_up_as": m2,
        "aliases": [m2],
        "branch": None,
        "scope": "all branches",
        "timezone": "UTC",
        "from": "2025-03-14",
        "to": "2025-03-16",
        "totals": {
            "visits": {"sales": 4, "days": 2},
            "sales": {"count": 4, "total_fen": 38_890},
            "returns": {"count": 1, "refund_fen": 2_500},
            "spend_fen": 36_390,
            "last_visit": {"at_ms": s5_ms, "day": "2025-03-16", "branch": "BR02"},
            "favourites": [
                favourite("SOAP-BAR", 5, 6_000),
                favourite("TEA-OOLONG-250", 2, 13_600),
                favourite("TEA-GREEN-100", 1, 12_800),
                favourite("SNACK-NUTS", 1, 3_990),
            ],
            "tenders": tenders(cash=(36_890, 2_500), voucher=(2_000, 0)),
        },
        "branches": [{"branch": "BR01", **br01}, {"branch": "BR02", **br02}],
    }
    # The survivor's id answers the same; HQ kept the four sales that named her, not the gift box.
    assert await at_hq(chain, m1, PERIOD) == {**found, "looked_up_as": m1}
    assert await hq_rows(chain, "SELECT COUNT(*) FROM member_sales") == [(4,)]

    # Each branch answers for what it sold, in its own days: at BR01 S3 was on the 15th.
    at_br01 = await chain.get(f"{chain.nodes['BR01'].url}/api/members/{m2}/stats", params=PERIOD)
    local = {
        **br01,
        "visits": {"sales": 2, "days": 2},
        "last_visit": {**br01["last_visit"], "day": "2025-03-15"},
    }
    assert at_br01 == {
        "member_id": m1,
        "looked_up_as": m2,
        "aliases": [m2],
        "branch": "BR01",
        "scope": "this branch",
        "timezone": "Asia/Shanghai",
        **PERIOD,
        **local,
    }
    at_br02 = await chain.get(f"{chain.nodes['BR02'].url}/api/members/{m1}/stats", params=PERIOD)
    assert {key: at_br02[key] for key in br02} == br02
    assert (at_br02["member_id"], at_br02["scope"]) == (m1, "this branch")

    # One branch (?branch=); a UTC day with none of her sales, though the cup came back on
    # it (a return counts against its sale); and her first day only, top favourite only.
    only_br02 = await at_hq(chain, m2, {**PERIOD, "branch": "BR02"})
    assert (only_br02["scope"], only_br02["branches"]) == ("branch BR02", [{"branch": "BR02", **br02}])
    assert only_br02["totals"] == {**br02, "last_visit": {**br02["last_visit"], "branch": "BR02"}}
    the_15th = await at_hq(chain, m1, {"from": "2025-03-15", "to": "2025-03-15"})
    assert (the_15th["totals"], the_15th["branches"]) == (nothing(), [])
    the_14th = await at_hq(chain, m1, {"from": "2025-03-14", "to": "2025-03-14", "top": "1"})
    assert [(b["branch"], b["sales"]["count"], b["favourites"]) for b in the_14th["branches"]] == [
        ("BR01", 2, [favourite("TEA-OOLONG-250", 2, 13_600)]),
        ("BR02", 1, [favourite("SOAP-BAR", 3, 3_600)]),
    ]
    assert the_14th["totals"]["spend_fen"] == 28_800 + 3_600


async def test_a_branchs_operator_sees_their_own_stores_figures_at_hq_only(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Member data is shared, a store's sales are not (C4): BR01's manager asking HQ gets
    BR01's figures (28,800 spent there), never BR02's; the warehouse has no member data."""
    m1, m2 = await duplicate_with_sales(chain, monkeypatch)
    manager = {"Authorization": f"Bearer {await log_in(chain.hq.url, manager_login('BR01'))}"}
    own = await at_hq(chain, m2, PERIOD, headers=manager)
    assert (own["branch"], own["scope"], [b["branch"] for b in own["branches"]]) == (
        "BR01",
        "branch BR01",
        ["BR01"],
    )
    assert own["totals"]["spend_fen"] == 28_800
    url = f"{chain.hq.url}/api/members/{m1}/stats"
    assert "BR02" in await refused(chain, url, 403, "forbidden", {"branch": "BR02"}, headers=manager)
    warehouse = {"Authorization": f"Bearer {await chain.hq_token('wh-li', 'warehouse')}"}
    await refused(chain, url, 403, "forbidden", headers=warehouse)
    await refused(chain, url, 401, "not_logged_in", headers={"Authorization": "Bearer nobody"})


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"from": "2025-3-14"}, "invalid_query"),
        ({"from": "20250314"}, "invalid_query"),
        ({"to": "2025-02-30"}, "invalid_query"),
        ({"to": "yesterday"}, "invalid_query"),
        ({"from": "2025-W11-5"}, "invalid_query"),  # an ISO week date: fromisoformat takes it
        ({"to": "9999-12-31"}, "invalid_query"),  # its end is past the last stamp HQ can hold
        ({"from": "2025-03-15", "to": "2025-03-14"}, "invalid_query"),  # from after to
        ({"top": "0"}, "invalid_query"),
        ({"top": "21"}, "invalid_query"),
        ({"top": "five"}, "invalid_query"),
        ({"branch": "br 01"}, "malformed"),  # as every store report refuses it (hq.http_common)
    ],
)
async def test_a_bad_query_at_hq_is_refused_naming_it(chain: Chain, query: dict[str, str], code: str) -> None:
    url = f"{chain.hq.url}/api/members/{UNKNOWN_ID}/stats"
    message = await refused(chain, url, 400, code, query)
    assert message.startswith(next(iter(query))), message


async def test_a_member_hq_does_not_know_is_not_found(chain: Chain) -> None:
    message = await refused(chain, f"{chain.hq.url}/api/members/{UNKNOWN_ID}/stats", 404, "not_found")
    assert UNKNOWN_ID in message


def _entry(kind: str, op: str, entity_id: str, payload: Any) -> Entry:
    return encode_entry(
        origin="BR01",
        seq=7,
        hlc=hlc.pack(1_714_550_400_000),
        prev_hash=GENESIS_HASH,
        kind=kind,
        entity_id=entity_id,
        op=op,
        payload=payload,
    )


def test_hq_keeps_a_members_sale_and_takes_a_return_from_before_refund_rows_as_cash() -> None:
    """What HQ's planner keeps of a sale naming a member: 2 soaps and a soap on another
    line (3 for 3,600) and a cup (2,500) = 6,100, paid 2,000 by voucher and 5,000 in cash
    with 900 change: cash 4,100. A return written before refunds were listed per tender
    (no "refunds") gave its 1,200 back in cash. A sale naming nobody keeps nothing."""
    line = {"qty": 1, "unit_price_fen": 1_200, "amount_fen": 1_200}
    checkout = {
        "member_id": "M1",
        "warehouse": "BR01-MAIN",
        "lines": [
            {**line, "sku": "SOAP-BAR", "qty": 2, "amount_fen": 2_400},
            {"sku": "CUP-CERAMIC", "qty": 1, "unit_price_fen": 2_500, "amount_fen": 2_500},
            {**line, "sku": "SOAP-BAR"},
        ],
        "tenders": [
            {"kind": "voucher", "voucher": "V-1", "amount_fen": 2_000},
            {"kind": "cash", "amount_fen": 5_000},
        ],
        "total_fen": 6_100,
        "change_fen": 900,
        "at_ms": 1_741_914_000_000,  # 14 March 2025 01:00 UTC
    }
    returned = {
        "id": "R1",
        "sale_id": "S1",
        "warehouse": "BR01-MAIN",
        "lines": [{**line, "line_no": 2, "sku": "SOAP-BAR", "cost_fen": 450}],
        "refund_fen": 1_200,
        "cost_fen": 450,
        "at_ms": 1_741_914_060_000,
        "moves": [],
    }
    nobodys = {**checkout, "member_id": None}
    plan = plan_entries(
        [
            _entry("sale", "checkout", "S1", checkout),
            _entry("sale_return", "post", "R1", returned),
            _entry("sale", "checkout", "S2", nobodys),
        ]
    )
    assert plan.refused == []
    assert plan.member_purchases == [
        MemberSale(
            "BR01",
            "S1",
            "M1",
            1_741_914_000_000,
            "2025-03-14",
            6_100,
            (("CUP-CERAMIC", 1, 2_500), ("SOAP-BAR", 3, 3_600)),
            (("cash", 4_100), ("voucher", 2_000)),
        ),
        MemberReturn("BR01", "S1", 1_200, (("SOAP-BAR", 1, 1_200),), (("cash", 1_200),)),
    ]
