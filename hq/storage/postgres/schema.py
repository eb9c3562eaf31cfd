"""HQ's tables on PostgreSQL: the SQLite backend's migrations (one definition of
every table), spelled for PostgreSQL by `dialect`, applied in order and numbered
in a one-row table as SQLite numbers them in `PRAGMA user_version`."""

from __future__ import annotations

import asyncpg

from hq.errors import DatabaseUnfit
from hq.storage.postgres import dialect
from hq.storage.sqlite.schema import MIGRATIONS
from protocol.errors import StoreTooNew

# Held while migrating, so HQ processes starting together upgrade the database once.
MIGRATION_LOCK = 0x48514D  # "HQM"


async def check_database(raw: asyncpg.Connection) -> None:
    """Refuse a database whose text order differs from SQLite's (byte order): HQ's
    pages, feeds and the directory's canonical bytes sort by it."""
    provider, collation, icu_locale = await raw.fetchrow(
        "SELECT datlocprovider::text, datcollate, daticulocale FROM pg_database"
        " WHERE datname = current_database()"
    )
    if provider != "c" or collation not in ("C", "POSIX", "C.UTF-8", "C.utf8"):
        collation = collation if provider == "c" else f"ICU's {icu_locale}"
        raise DatabaseUnfit(
            f"the database sorts text by {collation!r}; HQ needs byte order: create it with"
            " CREATE DATABASE ... TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C'"
            " ENCODING 'UTF8'"
        )


async def migrate(raw: asyncpg.Connection) -> int:
    """Apply the pending migrations; the schema version now in force."""
    async with raw.transaction():
        await raw.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        version = await raw.fetchval("SELECT version FROM schema_version")
        if version is None:
            version = 0
            await raw.execute("INSERT INTO schema_version VALUES (0)")
        if version > len(MIGRATIONS):
            raise StoreTooNew(
                f"HQ's database is at schema {version}, newer than this build's ({len(MIGRATIONS)});"
                " run the newer build of Branchline"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for sql in script.split(";"):
                if sql.strip():
                    await raw.execute(dialect.definition(sql))
            await raw.execute("UPDATE schema_version SET version = $1", number)
    return len(MIGRATIONS)


# Told to every HQ process sharing the database, on commit: the branches whose feeds
# grew (so a long-poll on any process wakes), and that the member directory changed
# (so a cached digest is computed again). NOTIFY is transactional: a rolled-back
# write tells nobody, and one transaction's repeats fold into one message.
FEEDS_CHANNEL = "hq_feeds"
DIRECTORY_CHANNEL = "hq_directory"
DIRECTORY_TABLES = (
    "dir_registrations",
    "dir_card_events",
    "dir_ledger",
    "dir_separations",
    "dir_redemptions",
    "dir_sightings",
    "dir_cards",
    "dir_card_changes",
    "dir_contacts",
    "dir_reinstatements",
    "members",
)
# Begins a write: takes the one write lock, then reads the newest stamp in any feed
# with a snapshot taken after the lock (a volatile function's statements each take
# their own under READ COMMITTED), so HQ's clock starts past every write committed
# before this one, whichever process made it. One round trip, not two.
BEGIN_WRITE = "SELECT hq_begin_write($1)"
_BEGIN_WRITE = """
CREATE OR REPLACE FUNCTION hq_begin_write(lock_key bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN (SELECT COALESCE(MAX(hlc), 0) FROM feed);
END $$;
"""
_TRIGGERS = f"""
CREATE OR REPLACE FUNCTION hq_feed_grown() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{FEEDS_CHANNEL}', string_agg(DISTINCT branch, ',')) FROM added;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION hq_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{DIRECTORY_CHANNEL}', current_setting('application_name'));
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS feed_grown ON feed;
CREATE TRIGGER feed_grown AFTER INSERT ON feed REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION hq_feed_grown();
""" + "".join(
    f"""
DROP TRIGGER IF EXISTS directory_changed ON {table};
CREATE TRIGGER directory_changed AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION hq_directory_changed();
"""
    for table in DIRECTORY_TABLES
)


async def install_functions(raw: asyncpg.Connection) -> None:
    """(Re)create the function that begins a write and the triggers that tell the other
    HQ processes what changed; PostgreSQL's own, beside the tables both backends share."""
    async with raw.transaction():
        await raw.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await raw.execute(_BEGIN_WRITE + _TRIGGERS)
