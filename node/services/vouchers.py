"""Vouchers at the till (FEATURES L10): the vouchers HQ issued, as the feed brings them;
whether a sale may take one (conflict.voucher_use, on the branch's date); a member's
vouchers with their state; and a return that gives a voucher's use back.

A till takes a voucher only when this branch has heard HQ issue it, to the sale's member
(under any id of their duplicate group), within its days, unused as far as this branch
knows, on a sale of at least its minimum, for at most its value. Two branches apart
may both take one voucher; HQ flags the later use (conflict.vouchers).

A return reinstates a voucher when, with this return, the sale's whole voucher share
has come back (vouchers are refunded last, so everything else the sale paid came back
before it) and the voucher is still within its days on the return's date: the use is
undone by a reinstatement (a record of the shared directory, so every branch and HQ
learn it), and the member may use the voucher again. A voucher past its last day
stays used. A return never pays a voucher's share out.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from conflict.voucher_use import IssuedVoucher, Refusal, Reinstatement, check_use, state_on
from node.errors import (
    UnknownVoucher,
    VoucherExpired,
    VoucherMinSpend,
    VoucherNotYours,
    VoucherOverValue,
    VoucherUsed,
)
from node.services.members import member_or_survivor
from node.store.writer import Tx
from protocol.contract import VOUCHER_REINSTATE
from protocol.errors import Refused
from shared_tables import directory_store
from shared_tables import vouchers as issued

_REFUSED: dict[Refusal, type[Refused]] = {
    Refusal.NOT_YOURS: VoucherNotYours,
    Refusal.EXPIRED: VoucherExpired,
    Refusal.USED: VoucherUsed,
    Refusal.MIN_SPEND: VoucherMinSpend,
    Refusal.OVER_VALUE: VoucherOverValue,
}


def apply_voucher_issue(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """A voucher HQ issued to a member (protocol.contract.vouchers.VOUCHER_ISSUE)."""
    voucher = IssuedVoucher(
        payload["voucher_id"],
        payload["campaign"],
        payload["member_id"],
        payload["value_fen"],
        payload["min_spend_fen"],
        payload["valid_from"],
        payload["valid_until"],
    )
    issued.put(conn, voucher, payload.get("name", ""))


def require_issued(conn: sqlite3.Connection, voucher_id: str) -> IssuedVoucher:
    found = issued.voucher(conn, voucher_id)
    if found is None:
        raise UnknownVoucher(
            f"no voucher {voucher_id} was issued, as far as this branch has heard from HQ: check the"
            " code; one HQ issued in the last minutes arrives with the branch's next sync"
        )
    return found


def holder(conn: sqlite3.Connection, voucher: IssuedVoucher) -> str:
    """The survivor of the member the voucher was issued to (rule 2)."""
    return directory_store.group_of(conn, voucher.member_id).survivor(voucher.member_id)


def check_tender(
    conn: sqlite3.Connection,
    voucher_id: str,
    member_id: str | None,
    total_fen: int,
    amount_fen: int,
    day: str,
) -> None:
    """Refuse the voucher tender unless conflict.voucher_use allows it: `member_id` is the
    sale's member as its survivor (None: no member), `day` the branch's date."""
    voucher = require_issued(conn, voucher_id)
    refused = check_use(
        voucher,
        holder=holder(conn, voucher),
        customer=member_id,
        day=day,
        total_fen=total_fen,
        amount_fen=amount_fen,
        uses=directory_store.voucher_uses(conn, voucher_id),
    )
    if refused is not None:
        reason, message = refused
        raise _REFUSED[reason](message)


def member_vouchers(conn: sqlite3.Connection, member_id: str, day: str) -> dict[str, Any]:
    """The vouchers of the member's whole duplicate group, by last day, each with its state
    on `day` and, once used, where and by which redemption."""
    survivor = member_or_survivor(conn, member_id)
    group = directory_store.group_of(conn, survivor).members_of(survivor)
    shown = []
    for voucher, name in issued.issued_to(conn, group):
        uses = directory_store.voucher_uses(conn, voucher.voucher_id)
        shown.append(
            {
                "voucher_id": voucher.voucher_id,
                "campaign": voucher.campaign,
                "name": name,
                "issued_to": voucher.member_id,
                "value_fen": voucher.value_fen,
                "min_spend_fen": voucher.min_spend_fen,
                "valid_from": voucher.valid_from,
                "valid_until": voucher.valid_until,
                "state": state_on(voucher, day, uses),
                "used_at": uses[0].node if uses else None,
                "redemption": uses[0].redemption_id if uses else None,
            }
        )
    return {"member_id": survivor, "looked_up_as": member_id, "vouchers": shown}


def reinstate_returned(tx: Tx, return_id: str, sale_id: str, day: str) -> list[str]:
    """After a return of `sale_id` is booked: each voucher tender of the sale whose whole
    share has now come back (this return's refunds and the earlier ones), still within
    its days on `day`, and not reinstated yet, is reinstated. The vouchers reinstated."""
    conn = tx.conn
    rows = conn.execute(
        "SELECT t.tender_no, t.ref, t.amount_fen, COALESCE(SUM(f.amount_fen), 0) FROM sale_tenders t"
        " LEFT JOIN sale_return_refunds f ON f.tender_no = t.tender_no"
        " AND f.return_id IN (SELECT id FROM sale_returns WHERE sale_id = t.sale_id)"
        " WHERE t.sale_id = ? AND t.kind = 'voucher' GROUP BY t.tender_no, t.ref, t.amount_fen"
        " ORDER BY t.tender_no",
        (sale_id,),
    ).fetchall()
    reinstated = []
    for tender_no, voucher_id, amount_fen, refunded_fen in rows:
        if refunded_fen < amount_fen or voucher_id is None:
            continue
        voucher = issued.voucher(conn, voucher_id)
        redemption_id = f"{sale_id}-t{tender_no}"  # as checkout minted it
        held = [u for u in directory_store.voucher_uses(conn, voucher_id) if u.redemption_id == redemption_id]
        # A voucher this branch never heard HQ issue (taken before vouchers were issued)
        # is not reinstated, nor one past its last day (it stays used), nor one given back.
        if voucher is None or day > voucher.valid_until or not held:
            continue
        reinstatement_id = f"{return_id}-v{tender_no}"
        entry = tx.record(
            VOUCHER_REINSTATE,
            reinstatement_id,
            {
                "voucher_id": voucher_id,
                "redemption_id": redemption_id,
                "sale_id": sale_id,
                "return_id": return_id,
            },
        )
        directory_store.add_records(
            conn, [Reinstatement(reinstatement_id, redemption_id, voucher_id, entry.hlc, tx.log.origin)]
        )
        reinstated.append(voucher_id)
    return reinstated


def reinstated_by(conn: sqlite3.Connection, return_id: str) -> list[str]:
    """The vouchers a return reinstated (their ids are the return's, `-v<tender>`)."""
    rows = conn.execute(
        "SELECT voucher_id FROM dir_reinstatements WHERE reinstatement_id > ? AND reinstatement_id < ?"
        " ORDER BY reinstatement_id",
        (f"{return_id}-v", f"{return_id}-w"),
    )
    return [str(voucher_id) for (voucher_id,) in rows]
