"""The master data tables (HQ authors them; nodes hold copies), the same at a node
and in HQ's SQLite store, as shared_tables.directory_store's tables are."""

from __future__ import annotations

# Columns products gained with inventory, and the other master data.
MASTER_DATA_SCHEMA = """
    ALTER TABLE products ADD COLUMN category TEXT;
    ALTER TABLE products ADD COLUMN spec TEXT;
    ALTER TABLE products ADD COLUMN model TEXT;
    ALTER TABLE products ADD COLUMN colour TEXT;
    ALTER TABLE products ADD COLUMN lower_limit INTEGER;
    ALTER TABLE products ADD COLUMN upper_limit INTEGER;
    ALTER TABLE products ADD COLUMN purchase_price_fen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE products ADD COLUMN discount_mode TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE products ADD COLUMN discount_rate INTEGER NOT NULL DEFAULT 100;
    ALTER TABLE products ADD COLUMN costing_method TEXT NOT NULL DEFAULT 'moving_average';
    ALTER TABLE products ADD COLUMN specified_cost_fen INTEGER;
    ALTER TABLE products ADD COLUMN supplier TEXT;
    CREATE TABLE categories (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        parent TEXT
    ) WITHOUT ROWID;
    CREATE TABLE suppliers (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        contact TEXT,
        phone TEXT,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE TABLE warehouses (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        branch TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
"""

# Service items (a product that holds no stock) and card types, which came with cards.
CARD_TYPES_SCHEMA = """
    ALTER TABLE products ADD COLUMN service INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE card_types (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        price_fen INTEGER NOT NULL,
        stored_value_fen INTEGER NOT NULL DEFAULT 0,
        discount_rate INTEGER NOT NULL DEFAULT 100,
        validity_days INTEGER,
        valid_until TEXT,
        credit_limit_fen INTEGER NOT NULL DEFAULT 0,
        uses TEXT NOT NULL DEFAULT '[]',
        gifts TEXT NOT NULL DEFAULT '[]',
        services TEXT NOT NULL DEFAULT '[]',
        level TEXT NOT NULL DEFAULT '',
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
"""

# HQ's top-up bonus rules (pay so much onto a card, get so much more).
TOP_UP_RULES_SCHEMA = """
    CREATE TABLE top_up_rules (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        paid_fen INTEGER NOT NULL,
        bonus_fen INTEGER NOT NULL,
        card_type TEXT,
        valid_from TEXT,
        valid_until TEXT,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
"""

# HQ's employees (FEATURES B4): salespeople a sale, a registration or a card sale names.
EMPLOYEES_SCHEMA = """
    CREATE TABLE employees (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        branch TEXT NOT NULL,
        title TEXT,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
"""

# Member levels HQ grades members into by spend or visits (hq.levels), and the level each
# member was last graded into, as HQ publishes them.
LEVELS_SCHEMA = """
    CREATE TABLE levels (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        rank INTEGER NOT NULL,
        min_spend_fen INTEGER,
        min_visits INTEGER,
        period_days INTEGER NOT NULL DEFAULT 365,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE TABLE member_levels (
        member_id TEXT PRIMARY KEY,
        level TEXT,
        spend_fen INTEGER NOT NULL,
        visits INTEGER NOT NULL,
        graded_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID
"""

# HQ's points rules and the chain's points settings (loyalty.rules): one row of
# settings, `chain`; referral_points a JSON list of points per level of the chain.
POINTS_SCHEMA = """
    CREATE TABLE points_rules (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        factor_milli INTEGER NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        min_fen INTEGER NOT NULL DEFAULT 0,
        max_fen INTEGER NOT NULL DEFAULT 0,
        valid_from_ms INTEGER NOT NULL DEFAULT 0,
        valid_until_ms INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE TABLE points_settings (
        code TEXT PRIMARY KEY CHECK (code = 'chain'),
        combine TEXT NOT NULL DEFAULT 'multiply',
        expiry_days INTEGER NOT NULL DEFAULT 0,
        referral_depth INTEGER NOT NULL DEFAULT 2,
        referral_points TEXT NOT NULL DEFAULT '[]',
        referral_trigger TEXT NOT NULL DEFAULT 'register',
        point_value_fen INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
"""

# What a level costs in points to buy from the level just below (FEATURES L4; null: it
# is not sold for points), as HQ prices it.
LEVEL_PRICES_SCHEMA = """
    ALTER TABLE levels ADD COLUMN points_price INTEGER
"""

# HQ's discounts (loyalty.discounts, FEATURES L11): special prices, bundles (lines a JSON
# list of products and quantities) and purchase rebates, each in force within its window.
DISCOUNTS_SCHEMA = """
    CREATE TABLE special_prices (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        sku TEXT NOT NULL,
        price_fen INTEGER NOT NULL,
        valid_from_ms INTEGER NOT NULL DEFAULT 0,
        valid_until_ms INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE TABLE bundles (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        lines TEXT NOT NULL DEFAULT '[]',
        price_fen INTEGER NOT NULL,
        valid_from_ms INTEGER NOT NULL DEFAULT 0,
        valid_until_ms INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;
    CREATE TABLE rebate_rules (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        min_spend_fen INTEGER NOT NULL,
        back_fen INTEGER NOT NULL,
        kind TEXT NOT NULL DEFAULT 'stored_value',
        valid_from_ms INTEGER NOT NULL DEFAULT 0,
        valid_until_ms INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
"""

# What a product costs in points to redeem, per unit (FEATURES L7; null: it is not
# redeemable), as HQ prices it.
PRODUCT_POINTS_SCHEMA = """
    ALTER TABLE products ADD COLUMN points_price INTEGER
"""

# What a scanner types for a product (null: none), found by the till's search
# (node.services.catalogue.products_at) and, at HQ, checked against the other
# products' before it is given (hq.master_data.check_codes_free). Not a UNIQUE index:
# HQ keeps barcodes apart, and a branch takes HQ's catalogue as its feed brings it;
# a constraint there could only refuse a feed entry and stop the branch's feed.
PRODUCT_BARCODE_SCHEMA = """
    ALTER TABLE products ADD COLUMN barcode TEXT;
    CREATE INDEX products_by_barcode ON products (barcode) WHERE barcode IS NOT NULL
"""
