"""Reading every chain HQ keeps on SQLite for hq.audit."""

from __future__ import annotations

from collections.abc import Iterator

from hq import audit, operation_log
from hq.operation_log import LoggedOperation
from hq.storage.base import feed_origin
from hq.storage.sqlite import operations
from protocol.signing import signed_by
from shared_tables.sql import Connection


def audit_all(conn: Connection, hq_public_key: bytes) -> audit.AuditReport:
    report = audit.AuditReport()

    def signed_by_hq(message: bytes, signature: bytes) -> bool:
        return signed_by(hq_public_key, message, signature)

    seen: list[LoggedOperation] = []

    def counted() -> Iterator[LoggedOperation]:
        for row in operations.every(conn):
            seen.append(row)
            yield row

    found = operation_log.first_break(counted(), signed_by_hq)
    report.checked["operations"] = len(seen)
    if seen:
        report.heads["operations"] = f"{seen[-1].seq}:{seen[-1].hash.hex()}"
    if found is not None:
        report.breaks.append(found)
    for code, public_key in conn.execute("SELECT code, public_key FROM nodes ORDER BY code").fetchall():
        head = conn.execute(
            "SELECT seq, hash, signature FROM signed_heads WHERE origin = ? ORDER BY seq DESC LIMIT 1",
            (code,),
        ).fetchone()
        rows = conn.execute("SELECT seq, hash, entry FROM log_entries WHERE origin = ? ORDER BY seq", (code,))
        _record(
            report,
            code,
            audit.first_break_in_log(
                code,
                ((s, bytes(h), bytes(e)) for s, h, e in rows),
                None if head is None else (head[0], bytes(head[1]), bytes(head[2])),
                bytes(public_key),
            ),
        )
        origin = feed_origin(code)
        feed = conn.execute("SELECT seq, hash, entry FROM feed WHERE branch = ? ORDER BY seq", (code,))
        _record(
            report, origin, audit.first_break_in_log(origin, ((s, bytes(h), bytes(e)) for s, h, e in feed))
        )
    return report


def _record(report: audit.AuditReport, chain: str, found: tuple[str | None, int, str]) -> None:
    brk, count, head = found
    report.checked[chain] = count
    if head:
        report.heads[chain] = head
    if brk is not None:
        report.breaks.append(brk)
