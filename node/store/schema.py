"""The branch store's schema as numbered migrations, applied in order at open.

`PRAGMA user_version` holds the last applied number; a migration and the bump
commit together, so a crash mid-upgrade leaves the previous version intact.
"""

from __future__ import annotations

import sqlite3
from typing import TypeVar

from node.store.row_cache import WriterConnection
from shared_tables.directory_store import (
    CARD_CHANGES_SCHEMA,
    CARDS_SCHEMA,
    CONTACTS_SCHEMA,
    DIRECTORY_SCHEMA,
    POINTS_LOTS_SCHEMA,
    REINSTATEMENTS_SCHEMA,
    SIGHTINGS_SCHEMA,
)
from shared_tables.master_data_schema import (
    CARD_TYPES_SCHEMA,
    DISCOUNTS_SCHEMA,
    EMPLOYEES_SCHEMA,
    LEVEL_PRICES_SCHEMA,
    LEVELS_SCHEMA,
    MASTER_DATA_SCHEMA,
    POINTS_SCHEMA,
    PRODUCT_BARCODE_SCHEMA,
    PRODUCT_POINTS_SCHEMA,
    TOP_UP_RULES_SCHEMA,
)
from shared_tables.migrations import migrate as shared_migrate
from shared_tables.photos import PHOTOS_SCHEMA
from shared_tables.vouchers import VOUCHERS_SCHEMA

MIGRATIONS: tuple[str, ...] = (
    # 1: the change log, sync cursors, catalogue, members, sales and stock.
    """
    CREATE TABLE change_log (
        seq INTEGER PRIMARY KEY,
        hlc INTEGER NOT NULL,
        hash BLOB NOT NULL,
        entry BLOB NOT NULL
    );
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    CREATE TABLE products (
        sku TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
        unit TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE TABLE members (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        birthday TEXT,
        home_branch TEXT NOT NULL,
        profile BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX members_by_phone ON members (phone);
    CREATE TABLE sales (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        member_id TEXT,
        total_fen INTEGER NOT NULL,
        change_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE sale_lines (
        sale_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        unit_price_fen INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        PRIMARY KEY (sale_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE sale_tenders (
        sale_id TEXT NOT NULL,
        tender_no INTEGER NOT NULL,
        kind TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        PRIMARY KEY (sale_id, tender_no)
    ) WITHOUT ROWID;
    CREATE TABLE stock (
        warehouse TEXT NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        PRIMARY KEY (warehouse, sku)
    ) WITHOUT ROWID;
    CREATE TABLE stock_moves (
        id INTEGER PRIMARY KEY,
        warehouse TEXT NOT NULL,
        sku TEXT NOT NULL,
        qty_delta INTEGER NOT NULL,
        cause TEXT NOT NULL,
        ref_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    """,
    # 2: the shared member directory (cards, ledgers, status, duplicates), how each
    # tender was paid, top-ups, and the conflict resolutions HQ sent.
    DIRECTORY_SCHEMA
    + """;
    ALTER TABLE sale_tenders ADD COLUMN card_id TEXT;
    ALTER TABLE sale_tenders ADD COLUMN mode TEXT;
    ALTER TABLE sale_tenders ADD COLUMN ref TEXT;
    CREATE INDEX sale_tenders_by_card ON sale_tenders (card_id) WHERE card_id IS NOT NULL;
    ALTER TABLE sales ADD COLUMN points_earned INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE top_ups (
        id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE conflict_resolutions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        action TEXT NOT NULL,
        resolution BLOB NOT NULL
    ) WITHOUT ROWID
    """,
    # 3: purchase, sales and inventory (node.services.stock_ledger and its documents):
    # master data beyond products, costed stock, purchasing, payables,
    # stocktakes, sale returns and transfers.
    MASTER_DATA_SCHEMA
    + """;
    ALTER TABLE stock ADD COLUMN cost_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stock ADD COLUMN cost_state BLOB;
    ALTER TABLE stock_moves ADD COLUMN cost_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stock_moves ADD COLUMN correction_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stock_moves ADD COLUMN variance_fen INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX stock_moves_by_item ON stock_moves (warehouse, sku, id);
    CREATE INDEX stock_moves_by_ref ON stock_moves (ref_id);
    ALTER TABLE sale_lines ADD COLUMN cost_fen INTEGER;
    CREATE TABLE sale_returns (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        sale_id TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        refund_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE INDEX sale_returns_by_sale ON sale_returns (sale_id);
    CREATE TABLE sale_return_lines (
        return_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        PRIMARY KEY (return_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE purchase_orders (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        supplier TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        state TEXT NOT NULL,
        total_fen INTEGER NOT NULL,
        note TEXT,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE purchase_order_lines (
        order_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        unit_cost_fen INTEGER NOT NULL,
        received_qty INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (order_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE receipts (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        order_id TEXT,
        supplier TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE receipt_lines (
        receipt_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        order_line_no INTEGER,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        unit_cost_fen INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        PRIMARY KEY (receipt_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE purchase_returns (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        supplier TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        receipt_id TEXT,
        amount_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE purchase_return_lines (
        return_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        unit_cost_fen INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        PRIMARY KEY (return_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE payables (
        id TEXT PRIMARY KEY,
        supplier TEXT NOT NULL,
        doc_kind TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX payables_by_supplier ON payables (supplier, at_ms);
    CREATE TABLE stocktakes (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        warehouse TEXT NOT NULL,
        variance_cost_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE stocktake_lines (
        stocktake_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        book_qty INTEGER NOT NULL,
        counted_qty INTEGER NOT NULL,
        variance_qty INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        PRIMARY KEY (stocktake_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE transfers (
        id TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        source_branch TEXT NOT NULL,
        from_warehouse TEXT NOT NULL,
        to_branch TEXT NOT NULL,
        to_warehouse TEXT NOT NULL,
        state TEXT NOT NULL,
        cost_fen INTEGER NOT NULL,
        sent_at_ms INTEGER NOT NULL,
        received_at_ms INTEGER,
        note TEXT,
        request_key TEXT UNIQUE,
        PRIMARY KEY (id, direction)
    ) WITHOUT ROWID;
    CREATE INDEX transfers_by_state ON transfers (state, sent_at_ms);
    CREATE TABLE transfer_lines (
        transfer_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        received_qty INTEGER,
        PRIMARY KEY (transfer_id, direction, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE transfer_discrepancies (
        id TEXT PRIMARY KEY,
        transfer_id TEXT NOT NULL,
        branch TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        sent_qty INTEGER NOT NULL,
        received_qty INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        note TEXT,
        at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX transfer_discrepancies_once ON transfer_discrepancies (transfer_id, branch, line_no)
    """,
    # 4: where each return's refund went, tender by tender (node.services.refunds).
    """
    CREATE TABLE sale_return_refunds (
        return_id TEXT NOT NULL,
        refund_no INTEGER NOT NULL,
        tender_no INTEGER NOT NULL,
        kind TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        card_id TEXT,
        PRIMARY KEY (return_id, refund_no)
    ) WITHOUT ROWID
    """,
    # 5: the branch's operators as HQ's feed sends them, and the sessions of those
    # logged in here, by the SHA-256 of their token (node.services.operators).
    """
    CREATE TABLE operators (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        permissions TEXT NOT NULL,
        disabled INTEGER NOT NULL,
        version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX operators_by_login ON operators (lower(login));
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        operator_id TEXT NOT NULL REFERENCES operators (id),
        expires_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    # 6: HQ's sightings of registrations, the order duplicates survive in
    # (conflict.duplicates); they arrive in the feed.
    SIGHTINGS_SCHEMA,
    # 7: cards of a type: the directory's card records and uses per service item,
    # service items and card types from HQ, and this branch's sales of cards. A tender
    # paid in count-card uses names the service item (ref) and how many (uses).
    CARDS_SCHEMA
    + ";"
    + CARD_TYPES_SCHEMA
    + """;
    CREATE TABLE card_sales (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        card_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        card_type TEXT NOT NULL,
        price_fen INTEGER NOT NULL,
        tendered_fen INTEGER NOT NULL,
        change_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE INDEX card_sales_by_at ON card_sales (at_ms);
    ALTER TABLE sale_tenders ADD COLUMN uses INTEGER
    """,
    # 8: the branch's message outbox (node.services.outbox), local to the branch and
    # never in the change log: a message is written at most once per member, year and
    # kind (a birthday greeting), whatever restarts or reruns the day brings.
    """
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        member_id TEXT NOT NULL,
        year INTEGER NOT NULL,
        phone TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        delivered_at_ms INTEGER,
        UNIQUE (member_id, year, kind)
    ) WITHOUT ROWID;
    CREATE INDEX outbox_by_created ON outbox (created_at_ms, id);
    CREATE INDEX outbox_undelivered ON outbox (created_at_ms, id) WHERE delivered_at_ms IS NULL
    """,
    # 9: HQ's top-up bonus rules; a top-up's bonus and rule beside what was paid, and
    # uses of a service item bought onto a count card (kind 'uses'); stored value
    # paid back in cash, with what a returned card forfeited.
    TOP_UP_RULES_SCHEMA
    + """;
    ALTER TABLE top_ups ADD COLUMN kind TEXT NOT NULL DEFAULT 'stored_value';
    ALTER TABLE top_ups ADD COLUMN bonus_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE top_ups ADD COLUMN rule TEXT;
    ALTER TABLE top_ups ADD COLUMN sku TEXT;
    ALTER TABLE top_ups ADD COLUMN uses INTEGER;
    CREATE INDEX top_ups_by_at ON top_ups (at_ms);
    CREATE TABLE credit_moves (
        id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE TABLE payouts (
        id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        forfeited_fen INTEGER NOT NULL,
        returned INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE INDEX payouts_by_at ON payouts (at_ms)
    """,
    # 10: the daily settlement's drawer closes (node.services.settlement), local to the
    # branch and never in the change log: one per day, with the cash expected, the cash
    # counted and the difference; and the day's returns found by their time. The day's
    # sales are not indexed by time: one more index on every sale cost a tenth of
    # checkout's throughput (benchmarks.checkout), for a report read once a day.
    """
    CREATE TABLE settlement_closes (
        day TEXT PRIMARY KEY,
        expected_cash_fen INTEGER NOT NULL,
        counted_cash_fen INTEGER NOT NULL CHECK (counted_cash_fen >= 0),
        difference_fen INTEGER NOT NULL CHECK (difference_fen = counted_cash_fen - expected_cash_fen),
        note TEXT,
        closed_by TEXT NOT NULL,
        closed_by_login TEXT NOT NULL,
        closed_at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE INDEX sale_returns_by_at ON sale_returns (at_ms)
    """,
    # 11: HQ's employees (node.services.employees), and the salesperson a sale or a card
    # sale was credited to (FEATURES B4).
    EMPLOYEES_SCHEMA
    + """;
    ALTER TABLE sales ADD COLUMN salesperson TEXT;
    ALTER TABLE card_sales ADD COLUMN salesperson TEXT
    """,
    # 12: cards renewed, replaced, upgraded or given a password (conflict.card_life),
    # and what the branch took for each, for its settlement and for a till's retry.
    CARD_CHANGES_SCHEMA
    + """;
    CREATE TABLE card_changes (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        card_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        fee_fen INTEGER NOT NULL CHECK (fee_fen >= 0),
        tendered_fen INTEGER NOT NULL,
        change_fen INTEGER NOT NULL CHECK (change_fen >= 0),
        at_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE INDEX card_changes_by_at ON card_changes (at_ms);
    ALTER TABLE card_types ADD COLUMN renew_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE card_types ADD COLUMN replace_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sale_return_refunds ADD COLUMN qty INTEGER
    """,
    # 13: members' contact history (conflict.contacts) and the photos the branch took or
    # fetched from HQ, by the SHA-256 of their bytes (shared_tables.photos).
    CONTACTS_SCHEMA + ";" + PHOTOS_SCHEMA,
    # 14: the member levels HQ grades into, and the level HQ graded each member into.
    LEVELS_SCHEMA,
    # 15: HQ's points rules and the chain's points settings (loyalty.rules); the points
    # each line of a sale earned and why (loyalty.points), for its receipt and return.
    POINTS_SCHEMA
    + """;
    ALTER TABLE sales ADD COLUMN points_reasons TEXT;
    ALTER TABLE sale_lines ADD COLUMN points INTEGER NOT NULL DEFAULT 0
    """,
    # 16: the vouchers HQ issued to members (shared_tables.vouchers), and the
    # returns that gave a voucher's use back (conflict.voucher_use).
    VOUCHERS_SCHEMA + ";" + REINSTATEMENTS_SCHEMA,
    # 17: the points lots each replica still has to look at: lots that will expire, cards
    # owing points (shared_tables.directory_store, loyalty.lot_ledger).
    POINTS_LOTS_SCHEMA,
    # 18: what each level costs in points, and the levels this branch sold members for
    # points (node.services.level_purchase), for the points engine and a till's retry.
    LEVEL_PRICES_SCHEMA
    + """;
    CREATE TABLE level_purchases (
        id TEXT PRIMARY KEY,
        member_id TEXT NOT NULL,
        level TEXT NOT NULL,
        points INTEGER NOT NULL CHECK (points > 0),
        card_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        valid_until_ms INTEGER NOT NULL,
        request_key TEXT UNIQUE
    ) WITHOUT ROWID;
    CREATE INDEX level_purchases_by_member ON level_purchases (member_id, valid_until_ms)
    """,
    # 19: HQ's discounts (loyalty.discounts); what each sale line's discounts took off
    # and why, and the rebate a sale gave (its card, amount and threshold), for its
    # receipt and the return that takes it back.
    DISCOUNTS_SCHEMA
    + """;
    ALTER TABLE sale_lines ADD COLUMN discount_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sales ADD COLUMN discounts TEXT;
    ALTER TABLE sales ADD COLUMN rebate TEXT
    """,
    # 20: what each product costs in points to redeem (FEATURES L7; null: not redeemable),
    # and the points per unit a sale line redeemed for points took (null: paid in money).
    PRODUCT_POINTS_SCHEMA
    + """;
    ALTER TABLE sale_lines ADD COLUMN redeem_points INTEGER
    """,
    # 21: a sale's points reasons and discount reasons are read from its own entry in the
    # change log (node.services.checkout.load_sale), which always carried them: the
    # copies in the sales row are dropped.
    """
    ALTER TABLE sales DROP COLUMN points_reasons;
    ALTER TABLE sales DROP COLUMN discounts
    """,
    # 22: the Idempotency-Key each contact was added under (node.services.contacts), so a
    # till's retry of the same contact answers the one it booked.
    """
    CREATE TABLE contact_requests (
        request_key TEXT PRIMARY KEY,
        contact_id TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    # 23: the directory records HQ's feed brought that collide with a record this branch
    # holds under the same id (a card number sold here and elsewhere while apart): kept
    # aside for an operator instead of stopping the feed (node.services.members).
    """
    CREATE TABLE directory_set_aside (
        record_type TEXT NOT NULL,
        record_id TEXT NOT NULL,
        node TEXT NOT NULL,
        hlc INTEGER NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (record_type, record_id, payload)
    ) WITHOUT ROWID
    """,
    # 24: the business day this branch last wrote into its log (node.services.business_days;
    # no row: protocol.business_day.DEFAULT, which HQ assumes of a branch that never said).
    """
    CREATE TABLE business_day (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        timezone TEXT NOT NULL,
        starts_at TEXT NOT NULL
    )
    """,
    # 25: the language each operator chose for the till's pages (node.services.till);
    # this branch's own preference, never in its log.
    """
    CREATE TABLE operator_languages (
        operator_id TEXT PRIMARY KEY,
        language TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    # 26: what a scanner types for each product, which the till's search finds it by
    # (node.services.catalogue.products_at); null: none, as an older HQ sends.
    PRODUCT_BARCODE_SCHEMA,
    # 27: receipts to print (node.peripherals.printing): written in the transaction of
    # the sale, top-up, card sale, return or day's close they are for, so none is lost;
    # printed in order, each marked once the printer took it. `document` is the receipt
    # as printed (devices.document, JSON), made once right after the commit; a receipt
    # that cannot be made or printed at all is given up with why, and the rest go on.
    """
    CREATE TABLE print_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        copy INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        document TEXT,
        printed_ms INTEGER,
        given_up_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX print_jobs_waiting ON print_jobs (id) WHERE printed_ms IS NULL AND given_up_ms IS NULL
    """,
)

# A till waits at most this long for the write lock before its request fails;
# the only other writer is a migration at start-up.
BUSY_TIMEOUT_MS = 5000


def connect(path: str, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection with the pragmas every node connection needs.

    synchronous=FULL: an acknowledged sale survives power loss, not only a
    process crash; group commit keeps the fsync per group, not per sale.
    """
    return _configured(sqlite3.connect(path, isolation_level=None, check_same_thread=False), synchronous)


def connect_writer(path: str, *, synchronous: str = "FULL") -> WriterConnection:
    """The writer's connection: as `connect`, carrying the rows its jobs keep in memory."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=WriterConnection)
    return _configured(conn, synchronous)


C = TypeVar("C", bound=sqlite3.Connection)


def _configured(conn: C, synchronous: str) -> C:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Apply pending migrations; return the schema version now in force."""
    return shared_migrate(conn, migrations, "the branch's store")
