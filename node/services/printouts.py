"""Receipts for the branch's printer: queued in the transaction of what they are for,
so a receipt is never lost, and made into a printer's document (devices.document).

The rules:
1. A branch with a printer (node.json `printer`) queues a job in the same write as each
   sale, top-up, card sale, return and day's close (`printed`); a replayed request
   queues none, since its first time did.
2. The document is made once, right after the commit (node.services.printout_documents), from what the
   store holds then, and kept with the job: a receipt printed an hour later, after the
   printer came back, says what it would have said at the counter.
3. Jobs print in the order they were queued, each marked printed once the printer took
   it (node.peripherals.printing); a reprint is a new job of the same thing, marked as
   a copy on the paper.
4. What a receipt says: the store and till, the operator, the time (the branch's zone),
   the lines with their discounts, the tenders and the change, the member, what their
   cards hold after, the points earned with each reason, a birthday greeting on the
   member's birthday, and the sale's id as a QR code. A cash tender opens the drawer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from devices.document import Barcode, Block, Document, Line, QRCode
from node.errors import NotFound
from node.store.writer import AppendsOnly, Tx

KINDS = ("sale", "top_up", "card_sale", "return", "settlement")

Job = Callable[[Tx], dict[str, Any]]


_QUEUE = "INSERT INTO print_jobs (kind, ref, copy, created_ms) VALUES (?, ?, ?, ?)"


def printed(job: Job, kind: str, ref_key: str = "id") -> Job:
    """`job`, with its receipt queued in the same write (rule 1)."""

    def with_receipt(tx: Tx) -> dict[str, Any]:
        result = job(tx)
        if not result.get("replayed"):
            # With an AppendsOnly sale's own rows, it waits for the group's end, so the
            # job still writes nothing at once (the printer reads the queue once committed).
            tx.append(_QUEUE, [(kind, str(result[ref_key]), 0, tx.wall_ms)])
        return result

    if isinstance(job, AppendsOnly):
        return AppendsOnly(with_receipt, job.key, job.savepoint)
    return with_receipt


def queue(tx: Tx, kind: str, ref: str, copy: bool = False) -> int:
    cursor = tx.conn.execute(_QUEUE, (kind, ref, int(copy), tx.wall_ms))
    return int(cursor.lastrowid or 0)


def reprint_job(job_id: int) -> Callable[[Tx], dict[str, Any]]:
    """A copy of job `job_id`'s receipt, queued to print after what waits (rule 3)."""

    def job(tx: Tx) -> dict[str, Any]:
        row = tx.conn.execute("SELECT kind, ref FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no receipt {job_id} at this branch: GET /api/printouts lists them")
        new_id = queue(tx, row[0], row[1], copy=True)
        return job_row(tx.conn, new_id)

    return job


def job_row(conn: sqlite3.Connection, job_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, kind, ref, copy, created_ms, printed_ms, attempts, last_error, document FROM print_jobs"
        " WHERE id = ?",
        (job_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no receipt {job_id} at this branch")
    return _job_json(row)


def _job_json(row: tuple[Any, ...]) -> dict[str, Any]:
    job_id, kind, ref, copy, created_ms, printed_ms, attempts, last_error, document = row
    return {
        "id": job_id,
        "kind": kind,
        "ref": ref,
        "copy": bool(copy),
        "created_ms": created_ms,
        "printed_ms": printed_ms,
        "attempts": attempts,
        "last_error": last_error,
        "text": None if document is None else from_json(document).text(),
    }


def listing(conn: sqlite3.Connection, limit: int, ref: str | None = None) -> dict[str, Any]:
    """The receipts waiting, oldest first, and the latest printed, newest first; only
    those of `ref` (a sale's id...) when given."""
    columns = "id, kind, ref, copy, created_ms, printed_ms, attempts, last_error, document"
    only, args = ("", ()) if ref is None else (" AND ref = ?", (ref,))
    waiting = conn.execute(
        f"SELECT {columns} FROM print_jobs WHERE printed_ms IS NULL AND given_up_ms IS NULL{only}"
        " ORDER BY id LIMIT ?",
        (*args, limit),
    ).fetchall()
    count = waiting_count(conn)
    given_up = conn.execute(
        f"SELECT {columns} FROM print_jobs WHERE given_up_ms IS NOT NULL{only} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    done = conn.execute(
        f"SELECT {columns} FROM print_jobs WHERE printed_ms IS NOT NULL{only} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return {
        "waiting_count": count,
        "waiting": [_job_json(row) for row in waiting],
        "printed": [_job_json(row) for row in done],
        "given_up": [_job_json(row) for row in given_up],
    }


# -- the queue as the printer's worker reads it ------------------------------------------


def next_waiting(conn: sqlite3.Connection) -> tuple[int, str, str, bool, str | None] | None:
    """The oldest job not printed: (id, kind, ref, copy, document JSON or None)."""
    row = conn.execute(
        "SELECT id, kind, ref, copy, document FROM print_jobs"
        " WHERE printed_ms IS NULL AND given_up_ms IS NULL ORDER BY id LIMIT 1"
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]), bool(row[3]), row[4])


def waiting_count(conn: sqlite3.Connection) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM print_jobs WHERE printed_ms IS NULL AND given_up_ms IS NULL"
        ).fetchone()[0]
    )


def unmade(conn: sqlite3.Connection) -> list[tuple[int, str, str, bool]]:
    """Jobs whose document is not made yet (rule 2), oldest first."""
    rows = conn.execute(
        "SELECT id, kind, ref, copy FROM print_jobs WHERE document IS NULL AND given_up_ms IS NULL"
        " ORDER BY id LIMIT 100"
    ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2]), bool(r[3])) for r in rows]


def keep_document_job(job_id: int, document: Document) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        tx.conn.execute(
            "UPDATE print_jobs SET document = ? WHERE id = ? AND document IS NULL",
            (to_json(document), job_id),
        )

    return job


def mark_printed_job(job_id: int) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        tx.conn.execute(
            "UPDATE print_jobs SET printed_ms = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (tx.wall_ms, job_id),
        )

    return job


def give_up_job(job_id: int, error: str) -> Callable[[Tx], None]:
    """A receipt that can never be made or printed (a bug of ours, logged): it stops
    holding up the ones behind it, and is listed with why."""

    def job(tx: Tx) -> None:
        tx.conn.execute(
            "UPDATE print_jobs SET given_up_ms = ?, last_error = ? WHERE id = ?",
            (tx.wall_ms, error[:500], job_id),
        )

    return job


def mark_failed_job(job_id: int, error: str) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        tx.conn.execute(
            "UPDATE print_jobs SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error[:500], job_id),
        )

    return job


# -- documents ---------------------------------------------------------------------------


def to_json(document: Document) -> str:
    blocks: list[dict[str, Any]] = []
    for block in document.blocks:
        if isinstance(block, Line):
            blocks.append(
                {"line": block.text, "bold": block.bold, "double": block.double, "align": block.align}
            )
        elif isinstance(block, QRCode):
            blocks.append({"qr": block.data})
        else:
            blocks.append({"barcode": block.data})
    return json.dumps({"blocks": blocks, "kick_drawer": document.kick_drawer}, ensure_ascii=False)


def from_json(text: str) -> Document:
    data = json.loads(text)
    blocks: list[Block] = []
    for block in data["blocks"]:
        if "line" in block:
            blocks.append(Line(block["line"], block["bold"], block["double"], block["align"]))
        elif "qr" in block:
            blocks.append(QRCode(block["qr"]))
        else:
            blocks.append(Barcode(block["barcode"]))
    return Document(tuple(blocks), data["kick_drawer"])
