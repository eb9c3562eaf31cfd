"""The directory's SQLite tables: upgrading a schema-1 store, and union semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from conflict.errors import LedgerEntryConflict
from conflict.ledger import LedgerEntry
from node import directory_store, schema
from protocol import codec


def test_a_member_registered_before_the_directory_existed_is_still_found(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "node.sqlite"))
    schema.migrate(conn, schema.MIGRATIONS[:1])
    profile = {"name": ["Li Lei", 1 << 16, "BR01"], "phone": ["13900000001", 1 << 16, "BR01"]}
    conn.execute(
        "INSERT INTO members (id, name, phone, birthday, home_branch, profile) VALUES (?, ?, ?, ?, ?, ?)",
        ("M-OLD", "Li Lei", "13900000001", None, "BR01", codec.pack(profile)),
    )
    assert schema.migrate(conn) == len(schema.MIGRATIONS)
    member = directory_store.member_json(conn, "M-OLD")
    assert member is not None
    assert (member["id"], member["name"], member["aliases"], member["cards"]) == ("M-OLD", "Li Lei", [], [])
    assert member["balances"]["stored_value"] == 0
    assert directory_store.member_json(conn, "M-NONE") is None


def test_records_are_a_union_and_a_second_record_under_one_id_is_refused(tmp_path: Path) -> None:
    conn = schema.connect(str(tmp_path / "node.sqlite"))
    schema.migrate(conn)
    top_up = LedgerEntry("E1", "C1", "stored_value", "top_up", 5_000, 1 << 16, "BR01")
    assert directory_store.add_records(conn, [top_up]) == [top_up]
    assert directory_store.add_records(conn, [top_up]) == []  # a second delivery counts once
    assert directory_store.card_balance(conn, "C1", "stored_value") == 5_000
    forged = LedgerEntry("E1", "C1", "stored_value", "top_up", 50_000, 1 << 16, "BR01")
    with pytest.raises(LedgerEntryConflict):
        directory_store.add_records(conn, [forged])
    assert directory_store.card_balance(conn, "C1", "stored_value") == 5_000
