"""On PostgreSQL, a write to any table of the shared directory tells the other HQ
processes (hq.storage.postgres.schema), so each computes its directory digest again:
a table left out keeps a stale digest on every process but the writer's."""

from __future__ import annotations

import re

from hq.storage.postgres.schema import DIRECTORY_TABLES
from hq.storage.sqlite.schema import MIGRATIONS


def test_every_directory_table_tells_the_other_hq_processes_it_changed() -> None:
    # dir_keys only indexes dir_registrations, in the same statements' transaction.
    tables = set(re.findall(r"CREATE TABLE (dir_\w+)", "".join(MIGRATIONS))) - {"dir_keys"}
    assert {"dir_registrations", "dir_ledger", "dir_cards", "dir_card_changes", "dir_contacts"} <= tables
    assert tables - set(DIRECTORY_TABLES) == set()
