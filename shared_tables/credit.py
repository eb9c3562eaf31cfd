"""Members owing credit past its term (FEATURES M8, R1's credit warning), read from the
member directory every replica holds alike: a branch's node and HQ answer the same."""

from __future__ import annotations

from typing import Any

from conflict.credit import credit_position
from shared_tables import directory_store
from shared_tables.sql import Connection


def overdue(conn: Connection, now_ms: int, term_days: int) -> list[dict[str, Any]]:
    """Cards owing credit since before `term_days` ago, the longest owing first, each with
    the member (as its survivor) who holds it."""
    cutoff_ms = now_ms - term_days * 86_400_000
    found = []
    for card_id in directory_store.cards_on_ledger(conn, "credit"):
        position = credit_position(directory_store.card_entries(conn, card_id), card_id)
        if position.owed <= 0 or position.owed_since_hlc is None:
            continue
        since_ms = position.owed_since_hlc >> 16  # the charge's stamp: its wall time
        if since_ms < cutoff_ms:
            owner = directory_store.card_owner(conn, card_id)
            member = None if owner is None else directory_store.group_of(conn, owner).survivor(owner)
            days = (now_ms - since_ms) // 86_400_000
            found.append(
                {
                    "card": card_id,
                    "member_id": member,
                    "owed_fen": position.owed,
                    "owed_since_ms": since_ms,
                    "days": days,
                }
            )
    return sorted(found, key=lambda row: (row["owed_since_ms"], row["card"]))
