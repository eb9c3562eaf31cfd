"""HQ routes transfers between branches: a send reaches the destination's feed once,
is listed in transit with its age, becomes received with the destination's receive
entry, and the source is told, once.

The figures: BR01 receives 10 cups at 10.00 (10,000 fen, moving average) and sends
4 to BR02-MAIN: 4,000 fen leave BR01-MAIN and are in transit until BR02 books them.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from hq.api import HQ_KEY
from hq.storage.base import HQStore, main_warehouse
from hq.storage.inventory_records import TransferLine
from node.config import read_private_key
from protocol import messages
from protocol.batch import sign_batch
from protocol.entry import Entry, decode_entry
from protocol.signing import public_key_bytes
from tests.harness import Chain, wait_until
from tests.hq.operator import author, settle
from tests.hq.test_storage_contract import DAY_MS, NOW_MS, Branch, feed, sales

CUP = "CUP-CERAMIC"
MSGPACK = "application/x-msgpack"


async def hq_feed(chain: Chain, branch: str) -> list[Entry]:
    raws, _ = await chain.hq.app[HQ_KEY].store.feed_after(branch, 0, 10_000, 1 << 30)
    return [decode_entry(raw) for raw in raws]


def node_log(chain: Chain, branch: str) -> list[Entry]:
    with sqlite3.connect(chain.root / branch / "node.sqlite") as conn:
        return [
            decode_entry(bytes(row[0])) for row in conn.execute("SELECT entry FROM change_log ORDER BY seq")
        ]


async def hq_transfers(chain: Chain, state: str) -> list[dict[str, Any]]:
    listing = await chain.get(chain.hq.url + "/api/transfers", params={"state": state})
    found: list[dict[str, Any]] = listing["transfers"]
    return found


async def test_a_transfer_reaches_its_destination_once_and_its_receipt_reaches_the_source(
    chain: Chain,
) -> None:
    br01 = await chain.add_node("BR01")
    br02 = await chain.add_node("BR02")
    await author(chain, "suppliers", {"code": "SUP-LI", "name": "Li Tea Co."})
    await settle(chain, "BR01", "BR02")  # BR01 knows the supplier and BR02-MAIN
    await chain.post(
        br01.url + "/api/receipts",
        {"supplier": "SUP-LI", "lines": [{"sku": CUP, "qty": 10, "unit_cost_fen": 1_000}]},
    )
    await br02.stop()  # the destination is closed: the goods stay in transit

    sent = await chain.post(
        br01.url + "/api/transfers", {"to_warehouse": "BR02-MAIN", "lines": [{"sku": CUP, "qty": 4}]}
    )
    assert (sent["cost_fen"], sent["to_branch"]) == (4_000, "BR02")

    async def in_transit() -> bool:
        return [t["id"] for t in await hq_transfers(chain, "in_transit")] == [sent["id"]]

    await wait_until(in_transit, "HQ to list the transfer in transit")
    asked_ms = time.time_ns() // 1_000_000
    (listed,) = await hq_transfers(chain, "in_transit")
    answered_ms = time.time_ns() // 1_000_000
    # Its age is HQ's clock when it answered less the sending: between what ours read around the call.
    sent_at_ms = listed["sent_at_ms"]
    assert asked_ms - sent_at_ms <= listed["age_ms"] <= answered_ms - sent_at_ms
    assert listed["sent_at_ms"] == sent["sent_at_ms"]
    assert (
        listed["source_branch"],
        listed["from_warehouse"],
        listed["to_branch"],
        listed["to_warehouse"],
    ) == (
        "BR01",
        "BR01-MAIN",
        "BR02",
        "BR02-MAIN",
    )
    assert (listed["delivered"], listed["lines"]) == (True, [{"sku": CUP, "qty": 4, "cost_fen": 4_000}])

    # BR02's feed holds the send as BR01 signed it, less its stock moves, once.
    (send_entry,) = [e for e in node_log(chain, "BR01") if (e.kind, e.op) == ("transfer", "send")]
    deliveries = [e for e in await hq_feed(chain, "BR02") if (e.kind, e.op) == ("transfer", "deliver")]
    assert [(e.entity_id, e.payload) for e in deliveries] == [
        (sent["id"], {key: value for key, value in send_entry.payload.items() if key != "moves"})
    ]
    stock = await chain.get(chain.hq.url + "/api/stock")
    assert [(w["warehouse"], w["qty"], w["cost_fen"]) for w in stock["warehouses"]] == [
        ("BR01-MAIN", 6, 6_000)
    ]
    assert stock["in_transit"] == {"qty": 4, "cost_fen": 4_000}
    (cups,) = [row for row in stock["skus"] if row["sku"] == CUP]
    assert (cups["qty"], cups["in_transit_qty"], cups["in_transit_cost_fen"]) == (6, 4, 4_000)
    page = await chain.session.get(chain.hq.url + "/status")
    assert "1 transfer in transit" in await page.text()

    # BR01's whole log offered again (a retry after a lost acknowledgement): nothing new.
    key = read_private_key(chain.root / "BR01" / "node.key")
    log = node_log(chain, "BR01")
    body = messages.encode(messages.PushRequest(sign_batch(key, "BR01", log), reported_backlog=0))
    async with chain.session.post(
        chain.hq.url + "/api/push", data=body, headers={"Content-Type": MSGPACK}
    ) as response:
        assert response.status == 200
        ack = messages.decode(await response.read())
    assert isinstance(ack, messages.PushAck)
    assert (ack.applied, ack.duplicates) == (0, len(log))
    assert len([e for e in await hq_feed(chain, "BR02") if e.op == "deliver"]) == 1

    await br02.start()

    async def received() -> bool:
        source = await chain.get(f"{br01.url}/api/transfers/{sent['id']}")
        return source["state"] == "received" and not await hq_transfers(chain, "in_transit")

    await wait_until(received, "BR02 to book the goods and BR01 to hear of it")
    shown = await chain.get(f"{chain.hq.url}/api/transfers/{sent['id']}")
    assert (shown["state"], shown["age_ms"], shown["discrepancies"]) == ("received", None, [])
    notices = [e for e in await hq_feed(chain, "BR01") if e.kind == "transfer"]
    assert [(e.op, e.payload) for e in notices] == [
        ("received", {"id": sent["id"], "to_branch": "BR02", "received_at_ms": shown["received_at_ms"]})
    ]
    assert [t["id"] for t in await hq_transfers(chain, "received")] == [sent["id"]]
    await settle(chain, "BR01", "BR02")
    stock = await chain.get(chain.hq.url + "/api/stock", params={"sku": CUP})
    assert [(w["warehouse"], w["qty"], w["cost_fen"]) for w in stock["warehouses"]] == [
        ("BR01-MAIN", 6, 6_000),
        ("BR02-MAIN", 4, 4_000),
    ]
    assert stock["in_transit"] == {"qty": 0, "cost_fen": 0}
    assert "No transfer is in transit" in await (await chain.session.get(chain.hq.url + "/status")).text()

    # BR02 counted 3, not 4: a discrepancy record, the transfer itself unchanged.
    await chain.post(
        f"{br02.url}/api/transfers/{sent['id']}/discrepancies",
        {"lines": [{"sku": CUP, "received_qty": 3}], "note": "one cup broken"},
    )

    async def discrepancy_at_hq() -> bool:
        return bool((await chain.get(chain.hq.url + "/api/transfers/discrepancies"))["discrepancies"])

    await wait_until(discrepancy_at_hq, "HQ to learn of the discrepancy")
    (found,) = (await chain.get(chain.hq.url + "/api/transfers/discrepancies"))["discrepancies"]
    assert {key: found[key] for key in ("transfer_id", "branch", "sku", "sent_qty", "received_qty")} == {
        "transfer_id": sent["id"],
        "branch": "BR02",
        "sku": CUP,
        "sent_qty": 4,
        "received_qty": 3,
    }
    assert (found["difference_qty"], found["cost_fen"], found["note"]) == (-1, -1_000, "one cup broken")
    shown = await chain.get(f"{chain.hq.url}/api/transfers/{sent['id']}")
    assert (shown["state"], len(shown["discrepancies"])) == ("received", 1)
    stock = await chain.get(chain.hq.url + "/api/stock", params={"warehouse": "BR02-MAIN"})
    assert [(w["warehouse"], w["qty"], w["cost_fen"]) for w in stock["warehouses"]] == [
        ("BR02-MAIN", 3, 3_000)
    ]


async def test_unknown_transfers_and_states_are_refused(chain: Chain) -> None:
    async with chain.session.get(chain.hq.url + "/api/transfers/no-such-id") as response:
        assert (response.status, (await response.json())["error"]) == (404, "not_found")
    async with chain.session.get(chain.hq.url + "/api/transfers", params={"state": "lost"}) as response:
        assert (response.status, (await response.json())["error"]) == (400, "invalid_query")


# -- the routing rules, at the store ------------------------------------------------------------

# `store` (tests/hq/conftest.py) is each HQ storage backend: the routing rules are part of
# the storage contract.


async def enroll(store: HQStore, branch: Branch) -> list[str]:
    await store.add_enroll_token(branch.code, f"hash-{branch.code}", NOW_MS + DAY_MS)
    return await store.redeem_enroll_token(
        f"hash-{branch.code}",
        branch.code,
        public_key_bytes(branch.key),
        NOW_MS,
        NOW_MS,
        main_warehouse(branch.code),
    )


def transfer_payload(transfer_id: str, source: str, to_branch: str, qty: int = 4) -> dict[str, Any]:
    return {
        "id": transfer_id,
        "source_branch": source,
        "from_warehouse": f"{source}-MAIN",
        "to_branch": to_branch,
        "to_warehouse": f"{to_branch}-MAIN",
        "lines": [{"sku": CUP, "qty": qty, "cost_fen": 1_000 * qty}],
        "cost_fen": 1_000 * qty,
    }


def send(branch: Branch, transfer_id: str, to_branch: str, qty: int = 4) -> Entry:
    payload = transfer_payload(transfer_id, branch.code, to_branch, qty)
    moves = [
        {
            "warehouse": f"{branch.code}-MAIN",
            "sku": CUP,
            "qty": -qty,
            "cost_fen": -1_000 * qty,
            "cause": "transfer_out",
        }
    ]
    return branch.write(
        "transfer", transfer_id, "send", {**payload, "note": None, "sent_at_ms": NOW_MS, "moves": moves}
    )


def receive(branch: Branch, transfer_id: str, source: str, qty: int = 4) -> Entry:
    payload = transfer_payload(transfer_id, source, branch.code, qty)
    moves = [
        {
            "warehouse": f"{branch.code}-MAIN",
            "sku": CUP,
            "qty": qty,
            "cost_fen": 1_000 * qty,
            "cause": "transfer_in",
        }
    ]
    return branch.write(
        "transfer", transfer_id, "receive", {**payload, "received_at_ms": NOW_MS + 5, "moves": moves}
    )


def routed(entries: list[Entry]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.op, e.entity_id) for e in entries if e.kind == "transfer"]


async def test_a_transfer_to_a_branch_not_yet_enrolled_is_delivered_after_its_snapshot(
    store: HQStore,
) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    send(br01, "T1", "BR02")
    result = await store.ingest(br01.batch(1, 1), NOW_MS, 0)
    assert result.feeds_grown == ()
    assert [t.delivered for t in await store.transfers("in_transit")] == [False]

    assert await enroll(store, br02) == ["BR01"]  # BR01 learns BR02-MAIN
    entries = await feed(store, "BR02")
    assert [(e.kind, e.entity_id) for e in entries] == [
        ("warehouse", "BR01-MAIN"),
        ("warehouse", "BR02-MAIN"),
        ("transfer", "T1"),
    ]
    assert entries[-1].op == "deliver"
    assert "moves" not in entries[-1].payload
    assert [t.delivered for t in await store.transfers("in_transit")] == [True]


async def test_a_second_send_under_the_same_id_is_routed_no_further(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    send(br01, "T1", "BR02")
    send(br01, "T1", "BR02", qty=5)  # a broken node signing the id twice
    result = await store.ingest(br01.batch(1, 2), NOW_MS, 0)
    assert result.feeds_grown == ("BR02",)
    assert routed(await feed(store, "BR02")) == [("transfer", "deliver", "T1")]
    (transfer,) = await store.transfers(None)
    assert (transfer.lines, transfer.cost_fen) == ((TransferLine(CUP, 4, 4_000),), 4_000)
    # Both sends' stock moves count: HQ mirrors what BR01's ledger did.
    assert [(r.warehouse, r.qty) for r in await store.stock_levels(None, None)] == [("BR01-MAIN", -9)]


async def test_a_receive_before_its_send_is_kept_and_the_late_send_is_not_delivered(store: HQStore) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    receive(br02, "T1", "BR01")
    result = await store.ingest(br02.batch(1, 1), NOW_MS, 0)
    assert result.feeds_grown == ("BR01",)
    (transfer,) = await store.transfers("received")
    assert (transfer.sent_at_ms, transfer.received_at_ms) == (None, NOW_MS + 5)

    send(br01, "T1", "BR02")
    assert (await store.ingest(br01.batch(1, 1), NOW_MS, 0)).feeds_grown == ()
    assert routed(await feed(store, "BR02")) == []
    assert routed(await feed(store, "BR01")) == [("transfer", "received", "T1")]
    (transfer,) = await store.transfers("received")
    assert transfer.sent_at_ms == NOW_MS  # the send fills in what the receive could not say


async def test_a_transfer_within_one_branch_is_not_routed(store: HQStore) -> None:
    br01 = Branch("BR01")
    await enroll(store, br01)
    payload = transfer_payload("T1", "BR01", "BR01")
    payload["to_warehouse"] = "BR01-BACK"
    br01.write(
        "transfer", "T1", "send", {**payload, "note": "to the back", "sent_at_ms": NOW_MS, "moves": []}
    )
    br01.write("transfer", "T1", "receive", {**payload, "received_at_ms": NOW_MS, "moves": []})
    assert (await store.ingest(br01.batch(1, 2), NOW_MS, 0)).feeds_grown == ()
    assert routed(await feed(store, "BR01")) == []
    (transfer,) = await store.transfers("received")
    assert (transfer.to_warehouse, transfer.note, transfer.delivered) == (
        "BR01-BACK",
        "to the back",
        False,
    )


def _ill_formed_sends() -> list[Any]:
    good = {**transfer_payload("T1", "BR01", "BR02"), "note": None, "sent_at_ms": NOW_MS, "moves": []}
    return [
        pytest.param({**good, "source_branch": "BR03"}, id="another-branchs-transfer"),
        pytest.param({**good, "to_branch": "BR 02"}, id="destination-not-a-branch-code"),
        pytest.param({**good, "lines": []}, id="no-lines"),
        pytest.param({**good, "lines": [{"sku": CUP, "qty": 0, "cost_fen": 0}]}, id="line-qty-zero"),
        pytest.param({**good, "cost_fen": "4000"}, id="cost-text"),
        pytest.param(
            {**good, "moves": [{"warehouse": "BR01-MAIN", "sku": CUP, "qty": "-4"}]}, id="move-qty-text"
        ),
        pytest.param({**good, "moves": {"BR01-MAIN": -4}}, id="moves-not-a-list"),
        pytest.param({key: value for key, value in good.items() if key != "sent_at_ms"}, id="no-sent-at"),
    ]


@pytest.mark.parametrize("payload", _ill_formed_sends())
async def test_an_ill_formed_send_is_stored_routes_nothing_and_the_entries_after_it_apply(
    store: HQStore, payload: Any
) -> None:
    br01, br02 = Branch("BR01"), Branch("BR02")
    await enroll(store, br01)
    await enroll(store, br02)
    br01.sell("S1", 2_500)
    br01.write("transfer", "T1", "send", payload)
    br01.sell("S3", 2_500)
    result = await store.ingest(br01.batch(1, 3), NOW_MS, 0)
    assert [q.seq for q in result.quarantined] == [2]
    assert "BR01#2" in result.quarantined[0].message
    assert await store.transfers(None) == []
    assert routed(await feed(store, "BR02")) == []
    assert await sales(store, "BR01") == (2, 5_000)
    branch = await store.branch("BR01")
    assert branch is not None
    assert (branch.acked_seq, branch.effects_quarantined) == (3, 1)
