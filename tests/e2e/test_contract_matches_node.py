"""The wire contract describes what a real node and a real HQ write.

Two branches trade through every till and stock endpoint, over HTTP only; HQ goes
away for a while so the branches register one phone twice and overdraw one card,
and an operator settles both conflicts. Then every entry of both branches' change
logs and every entry of HQ's feeds, read straight from their SQLite files, must
keep the contract, and every (kind, op) written must be one the contract defines.

The figures: BR01 receives 20 cups at 10.00 and 12 soaps at 4.50. Card CARD-0001
is topped up with 300.00 and pays 25.00 for a cup online, leaving 275.00; with HQ
down each branch sells a 299.00 gift box taking 200.00 from it offline, so the
card is 125.00 short, and HQ's queue shows that overdraft and the duplicate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from node.config import load_config, save_config
from node.peripherals import attached
from protocol import contract
from protocol.contract import ENTRY_TYPES, EntryType, Writer
from protocol.entry import Entry, decode_entry
from protocol.errors import PayloadInvalid, WrongWriter
from protocol.schema import Integer, Map
from tests.harness import Chain, Server, hq_rows, wait_until
from tests.photos import png
from tests.vouchers import issue_to

CUP, SOAP, TEA, NUTS, GIFT = "CUP-CERAMIC", "SOAP-BAR", "TEA-OOLONG-250", "SNACK-NUTS", "GIFT-BOX"
CARD = "CARD-0001"


def read_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a live store, read-only through SQLite itself (the servers keep writing)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def branch_log(chain: Chain, branch: str) -> list[Entry]:
    rows = read_rows(chain.root / branch / "node.sqlite", "SELECT entry FROM change_log ORDER BY seq")
    return [decode_entry(bytes(raw)) for (raw,) in rows]


async def hq_feeds(chain: Chain) -> list[Entry]:
    rows = await hq_rows(chain, "SELECT entry FROM feed ORDER BY branch, seq")
    return [decode_entry(bytes(raw)) for (raw,) in rows]


async def written(chain: Chain) -> list[tuple[Writer, Entry]]:
    """Every entry the branches and HQ wrote, with the side that wrote it."""
    logs = [(Writer.BRANCH, entry) for branch in chain.nodes for entry in branch_log(chain, branch)]
    return logs + [(Writer.HQ, entry) for entry in await hq_feeds(chain)]


def broken_promises(
    entries: list[tuple[Writer, Entry]], types: dict[tuple[str, str], EntryType]
) -> list[str]:
    """What in `entries` the contract `types` does not describe, one line each."""
    found = []
    for writer, entry in entries:
        where = f"{entry.origin}#{entry.seq} {entry.kind}/{entry.op}"
        entry_type = types.get((entry.kind, entry.op))
        if entry_type is None:
            found.append(f"{where}: not in the contract")
        elif entry_type.writer is not writer:
            found.append(f"{where}: written to {writer.value}, the contract says {entry_type.writer.value}")
        else:
            try:
                entry_type.check(entry.payload)
            except PayloadInvalid as refused:
                found.append(f"{where}: {refused}")
    return found


async def operator(chain: Chain, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """A request to HQ as its operator Wang of management, who decides conflicts."""
    headers = {"Authorization": f"Bearer {await chain.hq_token('mgr-wang', 'management')}"}
    async with chain.session.request(method, chain.hq.url + path, json=body, headers=headers) as response:
        assert response.status == status, f"{method} {path}: {response.status} {await response.text()}"
        return await response.json()


async def caught_up(chain: Chain, branch: str) -> bool:
    """The branch pushed everything and applied everything HQ's feed holds for it."""
    status = await chain.sync(branch)
    (last,) = await hq_rows(chain, "SELECT COALESCE(MAX(seq), 0) FROM feed WHERE branch = ?", branch)
    return bool(status["hq_reachable"] and status["backlog"] == 0 and status["feed_cursor"] == last[0])


async def settle(chain: Chain) -> None:
    async def all_caught_up() -> bool:
        # Twice round: one branch's push can grow another's feed (a routed transfer).
        for _ in range(2):
            for branch in chain.nodes:
                if not await caught_up(chain, branch):
                    return False
        return True

    await wait_until(all_caught_up, "both branches to catch up with HQ")


async def knows_warehouses(chain: Chain, node: Server, *codes: str) -> bool:
    found = await chain.get(node.url + "/api/warehouses")
    return set(codes) <= {row["code"] for row in found["warehouses"]}


async def post_when_known(chain: Chain, url: str, body: Any) -> Any:
    """POST once the branch has the master data it names (the supplier HQ just added)."""
    answer: dict[str, Any] = {}

    async def booked() -> bool:
        async with chain.session.post(url, json=body, headers={"Idempotency-Key": "once"}) as response:
            if response.status in (200, 201):
                answer.update(await response.json())
                return True
            return False

    await wait_until(booked, f"POST {url} to be accepted")
    return answer


def sale(
    *lines: tuple[str, int], tenders: list[dict[str, Any]], member_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": [{"sku": sku, "qty": qty} for sku, qty in lines], "tenders": tenders}
    if member_id is not None:
        body["member_id"] = member_id
    return body


async def trade_everything(chain: Chain) -> None:
    """Every till and stock endpoint at least once, and the conflicts a partition brings."""
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    await operator(chain, "POST", "/api/categories", {"code": "TEA", "name": "Tea / 茶"})
    # Points rules, so a member's sale carries its points per line and its reasons.
    rule = {"code": "TEA-2X", "name": "Tea 2x", "kind": "category", "target": "TEA", "factor_milli": 2_000}
    await operator(chain, "POST", "/api/points-rules", rule)
    await operator(chain, "POST", "/api/points-settings", {"code": "chain", "combine": "add"})
    # Offers (loyalty.discounts) on a tea nothing below sells, and a rebate no sale reaches.
    window = {"valid_from_ms": "2026-01-01T00:00:00+08:00", "valid_until_ms": "2099-01-01T00:00:00+08:00"}
    special = {"code": "GREEN-WEEK", "name": "Green tea week", "sku": "TEA-GREEN-100", "price_fen": 9_800}
    await operator(chain, "POST", "/api/special-prices", {**special, **window})
    pair = {"code": "GREEN-PAIR", "name": "Two green teas", "price_fen": 20_000, **window}
    await operator(chain, "POST", "/api/bundles", {**pair, "lines": [{"sku": "TEA-GREEN-100", "qty": 2}]})
    rebate = {"code": "BIG-SPEND", "name": "Spend 100,000 get 1,000", "min_spend_fen": 10_000_000}
    await operator(chain, "POST", "/api/rebate-rules", {**rebate, "back_fen": 100_000})
    await operator(chain, "POST", "/api/suppliers", {"code": "SUP-1", "name": "Jingdezhen Wholesale"})
    await operator(
        chain, "POST", "/api/warehouses", {"code": "BR01-BACK", "name": "Back room", "branch": "BR01"}
    )
    await wait_until(
        lambda: knows_warehouses(chain, br01, "BR02-MAIN", "BR01-BACK"), "BR01 to learn the warehouses"
    )

    # Members and cards.
    member = await chain.post(
        br01.url + "/api/members",
        {"name": "Li Lei", "phone": "13900000001", "cards": [CARD]},
    )
    await chain.post(br01.url + "/api/members", {"name": "Han Meimei", "phone": "13900000002"})
    async with chain.session.patch(
        br01.url + f"/api/members/{member['id']}", json={"birthday": "1990-05-01"}
    ) as edited:
        assert edited.status == 200, await edited.text()
    # Her contact history and her photo.
    contact = {"channel": "phone", "note": "asked about the spring promotion"}
    await chain.post(br01.url + f"/api/members/{member['id']}/contacts", contact)
    async with chain.session.put(
        br01.url + f"/api/members/{member['id']}/photo", data=png(8, 8), headers={"Content-Type": "image/png"}
    ) as photographed:
        assert photographed.status == 200, await photographed.text()
    await chain.post(br01.url + f"/api/cards/{CARD}/top-up", {"amount_fen": 30_000})
    for action in ("report_lost", "unlock", "suspend", "resume"):
        await chain.post(br01.url + f"/api/cards/{CARD}/status", {"action": action})

    # Goods in, then sales paid every way.
    receipt = await post_when_known(
        chain,
        br01.url + "/api/receipts",
        {
            "supplier": "SUP-1",
            "lines": [
                {"sku": CUP, "qty": 20, "unit_cost_fen": 1_000},
                {"sku": SOAP, "qty": 12, "unit_cost_fen": 450},
            ],
        },
    )
    cash_sale = await chain.post(
        br01.url + "/api/sales",
        {
            **sale(
                (TEA, 2), (SOAP, 1), tenders=[{"kind": "cash", "amount_fen": 20_000}], member_id=member["id"]
            ),
            "salesperson": "BR01-S01",  # one of HQ's demo employees at BR01
        },
    )
    await settle(chain)  # HQ has seen the top-up, so the card's spend is held online
    await chain.post(
        br01.url + "/api/sales",
        sale((CUP, 1), tenders=[{"kind": "stored_value", "card": CARD, "amount_fen": 2_500}]),
    )
    # A voucher HQ issued her, taken and given back by a return of the whole sale.
    voucher = await issue_to(chain, member["id"], "WELCOME", br01, value_fen=1_000)
    nuts = await chain.post(
        br01.url + "/api/sales",
        sale(
            (NUTS, 1),
            tenders=[
                {"kind": "voucher", "voucher": voucher, "amount_fen": 1_000},
                {"kind": "cash", "amount_fen": 3_000},
            ],
            member_id=member["id"],
        ),
    )
    back = await chain.post(
        f"{br01.url}/api/sales/{nuts['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}
    )
    assert back["vouchers_reinstated"] == [voucher]
    # A card of a type (HQ's demo GOLD-16800), then a haircut paid in its uses.
    await post_when_known(
        chain,
        br01.url + "/api/card-sales",
        {
            "member_id": member["id"],
            "card_type": "GOLD-16800",
            "card": "GOLD-0001",
            "tenders": [{"kind": "cash", "amount_fen": 1_680_000}],
            "salesperson": "BR01-S02",
        },
    )
    uses = [{"kind": "uses", "card": "GOLD-0001", "sku": "SVC-HAIRCUT", "qty": 1}]
    await chain.post(br01.url + "/api/sales", sale(("SVC-HAIRCUT", 1), tenders=uses, member_id=member["id"]))
    # The card's life: renewed, given a password, replaced by a new number.
    renewal = {"tenders": [{"kind": "cash", "amount_fen": 300_000}]}
    await chain.post(br01.url + "/api/cards/GOLD-0001/renew", renewal)
    await chain.post(br01.url + "/api/cards/GOLD-0001/password", {"password": "246810"})
    replacement = {"new_card": "GOLD-0002", "tenders": [{"kind": "cash", "amount_fen": 2_000}]}
    await chain.post(br01.url + "/api/cards/GOLD-0001/replace", replacement)

    # Purchasing, returns and a count.
    order = await chain.post(
        br01.url + "/api/purchase-orders",
        {
            "supplier": "SUP-1",
            "lines": [{"sku": TEA, "qty": 10}, {"sku": NUTS, "qty": 5}],
            "note": "autumn stock",
        },
    )
    await chain.post(
        br01.url + f"/api/purchase-orders/{order['id']}/receipts", {"lines": [{"sku": TEA, "qty": 4}]}
    )
    await chain.post(br01.url + f"/api/purchase-orders/{order['id']}/close", None, status=200)
    await chain.post(
        br01.url + "/api/purchase-returns",
        {"supplier": "SUP-1", "receipt_id": receipt["id"], "lines": [{"sku": CUP, "qty": 2}]},
    )
    await chain.post(
        br01.url + "/api/stocktakes",
        {"lines": [{"sku": SOAP, "counted_qty": 10}, {"sku": NUTS, "counted_qty": 3}]},
    )
    await chain.post(
        br01.url + f"/api/sales/{cash_sale['id']}/returns", {"lines": [{"line_no": 0, "qty": 1}]}
    )

    # Transfers: within BR01, and to BR02, which counts one cup short.
    await chain.post(
        br01.url + "/api/transfers", {"to_warehouse": "BR01-BACK", "lines": [{"sku": SOAP, "qty": 2}]}
    )
    sent = await chain.post(
        br01.url + "/api/transfers",
        {"to_warehouse": "BR02-MAIN", "lines": [{"sku": CUP, "qty": 3}], "note": "for BR02"},
    )
    await settle(chain)
    await chain.post(
        br02.url + f"/api/transfers/{sent['id']}/discrepancies",
        {"lines": [{"sku": CUP, "received_qty": 2}], "note": "one arrived broken"},
    )
    await settle(chain)

    # HQ away: one phone registered at both branches, one card overdrawn by both.
    await chain.hq.stop()
    await chain.post(
        br01.url + "/api/members", {"name": "Zhao Min", "phone": "13900000099", "cards": ["DUP-A"]}
    )
    await chain.post(
        br02.url + "/api/members", {"name": "Zhao Min", "phone": "13900000099", "cards": ["DUP-B"]}
    )
    gift = sale(
        (GIFT, 1),
        tenders=[
            {"kind": "stored_value", "card": CARD, "amount_fen": 20_000},
            {"kind": "cash", "amount_fen": 9_900},
        ],
    )
    for node in (br01, br02):
        paid = await chain.post(node.url + "/api/sales", gift)
        assert paid["tenders"][0]["mode"] == "offline"
    await chain.hq.start()
    await settle(chain)

    conflicts = (await operator(chain, "GET", "/api/conflicts?state=open"))["conflicts"]
    actions = {"duplicate_member": "separate", "overdraft": "write_off"}
    assert sorted(c["kind"] for c in conflicts) == sorted(actions)
    for conflict in conflicts:
        await operator(
            chain,
            "POST",
            f"/api/conflicts/{conflict['id']}/resolve",
            {"action": actions[conflict["kind"]], "note": "settled at the month's close"},
        )
    # A member level, and the members graded into it.
    level = {"code": "REGULAR", "name": "Regular / 常客", "rank": 1, "min_visits": 1}
    await operator(chain, "POST", "/api/levels", level)
    assert (await operator(chain, "POST", "/api/levels/grade"))["changed"]
    await settle(chain)
    # A level above it bought with points (member/buy_level), by a member who earns some first.
    vip = {"code": "VIP", "name": "VIP / 贵宾", "rank": 2, "min_spend_fen": 100_000_000, "points_price": 10}
    await operator(chain, "POST", "/api/levels", vip)
    await settle(chain)
    cup = sale((CUP, 1), tenders=[{"kind": "cash", "amount_fen": 2_500}], member_id=member["id"])
    await chain.post(br01.url + "/api/sales", cup)
    await chain.post(br01.url + f"/api/members/{member['id']}/level/buy", {"level": "VIP"}, status=201)
    await settle(chain)
    # A shop that opens past midnight: its day starts at 04:00 (branch/business_day).
    # It has a virtual card reader too, whose state goes into its log (branch/devices).
    await br02.stop()
    config = load_config(chain.root / "BR02")
    devices = dataclasses.replace(config, business_day_starts_at="04:00", reader={"url": "virtual"})
    save_config(chain.root / "BR02", devices)
    await br02.start()

    async def devices_logged() -> bool:
        branches = (await chain.get(chain.hq.url + "/api/branches"))["branches"]
        return any(b["code"] == "BR02" and b["devices"] is not None for b in branches)

    await wait_until(devices_logged, "BR02's devices to reach HQ")
    await settle(chain)


async def test_every_entry_a_node_and_hq_write_keeps_the_contract(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attached, "ANNOUNCE_EVERY_S", 0.2)  # the devices' health at once
    # A woken feed read waits FEED_LINGER_S (1 s) for what follows a change; this test
    # checks what is written, not how it is paged (tests/hq/test_feed_linger.py), and
    # would sit out that second at every settle.
    monkeypatch.setattr("hq.service.FEED_LINGER_S", 0.05)
    await trade_everything(chain)
    entries = await written(chain)

    assert broken_promises(entries, dict(ENTRY_TYPES)) == []
    for writer, entry in entries:  # the same, through the reader's own call
        assert contract.check_entry(entry, writer) is ENTRY_TYPES[(entry.kind, entry.op)]
    seen = {(entry.kind, entry.op) for _, entry in entries}
    assert seen - set(ENTRY_TYPES) == set(), "written but not in the contract"
    assert set(ENTRY_TYPES) - seen == set(), "in the contract but not exercised here"

    # The check has teeth: a contract that bounds a sale at one yuan, or that
    # expects sales in HQ's feed, finds the real entries that break it.
    checkout = contract.SALE_CHECKOUT
    schema = checkout.schema
    assert isinstance(schema, Map)
    one_yuan = dataclasses.replace(
        checkout,
        schema=dataclasses.replace(schema, required={**schema.required, "total_fen": Integer(0, 100)}),
    )
    wrong = broken_promises(entries, {**ENTRY_TYPES, ("sale", "checkout"): one_yuan})
    sales = [e for _, e in entries if (e.kind, e.op) == ("sale", "checkout")]
    # cash, stored value, voucher, a card's haircut, two gift boxes, the cup before the level
    assert len(wrong) == len(sales) == 7
    assert all("total_fen must be an integer from 0 to 100" in line for line in wrong)
    hq_side = dataclasses.replace(checkout, writer=Writer.HQ)
    assert len(broken_promises(entries, {**ENTRY_TYPES, ("sale", "checkout"): hq_side})) == 7
    with pytest.raises(WrongWriter):
        contract.check_entry(sales[0], Writer.HQ)
