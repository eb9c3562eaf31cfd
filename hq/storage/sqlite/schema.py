"""HQ's SQLite schema as numbered migrations (PRAGMA user_version holds the last)."""

from __future__ import annotations

import sqlite3

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
    """
    CREATE TABLE nodes (
        code TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        enrolled_at_ms INTEGER NOT NULL,
        acked_seq INTEGER NOT NULL DEFAULT 0,
        head_hash BLOB NOT NULL,
        head_signature BLOB,
        last_seen_ms INTEGER,
        reported_backlog INTEGER NOT NULL DEFAULT 0,
        quarantined_reason TEXT,
        quarantined_at_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE enroll_tokens (
        token_hash TEXT PRIMARY KEY,
        branch TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        used_at_ms INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE log_entries (
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hlc INTEGER NOT NULL,
        hash BLOB NOT NULL,
        entry BLOB NOT NULL,
        PRIMARY KEY (origin, seq)
    ) WITHOUT ROWID;
    CREATE TABLE forks (
        id INTEGER PRIMARY KEY,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL,
        held_entry BLOB NOT NULL,
        offered_entry BLOB NOT NULL,
        offered_head_seq INTEGER NOT NULL,
        offered_head_hash BLOB NOT NULL,
        offered_signature BLOB NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE TABLE feed (
        branch TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hlc INTEGER NOT NULL,
        hash BLOB NOT NULL,
        entry BLOB NOT NULL,
        PRIMARY KEY (branch, seq)
    ) WITHOUT ROWID;
    CREATE TABLE products (
        sku TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
        unit TEXT NOT NULL,
        active INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE members (
        id TEXT PRIMARY KEY,
        home_branch TEXT NOT NULL,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        birthday TEXT,
        profile BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX members_by_phone ON members (phone);
    CREATE TABLE sales (
        origin TEXT NOT NULL,
        sale_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        day TEXT NOT NULL,
        total_fen INTEGER NOT NULL,
        line_count INTEGER NOT NULL,
        PRIMARY KEY (origin, sale_id)
    ) WITHOUT ROWID;
    CREATE TABLE sales_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        count INTEGER NOT NULL,
        total_fen INTEGER NOT NULL,
        PRIMARY KEY (branch, day)
    ) WITHOUT ROWID
    """,
    # 2: the shared member directory (the same tables as a node's), online
    # payment holds, and the conflict queue.
    DIRECTORY_SCHEMA
    + """;
    CREATE TABLE holds (
        hold_id TEXT PRIMARY KEY,
        branch TEXT NOT NULL,
        card_id TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        state TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX holds_open_by_card ON holds (card_id) WHERE state = 'open';
    CREATE TABLE conflicts (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        subject TEXT NOT NULL,
        branches TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        summary TEXT NOT NULL,
        details TEXT NOT NULL,
        detected_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        resolution TEXT,
        resolved_at_ms INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX conflicts_by_state ON conflicts (state, detected_at_ms);
    CREATE INDEX conflicts_by_subject ON conflicts (kind, subject)
    """,
    # 3: purchase, sales and inventory. HQ authors the master data (the same
    # product columns and tables as a node's), keeps each warehouse's level and
    # value from the entries' stock moves, routes transfers, and keeps what is
    # owed to suppliers and each sale's cost of goods.
    MASTER_DATA_SCHEMA
    + """;
    CREATE TABLE stock_levels (
        warehouse TEXT NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        PRIMARY KEY (warehouse, sku)
    ) WITHOUT ROWID;
    CREATE TABLE transfers (
        id TEXT PRIMARY KEY,
        source_branch TEXT NOT NULL,
        from_warehouse TEXT NOT NULL,
        to_branch TEXT NOT NULL,
        to_warehouse TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('in_transit', 'received')),
        cost_fen INTEGER NOT NULL,
        note TEXT,
        sent_at_ms INTEGER,
        sent_seq INTEGER,
        received_at_ms INTEGER,
        received_seq INTEGER,
        deliver BLOB,
        delivered_seq INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX transfers_by_state ON transfers (state, sent_at_ms);
    CREATE INDEX transfers_undelivered ON transfers (to_branch) WHERE delivered_seq IS NULL;
    CREATE TABLE transfer_lines (
        transfer_id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        PRIMARY KEY (transfer_id, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE transfer_discrepancies (
        id TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        transfer_id TEXT NOT NULL,
        branch TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        sku TEXT NOT NULL,
        sent_qty INTEGER NOT NULL,
        received_qty INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        note TEXT,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (id, line_no)
    ) WITHOUT ROWID;
    CREATE INDEX transfer_discrepancies_by_transfer ON transfer_discrepancies (transfer_id);
    CREATE TABLE payables (
        id TEXT PRIMARY KEY,
        branch TEXT NOT NULL,
        supplier TEXT NOT NULL,
        doc_kind TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        warehouse TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX payables_by_supplier ON payables (supplier, at_ms);
    ALTER TABLE sales ADD COLUMN cost_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sales_daily ADD COLUMN cost_fen INTEGER NOT NULL DEFAULT 0
    """,
    # 4: the quarantine of effects: entries HQ stored and acknowledged but could not
    # apply, one row each with the refusal that kept its effect out.
    """
    CREATE TABLE effect_quarantine (
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        op TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (origin, seq)
    ) WITHOUT ROWID;
    CREATE INDEX effect_quarantine_by_time ON effect_quarantine (at_ms)
    """,
    # 5: every signed head a push brought with new entries, kept as a checkpoint, so
    # any stored entry can be proven with the first checkpoint at or after it. The
    # newest head each branch had (nodes.head_signature, all that was kept before)
    # becomes its first checkpoint; received when the branch was last seen, at the
    # latest. nodes.head_signature is cleared: signed_heads is the one record now.
    """
    CREATE TABLE signed_heads (
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL,
        signature BLOB NOT NULL,
        received_at_ms INTEGER NOT NULL,
        PRIMARY KEY (origin, seq)
    ) WITHOUT ROWID;
    INSERT INTO signed_heads (origin, seq, hash, signature, received_at_ms)
        SELECT code, acked_seq, head_hash, head_signature, COALESCE(last_seen_ms, enrolled_at_ms)
        FROM nodes WHERE head_signature IS NOT NULL AND acked_seq > 0;
    UPDATE nodes SET head_signature = NULL
    """,
    # 6: operators (HQ master data; a branch's own travel to it in its feed) and the
    # sessions of those logged in at HQ, by the SHA-256 of their token.
    """
    CREATE TABLE operators (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        branch TEXT,
        password_hash TEXT NOT NULL,
        grants TEXT NOT NULL,
        revokes TEXT NOT NULL,
        disabled INTEGER NOT NULL,
        version INTEGER NOT NULL,
        changed_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX operators_by_login ON operators (lower(login));
    CREATE INDEX operators_by_branch ON operators (branch);
    CREATE TABLE operator_sessions (
        token_hash TEXT PRIMARY KEY,
        operator_id TEXT NOT NULL REFERENCES operators (id),
        expires_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX operator_sessions_by_operator ON operator_sessions (operator_id)
    """,
    # 7: the operation log (hq.operation_log): every change at HQ, chained and signed.
    """
    CREATE TABLE operation_log (
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        actor_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        address TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL,
        signature BLOB NOT NULL
    )
    """,
    # 8: the order HQ first stored each registration in (conflict.duplicates.Sighting).
    # Registrations already held are sighted, and the branches told, when the store
    # opens (hq.storage.sqlite.directory.sight_backlog), not here: feed entries are
    # hash-chained in Python.
    SIGHTINGS_SCHEMA,
    # 9: HQ's newest stamp found by an index: with several HQ processes on one
    # database (hq.storage.postgres) each reads it at the start of every write.
    """
    CREATE INDEX feed_by_hlc ON feed (hlc)
    """,
    # 10: cards of a type (conflict.cards), uses per service item, service items and
    # card types.
    CARDS_SCHEMA + ";" + CARD_TYPES_SCHEMA,
    # 11: top-up bonus rules, and the top-ups the branches booked (hq.plan.TopUpRow),
    # for the top-up report by branch, day and kind.
    TOP_UP_RULES_SCHEMA
    + """;
    CREATE TABLE top_ups (
        origin TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        card_id TEXT NOT NULL,
        paid_fen INTEGER NOT NULL,
        bonus_fen INTEGER NOT NULL,
        PRIMARY KEY (origin, entry_id)
    );
    CREATE INDEX top_ups_by_day ON top_ups (day, origin)
    """,
    # 12: employees (FEATURES B4), and the salesperson a sale or a card sale names, as
    # the branch wrote it (HQ need not know the code: a signed sale is never refused).
    EMPLOYEES_SCHEMA
    + """;
    ALTER TABLE sales ADD COLUMN salesperson TEXT
    """,
    # 13: cards renewed, replaced, upgraded or given a password (conflict.card_life),
    # and what a card type charges for a renewal and a replacement card.
    CARD_CHANGES_SCHEMA
    + """;
    ALTER TABLE card_types ADD COLUMN renew_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE card_types ADD COLUMN replace_fen INTEGER NOT NULL DEFAULT 0
    """,
    # 14: members' sales for their consumption figures (hq.member_stats): each sale that
    # names a member, its items per SKU and what each tender kind paid, with what its
    # returns took back added to the same rows. Sales HQ applied before this migration
    # are not in them: their member was never kept.
    """
    CREATE TABLE member_sales (
        origin TEXT NOT NULL,
        sale_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        day TEXT NOT NULL,
        total_fen INTEGER NOT NULL,
        returns_count INTEGER NOT NULL DEFAULT 0,
        refund_fen INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (origin, sale_id)
    ) WITHOUT ROWID;
    CREATE INDEX member_sales_by_member ON member_sales (member_id, at_ms);
    CREATE TABLE member_sale_items (
        origin TEXT NOT NULL,
        sale_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        returned_qty INTEGER NOT NULL DEFAULT 0,
        returned_fen INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (origin, sale_id, sku)
    ) WITHOUT ROWID;
    CREATE TABLE member_sale_tenders (
        origin TEXT NOT NULL,
        sale_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        paid_fen INTEGER NOT NULL,
        refunded_fen INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (origin, sale_id, kind)
    ) WITHOUT ROWID
    """,
    # 15: members' contact history (conflict.contacts), and the photos the branches sent
    # (entry member/photo), by the SHA-256 of their bytes (shared_tables.photos).
    CONTACTS_SCHEMA + ";" + PHOTOS_SCHEMA,
    # 16: member levels graded by spend or visits (hq.levels), and each member's grade.
    LEVELS_SCHEMA,
    # 17: HQ's points rules and the chain's points settings (loyalty.rules).
    POINTS_SCHEMA,
    # 18: voucher campaigns (hq.vouchers) and the vouchers they issued (shared_tables.vouchers),
    # the returns that gave a voucher's use back (conflict.voucher_use), and each use
    # with the sale it paid for, for a campaign's tracking (hq.plan.VoucherUse).
    VOUCHERS_SCHEMA
    + ";"
    + REINSTATEMENTS_SCHEMA
    + """;
    CREATE TABLE voucher_campaigns (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        value_fen INTEGER NOT NULL,
        min_spend_fen INTEGER NOT NULL,
        valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        criteria TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_run_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE voucher_uses (
        redemption_id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        voucher_id TEXT NOT NULL,
        sale_id TEXT NOT NULL,
        amount_fen INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX voucher_uses_by_voucher ON voucher_uses (voucher_id)
    """,
    # 19: the points lots each replica still has to look at: lots that will expire, cards
    # owing points (shared_tables.directory_store, loyalty.lot_ledger).
    POINTS_LOTS_SCHEMA,
    # 20: what each level costs in points, and the levels the branches sold members for
    # points (entry member/buy_level), which grading counts while they hold (hq.levels).
    LEVEL_PRICES_SCHEMA
    + """;
    CREATE TABLE level_purchases (
        origin TEXT NOT NULL,
        purchase_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        level TEXT NOT NULL,
        points INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        valid_until_ms INTEGER NOT NULL,
        PRIMARY KEY (origin, purchase_id)
    ) WITHOUT ROWID;
    CREATE INDEX level_purchases_by_member ON level_purchases (member_id, valid_until_ms)
    """,
    # 21: HQ's discounts (loyalty.discounts): special prices, bundles and purchase rebates.
    DISCOUNTS_SCHEMA,
    # 22: what each product costs in points to redeem (FEATURES L7; null: not redeemable).
    PRODUCT_POINTS_SCHEMA,
    # 23: customers' returns, each once, netted out of their branch's day (hq.plan.ReturnRow):
    # what was given back and the cost of the goods put back on the shelf.
    """
    CREATE TABLE sale_returns (
        origin TEXT NOT NULL,
        return_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        day TEXT NOT NULL,
        refund_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        PRIMARY KEY (origin, return_id)
    ) WITHOUT ROWID;
    ALTER TABLE sales_daily ADD COLUMN returns INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sales_daily ADD COLUMN returned_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sales_daily ADD COLUMN returned_cost_fen INTEGER NOT NULL DEFAULT 0
    """,
    # 24: the console's live view and reports. When the till booked each sale and return
    # (a sale before this shows 0); each branch's goods by day and product, and its sales
    # by day and salesperson ('' for none), both with returns netted on the return's day,
    # kept at ingest as sales_daily is. The salespeople's figures are rebuilt from the
    # sales already held; the goods of sales booked before this are not in the entries'
    # rows and stay out of the product reports. The language each operator reads the
    # console in (none: zh-CN). Each branch's business day (protocol.business_day; null:
    # DEFAULT), which its sales count on from here on: those before stay on UTC days.
    # Members registered (by salesperson, gender, age band and region) and referred (by
    # their referrer), and cards sold, by day (the members report), from here on; and
    # the operator who booked each payable document ('' before this). Members' sales by
    # day, member and the level the member held when HQ booked the sale ('' for none).
    # Points moved by day and kind (earned, redeemed, expired...: the ledger's signs).
    # Exports too large to answer at once, built in the background and fetched by the
    # operator who asked (a body of null: not built yet).
    """
    ALTER TABLE sales ADD COLUMN at_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sale_returns ADD COLUMN at_ms INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE product_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        amount_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        returned_qty INTEGER NOT NULL,
        returned_fen INTEGER NOT NULL,
        returned_cost_fen INTEGER NOT NULL,
        PRIMARY KEY (day, branch, sku)
    ) WITHOUT ROWID;
    CREATE TABLE salesperson_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        salesperson TEXT NOT NULL,
        count INTEGER NOT NULL,
        total_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        returns INTEGER NOT NULL,
        returned_fen INTEGER NOT NULL,
        returned_cost_fen INTEGER NOT NULL,
        PRIMARY KEY (day, branch, salesperson)
    ) WITHOUT ROWID;
    INSERT INTO salesperson_daily (branch, day, salesperson, count, total_fen, cost_fen, returns,
        returned_fen, returned_cost_fen)
        SELECT origin, day, COALESCE(salesperson, ''), COUNT(*), SUM(total_fen), SUM(cost_fen), 0, 0, 0
        FROM sales GROUP BY origin, day, COALESCE(salesperson, '');
    CREATE TABLE operator_languages (
        login TEXT PRIMARY KEY,
        language TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE nodes ADD COLUMN day_timezone TEXT;
    ALTER TABLE nodes ADD COLUMN day_starts_at TEXT;
    CREATE TABLE member_joins_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        salesperson TEXT NOT NULL,
        gender TEXT NOT NULL,
        age_band TEXT NOT NULL,
        region TEXT NOT NULL,
        joined INTEGER NOT NULL,
        PRIMARY KEY (day, branch, salesperson, gender, age_band, region)
    ) WITHOUT ROWID;
    CREATE TABLE referrals_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        referrer TEXT NOT NULL,
        referred INTEGER NOT NULL,
        PRIMARY KEY (day, branch, referrer)
    ) WITHOUT ROWID;
    CREATE TABLE card_sales_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        card_type TEXT NOT NULL,
        cards INTEGER NOT NULL,
        price_fen INTEGER NOT NULL,
        PRIMARY KEY (day, branch, card_type)
    ) WITHOUT ROWID;
    ALTER TABLE payables ADD COLUMN operator TEXT NOT NULL DEFAULT '';
    ALTER TABLE sales ADD COLUMN member_id TEXT;
    CREATE TABLE member_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        member_id TEXT NOT NULL,
        level TEXT NOT NULL,
        count INTEGER NOT NULL,
        total_fen INTEGER NOT NULL,
        cost_fen INTEGER NOT NULL,
        returns INTEGER NOT NULL,
        returned_fen INTEGER NOT NULL,
        returned_cost_fen INTEGER NOT NULL,
        PRIMARY KEY (day, branch, member_id, level)
    ) WITHOUT ROWID;
    CREATE TABLE points_daily (
        branch TEXT NOT NULL,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        points INTEGER NOT NULL,
        PRIMARY KEY (day, branch, kind)
    ) WITHOUT ROWID;
    CREATE TABLE exports (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        body BLOB,
        error TEXT
    ) WITHOUT ROWID
    """,
    # 25: what a scanner types for each product (null: none), which no two products share
    # (hq.master_data.check_codes_free); on PostgreSQL too, through hq.storage.postgres.schema.
    PRODUCT_BARCODE_SCHEMA,
    # 26: each branch's card reader and receipt printer as its log last said
    # (branch/devices, JSON; null: it never said), for its health.
    """
    ALTER TABLE nodes ADD COLUMN devices TEXT
    """,
    # 27: the feeds in a table with rowids. A change for every branch appends a row to
    # each feed, at as many places in (branch, seq) order as there are branches, and a
    # feed row (an entry of a few hundred bytes) is too large for a table keyed by
    # (branch, seq) itself (WITHOUT ROWID) to take well at so many places: at 200
    # branches HQ's push of a member's sale took twice as long. Rows now go in at the
    # end of the table, and only the small (branch, seq) index takes them in order.
    """
    CREATE TABLE feed_rows (
        branch TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hlc INTEGER NOT NULL,
        hash BLOB NOT NULL,
        entry BLOB NOT NULL,
        UNIQUE (branch, seq)
    );
    INSERT INTO feed_rows (branch, seq, hlc, hash, entry)
        SELECT branch, seq, hlc, hash, entry FROM feed ORDER BY hlc;
    DROP TABLE feed;
    ALTER TABLE feed_rows RENAME TO feed;
    CREATE INDEX feed_by_hlc ON feed (hlc)
    """,
)


def migrate(conn: sqlite3.Connection) -> None:
    shared_migrate(conn, MIGRATIONS, "HQ's store")
