"""Reading the branches' logs HQ keeps on SQLite: their entries, the proof of an entry
by a signed head, and the entries whose effects were set aside."""

from __future__ import annotations

from hq.errors import NotFound, ProofTooLong
from hq.log_proof import MAX_PROOF_BYTES, LogProof, SignedHead
from hq.storage.base import QuarantinedEffect
from shared_tables.sql import Connection


def log_entries(conn: Connection, origin: str, first_seq: int, last_seq: int) -> list[bytes]:
    rows = conn.execute(
        "SELECT entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (origin, first_seq, last_seq),
    )
    return [bytes(row[0]) for row in rows]


def log_proof(conn: Connection, origin: str, seq: int) -> LogProof:
    """Entry `seq` of `origin`'s log, proven by the first signed head at or after it."""
    node = conn.execute("SELECT public_key, acked_seq FROM nodes WHERE code = ?", (origin,)).fetchone()
    if node is None:
        raise NotFound(f"HQ holds no log of {origin}")
    public_key, acked_seq = bytes(node[0]), node[1]
    if not 1 <= seq <= acked_seq:
        raise NotFound(f"HQ holds entries 1 to {acked_seq} of {origin}'s log, not {seq}")
    row = conn.execute(
        "SELECT seq, hash, signature FROM signed_heads WHERE origin = ? AND seq >= ? ORDER BY seq LIMIT 1",
        (origin, seq),
    ).fetchone()
    if row is None:
        raise NotFound(f"HQ kept no signed head of {origin} at or after entry {seq}")
    head = SignedHead(row[0], bytes(row[1]), bytes(row[2]))
    entries: list[bytes] = []
    size = 0
    for (raw,) in conn.execute(
        "SELECT entry FROM log_entries WHERE origin = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (origin, seq, head.seq),
    ):
        size += len(raw)
        if size > MAX_PROOF_BYTES:
            raise ProofTooLong(
                f"entry {seq} of {origin} is proven by its head {head.seq}, over more than"
                f" {MAX_PROOF_BYTES} bytes of entries"
            )
        entries.append(bytes(raw))
    return LogProof(origin, seq, tuple(entries), head, public_key)


def quarantined_effects(conn: Connection, branch: str | None) -> list[QuarantinedEffect]:
    """Newest first: the operator looks at what just went wrong."""
    rows = conn.execute(
        "SELECT origin, seq, kind, op, entity_id, code, message, at_ms FROM effect_quarantine"
        " WHERE CAST(? AS TEXT) IS NULL OR origin = ? ORDER BY at_ms DESC, origin, seq DESC",
        (branch, branch),
    )
    return [QuarantinedEffect(*row) for row in rows]
