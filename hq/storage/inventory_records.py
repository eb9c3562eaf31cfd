"""What HQ's store answers about stock, transfers and what is owed to suppliers, as
the branches' entries tell them. `as_json` is the shape HQ's API shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class StockLevel:
    """A warehouse's quantity and value of one product, as the branches' moves add up."""

    warehouse: str
    warehouse_name: str | None  # None for a warehouse HQ has not heard of
    branch: str | None
    sku: str
    name: str | None  # None for a product HQ has not heard of
    qty: int
    cost_fen: int


@dataclass(frozen=True, slots=True)
class InTransitLine:
    """One product on its way, summed over the transfers carrying it."""

    sku: str
    qty: int
    cost_fen: int
    transfers: int


class InTransitSummary(NamedTuple):
    transfers: int
    oldest_sent_at_ms: int | None  # None when nothing is in transit, or none says when it left


@dataclass(frozen=True, slots=True)
class StockAlert:
    """A product under its lower limit or over its upper limit in a warehouse."""

    warehouse: str
    branch: str
    sku: str
    name: str
    qty: int
    lower_limit: int | None
    upper_limit: int | None
    state: str  # under | over

    def as_json(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse,
            "branch": self.branch,
            "sku": self.sku,
            "name": self.name,
            "qty": self.qty,
            "lower_limit": self.lower_limit,
            "upper_limit": self.upper_limit,
            "state": self.state,
        }


@dataclass(frozen=True, slots=True)
class TransferLine:
    sku: str
    qty: int
    cost_fen: int

    def as_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "qty": self.qty, "cost_fen": self.cost_fen}


@dataclass(frozen=True, slots=True)
class TransferDiscrepancy:
    """A count at the destination that differs from what was sent, for one line."""

    id: str
    line_no: int
    transfer_id: str
    branch: str
    warehouse: str
    sku: str
    sent_qty: int
    received_qty: int
    cost_fen: int
    note: str | None
    at_ms: int

    @property
    def difference_qty(self) -> int:
        return self.received_qty - self.sent_qty

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line_no": self.line_no,
            "transfer_id": self.transfer_id,
            "branch": self.branch,
            "warehouse": self.warehouse,
            "sku": self.sku,
            "sent_qty": self.sent_qty,
            "received_qty": self.received_qty,
            "difference_qty": self.difference_qty,
            "cost_fen": self.cost_fen,
            "note": self.note,
            "at_ms": self.at_ms,
        }


@dataclass(frozen=True, slots=True)
class TransferView:
    """A transfer as HQ routed it; `discrepancies` only when one transfer is asked for."""

    id: str
    source_branch: str
    from_warehouse: str
    to_branch: str
    to_warehouse: str
    state: str  # in_transit | received
    cost_fen: int
    note: str | None
    sent_at_ms: int | None
    received_at_ms: int | None
    delivered: bool  # put into the destination's feed
    lines: tuple[TransferLine, ...]
    discrepancies: tuple[TransferDiscrepancy, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "source_branch": self.source_branch,
            "from_warehouse": self.from_warehouse,
            "to_branch": self.to_branch,
            "to_warehouse": self.to_warehouse,
            "state": self.state,
            "cost_fen": self.cost_fen,
            "note": self.note,
            "sent_at_ms": self.sent_at_ms,
            "received_at_ms": self.received_at_ms,
            "delivered": self.delivered,
            "lines": [line.as_json() for line in self.lines],
        }
        if self.discrepancies is not None:
            shown["discrepancies"] = [d.as_json() for d in self.discrepancies]
        return shown


@dataclass(frozen=True, slots=True)
class PayableDocument:
    """A receipt (owed, positive) or a purchase return (credit, negative) to a supplier."""

    supplier: str
    supplier_name: str | None
    id: str
    doc_kind: str  # receipt | purchase_return
    doc_id: str
    branch: str
    warehouse: str
    amount_fen: int
    at_ms: int
    operator: str = ""  # the login of the operator who booked it
