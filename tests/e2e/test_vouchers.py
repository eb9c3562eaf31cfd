"""Vouchers HQ issues to members (FEATURES L10), on real servers and both HQ backends: a
campaign's vouchers reach every branch; a till takes one only for its member, within its
days, once, on a sale of at least its minimum; a second branch refuses it once the first
one's use has synced; a return gives it back; HQ tracks what a campaign brought. Every
refusal books nothing.

Prices (HQ's demo catalogue): SOAP-BAR 1,200, CUP-CERAMIC 2,500, SNACK-NUTS 3,990,
TEA-OOLONG-250 6,800, GIFT-BOX 29,900.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import pytest

from hq.vouchers import voucher_id
from node.routes.context import CONTEXT
from tests.harness import Chain, Server, log_in, manager_login, wait_until
from tests.vouchers import arrived, campaign, issue_to, known_at_hq, tender, window

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")  # the branches' zone (node.json's default)


def _sale(member: str | None, sku: str, qty: int, *tenders: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": [{"sku": sku, "qty": qty}], "tenders": list(tenders)}
    if member is not None:
        body["member_id"] = member
    return body


def _cash(amount_fen: int) -> dict[str, Any]:
    return {"kind": "cash", "amount_fen": amount_fen}


async def _register(chain: Chain, node: Server, name: str, phone: str, **profile: Any) -> str:
    member = await chain.post(node.url + "/api/members", {"name": name, "phone": phone, **profile})
    return str(member["id"])


async def _refused(chain: Chain, url: str, body: Any, status: int, code: str) -> str:
    async with chain.session.post(url, json=body) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (status, code), answer
        assert answer["message"]
        return str(answer["message"])


async def _booked(chain: Chain, node: Server) -> tuple[int, int]:
    """The branch's sales count and its change log's length: a refusal changes neither."""
    count = (await chain.get(node.url + "/api/sales/summary"))["count"]
    head = (await chain.sync(_branch(chain, node)))["head_seq"]
    return int(count), int(head)


def _branch(chain: Chain, node: Server) -> str:
    return next(code for code, server in chain.nodes.items() if server is node)


async def _state(chain: Chain, node: Server, member: str, voucher: str) -> dict[str, Any]:
    found = await chain.get(f"{node.url}/api/members/{member}/vouchers")
    (shown,) = [v for v in found["vouchers"] if v["voucher_id"] == voucher]
    return dict(shown)


async def test_a_voucher_pays_once_at_a_branch_and_another_refuses_it_once_the_use_has_synced(
    chain: Chain,
) -> None:
    """HQ's SPRING campaign: 2,000 off a sale of at least 3,000. BR02 enrolls after it
    ran and learns the voucher with the rest of HQ's data. Li buys nuts at BR01 (3,990:
    the voucher's 2,000 and 1,990 in cash) and, once BR01's use has reached BR02, tries
    the voucher again there on a gift box: 409 voucher_used, nothing booked."""
    a = await chain.add_node("BR01")
    li = await _register(chain, a, "Li Lei", "13900007001")
    await known_at_hq(chain, li)
    spring = await campaign(chain, "SPRING", value_fen=2_000, min_spend_fen=3_000)
    b = await chain.add_node("BR02")
    assert spring["issued_now"] == [{"voucher_id": voucher_id("SPRING", li), "member_id": li}]
    voucher = voucher_id("SPRING", li)
    assert len(voucher) <= 40
    assert voucher.startswith("SPRING-")
    for node in (a, b):
        await arrived(chain, node, li, voucher)
    assert (await _state(chain, b, li, voucher))["state"] == "unused"

    paid = await chain.post(
        a.url + "/api/sales", _sale(li, "SNACK-NUTS", 1, tender(voucher, 2_000), _cash(1_990))
    )
    assert (paid["total_fen"], paid["change_fen"]) == (3_990, 0)
    assert paid["tenders"][0] == {"kind": "voucher", "amount_fen": 2_000, "voucher": voucher}

    async def used_at_b() -> bool:
        return bool((await _state(chain, b, li, voucher))["state"] == "used")

    await wait_until(used_at_b, "BR01's use of the voucher to reach BR02")
    shown = await _state(chain, b, li, voucher)
    assert (shown["used_at"], shown["redemption"]) == ("BR01", f"{paid['id']}-t0")
    before = await _booked(chain, b)
    message = await _refused(
        chain,
        b.url + "/api/sales",
        _sale(li, "GIFT-BOX", 1, tender(voucher, 2_000), _cash(27_900)),
        409,
        "voucher_used",
    )
    assert "BR01" in message
    assert await _booked(chain, b) == before


async def arrived_member(chain: Chain, node: Server, member: str) -> None:
    async def known() -> bool:
        async with chain.session.get(f"{node.url}/api/members/{member}") as response:
            return response.status == 200

    await wait_until(known, f"member {member} to reach {node.url}")


async def test_a_voucher_nobody_issued_is_refused_and_books_nothing(chain: Chain) -> None:
    """The cashier types MADE-UP-123 for a 12-yuan soap: no campaign issued it, so the till
    answers 404 unknown_voucher, with or without a member, and books nothing."""
    a = await chain.add_node("BR01")
    li = await _register(chain, a, "Li Lei", "13900007101")
    before = await _booked(chain, a)
    for member in (li, None):
        message = await _refused(
            chain,
            a.url + "/api/sales",
            _sale(member, "SOAP-BAR", 1, tender("MADE-UP-123", 1_200)),
            404,
            "unknown_voucher",
        )
        assert "MADE-UP-123" in message
    # A preview is refused alike.
    await _refused(
        chain,
        a.url + "/api/sales/preview",
        _sale(li, "SOAP-BAR", 1, tender("MADE-UP-123", 1_200)),
        404,
        "unknown_voucher",
    )
    assert await _booked(chain, a) == before == (0, before[1])
    async with chain.session.get(
        f"{a.url}/api/members/01a20823-0000-7000-8000-000000000000/vouchers"
    ) as response:
        assert (response.status, (await response.json())["error"]) == (404, "unknown_member")


async def test_a_till_refuses_another_members_voucher_and_one_outside_its_days_or_terms(
    chain: Chain,
) -> None:
    """Li holds vouchers of three campaigns (Wang one of each too):
    - NOW: 2,000 off a sale of at least 3,000, valid around today;
    - PAST: valid in January 2024 only; FUTURE: valid from next year.
    Refused, each booking nothing: Wang's NOW voucher for Li (403), Li's for a sale naming
    no member (403), PAST (409, ended), FUTURE (409, not yet), NOW on a 2,500 cup (422:
    below 3,000), NOW for 2,500 off nuts (422: worth 2,000). Then NOW takes 1,500 off the
    nuts (3,990: 1,500 + 2,490 cash): at most its value, the rest forfeited."""
    a = await chain.add_node("BR01")
    li = await _register(chain, a, "Li Lei", "13900007201")
    wang = await _register(chain, a, "Wang Fang", "13900007202")
    await known_at_hq(chain, wang)
    next_year = datetime.datetime.now(datetime.UTC).date().year + 1
    await issue_to(chain, li, "NOW", a, value_fen=2_000, min_spend_fen=3_000)
    await issue_to(chain, li, "PAST", a, valid=("2024-01-01", "2024-01-31"))
    await issue_to(chain, li, "FUTURE", a, valid=(f"{next_year}-01-01", f"{next_year}-01-31"))
    await arrived(chain, a, wang, voucher_id("NOW", wang))
    listed = (await chain.get(f"{a.url}/api/members/{li}/vouchers"))["vouchers"]
    assert {v["campaign"]: v["state"] for v in listed} == {
        "NOW": "unused",
        "PAST": "expired",
        "FUTURE": "unused",
    }

    url = a.url + "/api/sales"
    before = await _booked(chain, a)
    now, wangs = voucher_id("NOW", li), voucher_id("NOW", wang)
    await _refused(
        chain, url, _sale(li, "SNACK-NUTS", 1, tender(wangs, 2_000), _cash(1_990)), 403, "voucher_not_yours"
    )
    await _refused(
        chain, url, _sale(None, "SNACK-NUTS", 1, tender(now, 2_000), _cash(1_990)), 403, "voucher_not_yours"
    )
    ended = await _refused(
        chain,
        url,
        _sale(li, "SNACK-NUTS", 1, tender(voucher_id("PAST", li), 2_000), _cash(1_990)),
        409,
        "voucher_expired",
    )
    assert "2024-01-31" in ended
    await _refused(
        chain,
        url,
        _sale(li, "SNACK-NUTS", 1, tender(voucher_id("FUTURE", li), 2_000), _cash(1_990)),
        409,
        "voucher_expired",
    )
    short = await _refused(
        chain, url, _sale(li, "CUP-CERAMIC", 1, tender(now, 2_000), _cash(500)), 422, "voucher_min_spend"
    )
    assert "3000" in short
    assert "2500" in short
    await _refused(
        chain, url, _sale(li, "SNACK-NUTS", 1, tender(now, 2_500), _cash(1_490)), 422, "voucher_over_value"
    )
    assert await _booked(chain, a) == before

    paid = await chain.post(url, _sale(li, "SNACK-NUTS", 1, tender(now, 1_500), _cash(2_490)))
    assert (paid["total_fen"], paid["change_fen"]) == (3_990, 0)
    assert (await _state(chain, a, li, now))["state"] == "used"


async def test_a_campaign_picks_members_by_what_hq_knows_and_issues_each_one_voucher(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four members at BR01: Li (Pudong, born in May) buys a gift box (29,900), Wang
    (Pudong) soap (1,200), Zhao (Minhang, born in May) a gift box 60 days ago, Sun
    (Pudong) nothing. HQ's level VIP asks 10,000 of spend over 30 days: graded, Li
    alone is VIP.
    - PUDONG {region: Pudong}: Li, Wang, Sun (3).
    - MAY {birthday_month: 5}: Li, Zhao (2).
    - LAPSED {not_visited_days: 30}: Zhao (60 days ago) and Sun, who never bought (2).
    - BIG {min_spend_fen: 10,000, period_days: 30}: Li (29,900) (1).
    - EVER {min_spend_fen: 10,000} over a year: Li and Zhao (2).
    - VIPS {level: VIP, region: Pudong}: Li (1).
    PUDONG run again issues nothing; once Qian (Pudong) registers, it issues hers alone.
    The same code on other terms is 409; a store manager may not run a campaign (403)."""
    a = await chain.add_node("BR01")
    li = await _register(chain, a, "Li Lei", "13900007301", region="Pudong", birthday="1990-05-20")
    wang = await _register(chain, a, "Wang Fang", "13900007302", region="Pudong")
    zhao = await _register(chain, a, "Zhao Min", "13900007303", region="Minhang", birthday="1985-05-02")
    sun = await _register(chain, a, "Sun Li", "13900007304", region="Pudong", birthday="1979-12-31")
    writer = a.app[CONTEXT].store.writer
    real_ms = writer.now_ms()
    monkeypatch.setattr(writer, "_wall_ms", lambda: real_ms - 60 * 86_400_000)
    await chain.post(a.url + "/api/sales", _sale(zhao, "GIFT-BOX", 1, _cash(29_900)))
    monkeypatch.undo()
    await chain.post(a.url + "/api/sales", _sale(li, "GIFT-BOX", 1, _cash(29_900)))
    await chain.post(a.url + "/api/sales", _sale(wang, "SOAP-BAR", 1, _cash(1_200)))
    await wait_until(lambda: chain.drained("BR01"), "BR01's sales to reach HQ")
    for member in (li, wang, zhao, sun):
        await known_at_hq(chain, member)
    vip = {"code": "VIP", "name": "VIP", "rank": 1, "min_spend_fen": 10_000, "period_days": 30}
    await chain.post(chain.hq.url + "/api/levels", vip, status=200)
    await chain.post(chain.hq.url + "/api/levels/grade", {}, status=200)

    async def picked(code: str, criteria: dict[str, Any]) -> set[str]:
        answer = await campaign(chain, code, criteria=criteria)
        assert answer["tracking"]["issued"] == len(answer["issued_now"])
        return {issued["member_id"] for issued in answer["issued_now"]}

    assert await picked("PUDONG", {"region": "Pudong"}) == {li, wang, sun}
    assert await picked("MAY", {"birthday_month": 5}) == {li, zhao}
    assert await picked("LAPSED", {"not_visited_days": 30}) == {zhao, sun}
    assert await picked("BIG", {"min_spend_fen": 10_000, "period_days": 30}) == {li}
    assert await picked("EVER", {"min_spend_fen": 10_000}) == {li, zhao}
    assert await picked("VIPS", {"level": "VIP", "region": "Pudong"}) == {li}

    again = await campaign(chain, "PUDONG", criteria={"region": "Pudong"}, status=200)
    assert (again["issued_now"], again["tracking"]["issued"]) == ([], 3)
    qian = await _register(chain, a, "Qian Yu", "13900007305", region="Pudong")
    await known_at_hq(chain, qian)
    later = await campaign(chain, "PUDONG", criteria={"region": "Pudong"}, status=200)
    assert later["issued_now"] == [{"voucher_id": voucher_id("PUDONG", qian), "member_id": qian}]
    await arrived(chain, a, qian, voucher_id("PUDONG", qian))

    differs = await _hq_refused(
        chain, {**_body("PUDONG"), "value_fen": 5_000, "criteria": {"region": "Pudong"}}, 409
    )
    assert differs["error"] == "campaign_terms_differ"
    manager = await log_in(chain.hq.url, manager_login("BR01"))
    async with chain.session.post(
        chain.hq.url + "/api/voucher-campaigns",
        json=_body("STORE"),
        headers={"Authorization": f"Bearer {manager}"},
    ) as response:
        assert (response.status, (await response.json())["error"]) == (403, "forbidden")


def _body(code: str, **changes: Any) -> dict[str, Any]:
    first, last = window()
    body = {
        "code": code,
        "name": f"{code} campaign",
        "value_fen": 2_000,
        "valid_from": first,
        "valid_until": last,
    }
    return {**body, **changes}


async def _hq_refused(chain: Chain, body: Any, status: int) -> dict[str, Any]:
    async with chain.session.post(chain.hq.url + "/api/voucher-campaigns", json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == status, answer
        assert answer["message"]
        return answer


async def test_hq_refuses_a_campaign_that_cannot_be_issued_and_issues_nothing(chain: Chain) -> None:
    a = await chain.add_node("BR01")
    li = await _register(chain, a, "Li Lei", "13900007401")
    await known_at_hq(chain, li)
    bad = [
        (_body("BACKWARDS", valid_from="2026-06-30", valid_until="2026-06-01"), "ends before it starts"),
        (_body("ZERO", value_fen=0), "value_fen"),
        (_body("FLOAT", value_fen=20.5), "value_fen"),
        (_body("COLOUR", criteria={"favourite_colour": "red"}), "unknown criteria: favourite_colour"),
        (_body("BOTH", criteria={"not_visited_days": 30, "last_visit_before": "2026-01-01"}), "not both"),
        (_body("MONTH", criteria={"birthday_month": 13}), "birthday_month"),
        (_body("NOLEVEL", criteria={"level": "PLATINUM"}), "PLATINUM"),
        (_body("WAY-TOO-LONG-A-CODE-FOR-A-VOUCHER"), "code"),
        (_body("BADDATE", valid_until="2026-02-30"), "valid_until"),
        ({**_body("EXTRA"), "colour": "red"}, "unknown campaign fields: colour"),
    ]
    for body, said in bad:
        answer = await _hq_refused(chain, body, 422)
        assert answer["error"] == "invalid_campaign"
        assert said in answer["message"], answer
    listed = await chain.get(chain.hq.url + "/api/voucher-campaigns")
    assert listed == {"campaigns": []}
    async with chain.session.get(chain.hq.url + "/api/voucher-campaigns/ZERO") as response:
        assert (response.status, (await response.json())["error"]) == (404, "unknown_campaign")


async def test_a_return_gives_the_voucher_back_and_hq_tracks_what_a_campaign_brought(
    chain: Chain,
) -> None:
    """TEN: 1,000 off a sale of at least 2,000, for Li, Wang and Zhao; OLD (January 2024)
    for the same three. By hand:
    - Li buys nuts at BR01: 3,990 = 1,000 voucher + 2,990 cash.
    - Wang buys a gift box at BR02: 29,900 = 1,000 voucher + 28,900 cash, then returns it
      whole: 28,900 cash back, the voucher's 1,000 not paid out; the voucher's whole
      share came back, so it is reinstated and Wang's list says unused again.
    - Wang then uses it at BR01 on oolong tea: 6,800 = 1,000 + 5,800 cash. No conflict:
      the first use was given back.
    TEN's tracking: issued 3, redeemed 2 (Li, Wang), unused 1 (Zhao), expired 0;
    redeemed_fen 2,000; sales 2, sales_fen 3,990 + 6,800 = 10,790 (the returned gift
    box is not among them). OLD: issued 3, expired 3, nothing redeemed."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    li = await _register(chain, a, "Li Lei", "13900007501")
    wang = await _register(chain, a, "Wang Fang", "13900007502")
    zhao = await _register(chain, a, "Zhao Min", "13900007503")
    await known_at_hq(chain, zhao)
    for member in (li, wang, zhao):
        await arrived_member(chain, b, member)
    await issue_to(chain, li, "TEN", a, b, value_fen=1_000, min_spend_fen=2_000)
    await issue_to(chain, li, "OLD", a, valid=("2024-01-01", "2024-01-31"))
    ten_li, ten_wang = voucher_id("TEN", li), voucher_id("TEN", wang)
    await arrived(chain, b, wang, ten_wang)
    await arrived(chain, a, wang, ten_wang)

    await chain.post(a.url + "/api/sales", _sale(li, "SNACK-NUTS", 1, tender(ten_li, 1_000), _cash(2_990)))
    gift = await chain.post(
        b.url + "/api/sales", _sale(wang, "GIFT-BOX", 1, tender(ten_wang, 1_000), _cash(28_900))
    )
    assert (await _state(chain, b, wang, ten_wang))["state"] == "used"
    back = await chain.post(f"{b.url}/api/sales/{gift['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    assert [(r["kind"], r["amount_fen"]) for r in back["refunds"]] == [("cash", 28_900), ("voucher", 1_000)]
    assert back["vouchers_reinstated"] == [ten_wang]
    assert (await _state(chain, b, wang, ten_wang))["state"] == "unused"

    async def given_back_at_a() -> bool:
        return bool((await _state(chain, a, wang, ten_wang))["state"] == "unused")

    await wait_until(lambda: chain.drained("BR02"), "BR02's return to reach HQ")
    await wait_until(given_back_at_a, "the reinstatement to reach BR01")
    await chain.post(
        a.url + "/api/sales", _sale(wang, "TEA-OOLONG-250", 1, tender(ten_wang, 1_000), _cash(5_800))
    )
    for branch in ("BR01", "BR02"):
        await wait_until(lambda br=branch: chain.drained(br), f"{branch}'s sales to reach HQ")  # type: ignore[misc]

    ten = await chain.get(chain.hq.url + "/api/voucher-campaigns/TEN")
    assert ten["tracking"] == {
        "issued": 3,
        "redeemed": 2,
        "expired": 0,
        "unused": 1,
        "redeemed_fen": 2_000,
        "sales": 2,
        "sales_fen": 10_790,
    }
    states = {v["member_id"]: (v["state"], v["used_at"]) for v in ten["vouchers"]}
    assert states == {li: ("used", "BR01"), wang: ("used", "BR01"), zhao: ("unused", None)}
    listed = {
        c["code"]: c["tracking"]
        for c in (await chain.get(chain.hq.url + "/api/voucher-campaigns"))["campaigns"]
    }
    assert listed["TEN"] == ten["tracking"]
    assert (listed["OLD"]["issued"], listed["OLD"]["expired"], listed["OLD"]["redeemed"]) == (3, 3, 0)
    async with chain.session.get(chain.hq.url + "/api/conflicts") as response:
        assert [c for c in (await response.json())["conflicts"] if c["kind"] == "voucher_reused"] == []


async def test_a_merged_members_voucher_pays_for_a_sale_naming_either_id(
    chain: Chain,
) -> None:
    """Zhou registers at BR01 (Z1) while BR02 is shut, and gets HQ's WELCOME voucher; with
    HQ away she registers again at BR02 (Z2, the same phone). Once HQ has both, Z1
    survives and Z2 is its alias: BR02 takes Z1's voucher for a sale naming Z2, and lists
    it under either id."""
    a = await chain.add_node("BR01")
    b = await chain.add_node("BR02")
    await b.stop()
    z1 = await _register(chain, a, "Zhou Xun", "13900007601")
    voucher = await issue_to(chain, z1, "WELCOME", a, value_fen=500)
    await chain.hq.stop()
    await b.start()
    z2 = await _register(chain, b, "Zhou Xun", "13900007601")
    await chain.hq.start()

    async def merged() -> bool:
        found = await chain.get(f"{b.url}/api/members/{z2}")
        return bool(found["id"] == z1)

    await wait_until(merged, "BR02 to see Z2 as Z1's alias")
    await arrived(chain, b, z2, voucher)
    listed = await chain.get(f"{b.url}/api/members/{z2}/vouchers")
    assert (listed["member_id"], listed["looked_up_as"]) == (z1, z2)
    paid = await chain.post(b.url + "/api/sales", _sale(z2, "SOAP-BAR", 1, tender(voucher, 500), _cash(700)))
    assert paid["member_id"] == z1
    assert (await _state(chain, b, z1, voucher))["state"] == "used"


async def test_a_partial_return_or_one_after_the_last_day_leaves_the_voucher_used(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MARCH: 2,000 off a sale of at least 2,000, valid 1 to 31 March 2025 (BR01's dates,
    Asia/Shanghai). On 14 March Li buys a cup and a soap: 3,700 = 2,000 voucher + 1,700
    cash; Wang two cups: 5,000 = 2,000 voucher + 3,000 cash.
    - Li returns the cup on the 15th: 2,500 back, the cash's 1,700 first, then 800 of
      the voucher's share: only part of it, so the voucher stays used. The soap comes back
      on 2 April: the voucher's other 1,200, so the whole share is back, but the voucher
      ended on 31 March: it stays used.
    - Wang returns both cups on the 15th: 3,000 cash and the voucher's 2,000: reinstated."""
    a = await chain.add_node("BR01")
    li = await _register(chain, a, "Li Lei", "13900007701")
    wang = await _register(chain, a, "Wang Fang", "13900007702")
    await known_at_hq(chain, wang)
    voucher = await issue_to(
        chain, li, "MARCH", a, value_fen=2_000, min_spend_fen=2_000, valid=("2025-03-01", "2025-03-31")
    )
    wangs = voucher_id("MARCH", wang)
    await arrived(chain, a, wang, wangs)

    def on(day: datetime.date) -> None:
        at_ms = int(datetime.datetime.combine(day, datetime.time(12), SHANGHAI).timestamp() * 1000)
        monkeypatch.setattr(a.app[CONTEXT].store.writer, "_wall_ms", lambda: at_ms)

    def refunds(answer: dict[str, Any]) -> list[tuple[str, int]]:
        return [(refund["kind"], refund["amount_fen"]) for refund in answer["refunds"]]

    on(datetime.date(2025, 3, 14))
    cup_and_soap = {
        "member_id": li,
        "lines": [{"sku": "CUP-CERAMIC", "qty": 1}, {"sku": "SOAP-BAR", "qty": 1}],
        "tenders": [tender(voucher, 2_000), _cash(1_700)],
    }
    lis = await chain.post(a.url + "/api/sales", cup_and_soap)
    wang_sale = await chain.post(
        a.url + "/api/sales", _sale(wang, "CUP-CERAMIC", 2, tender(wangs, 2_000), _cash(3_000))
    )
    on(datetime.date(2025, 3, 15))
    cup = await chain.post(f"{a.url}/api/sales/{lis['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    assert (refunds(cup), cup["vouchers_reinstated"]) == ([("cash", 1_700), ("voucher", 800)], [])
    assert (await _state(chain, a, li, voucher))["state"] == "used"
    both = await chain.post(
        f"{a.url}/api/sales/{wang_sale['id']}/returns", {"lines": [{"line_no": 0, "qty": 2}]}
    )
    assert (refunds(both), both["vouchers_reinstated"]) == ([("cash", 3_000), ("voucher", 2_000)], [wangs])
    assert (await _state(chain, a, wang, wangs))["state"] == "unused"
    on(datetime.date(2025, 4, 2))
    soap = await chain.post(f"{a.url}/api/sales/{lis['id']}/returns", {"lines": [{"line_no": 1, "qty": 1}]})
    assert (refunds(soap), soap["vouchers_reinstated"]) == ([("voucher", 1_200)], [])
    assert (await _state(chain, a, li, voucher))["state"] == "used"
    assert (await _state(chain, a, wang, wangs))["state"] == "expired"  # given back, now past its days
