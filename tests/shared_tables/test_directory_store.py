"""The directory's SQLite tables: upgrading a schema-1 store, and union semantics."""

from __future__ import annotations

import dataclasses
import sqlite3
from functools import reduce
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict.directory import Directory, merge
from conflict.errors import LedgerEntryConflict
from conflict.ledger import LedgerEntry
from conflict.wire import records_of
from node.store import schema
from protocol import codec
from shared_tables import directory_store
from tests.conflict.strategies import FEW, operations


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


@FEW
@given(st.integers(min_value=2, max_value=5).flatmap(operations), st.data())
def test_sqlite_replicas_fed_in_any_order_hold_the_pure_merge(
    ops: list[tuple[int, Directory]], data: st.DataObject
) -> None:
    """The tables' union is the pure merge: every replica, fed the same records in
    its own order with repeats, encodes to the bytes `conflict.directory.merge` gives."""
    expected = reduce(merge, (op for _, op in ops), Directory())
    expected = dataclasses.replace(expected, profiles={})  # profiles live in the members table
    records = [record for _, op in ops for record in records_of(op)]
    for _ in range(2):
        conn = sqlite3.connect(":memory:")
        schema.migrate(conn)
        delivery = data.draw(st.permutations(records + records[:4]))
        for record in delivery:
            directory_store.add_records(conn, [record])
        assert directory_store.load_directory(conn).encode() == expected.encode()
