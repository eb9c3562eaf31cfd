"""The purchases report (FEATURES R3): receipts and purchase returns over a period,
summed per supplier and listed document by document with the operator who booked each.
Read from HQ's payables, one row per document as the branches booked them.

No aiohttp here: hq.report_api parses the query and answers with what this computes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hq.sales_report import Period
from hq.storage.base import HQStore
from hq.storage.inventory_records import PayableDocument
from protocol.business_day import BusinessDay


@dataclass(frozen=True)
class SupplierFigures:
    supplier: str
    name: str
    receipts: int
    received_fen: int
    returns: int
    returned_fen: int  # credited back, shown positive

    @property
    def net_fen(self) -> int:
        return self.received_fen - self.returned_fen


@dataclass(frozen=True)
class PurchasesReport:
    period: Period
    branch: str | None
    suppliers: list[SupplierFigures]
    documents: list[PayableDocument]

    def as_json(self) -> dict[str, object]:
        return {
            "report": "purchases",
            "period": self.period.as_json(),
            "branch": self.branch,
            "net_fen": sum(s.net_fen for s in self.suppliers),
            "suppliers": [
                {
                    "supplier": s.supplier,
                    "name": s.name,
                    "receipts": s.receipts,
                    "received_fen": s.received_fen,
                    "returns": s.returns,
                    "returned_fen": s.returned_fen,
                    "net_fen": s.net_fen,
                }
                for s in self.suppliers
            ],
            "documents": [
                {
                    "doc_kind": d.doc_kind,
                    "doc_id": d.doc_id,
                    "supplier": d.supplier,
                    "branch": d.branch,
                    "warehouse": d.warehouse,
                    "amount_fen": d.amount_fen,
                    "at_ms": d.at_ms,
                    "operator": d.operator,
                }
                for d in self.documents
            ],
        }

    def table(self, section: str) -> tuple[list[str], list[list[int | str]], set[int]]:
        if section == "suppliers":
            header = ["supplier", "name", "receipts", "received", "returns", "returned", "net"]
            rows: list[list[int | str]] = [
                [s.supplier, s.name, s.receipts, s.received_fen, s.returns, s.returned_fen, s.net_fen]
                for s in self.suppliers
            ]
            return header, rows, {3, 5, 6}
        header = ["document", "id", "supplier", "branch", "warehouse", "amount", "at_ms", "operator"]
        rows = [
            [d.doc_kind, d.doc_id, d.supplier, d.branch, d.warehouse, d.amount_fen, d.at_ms, d.operator]
            for d in self.documents
        ]
        return header, rows, {5}


SECTIONS = ("suppliers", "documents")


async def purchases_report(
    store: HQStore, period: Period, branch: str | None, days: BusinessDay
) -> PurchasesReport:
    """Documents booked within `period`'s business days (`days`: the branch's, or the
    chain's default when every branch is asked for)."""
    from_ms = days.bounds_ms(period.first)[0]
    to_ms = days.bounds_ms(period.last)[1]
    documents = await store.payables(None, branch, from_ms, to_ms)
    by_supplier: dict[str, list[PayableDocument]] = {}
    for document in documents:
        by_supplier.setdefault(document.supplier, []).append(document)
    suppliers = [
        SupplierFigures(
            code,
            docs[0].supplier_name or code,
            sum(1 for d in docs if d.doc_kind == "receipt"),
            sum(d.amount_fen for d in docs if d.doc_kind == "receipt"),
            sum(1 for d in docs if d.doc_kind != "receipt"),
            -sum(d.amount_fen for d in docs if d.doc_kind != "receipt"),
        )
        for code, docs in sorted(by_supplier.items())
    ]
    return PurchasesReport(period, branch, suppliers, sorted(documents, key=lambda d: (d.at_ms, d.id)))
