"""Applying HQ's feed: verified pages, applied exactly once.

The page's entries and the new cursor (sequence and hash of the last applied
entry) commit in one transaction, so a crash between the two is impossible and
a page seen twice is recognised by its sequence and skipped.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from node.services import (
    card_types,
    catalogue,
    discounts,
    employees,
    levels,
    loyalty,
    members,
    operators,
    transfers,
    vouchers,
)
from node.store import sync_state
from node.store.writer import Tx
from protocol.batch import SignedBatch, verify_batch
from protocol.contract import (
    BUNDLE_UPSERT,
    CARD_TYPE_UPSERT,
    CATEGORY_UPSERT,
    CONFLICT_RESOLVE,
    DIRECTORY_RECORD,
    EMPLOYEE_UPSERT,
    LEVEL_UPSERT,
    MEMBER_LEVEL,
    MEMBER_UPSERT,
    OPERATOR_UPSERT,
    POINTS_RULE_UPSERT,
    POINTS_SETTINGS_UPSERT,
    PRODUCT_UPSERT,
    REBATE_RULE_UPSERT,
    SPECIAL_PRICE_UPSERT,
    SUPPLIER_UPSERT,
    TOP_UP_RULE_UPSERT,
    TRANSFER_DELIVER,
    TRANSFER_RECEIVED,
    VOUCHER_ISSUE,
    WAREHOUSE_UPSERT,
    Writer,
    check_entry,
)
from protocol.entry import Entry, check_chain
from protocol.errors import PayloadInvalid, SequenceGap, WrongWriter

log = logging.getLogger(__name__)

# What a node does with each kind of HQ change. An applier runs inside the page's
# transaction; one that books a document of this branch's own (a transfer
# arriving) appends its entry to this branch's log through `tx`.
Applier = Callable[[Tx, dict[str, Any]], None]


def _plain(apply: Callable[[sqlite3.Connection, dict[str, Any]], None]) -> Applier:
    return lambda tx, payload: apply(tx.conn, payload)


APPLIERS: dict[tuple[str, str], Applier] = {
    (entry_type.kind, entry_type.op): applier
    for entry_type, applier in (
        (PRODUCT_UPSERT, _plain(catalogue.apply_product)),
        (CATEGORY_UPSERT, _plain(catalogue.apply_category)),
        (SUPPLIER_UPSERT, _plain(catalogue.apply_supplier)),
        (WAREHOUSE_UPSERT, _plain(catalogue.apply_warehouse)),
        (MEMBER_UPSERT, _plain(members.apply_member_upsert)),
        (TRANSFER_DELIVER, transfers.apply_delivery),
        (TRANSFER_RECEIVED, transfers.apply_receipt_notice),
        (DIRECTORY_RECORD, _plain(members.apply_directory_record)),
        (CONFLICT_RESOLVE, _plain(members.apply_resolution)),
        (OPERATOR_UPSERT, operators.apply_operator),
        (CARD_TYPE_UPSERT, _plain(card_types.apply_card_type)),
        (TOP_UP_RULE_UPSERT, _plain(card_types.apply_top_up_rule)),
        (EMPLOYEE_UPSERT, _plain(employees.apply_employee)),
        (LEVEL_UPSERT, _plain(levels.apply_level)),
        (MEMBER_LEVEL, _plain(levels.apply_member_level)),
        (POINTS_RULE_UPSERT, _plain(loyalty.apply_points_rule)),
        (POINTS_SETTINGS_UPSERT, _plain(loyalty.apply_points_settings)),
        (SPECIAL_PRICE_UPSERT, _plain(discounts.apply_special_price)),
        (BUNDLE_UPSERT, _plain(discounts.apply_bundle)),
        (REBATE_RULE_UPSERT, _plain(discounts.apply_rebate_rule)),
        (VOUCHER_ISSUE, _plain(vouchers.apply_voucher_issue)),
    )
}


def apply_page_job(batch: SignedBatch, hq_public_key: bytes) -> Callable[[Tx], int]:
    """Verify the page against HQ's pinned key and our cursor, then apply what is new."""
    verify_batch(batch, hq_public_key)

    def job(tx: Tx) -> int:
        cursor_seq, cursor_hash = sync_state.feed_cursor(tx.conn)
        fresh: list[Entry] = [entry for entry in batch.entries if entry.seq > cursor_seq]
        if not fresh:
            return cursor_seq
        if fresh[0].seq != cursor_seq + 1:
            raise SequenceGap(
                f"feed page starts at {fresh[0].seq}, after cursor {cursor_seq}",
                expected_seq=cursor_seq + 1,
            )
        check_chain(fresh, origin=batch.origin, prev_hash=cursor_hash)
        for entry in fresh:
            tx.log.clock.observe(entry.hlc, tx.wall_ms)
            try:
                entry_type = check_entry(entry, Writer.HQ)
            except (PayloadInvalid, WrongWriter) as refused:
                # HQ signed an entry its own contract refuses: a bug at HQ. Skipping it
                # keeps the feed moving (the entry stays in HQ's log for a fixed HQ to
                # send again); stopping here would cut the branch off from every
                # later change.
                log.error("feed entry %d refused by the wire contract, skipped: %s", entry.seq, refused)
                continue
            applier = APPLIERS.get((entry.kind, entry.op)) if entry_type is not None else None
            if applier is None:
                # A newer HQ may publish kinds this build does not know; skipping
                # them keeps the feed moving and the entry stays in HQ's log.
                log.warning("feed entry %d: no handler for %s/%s; skipped", entry.seq, entry.kind, entry.op)
                continue
            applier(tx, entry.payload)
        last = fresh[-1]
        sync_state.put(tx.conn, [(sync_state.FEED_SEQ, last.seq), (sync_state.FEED_HASH, last.hash)])
        return last.seq

    return job
