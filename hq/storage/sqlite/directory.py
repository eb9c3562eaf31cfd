"""The shared member directory at HQ on SQLite: merging the branches' writes,
forwarding them to every other branch, the member and card views, and the
conflict queue derived from the directory.

The tables are shared_tables.directory_store's, the same as every node's; the
decisions are conflict/'s and hq.conflicts'.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from conflict.card_life import CardChange
from conflict.cards import CardIssue
from conflict.duplicates import Registration, Sighting
from conflict.ledger import LedgerEntry
from conflict.wire import DirectoryRecord, records_of
from hq import conflicts as queue
from hq.conflicts import Conflict, ConflictRecord
from hq.feed_changes import member_change, record_change
from hq.member_stats import MemberReturn, MemberSale
from hq.plan import DirectoryWrite, MemberWrite
from hq.storage.base import FeedChange, PointsSettings, points_settings
from hq.storage.sqlite import feeds, inventory
from hq.storage.sqlite.feeds import FeedAppender
from loyalty import referrals as loyalty_referrals
from loyalty.lots import lot_earned
from loyalty.rules import MAX_REFERRAL_DEPTH
from loyalty.rules import PointsSettings as LoyaltySettings
from protocol.hlc import HybridLogicalClock
from shared_tables import directory_store, points_lots
from shared_tables.sql import Connection

CONFLICT_COLUMNS = (
    "id, kind, state, subject, branches, amount_fen, summary, details, detected_at_ms, updated_at_ms,"
    " resolution, resolved_at_ms"
)


# -- merging the branches' writes ---------------------------------------------------------


def merge_members(conn: Connection, writes: Iterable[MemberWrite], append: FeedAppender) -> set[str]:
    """Merge each profile write field by field; every branch but the writer learns the result."""
    feeds_grown: set[str] = set()
    codes = feeds.enrolled(conn)
    for write in writes:
        home, merged = directory_store.merge_profile(
            conn, write.member_id, write.home_branch or "?", write.profile
        )
        # The writing branch already holds its own write; everyone else learns it.
        others = [code for code in codes if code != write.origin]
        append.to_each(conn, others, [member_change(write.member_id, home, merged)])
        feeds_grown.update(others)
    return feeds_grown


def merge_records(
    conn: Connection, writes: list[DirectoryWrite], append: FeedAppender, now_ms: int
) -> set[str]:
    """Union the branches' directory records into HQ's, forward the new ones to every
    other branch, capture the holds they spend, and refresh the queue."""
    feeds_grown: set[str] = set()
    codes = feeds.enrolled(conn)
    writes = _without_cards_sold_twice(conn, writes, now_ms)
    touched: list[DirectoryRecord] = [w.record for w in writes]
    for write in writes:
        if not directory_store.add_records(conn, [write.record]):
            continue  # already held (a resolution HQ wrote, echoed back)
        others = [code for code in codes if code != write.origin]
        append.to_each(conn, others, [record_change(write.record)])
        feeds_grown.update(others)
        if isinstance(write.record, Registration):
            # The writer learns HQ's order for its own registration too.
            touched.append(sight(conn, write.record, codes, append))
            awards = referral_awards(conn, write.record, now_ms)
            directory_store.add_records(conn, awards)
            append.to_each(conn, codes, [record_change(award) for award in awards])
            touched.extend(awards)
            feeds_grown.update(codes)
        if write.hold_id is not None:
            conn.execute(
                "UPDATE holds SET state = 'captured' WHERE hold_id = ? AND branch = ? AND state = 'open'",
                (write.hold_id, write.origin),
            )
    refresh_conflicts(conn, touched, now_ms)
    return feeds_grown


def _without_cards_sold_twice(
    conn: Connection, writes: list[DirectoryWrite], now_ms: int
) -> list[DirectoryWrite]:
    """The writes less any card sale of a number HQ holds another card under (two
    branches sold one blank card apart) and what that sale put on the card (its ledger
    entries carry the card record's stamp): each such sale is a card_sold_twice in the
    queue instead. Its takings are booked as any sale's; refusing the whole entry would
    leave HQ's figures short of money the branch took."""
    refused: dict[tuple[str, int, str], CardIssue] = {}
    for write in writes:
        record = write.record
        if isinstance(record, CardIssue):
            held = directory_store.issued_card(conn, record.card_id)
            if held is not None and held != record:
                refused[(record.node, record.hlc, record.card_id)] = record
    if not refused:
        return writes
    kept: list[DirectoryWrite] = []
    filling: dict[tuple[str, int, str], list[LedgerEntry]] = {key: [] for key in refused}
    for write in writes:
        record = write.record
        key = None
        if isinstance(record, CardIssue | LedgerEntry):
            key = (record.node, record.hlc, record.card_id)
        if key in refused:
            if isinstance(record, LedgerEntry):
                filling[key].append(record)
            continue
        kept.append(write)
    found = []
    for key, record in refused.items():
        held = directory_store.issued_card(conn, record.card_id)
        assert held is not None
        found.append(queue.sold_twice(held, record, filling[key]))
    _sync(conn, found, now_ms)
    return kept


def sight(conn: Connection, registration: Registration, codes: list[str], append: FeedAppender) -> Sighting:
    """Give a registration HQ has just stored its order number, and tell every branch:
    the order duplicates survive in (conflict.duplicates), which no branch can stamp."""
    sighting = Sighting(registration.member_id, directory_store.next_sighting(conn))
    directory_store.add_records(conn, [sighting])
    append.to_each(conn, codes, [record_change(sighting)])
    return sighting


def referral_awards(conn: Connection, registration: Registration, now_ms: int) -> list[LedgerEntry]:
    """The points the referrers up a new member's chain earn (FEATURES L5), when HQ's
    settings pay them at registration: booked by HQ on each referrer's first card under
    ids derived from the member and the level (loyalty.referrals), so a registration
    sent twice pays once, and a person registered twice (a duplicate of someone HQ has
    already seen) is no new referral and pays nothing."""
    settings = _points_settings(conn)
    if settings.referral_trigger != "register" or not any(settings.referral_points):
        return []
    member = registration.member_id
    if len(directory_store.group_of(conn, member).registrations) > 1:
        return []
    return _awards(conn, member, settings, now_ms)


def first_purchase_referrals(
    conn: Connection,
    purchases: Iterable[MemberSale | MemberReturn],
    append: FeedAppender,
    now_ms: int,
) -> set[str]:
    """When HQ's settings pay referrals at the first purchase (`referral_trigger`
    first_purchase), pay them for each member whose first sale this batch brings: the
    person (every id of their duplicate group) has no sale HQ merged before and no
    referral award yet. The awards are registration's, under the same ids
    (`referral:<member>:<level>`), so a batch sent again, a second sale or a duplicate's
    sale never pays twice. A sale returned later, even in full, takes nothing back: the
    member came and bought, which is what the chain rewards. The branches whose feeds grew.

    Runs after the batch's sales are in member_sales and its registrations in the directory."""
    sales = [p for p in purchases if isinstance(p, MemberSale)]
    if not sales:
        return set()
    settings = _points_settings(conn)
    if settings.referral_trigger != "first_purchase" or not any(settings.referral_points):
        return set()
    codes = feeds.enrolled(conn)
    in_batch: dict[str, set[tuple[str, str]]] = {}
    for sale in sales:
        in_batch.setdefault(sale.member_id, set()).add((sale.origin, sale.sale_id))
    paid: list[DirectoryRecord] = []
    done: set[str] = set()
    for member in in_batch:
        group = directory_store.group_of(conn, member)
        if member not in group.registrations:
            continue  # a member HQ holds no registration of: nobody to pay for
        person = group.members_of(group.survivor(member))
        if done & set(person):
            continue
        done.update(person)
        this_batch = {sale for m in person for sale in in_batch.get(m, ())}
        if _has_sales_before(conn, list(person), this_batch) or _has_awards(conn, list(person)):
            continue
        awards = directory_store.add_records(conn, _awards(conn, group.survivor(member), settings, now_ms))
        append.to_each(conn, codes, [record_change(award) for award in awards])
        paid.extend(awards)
    if not paid:
        return set()
    refresh_conflicts(conn, paid, now_ms)
    return set(codes)


def _has_sales_before(conn: Connection, ids: list[str], this_batch: set[tuple[str, str]]) -> bool:
    """Whether HQ merged a sale under any of the ids before this batch."""
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT origin, sale_id FROM member_sales WHERE member_id IN ({marks}) LIMIT ?",
        (*ids, len(this_batch) + 1),
    ).fetchall()
    return any((origin, sale_id) not in this_batch for origin, sale_id in rows)


def _has_awards(conn: Connection, ids: list[str]) -> bool:
    """Whether a referral award was paid for any of the ids (at registration, or at a
    first purchase under another id of the person)."""
    awards = [loyalty_referrals.award_id(m, level) for m in ids for level in range(1, MAX_REFERRAL_DEPTH + 1)]
    marks = ",".join("?" * len(awards))
    found = conn.execute(f"SELECT 1 FROM dir_ledger WHERE entry_id IN ({marks}) LIMIT 1", awards).fetchone()
    return found is not None


def _points_settings(conn: Connection) -> LoyaltySettings:
    held = [
        r for r in inventory.read_master(conn, "points_settings", ["chain"]) if isinstance(r, PointsSettings)
    ]
    return points_settings(held[0] if held else None)


def _awards(conn: Connection, member: str, settings: LoyaltySettings, now_ms: int) -> list[LedgerEntry]:
    """The referral awards for `member`, each booked on its referrer's first card."""
    chain = directory_store.referrer_chain(conn, member, settings.referral_depth)
    entries = []
    for award in loyalty_referrals.referral_awards(member, chain, settings):
        referrer = directory_store.registration(conn, award.referrer)
        if referrer is None or not referrer.card_numbers:
            continue
        card = directory_store.card_root(conn, min(referrer.card_numbers))
        stamp = now_ms << 16  # HQ's own records stamp its wall time, as its resolutions do
        # A lot of its own, expiring by HQ's settings like a till's earning; HQ books its
        # expiry (expire_points).
        expires = lot_earned(award.award_id, award.points, now_ms, settings).expires_at_ms
        entries.append(
            LedgerEntry(
                award.award_id,
                card,
                "points",
                "referral",
                award.points,
                stamp,
                queue.HQ_NODE,
                expires_at_ms=expires,
            )
        )
    return entries


# How many of HQ's lots one run of the expiry looks at; the rest waits for the next.
EXPIRE_BATCH = 500


def expire_points(conn: Connection, append: FeedAppender, now_ms: int, due_ms: int) -> tuple[int, set[str]]:
    """Book the expiry of the points lots HQ itself earned members (referral awards)
    that are past their expiry, as a branch does for its own lots
    (node.services.points_book.expire_due): ids from the lot and its expired total, so a
    run twice, or on two HQ processes, books each point once. HQ keeps no work list of
    the branches' lots: each branch expires its own. Lots are due by `due_ms`; the
    records are stamped `now_ms`. The points expired and the branches whose feeds grew."""
    points_lots.forget_others(conn, queue.HQ_NODE)
    due = points_lots.due_lots(conn, queue.HQ_NODE, due_ms, EXPIRE_BATCH)
    expiries: list[DirectoryRecord] = []
    looked_at: list[str] = []
    for card, lot_ids in due.items():
        mine = set(lot_ids)
        for expiry in points_lots.book(conn, card).due(due_ms):
            if expiry.lot_id in mine:
                expiries.append(
                    LedgerEntry(
                        expiry.expiry_id,
                        card,
                        "points",
                        "expire",
                        -expiry.points,
                        now_ms << 16,
                        queue.HQ_NODE,
                        lots=((expiry.lot_id, expiry.points),),
                        of=expiry.lot_id,
                    )
                )
        looked_at.extend(lot_ids)
    points_lots.take_off_due(conn, looked_at)
    fresh = directory_store.add_records(conn, expiries)
    if not fresh:
        return 0, set()
    codes = feeds.enrolled(conn)
    append.to_each(conn, codes, [record_change(record) for record in fresh])
    return sum(-record.amount for record in fresh if isinstance(record, LedgerEntry)), set(codes)


def sight_backlog(conn: Connection, append: FeedAppender, now_ms: int) -> int:
    """Sight every registration held without a sighting (a store from before
    sightings), in the order that ranked them then, so no survivor changes; how many."""
    codes = feeds.enrolled(conn)
    backlog = directory_store.unsighted(conn)
    sightings: list[DirectoryRecord] = [sight(conn, registration, codes, append) for registration in backlog]
    refresh_conflicts(conn, sightings, now_ms)
    return len(backlog)


def all_records(conn: Connection) -> list[DirectoryRecord]:
    return records_of(directory_store.load_directory(conn))


# -- the conflict queue -------------------------------------------------------------------


def refresh_conflicts(conn: Connection, records: list[DirectoryRecord], now_ms: int) -> None:
    """Recompute the conflicts of every card, member and voucher the records touch."""
    touched = queue.touched(records)
    for card in touched.cards:
        found = queue.card_overdrafts(card, directory_store.card_entries(conn, card))
        _sync(conn, found, now_ms, stale=("overdraft", card))
    done: set[str] = set()
    for member in touched.members:
        if member in done:
            continue
        group = directory_store.group_of(conn, member)
        done |= set(group.registrations)
        found, not_aliases = queue.group_duplicates(
            group.registrations,
            group.resolution,
            group.sightings,
            lambda card: directory_store.card_json(conn, card)["balances"],
        )
        _sync(conn, found, now_ms)
        conn.executemany(
            "UPDATE conflicts SET state = 'cleared', updated_at_ms = ? WHERE id = ? AND state = 'open'",
            [(now_ms, conflict_id) for conflict_id in not_aliases],
        )
    for voucher in touched.vouchers:
        found = queue.voucher_reuses(directory_store.voucher_uses(conn, voucher), voucher)
        _sync(conn, found, now_ms, stale=("voucher_reused", voucher))
    for card in touched.changed_cards:
        issued = directory_store.issued_card(conn, card)
        found = queue.card_change_conflicts(
            None if issued is None else issued.card_type, directory_store.card_changes(conn, card)
        )
        _sync(conn, found, now_ms)
    for root in sorted(
        {directory_store.card_root(conn, c) for c in touched.changed_cards + touched.returned_cards}
    ):
        numbers = {root, directory_store.current_number(conn, root)}
        events = [event for number in sorted(numbers) for event in directory_store.card_events(conn, number)]
        found = queue.fees_after_return(
            events, directory_store.card_changes(conn, root), lambda change: _fee_of(conn, change)
        )
        _sync(conn, found, now_ms)


def _fee_of(conn: Connection, change: CardChange) -> int:
    """What the branch took for a card change: HQ booked it as a sale under the change's
    id (nothing when it was free)."""
    row = conn.execute(
        "SELECT total_fen FROM sales WHERE origin = ? AND sale_id = ?", (change.node, change.change_id)
    ).fetchone()
    return 0 if row is None else int(row[0])


def _sync(
    conn: Connection,
    found: list[ConflictRecord],
    now_ms: int,
    stale: tuple[str, str] | None = None,
) -> None:
    """Insert new conflicts, refresh open ones, reopen cleared ones that are back;
    with `stale` (kind, subject), clear that subject's open ones not found again
    (a top-up that arrived late covered the shortfall)."""
    conn.executemany(
        "INSERT INTO conflicts (id, kind, state, subject, branches, amount_fen, summary, details,"
        " detected_at_ms, updated_at_ms) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET state = 'open', subject = excluded.subject,"
        " branches = excluded.branches, amount_fen = excluded.amount_fen, summary = excluded.summary,"
        " details = excluded.details, updated_at_ms = excluded.updated_at_ms"
        " WHERE conflicts.state != 'resolved' AND (conflicts.details != excluded.details"
        " OR conflicts.state != 'open')",
        [
            (
                c.id,
                c.kind,
                c.subject,
                ",".join(c.branches),
                c.amount_fen,
                c.summary,
                queue.details_text(c.details),
                now_ms,
                now_ms,
            )
            for c in found
        ],
    )
    if stale is not None:
        kind, subject = stale
        current = {c.id for c in found}
        rows = conn.execute(
            "SELECT id FROM conflicts WHERE kind = ? AND subject = ? AND state = 'open'", (kind, subject)
        ).fetchall()
        conn.executemany(
            "UPDATE conflicts SET state = 'cleared', updated_at_ms = ? WHERE id = ?",
            [(now_ms, conflict_id) for (conflict_id,) in rows if conflict_id not in current],
        )


def _conflict(row: tuple[Any, ...]) -> Conflict:
    (id_, kind, state, subject, branches, amount_fen, summary, details, detected, updated) = row[:10]
    resolution, resolved_at_ms = row[10:]
    record = ConflictRecord(
        id_,
        kind,
        subject,
        tuple(branches.split(",")) if branches else (),
        amount_fen,
        summary,
        json.loads(details),
    )
    return queue.stored_conflict(
        record,
        state,
        detected,
        updated,
        None if resolution is None else json.loads(resolution),
        resolved_at_ms,
    )


def conflicts(conn: Connection, state: str | None) -> list[Conflict]:
    rows = conn.execute(
        f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE CAST(? AS TEXT) IS NULL OR state = ?"
        " ORDER BY detected_at_ms, id",
        (state, state),
    )
    return [_conflict(row) for row in rows]


def conflict(conn: Connection, conflict_id: str) -> Conflict | None:
    row = conn.execute(f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?", (conflict_id,)).fetchone()
    return None if row is None else _conflict(row)


def resolve(
    conn: Connection,
    clock: HybridLogicalClock,
    append: FeedAppender,
    conflict_id: str,
    action: str,
    note: str,
    by: str,
    wall_ms: int,
) -> tuple[Conflict, list[str]]:
    """Record the decision, write what it implies, and publish both to every branch."""
    held = queue.check_open(conflict(conn, conflict_id), conflict_id)
    records = queue.resolution_records(
        held.record(), action, f"resolution:{conflict_id}", clock.tick(wall_ms)
    )
    directory_store.add_records(conn, records)
    resolution = queue.resolution(held, action, note, by, wall_ms, records)
    conn.execute(
        "UPDATE conflicts SET state = 'resolved', resolution = ?, resolved_at_ms = ?, updated_at_ms = ?"
        " WHERE id = ?",
        (json.dumps(resolution, sort_keys=True), wall_ms, wall_ms, conflict_id),
    )
    changes = [record_change(r) for r in records]
    changes.append(FeedChange("conflict", conflict_id, "resolve", resolution))
    codes = feeds.publish(conn, append, changes)
    # What the decision changed may raise or clear other conflicts (a
    # separation splits a group; a write-off lifts a balance).
    refresh_conflicts(conn, records, wall_ms)
    return queue.answered(held, resolution), codes


# -- views ------------------------------------------------------------------------------


def member_by_phone(conn: Connection, phone: str) -> list[dict[str, Any]]:
    found = set(directory_store.members_with_key(conn, "phone:" + phone))
    for (member_id,) in conn.execute("SELECT id FROM members WHERE phone = ?", (phone,)).fetchall():
        found.add(directory_store.group_of(conn, member_id).survivor(member_id))
    views = [directory_store.member_json(conn, member_id) for member_id in sorted(found)]
    return [view for view in views if view is not None]


def directory_bytes(conn: Connection) -> bytes:
    """The directory's canonical bytes: equal at two replicas iff their directories are."""
    return directory_store.load_directory(conn).encode()


def card(conn: Connection, card_id: str) -> dict[str, Any] | None:
    owner = directory_store.card_owner(conn, card_id)
    if owner is None:
        return None
    survivor = directory_store.group_of(conn, owner).survivor(owner)
    return {**directory_store.card_json(conn, card_id), "member_id": survivor}
