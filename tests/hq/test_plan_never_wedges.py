"""Planning a validly signed entry never fails the push: whatever its payload, hq.plan
either plans its effect or sets it aside with a refusal, and an entry set aside
leaves nothing of itself in the plan. A payload that made planning raise anything
else would be refused on every retry and wedge the branch's replication.

Payloads are drawn two ways: any map of the field names the planners read, and a
well-formed payload of each kind with some of its fields, at any depth, dropped
or replaced by anything (which reaches the checks deep inside a line or a move).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hq import inventory_plan
from hq.plan import _HANDLERS, Plan, plan_entries
from hq.storage.base import IngestResult
from hq.storage.sqlite import enrollment, feeds, ingest
from hq.storage.sqlite.schema import migrate
from protocol import hlc
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.hlc import HybridLogicalClock
from protocol.signing import public_key_bytes
from tests.hq.test_storage_contract import NOW_MS, Branch
from tests.protocol.strategies import PROPERTY

KINDS = sorted({*_HANDLERS, *inventory_plan.HANDLERS, ("purchase_order", "create")})
# Every field name a planner reads, so generated payloads reach past the first check.
FIELDS = (
    "amount",
    "amount_fen",
    "at_ms",
    "birthday",
    "branch",
    "card_id",
    "cards",
    "cause",
    "correction_fen",
    "cost_fen",
    "from_warehouse",
    "hold",
    "home_branch",
    "id",
    "kind",
    "ledger",
    "line_no",
    "lines",
    "moves",
    "name",
    "note",
    "payable",
    "phone",
    "qty",
    "received_at_ms",
    "received_qty",
    "seen",
    "sent_at_ms",
    "sent_qty",
    "sku",
    "source_branch",
    "supplier",
    "to_branch",
    "to_warehouse",
    "total_fen",
    "transfer_id",
    "variance_fen",
    "voucher_id",
    "warehouse",
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from(
        ["BR01", "BR02", "BR01-MAIN", "CUP", "stored_value", "top_up", "spend", "report_lost", ""]
    )
    | st.text(max_size=8)
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=8),
    max_leaves=24,
)
payloads = st.dictionaries(st.sampled_from(FIELDS), values, max_size=14) | values


def moves(cause: str, qty: int = -1, cost_fen: int = -1_000) -> list[dict[str, Any]]:
    return [{"warehouse": "BR01-MAIN", "sku": "CUP", "qty": qty, "cost_fen": cost_fen, "cause": cause}]


TRANSFER = {
    "id": "T1",
    "source_branch": "BR01",
    "from_warehouse": "BR01-MAIN",
    "to_branch": "BR02",
    "to_warehouse": "BR02-MAIN",
    "lines": [{"sku": "CUP", "qty": 4, "cost_fen": 4_000}],
    "cost_fen": 4_000,
}
# One payload of each kind as a branch writes it (it keeps the wire contract).
WELL_FORMED: dict[tuple[str, str], Any] = {
    ("sale", "checkout"): {
        "member_id": None,
        "warehouse": "BR01-MAIN",
        "at_ms": 1_714_550_400_000,
        "lines": [{"sku": "CUP", "qty": 1, "unit_price_fen": 2_500, "amount_fen": 2_500, "cost_fen": 1_000}],
        "tenders": [{"kind": "cash", "amount_fen": 2_500}],
        "total_fen": 2_500,
        "change_fen": 0,
        "moves": moves("sale"),
    },
    ("member", "register"): {"home_branch": "BR01", "name": "Li", "phone": "139", "cards": ["K-1"]},
    ("member", "edit"): {"name": "Li", "birthday": None},
    ("card", "event"): {"card_id": "K-1", "kind": "unlock", "seen": ["E0"]},
    ("ledger", "entry"): {
        "card_id": "K-1",
        "ledger": "stored_value",
        "kind": "spend",
        "amount": -100,
        "hold": "H1",
    },
    ("voucher", "redeem"): {"voucher_id": "V1", "amount_fen": 500, "sale_id": "S1"},
    ("voucher", "reinstate"): {"voucher_id": "V1", "redemption_id": "E1", "sale_id": "S1", "return_id": "R1"},
    ("transfer", "send"): {
        **TRANSFER,
        "note": None,
        "sent_at_ms": 1,
        "moves": moves("transfer_out", -4, -4_000),
    },
    ("transfer", "receive"): {
        **TRANSFER,
        "to_branch": "BR01",
        "source_branch": "BR02",
        "received_at_ms": 1,
        "moves": moves("transfer_in", 4, 4_000),
    },
    ("transfer", "discrepancy"): {
        "id": "D1",
        "transfer_id": "T1",
        "branch": "BR01",
        "warehouse": "BR01-MAIN",
        "note": None,
        "at_ms": 1,
        "lines": [{"line_no": 0, "sku": "CUP", "sent_qty": 4, "received_qty": 3, "cost_fen": 1_000}],
        "moves": moves("transfer_discrepancy"),
    },
    ("receipt", "post"): {
        "id": "R1",
        "order_id": None,
        "supplier": "SUP",
        "warehouse": "BR01-MAIN",
        "lines": [{"sku": "CUP", "qty": 1, "unit_cost_fen": 1_000, "amount_fen": 1_000}],
        "amount_fen": 1_000,
        "at_ms": 1,
        "payable": {"id": "P1", "supplier": "SUP", "amount_fen": 1_000},
        "moves": moves("purchase", 1, 1_000),
    },
    ("purchase_return", "post"): {
        "id": "PR1",
        "supplier": "SUP",
        "warehouse": "BR01-MAIN",
        "receipt_id": None,
        "lines": [{"sku": "CUP", "qty": 1, "unit_cost_fen": 1_000, "amount_fen": 1_000, "cost_fen": 1_000}],
        "amount_fen": 1_000,
        "cost_fen": 1_000,
        "at_ms": 1,
        "payable": {"id": "P2", "supplier": "SUP", "amount_fen": -1_000},
        "moves": moves("purchase_return"),
    },
}


@st.composite
def spoiled(draw: st.DrawFn, value: Any) -> Any:
    """`value` with some parts, at any depth, dropped or replaced by anything."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(values)
    if isinstance(value, dict):
        kept = {}
        for key, inner in value.items():
            if draw(st.integers(0, 9)) != 0:
                kept[key] = draw(spoiled(inner))
        return kept
    if isinstance(value, list):
        return [draw(spoiled(inner)) for inner in value]
    return value


def entry_of(kind: str, op: str, payload: Any) -> Entry:
    return encode_entry(
        origin="BR01",
        seq=7,
        hlc=hlc.pack(1_714_550_400_000),
        prev_hash=GENESIS_HASH,
        kind=kind,
        entity_id="E1",
        op=op,
        payload=payload,
    )


def is_empty(plan: Plan) -> bool:
    stock = plan.inventory
    return not (
        plan.sales
        or plan.members
        or plan.directory
        or stock.moves
        or stock.transfers
        or stock.discrepancies
        or stock.payables
    )


def planned_or_set_aside(entry: Entry) -> None:
    plan = plan_entries([entry])
    if plan.refused:
        (refused,) = plan.refused
        assert refused.entry is entry
        assert is_empty(plan)


@PROPERTY
@given(kind_op=st.sampled_from(KINDS), payload=payloads)
def test_any_payload_is_planned_or_set_aside_never_raised(kind_op: tuple[str, str], payload: Any) -> None:
    planned_or_set_aside(entry_of(*kind_op, payload))


@PROPERTY
@given(data=st.data(), kind_op=st.sampled_from(sorted(WELL_FORMED)))
def test_a_well_formed_payload_spoiled_anywhere_is_planned_or_set_aside_never_raised(
    data: st.DataObject, kind_op: tuple[str, str]
) -> None:
    planned_or_set_aside(entry_of(*kind_op, data.draw(spoiled(WELL_FORMED[kind_op]))))


def test_every_well_formed_payload_is_planned() -> None:
    for kind_op, payload in WELL_FORMED.items():
        assert plan_entries([entry_of(*kind_op, payload)]).refused == [], kind_op


def test_a_ledger_entry_naming_its_ledger_with_a_list_is_set_aside() -> None:
    """Found by the property above: the ledger's name was looked up before it was
    checked to be text, and a list raised TypeError, failing every retry of the push."""
    payload = {"card_id": "K-1", "ledger": [], "kind": "top_up", "amount": 100}
    (refused,) = plan_entries([entry_of("ledger", "entry", payload)]).refused
    # The wire contract now names it first: the ledger must be one of the ledger words.
    assert refused.refusal.code == "payload_invalid"


class SqliteHQ:
    """HQ's SQLite ingest driven synchronously, one transaction per batch, as the
    store's thread runs it: fast enough to push every example through real SQLite."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        migrate(self.conn)
        self.clock = HybridLogicalClock(0)
        self.branch = Branch("BR01")
        for code, key in (("BR01", public_key_bytes(self.branch.key)), ("BR02", bytes(32))):
            self._tx(enrollment.add_token, code, f"hash-{code}", NOW_MS + 1)
            self._tx(
                enrollment.redeem,
                feeds.FeedAppender(self.clock, NOW_MS),
                f"hash-{code}",
                code,
                key,
                NOW_MS,
                None,
            )

    def _tx(self, fn: Any, *args: Any) -> Any:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self.conn, *args)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return result

    def push(self, writes: list[tuple[tuple[str, str], str, Any]]) -> IngestResult:
        first = len(self.branch.entries) + 1
        for (kind, op), entity_id, payload in writes:
            self.branch.write(kind, entity_id, op, payload)
        batch = self.branch.batch(first, len(self.branch.entries))
        try:
            result = self._tx(ingest.ingest, self.clock, batch, NOW_MS, 0)
        except BaseException:
            del self.branch.entries[first - 1 :]  # HQ stored none of them: the next example starts clean
            raise
        assert isinstance(result, IngestResult)
        return result


@pytest.fixture(scope="module")
def sqlite_hq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteHQ]:
    hq = SqliteHQ(tmp_path_factory.mktemp("hq") / "hq.sqlite")
    yield hq
    hq.conn.close()


# Few ids, so records clash: a sale id booked twice, two ledger entries under one id.
entity_ids = st.sampled_from(["E1", "E2", "E3"])
writes = st.lists(
    st.sampled_from(sorted(WELL_FORMED)).flatmap(
        lambda kind_op: st.tuples(st.just(kind_op), entity_ids, spoiled(WELL_FORMED[kind_op]))
    ),
    min_size=1,
    max_size=4,
)


def test_a_voucher_reused_for_more_than_hqs_integers_hold_is_set_aside(sqlite_hq: SqliteHQ) -> None:
    """Found by the property below: the queue's record of a reused voucher could not store
    an amount past 2**63 - 1, and the push failed on every retry."""
    redeem = ("voucher", "redeem")
    result = sqlite_hq.push(
        [
            (redeem, "V-E1", {"voucher_id": "V-BIG", "amount_fen": 2**64 - 1}),
            (redeem, "V-E2", {"voucher_id": "V-BIG", "amount_fen": 2**64 - 1}),
        ]
    )
    # The wire contract bounds a voucher's amount as a tender's: it is refused there.
    assert [q.code for q in result.quarantined] == ["payload_invalid", "payload_invalid"]


@PROPERTY
@given(batch=writes)
def test_any_batch_of_spoiled_entries_is_stored_and_acknowledged_whole(
    sqlite_hq: SqliteHQ, batch: list[tuple[tuple[str, str], str, Any]]
) -> None:
    result = sqlite_hq.push(batch)

    assert result.acked_seq == len(sqlite_hq.branch.entries)
    assert result.applied == len(batch)
