"""Anything a node can commit, HQ applies.

Payloads are drawn from the wire contract's own schemas (tests/protocol/
contract_strategies.py), for every entry type a branch writes, and set as a node
sets them: a branch writes only its own side of a document, so the branch fields
that name the writer name it. HQ must read every such entry (never refuse it as
ill-formed), and apply its effect, unless a figure is beyond what HQ is willing to
count (its business bounds, code `out_of_bounds`): then the entry is stored, its
effect set aside, and the branch is not wedged. A contract looser than HQ's
reading, the bug that once wedged a branch on a receipt of 10^15 fen, fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hq.plan import plan_entries
from protocol.contract import (
    BRANCH_ENTRY_TYPES,
    CARD_ISSUE,
    SALE_CHECKOUT,
    TRANSFER_DISCREPANCY,
    TRANSFER_RECEIVE,
    TRANSFER_SEND,
    EntryType,
)
from protocol.errors import MalformedMessage
from tests.hq.test_plan_never_wedges import SqliteHQ, entry_of
from tests.protocol.contract_strategies import values

BRANCH = "BR01"
# What HQ may set aside of an entry the contract admits: a figure beyond its own bounds.
HQ_BUSINESS_CODES = frozenset({"out_of_bounds"})
# The branch fields of a document that name its writer: HQ trusts a branch's log for
# that branch's side only, and a node fills them with its own code.
OWN_SIDE: dict[tuple[str, str], str] = {
    TRANSFER_SEND.key: "source_branch",
    TRANSFER_RECEIVE.key: "to_branch",
    TRANSFER_DISCREPANCY.key: "branch",
}
# Drawn payloads filter a rule across fields through (tests.protocol.strategies).
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


# The warehouse a node writes its documents and stock moves in: one of its own (hq.trust).
OWN_WAREHOUSE = f"{BRANCH}-MAIN"
# A node sells a card number once (card_taken otherwise): each drawn card sale gets its own.
_card_numbers = iter(range(10**9))


def as_written(entry_type: EntryType, payload: Any) -> Any:
    if not isinstance(payload, dict):
        return payload
    field = OWN_SIDE.get(entry_type.key)
    if field is not None:
        payload = {**payload, field: BRANCH}
    if "warehouse" in payload:
        payload = {**payload, "warehouse": OWN_WAREHOUSE}
    if isinstance(payload.get("moves"), list):
        moves = [{**move, "warehouse": OWN_WAREHOUSE} for move in payload["moves"]]
        payload = {**payload, "moves": moves}
    if entry_type.key == CARD_ISSUE.key:
        payload = {**payload, "card_id": f"card-{next(_card_numbers)}"}
    return payload


def committable(entry_type: EntryType) -> st.SearchStrategy[Any]:
    return values(entry_type.schema).map(lambda payload: as_written(entry_type, payload))


def refusals_beyond_business(refused: list[Any]) -> list[str]:
    return [
        f"{r.entry.kind}/{r.entry.op}: {r.refusal.code}: {r.refusal}"
        for r in refused
        if r.refusal.code not in HQ_BUSINESS_CODES
    ]


@PROPERTY
@given(data=st.data(), entry_type=st.sampled_from(BRANCH_ENTRY_TYPES))
def test_hq_plans_anything_a_node_can_commit(data: st.DataObject, entry_type: EntryType) -> None:
    payload = data.draw(committable(entry_type))
    plan = plan_entries([entry_of(entry_type.kind, entry_type.op, payload)])
    assert refusals_beyond_business(plan.refused) == []


@pytest.fixture(scope="module")
def sqlite_hq(tmp_path_factory: pytest.TempPathFactory) -> Any:
    hq = SqliteHQ(tmp_path_factory.mktemp("hq") / "hq.sqlite")
    yield hq
    hq.conn.close()


_ids = iter(range(10**9))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(data=st.data(), kinds=st.lists(st.sampled_from(BRANCH_ENTRY_TYPES), min_size=1, max_size=4))
def test_hq_stores_and_applies_anything_a_node_can_commit(
    sqlite_hq: SqliteHQ, data: st.DataObject, kinds: list[EntryType]
) -> None:
    """Through real SQLite ingest, in batches: every entry acknowledged, none refused."""
    writes = [
        ((entry_type.kind, entry_type.op), f"E{next(_ids)}", data.draw(committable(entry_type)))
        for entry_type in kinds
    ]
    first = len(sqlite_hq.branch.entries) + 1
    result = sqlite_hq.push(writes)
    assert result.acked_seq == first + len(writes) - 1
    assert [
        f"{q.kind}/{q.op}: {q.code}: {q.message}"
        for q in result.quarantined
        if q.code not in HQ_BUSINESS_CODES
    ] == []


def test_the_property_fails_when_hq_reads_more_strictly_than_the_contract(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A planner that insists on a field the contract leaves optional (points_earned,
    which sales written before points existed lack) refuses what a node may commit:
    the property's check names that refusal."""
    import hq.plan

    real_sale = hq.plan._HANDLERS[SALE_CHECKOUT.key]

    def strict_sale(plan: hq.plan.Plan, entry: Any) -> None:
        if "points_earned" not in entry.payload:
            raise MalformedMessage(f"entry {entry.origin}#{entry.seq}: points_earned missing")
        real_sale(plan, entry)

    monkeypatch.setitem(hq.plan._HANDLERS, SALE_CHECKOUT.key, strict_sale)
    payload = {
        "member_id": None,
        "warehouse": "BR01-MAIN",
        "lines": [{"sku": "CUP", "qty": 1, "unit_price_fen": 2_500, "amount_fen": 2_500}],
        "tenders": [{"kind": "cash", "amount_fen": 2_500}],
        "total_fen": 2_500,
        "change_fen": 0,
        "at_ms": 1,
    }
    SALE_CHECKOUT.check(payload)

    plan = plan_entries([entry_of("sale", "checkout", payload)])

    assert refusals_beyond_business(plan.refused) == [
        "sale/checkout: malformed: entry BR01#7: points_earned missing"
    ]
