"""The interface every HQ storage backend implements, and the records it returns.

A backend owns transactions and per-origin ordering; the decisions of what an
entry means come from hq.plan and conflict/, so backends cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from protocol.batch import SignedBatch

FEED_ORIGIN_PREFIX = "hq:"


def feed_origin(branch: str) -> str:
    return FEED_ORIGIN_PREFIX + branch


@dataclass(frozen=True)
class BranchRecord:
    code: str
    public_key: bytes
    enrolled_at_ms: int
    acked_seq: int
    last_seen_ms: int | None
    reported_backlog: int
    quarantined_reason: str | None
    quarantined_at_ms: int | None


@dataclass(frozen=True)
class IngestResult:
    acked_seq: int
    applied: int
    duplicates: int
    feeds_grown: tuple[str, ...] = ()  # branches whose feeds the batch added to


@dataclass(frozen=True)
class FeedChange:
    """A change HQ publishes into branches' feeds."""

    kind: str
    entity_id: str
    op: str
    payload: Any


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_fen: int
    unit: str = "pcs"
    active: bool = True

    def as_change(self) -> FeedChange:
        return FeedChange(
            "product",
            self.sku,
            "upsert",
            {
                "sku": self.sku,
                "name": self.name,
                "price_fen": self.price_fen,
                "unit": self.unit,
                "active": self.active,
            },
        )


@dataclass(frozen=True)
class HoldRecord:
    """An online authorisation of a stored-value spend: money set aside on a card
    until the spend's entry arrives (captured), the branch gives it back (released),
    or it expires."""

    hold_id: str
    branch: str
    card_id: str
    amount_fen: int
    expires_at_ms: int


class HQStore(Protocol):
    """HQ's storage. Every method is one transaction; errors are hq.errors or
    protocol.errors types (a fork raises ForkedLog after recording the quarantine)."""

    async def close(self) -> None: ...

    # enrollment
    async def add_enroll_token(self, branch: str, token_hash: str, expires_at_ms: int) -> None: ...
    async def redeem_enroll_token(
        self, token_hash: str, branch: str, public_key: bytes, now_ms: int, wall_ms: int
    ) -> None: ...

    # branches
    async def branch(self, code: str) -> BranchRecord | None: ...
    async def branches(self) -> list[BranchRecord]: ...
    async def touch(self, code: str, now_ms: int, reported_backlog: int | None) -> None: ...

    # the branches' logs
    async def ingest(self, batch: SignedBatch, now_ms: int, reported_backlog: int) -> IngestResult: ...
    async def log_entries(self, origin: str, first_seq: int, last_seq: int) -> list[bytes]: ...

    # HQ's feeds
    async def publish(self, changes: list[FeedChange], wall_ms: int) -> list[str]: ...
    async def feed_after(
        self, branch: str, after_seq: int, max_entries: int, max_bytes: int
    ) -> tuple[list[bytes], int]: ...

    # master data and reports
    async def upsert_products(self, products: list[Product], wall_ms: int) -> None: ...
    async def products(self) -> list[Product]: ...
    async def sales_summary(self, branch: str | None) -> tuple[int, int]: ...
    async def member_by_phone(self, phone: str) -> list[dict[str, Any]]: ...

    # the shared member directory
    async def member(self, member_id: str) -> dict[str, Any] | None: ...
    async def card(self, card_id: str) -> dict[str, Any] | None: ...
    async def directory_bytes(self) -> bytes: ...

    # online payment holds
    async def place_hold(self, hold: HoldRecord, unsynced_fen: int, now_ms: int) -> int: ...
    async def release_hold(self, branch: str, hold_id: str) -> bool: ...

    # the conflict queue
    async def conflicts(self, state: str | None) -> list[dict[str, Any]]: ...
    async def conflict(self, conflict_id: str) -> dict[str, Any] | None: ...
    async def resolve_conflict(
        self, conflict_id: str, action: str, note: str, by: str, wall_ms: int
    ) -> tuple[dict[str, Any], list[str]]: ...
