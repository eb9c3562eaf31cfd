"""The node's cache of its operators (node.services.operators.Sessions): a feed page
applied while the cache was being read must not leave the cache without the operators
that page brought (a branch's first operators arrive in its first page, and a stale
cache refused them until the next page, which may be hours away)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from node.services.operators import Sessions
from node.store.store import Store
from protocol.errors import LoginFailed
from protocol.passwords import hash_password

T = TypeVar("T")
PASSWORD = "till-password-1"


async def test_operators_a_page_brought_during_a_read_of_the_cache_can_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(tmp_path / "node.sqlite", "BR01")
    sessions = Sessions(store, "BR01", lambda: 1_795_000_000_000)
    real_read = store.read
    pages: list[int] = []

    async def page_applied_during_the_first_read(fn: Callable[[sqlite3.Connection], T]) -> T:
        result = await real_read(fn)
        if not pages:  # the feed applies the operator's page while this read runs
            pages.append(1)
            await store.writer.run(
                lambda tx: tx.conn.execute(
                    "INSERT INTO operators (id, login, name, role, password_hash, permissions,"
                    " disabled, version)"
                    " VALUES ('op-1', 'br01-manager', 'Li', 'store_manager', ?, 'sales:add', 0, 1)",
                    (hash_password(PASSWORD),),
                )
            )
            sessions.operators_changed()
        return result

    monkeypatch.setattr(store, "read", page_applied_during_the_first_read)
    try:
        # The first attempt read the operators before the page: refused, as it should be.
        with pytest.raises(LoginFailed):
            await sessions.login("br01-manager", PASSWORD, "127.0.0.1")
        # The page has been applied since: the next attempt finds the operator.
        session = await sessions.login("br01-manager", PASSWORD, "127.0.0.1")
        assert session.actor.login == "br01-manager"
    finally:
        await store.close()
