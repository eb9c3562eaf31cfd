"""What the branches' stock documents change at HQ, decided from the entries alone.

Every entry that moves stock carries its "moves"; HQ adds them to its view of
each warehouse's level and value. Transfers are routed: a send is put into the
destination's feed, the destination's receive is announced to the source.
Purchase receipts and returns add to what is owed to suppliers. The storage
backends execute these decisions (hq.storage); none is made there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hq.payload import MAX_ID_CHARS, Payload
from protocol.codec import check_branch_code
from protocol.contract import (
    PURCHASE_RETURN_POST,
    RECEIPT_POST,
    TRANSFER_DISCREPANCY,
    TRANSFER_RECEIVE,
    TRANSFER_SEND,
)
from protocol.entry import Entry
from protocol.errors import MalformedMessage

# A hundred billion yuan, as for sales: far above any document, far below
# SQLite's 64-bit integers when a warehouse's history is summed.
MAX_FEN = 10**13
MAX_QTY = 10**9
MAX_AT_MS = 253_402_300_799_999  # the end of year 9999, the last date Python represents
MAX_NOTE_CHARS = 1000


# A tuple: every sale pushed carries a move or more, and a tuple is built several
# times faster than a frozen dataclass (inventory.costing's Layer, likewise).
class StockMove(NamedTuple):
    warehouse: str
    sku: str
    qty: int  # signed: in positive, out negative
    cost_fen: int  # signed change of the value on hand


@dataclass(frozen=True, slots=True)
class TransferLine:
    sku: str
    qty: int
    cost_fen: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as a send or a receive entry describes it."""

    transfer_id: str
    source_branch: str
    from_warehouse: str
    to_branch: str
    to_warehouse: str
    lines: tuple[TransferLine, ...]
    cost_fen: int

    @property
    def routed(self) -> bool:
        """Between two branches, so through HQ; within one branch the node books both ends."""
        return self.to_branch != self.source_branch


@dataclass(frozen=True, slots=True)
class TransferSent:
    transfer: Transfer
    note: str | None
    sent_at_ms: int
    seq: int
    deliver: dict[str, Any]  # the send's payload less its moves: what the destination books


@dataclass(frozen=True, slots=True)
class TransferReceived:
    transfer: Transfer
    received_at_ms: int
    seq: int

    def notice(self) -> dict[str, Any]:
        """What the source is told: its transfer is no longer in transit."""
        return {
            "id": self.transfer.transfer_id,
            "to_branch": self.transfer.to_branch,
            "received_at_ms": self.received_at_ms,
        }


@dataclass(frozen=True, slots=True)
class Discrepancy:
    doc_id: str
    transfer_id: str
    branch: str
    warehouse: str
    line_no: int
    sku: str
    sent_qty: int
    received_qty: int
    cost_fen: int
    note: str | None
    at_ms: int


@dataclass(frozen=True, slots=True)
class Payable:
    payable_id: str
    branch: str
    supplier: str
    doc_kind: str  # receipt | purchase_return
    doc_id: str
    warehouse: str
    amount_fen: int  # owed to the supplier: positive for a receipt, negative for a return
    at_ms: int
    operator: str = ""  # the operator who booked the document (its entry's actor)


@dataclass
class InventoryPlan:
    moves: list[StockMove] = field(default_factory=list)
    # In log order: a branch's transfer to itself sends and receives in one batch.
    transfers: list[TransferSent | TransferReceived] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    payables: list[Payable] = field(default_factory=list)


def plan_moves(plan: InventoryPlan, entry: Entry) -> None:
    """The stock moves any entry carries, whatever its kind."""
    moves = entry.payload.get("moves") if type(entry.payload) is dict else None
    if type(moves) is list and all(_plain_move(move) for move in moves):
        plan.moves += [StockMove(m["warehouse"], m["sku"], m["qty"], m["cost_fen"]) for m in moves]
    else:
        _plan_moves_naming_faults(plan, entry)


def _plain_move(move: Any) -> bool:
    """A move of the right types within HQ's bounds, told in one expression: every
    entry's moves pass here, and only one that fails is read field by field."""
    if type(move) is not dict:
        return False
    warehouse, sku, cause = move.get("warehouse"), move.get("sku"), move.get("cause")
    qty, cost_fen = move.get("qty"), move.get("cost_fen")
    correction_fen, variance_fen = move.get("correction_fen", 0), move.get("variance_fen", 0)
    return (
        type(warehouse) is str
        and 0 < len(warehouse) <= MAX_ID_CHARS
        and type(sku) is str
        and 0 < len(sku) <= MAX_ID_CHARS
        and type(cause) is str
        and 0 < len(cause) <= MAX_ID_CHARS
        and type(qty) is int
        and -MAX_QTY <= qty <= MAX_QTY
        and type(cost_fen) is int
        and -MAX_FEN <= cost_fen <= MAX_FEN
        and _optional_fen(correction_fen)
        and _optional_fen(variance_fen)
    )


def _optional_fen(value: Any) -> bool:
    return value is None or (type(value) is int and -MAX_FEN <= value <= MAX_FEN)


def _plan_moves_naming_faults(plan: InventoryPlan, entry: Entry) -> None:
    payload = Payload.of(entry)
    if not payload.has("moves"):
        return
    for move in payload.items("moves", non_empty=False):
        move.text("cause")
        plan.moves.append(
            StockMove(
                move.text("warehouse"),
                move.text("sku"),
                move.integer("qty", -MAX_QTY, MAX_QTY),
                move.integer("cost_fen", -MAX_FEN, MAX_FEN),
            )
        )
        for optional in ("correction_fen", "variance_fen"):
            move.optional_integer(optional, -MAX_FEN, MAX_FEN, 0)


def _branch(payload: Payload, key: str) -> str:
    value = payload.text(key)
    try:
        return check_branch_code(value, key)
    except MalformedMessage:
        raise payload.refuse(key, "must be a branch code") from None


def _own(payload: Payload, key: str) -> str:
    """A branch field that must name the entry's own branch: a branch writes only its own side."""
    branch = _branch(payload, key)
    if branch != payload.entry.origin:
        raise payload.refuse(key, f"is {branch}, but the entry is {payload.entry.origin}'s")
    return branch


def _transfer(payload: Payload) -> Transfer:
    lines = tuple(
        TransferLine(
            line.text("sku"), line.integer("qty", 1, MAX_QTY), line.integer("cost_fen", -MAX_FEN, MAX_FEN)
        )
        for line in payload.items("lines")
    )
    return Transfer(
        payload.text("id"),
        _branch(payload, "source_branch"),
        payload.text("from_warehouse"),
        _branch(payload, "to_branch"),
        payload.text("to_warehouse"),
        lines,
        payload.integer("cost_fen", -MAX_FEN, MAX_FEN),
    )


def plan_transfer_send(plan: InventoryPlan, entry: Entry) -> None:
    payload = Payload.of(entry)
    _own(payload, "source_branch")
    plan.transfers.append(
        TransferSent(
            _transfer(payload),
            payload.optional_text("note", MAX_NOTE_CHARS),
            payload.integer("sent_at_ms", 0, MAX_AT_MS),
            entry.seq,
            {key: value for key, value in entry.payload.items() if key != "moves"},
        )
    )


def plan_transfer_receive(plan: InventoryPlan, entry: Entry) -> None:
    payload = Payload.of(entry)
    _own(payload, "to_branch")
    plan.transfers.append(
        TransferReceived(_transfer(payload), payload.integer("received_at_ms", 0, MAX_AT_MS), entry.seq)
    )


def plan_discrepancy(plan: InventoryPlan, entry: Entry) -> None:
    payload = Payload.of(entry)
    doc_id, transfer_id = payload.text("id"), payload.text("transfer_id")
    branch, warehouse = _own(payload, "branch"), payload.text("warehouse")
    note = payload.optional_text("note", MAX_NOTE_CHARS)
    at_ms = payload.integer("at_ms", 0, MAX_AT_MS)
    for line in payload.items("lines"):
        plan.discrepancies.append(
            Discrepancy(
                doc_id,
                transfer_id,
                branch,
                warehouse,
                line.integer("line_no", 0, MAX_QTY),
                line.text("sku"),
                line.integer("sent_qty", 0, MAX_QTY),
                line.integer("received_qty", 0, MAX_QTY),
                line.integer("cost_fen", -MAX_FEN, MAX_FEN),
                note,
                at_ms,
            )
        )


def plan_payable(plan: InventoryPlan, entry: Entry) -> None:
    """A receipt owes the supplier its amount; a purchase return takes it back."""
    payload = Payload.of(entry)
    payable = payload.object("payable")
    low, high = (0, MAX_FEN) if entry.kind == "receipt" else (-MAX_FEN, 0)
    plan.payables.append(
        Payable(
            payable.text("id"),
            entry.origin,
            payable.text("supplier"),
            entry.kind,
            payload.text("id"),
            payload.text("warehouse"),
            payable.integer("amount_fen", low, high),
            payload.integer("at_ms", 0, MAX_AT_MS),
            entry.actor,
        )
    )


HANDLERS = {
    TRANSFER_SEND.key: plan_transfer_send,
    TRANSFER_RECEIVE.key: plan_transfer_receive,
    TRANSFER_DISCREPANCY.key: plan_discrepancy,
    RECEIPT_POST.key: plan_payable,
    PURCHASE_RETURN_POST.key: plan_payable,
}
