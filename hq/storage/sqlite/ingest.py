"""The branches' logs at HQ on SQLite: storing a verified batch verbatim, applying
what its entries mean, setting aside the effects it cannot apply, and keeping a
forking branch's evidence.

What the batch is (held, new, gap, fork) is protocol.ingest's decision; what its
entries mean is hq.plan's. Here they are executed in the ingest transaction.

Effects are applied the fast way first: the whole batch's plan in one go. Only
if that raises a refusal (a directory record clashing with one HQ holds) or a
uniqueness failure (a sale id booked twice) is it rolled back to a savepoint and
applied entry by entry, each in its own savepoint, the failing ones set aside.
Anything else is a bug of ours and fails the push loudly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from hq import quarantine, trust
from hq.errors import Quarantined, UnknownBranch
from hq.plan import Plan, RefusedEffect, plan_entries
from hq.storage.base import IngestResult, QuarantinedEffect, main_warehouse
from hq.storage.sqlite import directory, enrollment, feeds, inventory, levels, member_stats, reports, vouchers
from hq.storage.sqlite.feeds import FeedAppender
from hq.trust import BranchFacts
from protocol.batch import SignedBatch
from protocol.business_day import DEFAULT, BusinessDay
from protocol.entry import Entry
from protocol.errors import Refused
from protocol.hlc import HybridLogicalClock
from protocol.ingest import AllHeld, Fork, Gap, NewEntries, decide, held_range
from shared_tables import photos
from shared_tables.sql import Connection


@dataclass(frozen=True, slots=True)
class Push:
    """A verified batch to ingest, when HQ received it and the backlog its branch reported."""

    batch: SignedBatch
    now_ms: int
    reported_backlog: int | None


@dataclass(frozen=True, slots=True)
class Checked:
    """What the store holds of a push's branch, and what the push is (held, new or a fork)."""

    acked_seq: int
    head_hash: bytes
    enrolled_at_ms: int
    decision: NewEntries | AllHeld | Fork
    days: BusinessDay  # the branch's business day before the batch


def ingest(
    conn: Connection,
    clock: HybridLogicalClock,
    batch: SignedBatch,
    now_ms: int,
    reported_backlog: int | None,
) -> IngestResult | Fork:
    """Store and apply the batch's new entries and move the acked sequence; or, for a
    fork, quarantine the branch with the evidence and return the fork (the caller
    refuses the push once that is committed)."""
    return _apply(conn, clock, Push(batch, now_ms, reported_backlog), check(conn, batch))


def ingest_each(
    conn: Connection, clock: HybridLogicalClock, pushes: Sequence[Push]
) -> list[IngestResult | Fork | Refused]:
    """Several pushes in one transaction, in order, each seeing the ones before it: a
    push refused (unknown or quarantined branch, a gap) is answered with its refusal
    and the others still apply. A refusal is only ever raised by `check`, before the
    push writes anything, so no savepoint is needed to take it back."""
    outcomes: list[IngestResult | Fork | Refused] = []
    for push in pushes:
        try:
            checked = check(conn, push.batch)
        except Refused as refusal:
            outcomes.append(refusal)
            continue
        outcomes.append(_apply(conn, clock, push, checked))
    return outcomes


def check(conn: Connection, batch: SignedBatch) -> Checked:
    """Read what the batch is against what HQ holds of its branch, writing nothing;
    raise what refuses it."""
    origin = batch.origin
    row = conn.execute(
        "SELECT acked_seq, head_hash, quarantined_reason, enrolled_at_ms, day_timezone, day_starts_at"
        " FROM nodes WHERE code = ?",
        (origin,),
    ).fetchone()
    if row is None:
        raise UnknownBranch(f"no node is enrolled as {origin}")
    acked_seq, head_hash, quarantined_reason, enrolled_at_ms = row[0], bytes(row[1]), row[2], row[3]
    days = enrollment.business_day_of(row[4], row[5])
    if quarantined_reason is not None:
        raise Quarantined(f"branch {origin} is quarantined: {quarantined_reason}")
    # The usual push extends the log from its head: `decide` needs no held bytes for it
    # (entry acked_seq is only the evidence of a fork), so none are read.
    extends = batch.first_seq == acked_seq + 1 and batch.entries[0].prev_hash == head_hash
    needed = range(0) if extends else held_range(batch.first_seq, batch.last_seq, acked_seq)
    held = (
        {
            seq: bytes(raw)
            for seq, raw in conn.execute(
                "SELECT seq, entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ?",
                (origin, needed[0], needed[-1]),
            )
        }
        if needed
        else {}
    )
    decision = decide(batch.entries, acked_seq=acked_seq, head_hash=head_hash, held=held)
    if isinstance(decision, Gap):
        raise decision.refusal(origin)
    return Checked(acked_seq, head_hash, enrolled_at_ms, decision, days)


def _apply(conn: Connection, clock: HybridLogicalClock, push: Push, checked: Checked) -> IngestResult | Fork:
    batch, now_ms, decision = push.batch, push.now_ms, checked.decision
    origin = batch.origin
    if isinstance(decision, Fork):
        _quarantine(conn, batch, decision, now_ms)
        return decision
    acked_seq, head_hash, applied = checked.acked_seq, checked.head_hash, 0
    feeds_grown: set[str] = set()
    set_aside: list[QuarantinedEffect] = []
    if isinstance(decision, NewEntries):
        fresh = decision.entries
        conn.executemany(
            "INSERT INTO log_entries (origin, seq, hlc, hash, entry) VALUES (?, ?, ?, ?, ?)",
            [(origin, e.seq, e.hlc, e.hash, e.raw) for e in fresh],
        )
        for entry in fresh:
            clock.observe(entry.hlc, now_ms)
        facts = _branch_facts(conn, origin, checked.enrolled_at_ms, fresh[0].seq)
        trusted, untrusted = trust.screen(fresh, facts)
        feeds_grown, refused = apply_effects(
            conn, trusted, feeds.FeedAppender(clock, now_ms), now_ms, checked.days
        )
        refused = sorted([*untrusted, *refused], key=lambda effect: effect.entry.seq)
        set_aside = [quarantine.effect_set_aside(r, now_ms) for r in refused]
        _set_aside(conn, set_aside)
        last = fresh[-1]
        # The batch's head is its last entry, new here: a checkpoint every entry up to it is proven by.
        conn.execute(
            "INSERT INTO signed_heads (origin, seq, hash, signature, received_at_ms) VALUES (?, ?, ?, ?, ?)",
            (origin, last.seq, last.hash, batch.signature, now_ms),
        )
        acked_seq, head_hash, applied = last.seq, last.hash, len(fresh)
    conn.execute(
        "UPDATE nodes SET acked_seq = ?, head_hash = ?, last_seen_ms = ?,"
        " reported_backlog = COALESCE(?, reported_backlog) WHERE code = ?",
        (acked_seq, head_hash, now_ms, push.reported_backlog, origin),
    )
    return IngestResult(acked_seq, applied, decision.duplicates, tuple(sorted(feeds_grown)), tuple(set_aside))


def _branch_facts(conn: Connection, origin: str, enrolled_at_ms: int, first_seq: int) -> BranchFacts:
    previous = conn.execute(
        "SELECT hlc FROM log_entries WHERE origin = ? AND seq = ?", (origin, first_seq - 1)
    ).fetchone()
    # Inactive ones too: entries written offline before HQ retired a warehouse still arrive.
    # The main warehouse is the branch's from enrollment on, whatever the table says.
    # One statement for both: at a chain's scale a push is a handful of round trips.
    owned = conn.execute(
        "SELECT 'warehouse', code FROM warehouses WHERE branch = ?"
        " UNION ALL SELECT 'operator', id FROM operators WHERE branch = ?",
        (origin, origin),
    ).fetchall()
    warehouses = frozenset(
        [main_warehouse(origin).code] + [key for kind, key in owned if kind == "warehouse"]
    )
    operators = frozenset(key for kind, key in owned if kind == "operator")
    return BranchFacts(origin, enrolled_at_ms, 0 if previous is None else previous[0], warehouses, operators)


def apply_effects(
    conn: Connection,
    entries: Sequence[Entry],
    append: FeedAppender,
    now_ms: int,
    days: BusinessDay = DEFAULT,
) -> tuple[set[str], list[RefusedEffect]]:
    """Apply what the entries mean, all but those HQ cannot apply; the branches whose
    feeds grew, and the entries refused (in log order) with why. `days`: the branch's
    business day before the first entry."""
    plan = plan_entries(entries, days)
    conn.execute("SAVEPOINT effects")
    try:
        feeds_grown = execute_plan(conn, plan, append, now_ms)
        refused = plan.refused
    except (Refused, sqlite3.IntegrityError):
        conn.execute("ROLLBACK TO effects")
        feeds_grown, refused = _apply_one_by_one(conn, entries, plan.refused, append, now_ms, days)
    conn.execute("RELEASE effects")
    return feeds_grown, refused


def _apply_one_by_one(
    conn: Connection,
    entries: Sequence[Entry],
    refused_in_planning: list[RefusedEffect],
    append: FeedAppender,
    now_ms: int,
    days: BusinessDay,
) -> tuple[set[str], list[RefusedEffect]]:
    """The slow way, once the batch as a whole failed: each entry in its own savepoint."""
    feeds_grown: set[str] = set()
    refused = {r.entry.seq: r for r in refused_in_planning}
    for entry in entries:
        if entry.seq in refused:
            continue
        plan = plan_entries([entry], days)
        refused.update((r.entry.seq, r) for r in plan.refused)
        conn.execute("SAVEPOINT entry")
        try:
            feeds_grown |= execute_plan(conn, plan, append, now_ms)
            days = plan.days
        except Refused as refusal:
            conn.execute("ROLLBACK TO entry")
            refused[entry.seq] = RefusedEffect(entry, refusal)
        except sqlite3.IntegrityError as clash:
            conn.execute("ROLLBACK TO entry")
            refused[entry.seq] = RefusedEffect(entry, quarantine.record_conflict(entry, clash))
        conn.execute("RELEASE entry")
    return feeds_grown, [refused[seq] for seq in sorted(refused)]


def _set_aside(conn: Connection, effects: list[QuarantinedEffect]) -> None:
    conn.executemany(
        "INSERT INTO effect_quarantine (origin, seq, kind, op, entity_id, code, message, at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(q.origin, q.seq, q.kind, q.op, q.entity_id, q.code, q.message, q.at_ms) for q in effects],
    )


def execute_plan(conn: Connection, plan: Plan, append: FeedAppender, now_ms: int) -> set[str]:
    """Apply what the entries mean; the branches whose feeds grew."""
    if plan.days_set is not None:
        origin, days = plan.days_set
        conn.execute(
            "UPDATE nodes SET day_timezone = ?, day_starts_at = ? WHERE code = ?",
            (days.timezone, days.starts_at, origin),
        )
    if plan.devices_set is not None:
        origin, devices = plan.devices_set
        conn.execute("UPDATE nodes SET devices = ? WHERE code = ?", (json.dumps(devices), origin))
    reports.record_sales(conn, plan.sales)
    reports.record_returns(conn, plan.returns)
    reports.record_joins(conn, plan.joins, plan.card_sales)
    reports.record_points(conn, plan.points)
    member_stats.record(conn, plan.member_purchases)
    feeds_grown = directory.merge_members(conn, plan.members, append) if plan.members else set()
    if plan.directory:
        feeds_grown |= directory.merge_records(conn, plan.directory, append, now_ms)
    # After the directory: a member registered in this batch may buy or refer in it too.
    if plan.member_purchases:
        feeds_grown |= directory.first_purchase_referrals(conn, plan.member_purchases, append, now_ms)
    if plan.level_purchases:
        feeds_grown |= levels.record_purchases(conn, plan.level_purchases, append, now_ms)
    if plan.member_purchases:
        feeds_grown |= levels.regrade_after_returns(conn, plan.member_purchases, append, now_ms)
    for photo in plan.photos:
        photos.put(conn, photo.content_type, photo.data)
    # After the directory: a top-up's id sent twice is refused there, by name, first.
    reports.record_top_ups(conn, plan.top_ups)
    vouchers.record_uses(conn, plan.voucher_uses)
    # Only a transfer is routed by who is enrolled; a push of sales does not read every branch.
    enrolled = set(feeds.enrolled(conn)) if plan.inventory.transfers else set()
    feeds_grown |= inventory.execute(conn, plan.inventory, append, enrolled)
    return feeds_grown


def _quarantine(conn: Connection, batch: SignedBatch, fork: Fork, now_ms: int) -> None:
    conn.execute(
        "UPDATE nodes SET quarantined_reason = ?, quarantined_at_ms = ?"
        " WHERE code = ? AND quarantined_reason IS NULL",
        (quarantine.fork_reason(fork, now_ms), now_ms, batch.origin),
    )
    conn.execute(
        "INSERT INTO forks (origin, seq, held_entry, offered_entry, offered_head_seq,"
        " offered_head_hash, offered_signature, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            batch.origin,
            fork.seq,
            fork.held,
            fork.offered,
            batch.head.seq,
            batch.head.hash,
            batch.signature,
            now_ms,
        ),
    )
