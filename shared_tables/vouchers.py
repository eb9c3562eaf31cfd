"""The vouchers HQ issued (conflict.voucher_use.IssuedVoucher), in the same table at HQ
and at every node: HQ writes it when a campaign issues them, a node when its feed
brings them (`voucher/issue`). HQ is the only writer and never changes a voucher's
terms, so a node keeps what HQ last said."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conflict.voucher_use import IssuedVoucher
from shared_tables.sql import Connection

# Part of each side's migrations; a change here must be a new migration there.
VOUCHERS_SCHEMA = """
    CREATE TABLE vouchers (
        voucher_id TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        member_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        value_fen INTEGER NOT NULL,
        min_spend_fen INTEGER NOT NULL,
        valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX vouchers_by_member ON vouchers (member_id);
    CREATE INDEX vouchers_by_campaign ON vouchers (campaign)
"""
COLUMNS = ("voucher_id", "campaign", "member_id", "value_fen", "min_spend_fen", "valid_from", "valid_until")
# Ids per IN (...) query, well under SQLite's default limit of 32,766 parameters.
SQL_CHUNK = 500


def put(conn: Connection, voucher: IssuedVoucher, name: str) -> None:
    """Keep the voucher as HQ issued it (HQ's latest word on an id it sends again)."""
    conn.execute(
        "INSERT INTO vouchers (voucher_id, campaign, member_id, name, value_fen, min_spend_fen, valid_from,"
        " valid_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (voucher_id) DO UPDATE SET"
        " campaign = excluded.campaign, member_id = excluded.member_id, name = excluded.name,"
        " value_fen = excluded.value_fen, min_spend_fen = excluded.min_spend_fen,"
        " valid_from = excluded.valid_from, valid_until = excluded.valid_until",
        (
            voucher.voucher_id,
            voucher.campaign,
            voucher.member_id,
            name,
            voucher.value_fen,
            voucher.min_spend_fen,
            voucher.valid_from,
            voucher.valid_until,
        ),
    )


def voucher(conn: Connection, voucher_id: str) -> IssuedVoucher | None:
    row = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM vouchers WHERE voucher_id = ?", (voucher_id,)
    ).fetchone()
    return None if row is None else IssuedVoucher(*row)


def issued_to(conn: Connection, members: Iterable[str]) -> list[tuple[IssuedVoucher, str]]:
    """The vouchers issued to any of these member ids, each with its campaign's name,
    by last day then id."""
    wanted = sorted(set(members))
    found: list[tuple[IssuedVoucher, str]] = []
    for start in range(0, len(wanted), SQL_CHUNK):
        chunk = wanted[start : start + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT {', '.join(COLUMNS)}, name FROM vouchers WHERE member_id IN ({marks})", chunk
        )
        found += [(IssuedVoucher(*row[:-1]), str(row[-1])) for row in rows]
    return sorted(found, key=lambda pair: (pair[0].valid_until, pair[0].voucher_id))


def of_campaign(conn: Connection, campaign: str) -> list[IssuedVoucher]:
    rows = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM vouchers WHERE campaign = ? ORDER BY voucher_id", (campaign,)
    )
    return [IssuedVoucher(*row) for row in rows]


def every(conn: Connection) -> list[tuple[IssuedVoucher, str]]:
    """Every voucher with its campaign's name, by id (what a new branch starts from)."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)}, name FROM vouchers ORDER BY voucher_id")
    return [(IssuedVoucher(*row[:-1]), str(row[-1])) for row in rows]


def payload(voucher: IssuedVoucher, name: str) -> dict[str, Any]:
    """The voucher as HQ's feed carries it (protocol.contract.vouchers.VOUCHER_ISSUE)."""
    return {
        "campaign": voucher.campaign,
        "member_id": voucher.member_id,
        "min_spend_fen": voucher.min_spend_fen,
        "name": name,
        "valid_from": voucher.valid_from,
        "valid_until": voucher.valid_until,
        "value_fen": voucher.value_fen,
        "voucher_id": voucher.voucher_id,
    }
