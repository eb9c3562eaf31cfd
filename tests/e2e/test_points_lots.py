"""Points held as lots (loyalty.lots, loyalty.lot_ledger, node.services.points_book) on
real servers and both HQ backends: a spend takes the soonest-expiring lots, its return
puts exactly those points back with their own expiry, the branch's scheduled job
expires what is due (once, however often it runs) and HQ agrees to the point; a return
of spent points leaves a debt that the next earning pays first.

HQ's settings keep points 30 days. The branch's jobs run on a clock the test moves;
the sales themselves are booked at the real time."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from conflict.ledger import LedgerEntry
from conflict.wire import from_payload
from hq.api import HQ_KEY
from node.app import SCHEDULER
from node.routes.context import CONTEXT
from node.services import points_expiry
from protocol import codec
from tests.e2e.test_points import _author, _hq_headers
from tests.harness import Chain, Server, wait_until
from tests.node.test_birthdays import Clock, start_branch

DAY_MS = 86_400_000
TEA_FEN = 12_800  # HQ's demo TEA-GREEN-100: earns 128 points (1 per yuan, HQ's default)
BOX_FEN = 29_900  # GIFT-BOX


async def _keep_30_days(chain: Chain, node: Server) -> None:
    await _author(
        chain, await _hq_headers(chain), "/api/points-settings", {"code": "chain", "expiry_days": 30}
    )

    async def arrived() -> bool:
        held = await chain.get(node.url + "/api/points-rules")
        return bool(held["settings"]["expiry_days"] == 30)

    await wait_until(arrived, f"the 30-day expiry to reach {node}")


def _sale(member: str, sku: str, qty: int, tenders: list[dict[str, Any]]) -> dict[str, Any]:
    return {"member_id": member, "lines": [{"sku": sku, "qty": qty}], "tenders": tenders}


def _points(card: str, points: int) -> dict[str, Any]:
    return {"kind": "points", "card": card, "points": points}


async def _lots(chain: Chain, node: Server, card: str) -> dict[str, Any]:
    return dict(await chain.get(f"{node.url}/api/cards/{card}/points"))


async def _held(chain: Chain, node: Server, card: str) -> dict[str, int]:
    return {lot["lot"]: lot["held"] for lot in (await _lots(chain, node, card))["lots"]}


async def _recorded_lots(node: Server, entry_id: str) -> tuple[tuple[str, int], ...]:
    """The lots the branch's directory record of a points movement names."""

    def read(conn: sqlite3.Connection) -> Any:
        return conn.execute("SELECT record FROM dir_ledger WHERE entry_id = ?", (entry_id,)).fetchone()[0]

    record = from_payload(codec.unpack(bytes(await node.app[CONTEXT].store.read(read))))
    assert isinstance(record, LedgerEntry)
    return record.lots


async def _run_expiry(node: Server) -> int:
    """The function the node's scheduler holds for the points expiry, run now."""
    return int(await node.app[SCHEDULER].get_job(points_expiry.JOB_ID).func())


async def _hq_points(chain: Chain, card: str) -> int | None:
    """The card's points at HQ; None while HQ has not heard of the card."""
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-zhou', 'management')}"}
    async with chain.session.get(f"{chain.hq.url}/api/cards/{card}", headers=headers) as response:
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        return int((await response.json())["balances"]["points"])


async def test_a_spend_and_its_return_move_exactly_the_same_lots_and_the_job_expires_them_once(
    chain: Chain,
) -> None:
    """By hand (a tin of tea 12,800 fen earns 128 points; a point pays 1 fen):
    - Sale 1, two tins: lot S1 of 256 points. Sale 2, one tin: lot S2 of 128. Both
      expire 30 days after they were earned; S1 first.
    - Sale 3, one gift box (29,900): 300 points and 29,600 in cash. The 300 points are
      S1's 256 and 44 of S2 (soonest expiry first); the sale earns lot S3 of 299 (no
      rule spares what points pay). Held: S2 84, S3 299.
    - Sale 3 returned whole: the 300 points go back, 44 into S2 and 256 into S1, and
      S3's 299 are taken back: S1 256 and S2 128, as before sale 3.
    - 31 days on, the branch's job expires both lots (384 points) and a second run
      expires nothing; HQ's balance comes to 0 as the branch's does."""
    clock = Clock(int(time.time() * 1000))
    a = await start_branch(chain, clock)
    await _keep_30_days(chain, a)
    member = (await chain.post(a.url + "/api/members", {"name": "Lu Xin", "phone": "13900009001"}))["id"]
    cash = {"kind": "cash", "amount_fen": 2 * TEA_FEN}
    s1 = await chain.post(a.url + "/api/sales", _sale(member, "TEA-GREEN-100", 2, [cash]))
    cash = {"kind": "cash", "amount_fen": TEA_FEN}
    s2 = await chain.post(a.url + "/api/sales", _sale(member, "TEA-GREEN-100", 1, [cash]))
    lot1, lot2 = f"{s1['id']}-pts", f"{s2['id']}-pts"
    shown = await _lots(chain, a, member)
    assert [lot["lot"] for lot in shown["lots"]] == [lot1, lot2]
    assert [lot["held"] for lot in shown["lots"]] == [256, 128]
    for lot in shown["lots"]:
        assert lot["expires_at_ms"] - lot["earned_at_ms"] == 30 * DAY_MS
    assert (shown["balance"], shown["available"], shown["owed"]) == (384, 384, 0)

    paid = [{"kind": "points", "card": member, "points": 300}, {"kind": "cash", "amount_fen": BOX_FEN - 300}]
    s3 = await chain.post(a.url + "/api/sales", _sale(member, "GIFT-BOX", 1, paid))
    assert s3["points_earned"] == 299
    lot3 = f"{s3['id']}-pts"
    assert await _held(chain, a, member) == {lot2: 84, lot3: 299}
    assert await _recorded_lots(a, f"{s3['id']}-t0") == ((lot1, 256), (lot2, 44))

    back = await chain.post(f"{a.url}/api/sales/{s3['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]})
    assert back["points_taken_back"] == 299
    assert await _held(chain, a, member) == {lot1: 256, lot2: 128}

    async def hq_agrees() -> bool:
        return await _hq_points(chain, member) == 384

    await wait_until(hq_agrees, "HQ to hold the member's 384 points")

    clock.ms += 31 * DAY_MS
    assert await _run_expiry(a) == 384
    assert await _run_expiry(a) == 0
    shown = await _lots(chain, a, member)
    assert (shown["balance"], shown["lots"]) == (0, [])

    async def hq_expired() -> bool:
        return await _hq_points(chain, member) == 0

    await wait_until(hq_expired, "HQ to book the expiry")
    async with chain.session.post(
        a.url + "/api/sales", json=_sale(member, "TEA-GREEN-100", 1, [paid[0]])
    ) as refused:
        answer = await refused.json()
        assert (refused.status, answer["error"]) == (402, "points_short")


async def test_a_return_of_points_already_spent_is_a_debt_the_next_earning_pays_first(chain: Chain) -> None:
    """By hand:
    - Sale 1, two tins: lot S1 of 256. Sale 2, one gift box: 200 points from S1 and
      29,700 in cash, earning lot S2 of 299. Held: S1 56, S2 299; balance 355.
    - Sale 1 returned: its 256 points are taken back, 56 from S1 and 200 as a debt
      (they were spent): balance 99, owed 200, and only 99 may be spent.
    - Sale 3, two tins, earns 256: 200 of it settle the debt. Balance 355, owed 0;
      held: S2 299, S3 56. 31 days on, 355 expire: what paid the debt does not."""
    clock = Clock(int(time.time() * 1000))
    a = await start_branch(chain, clock)
    await _keep_30_days(chain, a)
    member = (await chain.post(a.url + "/api/members", {"name": "Bai Yu", "phone": "13900009002"}))["id"]
    two_tins = [{"kind": "cash", "amount_fen": 2 * TEA_FEN}]
    s1 = await chain.post(a.url + "/api/sales", _sale(member, "TEA-GREEN-100", 2, two_tins))
    paid = [{"kind": "points", "card": member, "points": 200}, {"kind": "cash", "amount_fen": BOX_FEN - 200}]
    s2 = await chain.post(a.url + "/api/sales", _sale(member, "GIFT-BOX", 1, paid))
    assert s2["points_earned"] == 299
    assert await _held(chain, a, member) == {f"{s1['id']}-pts": 56, f"{s2['id']}-pts": 299}

    back = await chain.post(f"{a.url}/api/sales/{s1['id']}/returns", {"lines": [{"line_no": 0, "qty": 2}]})
    assert back["points_taken_back"] == 256
    shown = await _lots(chain, a, member)
    assert (shown["balance"], shown["owed"], shown["available"]) == (99, 200, 99)
    too_many = [
        {"kind": "points", "card": member, "points": 100},
        {"kind": "cash", "amount_fen": TEA_FEN - 100},
    ]
    async with chain.session.post(
        a.url + "/api/sales", json=_sale(member, "TEA-GREEN-100", 1, too_many)
    ) as refused:
        answer = await refused.json()
        assert (refused.status, answer["error"]) == (402, "points_short")
        assert "99 points" in answer["message"]

    s3 = await chain.post(a.url + "/api/sales", _sale(member, "TEA-GREEN-100", 2, two_tins))
    shown = await _lots(chain, a, member)
    assert (shown["balance"], shown["owed"], shown["available"]) == (355, 0, 355)
    assert await _held(chain, a, member) == {f"{s2['id']}-pts": 299, f"{s3['id']}-pts": 56}
    clock.ms += 31 * DAY_MS
    assert await _run_expiry(a) == 355  # what paid the debt is not expired again
    assert (await _lots(chain, a, member))["balance"] == 0


async def test_points_given_back_into_a_lot_past_its_expiry_expire_with_it(chain: Chain) -> None:
    """By hand: sale 1, two tins, earns lot S1 of 256. Sale 2, two tins (25,600) paid
    with S1's 256 points and 25,344 in cash, earns lot S2 of 256. 31 days on, the job
    expires S2's 256 (S1 is empty). Sale 2 is returned: its 256 points go back into S1,
    past its expiry, and S2's 256 are not taken again (they expired): balance 256. The
    next run of the job expires those 256: balance 0."""
    clock = Clock(int(time.time() * 1000))
    a = await start_branch(chain, clock)
    await _keep_30_days(chain, a)
    member = (await chain.post(a.url + "/api/members", {"name": "Gu Lan", "phone": "13900009003"}))["id"]
    two_tins = [{"kind": "cash", "amount_fen": 2 * TEA_FEN}]
    await chain.post(a.url + "/api/sales", _sale(member, "TEA-GREEN-100", 2, two_tins))
    paid = [
        {"kind": "points", "card": member, "points": 256},
        {"kind": "cash", "amount_fen": 2 * TEA_FEN - 256},
    ]
    s2 = await chain.post(a.url + "/api/sales", _sale(member, "TEA-GREEN-100", 2, paid))
    assert s2["points_earned"] == 256
    clock.ms += 31 * DAY_MS
    assert await _run_expiry(a) == 256
    back = await chain.post(f"{a.url}/api/sales/{s2['id']}/returns", {"lines": [{"line_no": 0, "qty": 2}]})
    assert back["points_taken_back"] == 0
    assert (await _lots(chain, a, member))["balance"] == 256
    assert await _run_expiry(a) == 256
    assert (await _lots(chain, a, member))["balance"] == 0


async def test_referral_points_are_a_lot_hq_expires_itself(chain: Chain) -> None:
    """HQ pays Zhang 100 points when Li joins naming Zhang; they are a lot expiring 30
    days on, like a till's earning. The branches' jobs leave it alone (BR01 books only
    its own lots); 31 days on, HQ's run expires it, once however often it runs, and
    every branch hears it: Zhang 0."""
    clock = Clock(int(time.time() * 1000))
    a = await start_branch(chain, clock)
    settings = {"code": "chain", "expiry_days": 30, "referral_points": [100], "referral_depth": 1}
    await _author(chain, await _hq_headers(chain), "/api/points-settings", settings)

    async def arrived() -> bool:
        held = await chain.get(a.url + "/api/points-rules")
        return bool(held["settings"]["referral_points"] == [100])

    await wait_until(arrived, "the referral settings to reach BR01")
    zhang = (await chain.post(a.url + "/api/members", {"name": "Zhang", "phone": "13900009004"}))["id"]
    await chain.post(a.url + "/api/members", {"name": "Li", "phone": "13900009005", "referrer": zhang})

    async def awarded() -> bool:
        return bool((await _lots(chain, a, zhang))["balance"] == 100)

    await wait_until(awarded, "Zhang's referral points to reach BR01")
    [lot] = (await _lots(chain, a, zhang))["lots"]
    assert lot["expires_at_ms"] - lot["earned_at_ms"] == 30 * DAY_MS
    clock.ms += 31 * DAY_MS
    assert await _run_expiry(a) == 0  # not BR01's lot
    hq = chain.hq.app[HQ_KEY]
    assert await hq.expire_points(clock.ms) == 100
    assert await hq.expire_points(clock.ms) == 0

    async def expired() -> bool:
        return bool((await _lots(chain, a, zhang))["balance"] == 0)

    await wait_until(expired, "HQ's expiry of the referral points to reach BR01")
    assert await _hq_points(chain, zhang) == 0
