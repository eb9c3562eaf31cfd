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

from node.services import catalogue, members, transfers
from node.store import sync_state
from node.store.writer import Tx
from protocol.batch import SignedBatch, verify_batch
from protocol.entry import Entry, check_chain
from protocol.errors import SequenceGap

log = logging.getLogger(__name__)

# What a node does with each kind of HQ change. An applier runs inside the page's
# transaction; one that books a document of this branch's own (a transfer
# arriving) appends its entry to this branch's log through `tx`.
Applier = Callable[[Tx, dict[str, Any]], None]


def _plain(apply: Callable[[sqlite3.Connection, dict[str, Any]], None]) -> Applier:
    return lambda tx, payload: apply(tx.conn, payload)


APPLIERS: dict[tuple[str, str], Applier] = {
    ("product", "upsert"): _plain(catalogue.apply_product),
    ("category", "upsert"): _plain(catalogue.apply_category),
    ("supplier", "upsert"): _plain(catalogue.apply_supplier),
    ("warehouse", "upsert"): _plain(catalogue.apply_warehouse),
    ("member", "upsert"): _plain(members.apply_member_upsert),
    ("transfer", "deliver"): transfers.apply_delivery,
    ("transfer", "received"): transfers.apply_receipt_notice,
    ("directory", "record"): _plain(members.apply_directory_record),
    ("conflict", "resolve"): _plain(members.apply_resolution),
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
            applier = APPLIERS.get((entry.kind, entry.op))
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
