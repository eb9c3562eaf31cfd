"""Master data, stock, transfers and payables at HQ on SQLite.

Functions over a connection, called by SqliteHQStore inside its transactions
(writes) or on its thread (reads). The decisions come from hq.master_data and
hq.inventory_plan; here they are only executed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from hq import master_data
from hq.inventory_plan import InventoryPlan, TransferReceived, TransferSent
from hq.storage.base import MASTER_KINDS, CardType, Category, FeedChange, Level, MasterRecord, Product
from hq.storage.inventory_records import (
    InTransitLine,
    InTransitSummary,
    PayableDocument,
    StockAlert,
    StockLevel,
    TransferDiscrepancy,
    TransferLine,
    TransferView,
)
from hq.storage.sqlite.feeds import FeedAppender
from protocol import codec
from shared_tables.sql import Connection

MASTER_TABLES = {
    "product": "products",
    "category": "categories",
    "supplier": "suppliers",
    "warehouse": "warehouses",
    "card_type": "card_types",
    "top_up_rule": "top_up_rules",
    "employee": "employees",
    "level": "levels",
    "points_rule": "points_rules",
    "points_settings": "points_settings",
    "special_price": "special_prices",
    "bundle": "bundles",
    "rebate_rule": "rebate_rules",
}
# A new branch learns categories and suppliers before the products that name them,
# and products before the card types that bundle them.
SNAPSHOT_ORDER = (
    "category",
    "supplier",
    "warehouse",
    "product",
    "card_type",
    "top_up_rule",
    "employee",
    "level",
    "points_rule",
    "points_settings",
    # After the products their skus name.
    "special_price",
    "bundle",
    "rebate_rule",
)
# Columns holding a list (a card type's bundle): JSON text in the table.
LIST_COLUMNS = {"uses", "gifts", "services", "referral_points", "lines"}


def _columns(kind: str) -> list[str]:
    return [f.name for f in fields(MASTER_KINDS[kind])]


def _record(kind: str, row: Sequence[Any]) -> MasterRecord:
    values = dict(zip(_columns(kind), row, strict=True))
    for flag in ("active", "service"):
        if flag in values:
            values[flag] = bool(values[flag])
    for name in LIST_COLUMNS & set(values):
        values[name] = tuple(
            tuple(item) if isinstance(item, list) else item for item in json.loads(values[name])
        )
    return MASTER_KINDS[kind](**values)


def _column_value(name: str, value: Any) -> Any:
    if name in LIST_COLUMNS:
        return json.dumps(value)
    return int(value) if isinstance(value, bool) else value


def read_master(conn: Connection, kind: str, keys: Iterable[str] | None = None) -> list[MasterRecord]:
    cls = MASTER_KINDS[kind]
    select = f"SELECT {', '.join(_columns(kind))} FROM {MASTER_TABLES[kind]}"
    if keys is None:
        rows = conn.execute(f"{select} ORDER BY {cls.KEY}").fetchall()
    else:
        rows = []
        for key in keys:
            rows += conn.execute(f"{select} WHERE {cls.KEY} = ?", (key,)).fetchall()
    return [_record(kind, row) for row in rows]


def _held(conn: Connection, kind: str, key: str) -> MasterRecord | None:
    found = read_master(conn, kind, [key])
    return found[0] if found else None


def write_master(conn: Connection, records: Sequence[MasterRecord]) -> list[FeedChange]:
    """Check each record against what HQ holds and write it; the feed changes to publish.
    Records are written in order, so a category may name a parent sent before it."""
    changes = []
    for record in records:
        kind = record.KIND
        master_data.check_update(_held(conn, kind, master_data.key_of(record)), record)
        for named_kind, code in master_data.references(record):
            if _held(conn, named_kind, code) is None:
                raise master_data.missing_reference(record, named_kind, code)
        if isinstance(record, Category):
            master_data.check_category_parent(record, lambda code: _parent(conn, code))
        if isinstance(record, CardType):
            master_data.check_card_type(record, lambda sku: _is_service(conn, sku))
        if isinstance(record, Level):
            master_data.check_level(record)
        if isinstance(record, Product):
            master_data.check_codes_free(record, functools.partial(_others_coded, conn, record.sku))
        master_data.check_discount_prices(record, lambda sku: _list_price(conn, sku))
        names = _columns(kind)
        key = record.KEY
        conn.execute(
            f"INSERT INTO {MASTER_TABLES[kind]} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            f" ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in names if name != key),
            [_column_value(name, getattr(record, name)) for name in names],
        )
        changes.append(record.as_change())
    return changes


def _is_service(conn: Connection, sku: str) -> bool:
    row = conn.execute("SELECT service FROM products WHERE sku = ?", (sku,)).fetchone()
    return row is not None and bool(row[0])


def _others_coded(conn: Connection, sku: str, code: str) -> list[tuple[str, str | None]]:
    """(sku, barcode) of the products other than `sku` whose sku or barcode is `code`."""
    rows = conn.execute(
        "SELECT sku, barcode FROM products WHERE (sku = ? OR barcode = ?) AND sku <> ? ORDER BY sku",
        (code, code, sku),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _list_price(conn: Connection, sku: str) -> int:
    """A product's list price (its reference was checked to exist just before)."""
    row = conn.execute("SELECT price_fen FROM products WHERE sku = ?", (sku,)).fetchone()
    return 0 if row is None else int(row[0])


def _parent(conn: Connection, code: str) -> str | None:
    row = conn.execute("SELECT parent FROM categories WHERE code = ?", (code,)).fetchone()
    return None if row is None else row[0]


def master_snapshot(conn: Connection) -> list[FeedChange]:
    return [record.as_change() for kind in SNAPSHOT_ORDER for record in read_master(conn, kind)]


# -- ingest -----------------------------------------------------------------------------


def execute(conn: Connection, plan: InventoryPlan, append: FeedAppender, enrolled: set[str]) -> set[str]:
    """Apply the batch's stock moves, route its transfers, keep its discrepancies and
    payables; the branches whose feeds grew."""
    feeds_grown: set[str] = set()
    # A level only ever has moves added to it, so a batch's moves of one item are
    # summed first and written as one: a batch of sales of a few products is a few
    # rows written, not one per line sold.
    summed: dict[tuple[str, str], list[int]] = {}
    for move in plan.moves:
        total = summed.get((move.warehouse, move.sku))
        if total is None:
            summed[move.warehouse, move.sku] = [move.qty, move.cost_fen]
        else:
            total[0] += move.qty
            total[1] += move.cost_fen
    conn.executemany(
        "INSERT INTO stock_levels (warehouse, sku, qty, cost_fen) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (warehouse, sku) DO UPDATE SET qty = stock_levels.qty + excluded.qty,"
        " cost_fen = stock_levels.cost_fen + excluded.cost_fen",
        [(warehouse, sku, qty, cost_fen) for (warehouse, sku), (qty, cost_fen) in summed.items()],
    )
    for event in plan.transfers:
        if isinstance(event, TransferSent):
            feeds_grown |= _sent(conn, event, append, enrolled)
        else:
            feeds_grown |= _received(conn, event, append, enrolled)
    conn.executemany(
        "INSERT OR IGNORE INTO transfer_discrepancies (id, line_no, transfer_id, branch, warehouse, sku,"
        " sent_qty, received_qty, cost_fen, note, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.doc_id,
                d.line_no,
                d.transfer_id,
                d.branch,
                d.warehouse,
                d.sku,
                d.sent_qty,
                d.received_qty,
                d.cost_fen,
                d.note,
                d.at_ms,
            )
            for d in plan.discrepancies
        ],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO payables (id, branch, supplier, doc_kind, doc_id, warehouse, amount_fen,"
        " at_ms, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                p.payable_id,
                p.branch,
                p.supplier,
                p.doc_kind,
                p.doc_id,
                p.warehouse,
                p.amount_fen,
                p.at_ms,
                p.operator,
            )
            for p in plan.payables
        ],
    )
    return feeds_grown


def _insert_transfer(conn: Connection, event: TransferSent | TransferReceived, state: str) -> None:
    transfer = event.transfer
    conn.execute(
        "INSERT INTO transfers (id, source_branch, from_warehouse, to_branch, to_warehouse, state, cost_fen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            transfer.transfer_id,
            transfer.source_branch,
            transfer.from_warehouse,
            transfer.to_branch,
            transfer.to_warehouse,
            state,
            transfer.cost_fen,
        ),
    )
    conn.executemany(
        "INSERT INTO transfer_lines (transfer_id, line_no, sku, qty, cost_fen) VALUES (?, ?, ?, ?, ?)",
        [
            (transfer.transfer_id, number, line.sku, line.qty, line.cost_fen)
            for number, line in enumerate(transfer.lines)
        ],
    )


def _sent(conn: Connection, event: TransferSent, append: FeedAppender, enrolled: set[str]) -> set[str]:
    """A transfer leaves its source: in transit, and routed to its destination once."""
    transfer = event.transfer
    known = conn.execute("SELECT 1 FROM transfers WHERE id = ?", (transfer.transfer_id,)).fetchone()
    if known is None:
        _insert_transfer(conn, event, "in_transit")
    conn.execute(
        "UPDATE transfers SET note = ?, sent_at_ms = ?, sent_seq = ?, deliver = ?"
        " WHERE id = ? AND sent_seq IS NULL",
        (event.note, event.sent_at_ms, event.seq, codec.pack(event.deliver), transfer.transfer_id),
    )
    # Once per transfer id: a second send under the id (or one whose receive came
    # first, which cannot happen through HQ) is kept but routed no further.
    if known is not None or not transfer.routed or transfer.to_branch not in enrolled:
        return set()  # a destination not enrolled yet gets it with its first feed
    return _deliver(conn, transfer.transfer_id, transfer.to_branch, event.deliver, append)


def _deliver(
    conn: Connection, transfer_id: str, to_branch: str, payload: dict[str, Any], append: FeedAppender
) -> set[str]:
    seq = append(conn, to_branch, [FeedChange("transfer", transfer_id, "deliver", payload)])
    conn.execute("UPDATE transfers SET delivered_seq = ? WHERE id = ?", (seq, transfer_id))
    return {to_branch}


def _received(
    conn: Connection, event: TransferReceived, append: FeedAppender, enrolled: set[str]
) -> set[str]:
    """The destination booked the stock-in: received, and the source is told once."""
    transfer = event.transfer
    row = conn.execute("SELECT state FROM transfers WHERE id = ?", (transfer.transfer_id,)).fetchone()
    if row is None:
        _insert_transfer(conn, event, "in_transit")
    elif row[0] == "received":
        return set()
    conn.execute(
        "UPDATE transfers SET state = 'received', received_at_ms = ?, received_seq = ? WHERE id = ?",
        (event.received_at_ms, event.seq, transfer.transfer_id),
    )
    if not transfer.routed or transfer.source_branch not in enrolled:
        return set()
    append(
        conn,
        transfer.source_branch,
        [FeedChange("transfer", transfer.transfer_id, "received", event.notice())],
    )
    return {transfer.source_branch}


def deliver_pending(conn: Connection, branch: str, append: FeedAppender) -> None:
    """Transfers sent to `branch` before it enrolled, delivered after its snapshot."""
    rows = conn.execute(
        "SELECT id, deliver FROM transfers WHERE to_branch = ? AND delivered_seq IS NULL"
        " AND state = 'in_transit' AND deliver IS NOT NULL AND source_branch != to_branch"
        " ORDER BY sent_at_ms, id",
        (branch,),
    ).fetchall()
    for transfer_id, blob in rows:
        _deliver(conn, transfer_id, branch, codec.unpack(bytes(blob)), append)


# -- reads ------------------------------------------------------------------------------


def stock_levels(conn: Connection, warehouse: str | None, sku: str | None) -> list[StockLevel]:
    """Each warehouse's level and value of each product, as the branches' moves add up."""
    rows = conn.execute(
        "SELECT s.warehouse, w.name, w.branch, s.sku, p.name, s.qty, s.cost_fen"
        " FROM stock_levels s LEFT JOIN warehouses w ON w.code = s.warehouse"
        " LEFT JOIN products p ON p.sku = s.sku"
        " WHERE (CAST(? AS TEXT) IS NULL OR s.warehouse = ?) AND (CAST(? AS TEXT) IS NULL OR s.sku = ?)"
        " AND (s.qty != 0 OR s.cost_fen != 0) ORDER BY s.warehouse, s.sku",
        (warehouse, warehouse, sku, sku),
    )
    return [StockLevel(*row) for row in rows]


def in_transit_by_sku(conn: Connection, to_warehouse: str | None, sku: str | None) -> list[InTransitLine]:
    rows = conn.execute(
        "SELECT l.sku, SUM(l.qty), SUM(l.cost_fen), COUNT(DISTINCT t.id)"
        " FROM transfers t JOIN transfer_lines l ON l.transfer_id = t.id"
        " WHERE t.state = 'in_transit' AND (CAST(? AS TEXT) IS NULL OR t.to_warehouse = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR l.sku = ?)"
        " GROUP BY l.sku ORDER BY l.sku",
        (to_warehouse, to_warehouse, sku, sku),
    )
    return [InTransitLine(*row) for row in rows]


def stock_alerts(conn: Connection, warehouse: str | None) -> list[StockAlert]:
    """Products under their lower limit or over their upper limit in a warehouse.
    A warehouse that has never held a product with a lower limit is under it too."""
    rows = conn.execute(
        "SELECT w.code, w.branch, p.sku, p.name, COALESCE(s.qty, 0), p.lower_limit, p.upper_limit,"
        " CASE WHEN COALESCE(s.qty, 0) < p.lower_limit THEN 'under' ELSE 'over' END"
        " FROM warehouses w CROSS JOIN products p"
        " LEFT JOIN stock_levels s ON s.warehouse = w.code AND s.sku = p.sku"
        " WHERE w.active <> 0 AND p.active <> 0 AND (CAST(? AS TEXT) IS NULL OR w.code = ?)"
        " AND (p.lower_limit IS NOT NULL OR p.upper_limit IS NOT NULL)"
        " AND (COALESCE(s.qty, 0) < p.lower_limit OR COALESCE(s.qty, 0) > p.upper_limit)"
        " ORDER BY w.code, p.sku",
        (warehouse, warehouse),
    )
    return [StockAlert(*row) for row in rows]


TRANSFER_COLUMNS = (
    "id, source_branch, from_warehouse, to_branch, to_warehouse, state, cost_fen, note, sent_at_ms,"
    " received_at_ms, delivered_seq IS NOT NULL"
)


def _transfer(conn: Connection, row: Sequence[Any], with_discrepancies: bool = False) -> TransferView:
    lines = tuple(
        TransferLine(*line)
        for line in conn.execute(
            "SELECT sku, qty, cost_fen FROM transfer_lines WHERE transfer_id = ? ORDER BY line_no", (row[0],)
        )
    )
    found = tuple(discrepancies(conn, row[0])) if with_discrepancies else None
    id_, source_branch, from_warehouse, to_branch, to_warehouse, state, cost_fen, note, sent, received = row[
        :10
    ]
    return TransferView(
        id_,
        source_branch,
        from_warehouse,
        to_branch,
        to_warehouse,
        state,
        cost_fen,
        note,
        sent,
        received,
        bool(row[10]),
        lines,
        found,
    )


def transfers(conn: Connection, state: str | None) -> list[TransferView]:
    """Oldest first: the transfer longest in transit is the one to chase."""
    rows = conn.execute(
        f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE CAST(? AS TEXT) IS NULL OR state = ?"
        " ORDER BY COALESCE(sent_at_ms, received_at_ms), id",
        (state, state),
    ).fetchall()
    return [_transfer(conn, row) for row in rows]


def transfer(conn: Connection, transfer_id: str) -> TransferView | None:
    row = conn.execute(f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?", (transfer_id,)).fetchone()
    return None if row is None else _transfer(conn, row, with_discrepancies=True)


def discrepancies(conn: Connection, transfer_id: str | None) -> list[TransferDiscrepancy]:
    rows = conn.execute(
        "SELECT id, line_no, transfer_id, branch, warehouse, sku, sent_qty, received_qty, cost_fen, note,"
        " at_ms FROM transfer_discrepancies WHERE CAST(? AS TEXT) IS NULL OR transfer_id = ?"
        " ORDER BY at_ms, id, line_no",
        (transfer_id, transfer_id),
    )
    return [TransferDiscrepancy(*row) for row in rows]


def in_transit_summary(conn: Connection) -> InTransitSummary:
    """How many transfers are in transit, and when the oldest left."""
    row = conn.execute(
        "SELECT COUNT(*), MIN(sent_at_ms) FROM transfers WHERE state = 'in_transit'"
    ).fetchone()
    return InTransitSummary(int(row[0]), row[1])


def payables(
    conn: Connection,
    supplier: str | None,
    branch: str | None = None,
    from_ms: int = 0,
    to_ms: int = 2**62,
) -> list[PayableDocument]:
    """Receipts and purchase returns, of one supplier or all, one branch or all, booked
    in [from_ms, to_ms); each with the login of the operator who booked it ('' if the
    entry named none)."""
    rows = conn.execute(
        "SELECT p.supplier, s.name, p.id, p.doc_kind, p.doc_id, p.branch, p.warehouse, p.amount_fen, p.at_ms,"
        " COALESCE(o.login, p.operator)"
        " FROM payables p LEFT JOIN suppliers s ON s.code = p.supplier"
        " LEFT JOIN operators o ON o.id = p.operator"
        " WHERE (CAST(? AS TEXT) IS NULL OR p.supplier = ?) AND (CAST(? AS TEXT) IS NULL OR p.branch = ?)"
        " AND p.at_ms >= ? AND p.at_ms < ? ORDER BY p.supplier, p.at_ms, p.id",
        (supplier, supplier, branch, branch, from_ms, to_ms),
    )
    return [PayableDocument(*row) for row in rows]
