"""Members' photos by the SHA-256 of their bytes: the same table at every node and at HQ.

A member's profile names its photo ("sha256:<hex>", conflict.profile's last writer
wins); the bytes are kept here once, whichever members name them. A branch holds
the photos it took (their bytes went to HQ in its log, entry member/photo) and those
it fetched from HQ when a till asked for one; HQ holds every photo a branch sent.
The hash is always computed here from the bytes, never taken from a sender.
"""

from __future__ import annotations

import hashlib
import re

from shared_tables.sql import Connection

# Part of each side's migrations; a change here must be a new migration there.
PHOTOS_SCHEMA = """
    CREATE TABLE photos (
        sha256 TEXT PRIMARY KEY,
        content_type TEXT NOT NULL,
        data BLOB NOT NULL
    ) WITHOUT ROWID
"""

REF_PREFIX = "sha256:"
_HEX = re.compile(r"[0-9a-f]{64}")


def ref_of(data: bytes) -> str:
    """The name a profile gives these bytes."""
    return REF_PREFIX + hashlib.sha256(data).hexdigest()


def hex_of(ref: str) -> str | None:
    """The hex digest a reference names; None if it is not a reference at all."""
    digest = ref.removeprefix(REF_PREFIX)
    return digest if ref.startswith(REF_PREFIX) and _HEX.fullmatch(digest) else None


def put(conn: Connection, content_type: str, data: bytes) -> str:
    """Keep the bytes (once: the same bytes are the same photo) and return their reference."""
    ref = ref_of(data)
    conn.execute(
        "INSERT OR IGNORE INTO photos (sha256, content_type, data) VALUES (?, ?, ?)",
        (ref.removeprefix(REF_PREFIX), content_type, data),
    )
    return ref


def get(conn: Connection, ref: str) -> tuple[str, bytes] | None:
    """The content type and bytes of a photo held here; None if not (yet) held."""
    digest = hex_of(ref)
    if digest is None:
        return None
    row = conn.execute("SELECT content_type, data FROM photos WHERE sha256 = ?", (digest,)).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


def held(conn: Connection, ref: str) -> bool:
    digest = hex_of(ref)
    return digest is not None and (
        conn.execute("SELECT 1 FROM photos WHERE sha256 = ?", (digest,)).fetchone() is not None
    )
