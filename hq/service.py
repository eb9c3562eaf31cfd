"""HQ's operations over its store: enroll, ingest pushes, serve feeds.

The HTTP layer only decodes and encodes; everything a request means is here,
so tests and the simulator can call it without sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conflict.voucher_use import IssuedVoucher
from hq import master_data, vouchers
from hq.accounts import Accounts
from hq.conflicts import Conflict
from hq.errors import AuthFailed, EnrollmentRefused, InvalidQuery, UnknownBranch
from hq.operation_log import Doer, Operation
from hq.setup import token_hash
from hq.storage.base import (
    MASTER_KINDS,
    FeedChange,
    HoldRecord,
    HQStore,
    IngestResult,
    MasterRecord,
    Product,
    feed_origin,
    main_warehouse,
)
from protocol import messages
from protocol.batch import SignedBatch, sign_batch, verify_batch
from protocol.entry import decode_entry
from protocol.errors import ProtocolError
from protocol.hlc import check_drift
from protocol.limits import MAX_BATCH_ENTRIES, MAX_CLOCK_DRIFT_MS, MAX_MESSAGE_BYTES
from protocol.signing import public_key_bytes, verify_backlog, verify_request
from protocol.throttle import FailureThrottle

log = logging.getLogger(__name__)

# A signed request whose timestamp is further from HQ's clock than the drift
# HQ accepts for entries is refused. The window is that wide because branch
# PCs' clocks are often minutes off (a 5-minute window locked a branch 10
# minutes fast out of its feed), and it is safe: feed reads are idempotent and
# answer signed data for that branch alone, so a replayed read reveals nothing
# its captured answer did not; pushes are idempotent and signed by themselves.
REQUEST_MAX_AGE_MS = MAX_CLOCK_DRIFT_MS
MAX_FEED_WAIT_S = 30
# A long-polling read woken by its feed growing waits this long before it reads, so
# the changes HQ makes for every branch in quick succession (each member's points,
# each sighting) reach a branch that is up to date in one page, one signature and
# one transaction there, not one of each per change: while the chain is busy, a
# branch's reads come once a second at most, not once per change. Branches behind
# are answered at once, and the read stays open, so a branch sees HQ go at once.
FEED_LINGER_S = 1.0
# A branch's feed reads say it is alive (its last_seen) at most this often: a busy
# chain's branches read about once a second each, and a write with its fsync per
# read would be most of what HQ's store does for them. Far inside the minute after
# which a branch shows offline (hq.live.ONLINE_WITHIN_MS).
SEEN_EVERY_MS = 10_000
FEED_PAGE_BYTES = MAX_MESSAGE_BYTES - 64 * 1024
# A hold a branch neither spends nor releases (it crashed mid-sale) stops
# reserving money after this long; a spend that arrives later still counts.
HOLD_TTL_MS = 10 * 60_000
MAX_HOLD_ID_CHARS = 100
MAX_NOTE_CHARS = 500
# Ten million yuan, the largest amount a till accepts.
MAX_HOLD_FEN = 1_000_000_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class FeedNotifier:
    """Wakes long-polling feed readers of a branch when its feed grows.

    A reader notes the version before reading the feed and waits only if it has
    not changed since, so a change landing between the read and the wait is
    never slept through.
    """

    def __init__(self) -> None:
        self._versions: dict[str, int] = defaultdict(int)
        self._events: dict[str, asyncio.Event] = {}
        self._closed = False

    def close(self) -> None:
        """Release every waiting reader at once: HQ is shutting down."""
        self._closed = True
        self.notify(list(self._events))

    @property
    def closed(self) -> bool:
        return self._closed

    def version(self, branch: str) -> int:
        return self._versions[branch]

    def notify(self, branches: Iterable[str]) -> None:
        for branch in branches:
            self._versions[branch] += 1
            event = self._events.pop(branch, None)
            if event is not None:
                event.set()

    async def wait(self, branch: str, seen_version: int, timeout_s: float) -> None:
        if self._closed or self._versions[branch] != seen_version:
            return
        event = self._events.setdefault(branch, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)


class HQ:
    def __init__(
        self, store: HQStore, key: Ed25519PrivateKey, *, wall_ms: Callable[[], int] = wall_ms
    ) -> None:
        self.store = store
        self.wall_ms = wall_ms  # an argument so the simulator runs HQ on its own clock
        self.key = key
        self.public_key = public_key_bytes(key)
        self.notifier = FeedNotifier()
        store.watch_feeds(self.notifier.notify)  # another HQ process's pushes wake readers here
        self.enroll_throttle = FailureThrottle(what="enrollment attempts")
        self.accounts = Accounts(store, wall_ms, self.notifier.notify)
        self._last_seen: dict[str, int] = {}  # when a feed read last wrote the branch's last_seen

    async def enroll(self, request: messages.EnrollRequest, address: str) -> messages.EnrollResponse:
        """Enroll a node with a one-time token. Refusals from one address are counted,
        and after a few it is refused outright for a while (protocol.throttle)."""
        now = self.wall_ms()
        self.enroll_throttle.check(address, now)
        try:
            grown = await self.store.redeem_enroll_token(
                token_hash(request.token),
                request.branch,
                request.node_public_key,
                now,
                now,
                main_warehouse(request.branch),
            )
        except EnrollmentRefused as refusal:
            self.enroll_throttle.failed(address, now)
            log.warning("enrollment of %s from %s refused: %s", request.branch, address, refusal.reason)
            raise
        self.enroll_throttle.succeeded(address)
        self.notifier.notify(grown)
        log.info("branch %s enrolled", request.branch)
        return messages.EnrollResponse(request.branch, self.public_key, feed_origin(request.branch))

    async def push(self, request: messages.PushRequest) -> messages.PushAck:
        batch = request.batch
        branch = await self.store.branch(batch.origin)
        if branch is None:
            raise UnknownBranch(f"no node is enrolled as {batch.origin}")
        # Signature and internal chain first: nothing unverified reaches storage.
        verify_batch(batch, branch.public_key)
        now = self.wall_ms()
        for entry in batch.entries:
            check_drift(entry.hlc, now)
        # The backlog is for HQ's branch health; taken only when the node signed it
        # (bound to this push's head), so nobody between can make a branch look drained.
        backlog: int | None = None
        if request.backlog_signature:
            verify_backlog(
                branch.public_key,
                batch.origin,
                batch.last_seq,
                request.reported_backlog,
                request.backlog_signature,
            )
            backlog = request.reported_backlog
        result: IngestResult = await self.store.ingest(batch, now, backlog)
        for effect in result.quarantined:
            log.warning(
                "%s#%d (%s/%s %s) stored but not applied, %s: %s",
                effect.origin,
                effect.seq,
                effect.kind,
                effect.op,
                effect.entity_id,
                effect.code,
                effect.message,
            )
        self.notifier.notify(result.feeds_grown)
        return messages.PushAck(batch.origin, result.acked_seq, result.applied, result.duplicates)

    async def authenticate(self, header: str | None, method: str, path_qs: str) -> str:
        """The branch a signed request comes from; refuses stale or forged ones."""
        fields = _parse_auth(header)
        branch = await self.store.branch(fields["branch"])
        if branch is None:
            raise UnknownBranch(f"no node is enrolled as {fields['branch']}")
        try:
            timestamp_ms = int(fields["ts"])
            signature = bytes.fromhex(fields["sig"])
        except ValueError:
            raise AuthFailed("the Authorization header's ts or sig is malformed") from None
        if abs(self.wall_ms() - timestamp_ms) > REQUEST_MAX_AGE_MS:
            raise AuthFailed(
                f"the request's timestamp is more than {REQUEST_MAX_AGE_MS // 60_000} minutes off HQ's clock;"
                " correct the branch's system clock"
            )
        try:
            verify_request(branch.public_key, branch.code, method, path_qs, timestamp_ms, signature)
        except ProtocolError as exc:
            raise AuthFailed(f"the request signature does not verify: {exc}") from None
        return branch.code

    async def feed_page(self, branch: str, after_seq: int, wait_s: float) -> messages.FeedPage:
        seen = self.notifier.version(branch)
        raws, available = await self.store.feed_after(branch, after_seq, MAX_BATCH_ENTRIES, FEED_PAGE_BYTES)
        if not raws and wait_s > 0:
            await self.notifier.wait(branch, seen, min(wait_s, MAX_FEED_WAIT_S))
            if self.notifier.version(branch) != seen and not self.notifier.closed:
                await asyncio.sleep(FEED_LINGER_S)  # let what follows the change travel with it
            raws, available = await self.store.feed_after(
                branch, after_seq, MAX_BATCH_ENTRIES, FEED_PAGE_BYTES
            )
        await self._seen(branch)
        origin = feed_origin(branch)
        batch: SignedBatch | None = None
        if raws:
            batch = sign_batch(self.key, origin, [decode_entry(raw) for raw in raws])
        return messages.FeedPage(origin, batch, available)

    async def _seen(self, branch: str) -> None:
        now = self.wall_ms()
        written = self._last_seen.get(branch)
        # A clock set back writes at once rather than wait for the time it went back.
        if written is None or not 0 <= now - written < SEEN_EVERY_MS:
            await self.store.touch(branch, now, None)
            self._last_seen[branch] = now

    async def publish_products(self, products: list[Product], doer: Doer) -> None:
        now = self.wall_ms()
        operation = Operation(doer, now, "master.upsert", "product", {"keys": [p.sku for p in products][:50]})
        self.notifier.notify(await self.store.upsert_master(products, now, operation))

    async def grade_levels(self, doer: Doer | None = None) -> list[FeedChange]:
        """Grade every member into HQ's levels now (hq.levels); the changed grades, each
        published to every branch. `doer`: the operator who asked, logged with it; None
        for HQ's own daily run."""
        now = self.wall_ms()
        operation = None if doer is None else Operation(doer, now, "levels.grade", "member")
        changes, grown = await self.store.grade_levels(now, operation)
        self.notifier.notify(grown)
        return changes

    async def expire_points(self, due_ms: int | None = None) -> int:
        """Book the expiry of HQ's own points lots due now (or by `due_ms`): HQ's
        scheduled run (hq.points_expiry). The points expired."""
        now = self.wall_ms()
        expired, grown = await self.store.expire_points(now, now if due_ms is None else due_ms)
        self.notifier.notify(grown)
        return expired

    async def run_voucher_campaign(self, body: Any, doer: Doer) -> tuple[bool, list[IssuedVoucher]]:
        """An operator's voucher campaign (hq.vouchers): checked, stored, and a voucher issued
        to each member who newly fits, published to every branch. Whether the campaign is
        new, and the vouchers issued now."""
        campaign = vouchers.parse_campaign(body)
        now = self.wall_ms()
        detail = {"value_fen": campaign.value_fen, "criteria": campaign.criteria.as_json()}
        operation = Operation(doer, now, "vouchers.issue", campaign.code, detail)
        new, issued, grown = await self.store.run_voucher_campaign(campaign, now, operation)
        self.notifier.notify(grown)
        log.info("%s ran voucher campaign %s: %d vouchers issued", doer.actor, campaign.code, len(issued))
        return new, issued

    async def author(self, kind: str, body: Any, doer: Doer) -> list[MasterRecord]:
        """An operator's products, categories, suppliers or warehouses (one or a list):
        checked, merged onto what HQ holds, stored and published to every branch."""
        given = master_data.parse(kind, body)
        keys = [fields[MASTER_KINDS[kind].KEY] for fields in given]
        held = {master_data.key_of(record): record for record in await self.store.master_records(kind, keys)}
        records = [
            master_data.merge(kind, held.get(key), fields) for key, fields in zip(keys, given, strict=True)
        ]
        now = self.wall_ms()
        operation = Operation(doer, now, "master.upsert", kind, {"keys": keys[:50], "count": len(keys)})
        self.notifier.notify(await self.store.upsert_master(records, now, operation))
        log.info("%s authored %d %s records: %s", doer.actor, len(records), kind, ", ".join(keys[:10]))
        return records

    async def publish(self, changes: list[FeedChange]) -> None:
        self.notifier.notify(await self.store.publish(changes, self.wall_ms()))

    async def place_hold(
        self, branch: str, hold_id: str, card_id: str, amount_fen: int, unsynced_fen: int
    ) -> int:
        """Authorise a stored-value spend online; returns what stays available."""
        if not 0 < len(hold_id) <= MAX_HOLD_ID_CHARS or not card_id or len(card_id) > MAX_HOLD_ID_CHARS:
            raise InvalidQuery(f"hold and card must be 1 to {MAX_HOLD_ID_CHARS} characters")
        if not 0 < amount_fen <= MAX_HOLD_FEN:
            raise InvalidQuery(f"amount_fen must be between 1 and {MAX_HOLD_FEN}")
        if not -MAX_HOLD_FEN * 1000 <= unsynced_fen <= 0:
            raise InvalidQuery("unsynced_fen is the branch's unsent debits: zero or negative")
        now = self.wall_ms()
        hold = HoldRecord(hold_id, branch, card_id, amount_fen, now + HOLD_TTL_MS)
        return await self.store.place_hold(hold, unsynced_fen, now)

    async def resolve_conflict(self, conflict_id: str, action: str, note: str, doer: Doer) -> Conflict:
        if len(note) > MAX_NOTE_CHARS:
            raise InvalidQuery(f"a note is at most {MAX_NOTE_CHARS} characters")
        now = self.wall_ms()
        operation = Operation(doer, now, "conflict.resolve", conflict_id, {"action": action, "note": note})
        conflict, feeds = await self.store.resolve_conflict(
            conflict_id, action, note, doer.actor, now, operation
        )
        self.notifier.notify(feeds)
        log.info("conflict %s resolved: %s by %s", conflict_id, action, doer.actor)
        return conflict


def _parse_auth(header: str | None) -> dict[str, str]:
    if header is None or not header.startswith("Branchline "):
        raise AuthFailed("this endpoint needs a node's signed Authorization header")
    fields = {}
    for part in header[len("Branchline ") :].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    if not {"branch", "ts", "sig"} <= fields.keys():
        raise AuthFailed("the Authorization header needs branch, ts and sig")
    return fields
