"""node.services.points_book on a real node store: the bounds of one movement, the
expiry job's batches, and two branches apart spending the same lot."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from conflict.ledger import LedgerEntry
from loyalty.lot_records import DAY_MS
from loyalty.rules import PointsSettings
from node.services import points_book
from node.store.store import Store
from node.store.writer import Tx
from protocol.limits import MAX_POINTS_LOT_PARTS
from shared_tables import directory_store, points_lots

NOW = 1_760_000_000_000
KEEP_30_DAYS = PointsSettings(expiry_days=30)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "node.sqlite", "BR01", wall_ms=lambda: NOW)
    try:
        yield store
    finally:
        await store.close()


def _earn_many(card: str, count: int) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        for number in range(count):
            points_book.earn(tx, f"e{number}", card, "earn", 1, KEEP_30_DAYS)

    return job


async def test_a_spend_over_more_lots_than_one_movement_may_name_is_refused_with_what_can_be_spent(
    store: Store,
) -> None:
    """501 earnings of one point: a spend of all 501 would name 501 lots (the bound is
    500); it is refused with a code and the most that one spend may take (500), and
    that spend goes through."""
    await store.writer.run(_earn_many("C-1", MAX_POINTS_LOT_PARTS + 1))
    with pytest.raises(points_book.SpendTooSpread) as refused:
        await store.writer.run(lambda tx: points_book.spend(tx, "s1", "C-1", MAX_POINTS_LOT_PARTS + 1))
    assert refused.value.code == "points_too_spread"
    assert f"at most {MAX_POINTS_LOT_PARTS}" in str(refused.value)
    allocation = await store.writer.run(lambda tx: points_book.spend(tx, "s2", "C-1", MAX_POINTS_LOT_PARTS))
    assert len(allocation.taken) == MAX_POINTS_LOT_PARTS
    assert await store.read(lambda conn: directory_store.card_balance(conn, "C-1", "points")) == 1


async def test_the_expiry_job_works_in_batches_and_says_when_more_are_due(store: Store) -> None:
    count = points_book.EXPIRE_BATCH + 20
    await store.writer.run(_earn_many("C-2", count))
    later = NOW + 31 * DAY_MS
    first = await store.writer.run(lambda tx: points_book.expire_due(tx, later))
    assert first == (points_book.EXPIRE_BATCH, True)
    second = await store.writer.run(lambda tx: points_book.expire_due(tx, later))
    assert second == (20, False)
    assert await store.writer.run(lambda tx: points_book.expire_due(tx, later)) == (0, False)
    assert await store.read(lambda conn: directory_store.card_balance(conn, "C-2", "points")) == 0


async def test_lots_earned_elsewhere_are_left_to_the_branch_that_earned_them(store: Store) -> None:
    """BR02's lot arrives through the feed; BR01's job does not expire it (BR02's does),
    so one lot is never expired by two branches with two different totals."""
    theirs = LedgerEntry(
        "elsewhere", "C-3", "points", "earn", 50, NOW << 16, "BR02", expires_at_ms=NOW + DAY_MS
    )
    await store.writer.run(lambda tx: directory_store.add_records(tx.conn, [theirs]))
    assert await store.writer.run(lambda tx: points_book.expire_due(tx, NOW + 2 * DAY_MS)) == (0, False)
    assert await store.read(lambda conn: directory_store.card_balance(conn, "C-3", "points")) == 50


async def test_the_work_list_keeps_only_this_branchs_lots(store: Store) -> None:
    """Every lot the chain earns reaches every branch; the expiry job drops the others'
    from its work list, so the list is as long as this branch's own unexpired lots, not
    the chain's history. This branch's lot stays on it until it is due."""
    theirs = [
        LedgerEntry(
            f"far{n}", "C-4", "points", "earn", 5, (NOW << 16) + n, "BR02", expires_at_ms=NOW + DAY_MS
        )
        for n in range(3)
    ]
    await store.writer.run(lambda tx: directory_store.add_records(tx.conn, theirs))
    await store.writer.run(lambda tx: points_book.earn(tx, "mine", "C-4", "earn", 7, KEEP_30_DAYS))

    def listed(conn: sqlite3.Connection) -> list[tuple[str, str]]:
        return list(conn.execute("SELECT node, lot_id FROM points_due ORDER BY lot_id"))

    assert await store.read(listed) == [
        ("BR02", "far0"),
        ("BR02", "far1"),
        ("BR02", "far2"),
        ("BR01", "mine"),
    ]
    assert await store.writer.run(lambda tx: points_book.expire_due(tx, NOW + DAY_MS)) == (0, False)
    assert await store.read(listed) == [("BR01", "mine")]
    assert await store.read(lambda conn: directory_store.card_balance(conn, "C-4", "points")) == 22


async def test_two_branches_apart_spending_one_lot_overdraw_it_and_the_law_still_holds(store: Store) -> None:
    """A lot of 100: this branch spends 80 of it; BR02, apart, spent 70 of the same lot.
    Once both are here the lot is 50 overdrawn, the balance is -50 as the ledger says,
    nothing may be spent, and the next earning of 60 leaves 10 to spend."""
    await store.writer.run(lambda tx: points_book.earn(tx, "lot", "C-4", "earn", 100, KEEP_30_DAYS))
    await store.writer.run(lambda tx: points_book.spend(tx, "here", "C-4", 80))
    theirs = LedgerEntry(
        "there", "C-4", "points", "redeem", -70, (NOW << 16) + 1, "BR02", lots=(("lot", 70),)
    )
    await store.writer.run(lambda tx: directory_store.add_records(tx.conn, [theirs]))
    book = await store.read(lambda conn: points_lots.book(conn, "C-4"))
    account = book.account
    assert (account.earned, account.spent, account.outstanding) == (100, 150, -50)
    assert book.balance == -50 == await store.read(lambda c: directory_store.card_balance(c, "C-4", "points"))
    assert book.available(NOW) == 0
    await store.writer.run(lambda tx: points_book.earn(tx, "next", "C-4", "earn", 60, KEEP_30_DAYS))
    assert (await store.read(lambda conn: points_lots.book(conn, "C-4"))).available(NOW) == 10
