"""The replicator's I/O shell: HTTP to HQ (node.sync.hq_client) around
protocol.replication's decisions.

Push: read unacknowledged entries, sign their head, POST them; HQ's ack moves
the machine. Pull: long-poll HQ's feed after the cursor and apply each page in
one transaction with the new cursor. Everything this module decides by itself
is how to talk HTTP; when and what comes from the state machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.config import NodeConfig
from node.store import sync_state
from node.store.changelog import LogHead, read_entries
from node.store.store import Store
from node.store.writer import Tx
from node.sync.feed import apply_page_job
from node.sync.hq_client import HQClient, NoAnswer
from node.sync.progress import DrainProgress
from protocol import messages
from protocol.batch import sign_stored
from protocol.errors import ProtocolError
from protocol.limits import MAX_MESSAGE_BYTES
from protocol.replication import Fetch, PullMachine, Push, PushMachine, WaitUntil
from protocol.signing import sign_backlog

log = logging.getLogger(__name__)

PUSH_TIMEOUT_S = 15
FEED_WAIT_S = 20  # long-poll: HQ holds an empty feed request this long
# Room for the message envelope and signature around the entries of a push.
PUSH_BYTES_BUDGET = MAX_MESSAGE_BYTES - 64 * 1024
# Refusals no retry can fix: the branch is quarantined, forked or not enrolled.
HALTING_CODES = frozenset({"forked_log", "quarantined", "bad_signature", "unknown_branch", "auth_failed"})


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Refusal:
    status: int
    code: str
    message: str
    body: dict[str, Any]


def _refusal(status: int, data: bytes) -> Refusal:
    try:
        body = json.loads(data)
        return Refusal(status, str(body.get("error", "")), str(body.get("message", "")), body)
    except (ValueError, AttributeError):
        return Refusal(status, "", data[:200].decode("utf-8", "replace"), {})


class Replicator:
    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        key: Ed25519PrivateKey,
        *,
        acked_seq: int,
        head: LogHead,
        cursor_seq: int,
        rng: random.Random | None = None,
        monotonic_ms: Callable[[], int] = monotonic_ms,
        wall_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.config = config
        self.store = store
        # Clocks are arguments so the simulator drives this class on its own time.
        self.now_ms = monotonic_ms
        self.wall_ms = wall_ms
        self.key = key
        rng = rng if rng is not None else random.Random()
        now = monotonic_ms()
        self.push = PushMachine(head_seq=head.seq, acked_seq=acked_seq, now_ms=now, rng=rng)
        self.pull = PullMachine(cursor_seq=cursor_seq, now_ms=now, rng=rng)
        self.hq_reachable = False
        self.last_error: str | None = None
        self.last_contact_ms: int | None = None
        self.crashed: str | None = None
        self._push_wake = asyncio.Event()
        self._acked_changed = asyncio.Event()
        self._pull_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # HTTP to HQ, shared with the tills' online holds (node.services.holds).
        self.hq = HQClient(config, key, wall_ms, self)
        self._progress = DrainProgress(config.branch)
        # Called after each feed page is applied (the tills' sessions read operators again).
        self.feed_applied: list[Callable[[], None]] = []

    @classmethod
    async def resume(
        cls, config: NodeConfig, store: Store, key: Ed25519PrivateKey, **clocks: Any
    ) -> Replicator:
        """A replicator continuing from what the store holds: its log head, the
        sequence HQ last acknowledged and the feed cursor (as after a restart)."""
        acked_seq = await store.read(sync_state.acked_seq)
        cursor_seq = await store.writer.run(lambda tx: sync_state.feed_cursor(tx.conn)[0])
        return cls(
            config,
            store,
            key,
            acked_seq=acked_seq,
            head=store.writer.log.head,
            cursor_seq=cursor_seq,
            **clocks,
        )

    @property
    def head_seq(self) -> int:
        """The last sequence of our log committed so far."""
        return self.push.head_seq

    async def wait_acked(self, seq: int, timeout_s: float) -> bool:
        """Wait until HQ has acknowledged our log up to `seq`; False if it has not
        within `timeout_s` (HQ slow or unreachable)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.push.acked_seq < seq:
            self.push.hurry(self.now_ms())
            self._push_wake.set()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._acked_changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def on_commit(self, head: LogHead) -> None:
        """Called on the event loop after each group commit that added entries."""
        self.push.committed(head.seq, self.now_ms())
        self._push_wake.set()

    async def start(self) -> None:
        await self.hq.open()
        self._tasks = [
            asyncio.create_task(self._guarded(self._push_loop), name="push"),
            asyncio.create_task(self._guarded(self._pull_loop), name="pull"),
        ]

    async def _guarded(self, run: Callable[[], Awaitable[None]]) -> None:
        """A bug in a loop stops that direction loudly, in the log and in /api/sync."""
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.crashed = f"{run.__name__} stopped by a bug: {type(exc).__name__}: {exc}"
            log.exception("replicator %s", self.crashed)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.hq.close()
        self._progress.finish()

    def status(self) -> dict[str, Any]:
        return {
            "branch": self.config.branch,
            "hq_url": self.config.hq_url,
            "hq_reachable": self.hq_reachable,
            "head_seq": self.push.head_seq,
            "acked_seq": self.push.acked_seq,
            "backlog": self.push.backlog,
            "push_state": self.push.phase.value,
            "pull_state": self.pull.phase.value,
            "feed_cursor": self.pull.cursor_seq,
            "halted_reason": self.crashed or self.push.halt_reason or self.pull.halt_reason,
            "last_error": self.last_error,
            "last_contact_ms": self.last_contact_ms,
        }

    # -- push ---------------------------------------------------------------

    async def _push_loop(self) -> None:
        while True:
            self._push_wake.clear()
            action = self.push.poll(self.now_ms())
            if isinstance(action, Push):
                await self._push(action)
            elif isinstance(action, WaitUntil):
                await _wait(self._push_wake, action.at_ms)
            else:
                await self._push_wake.wait()

    async def _push(self, action: Push) -> None:
        body = await self.prepare_push(action)
        try:
            status, data = await self.hq.send(
                "POST",
                "/api/push",
                data=body,
                headers={"Content-Type": "application/x-msgpack"},
                timeout_s=PUSH_TIMEOUT_S,
            )
        except NoAnswer as exc:
            self.push_unanswered(str(exc), refused=exc.refused)
            return
        await self.push_answered(status, data)

    async def prepare_push(self, action: Push) -> bytes:
        """The signed push request for the machine's Push action."""
        raws = await self._read_entries(action.first_seq, action.last_seq)
        batch = sign_stored(self.key, self.config.branch, raws)
        # What will still wait here once HQ applies this batch.
        backlog_after = self.push.head_seq - batch.head.seq
        self._progress.update(self.push.acked_seq, self.push.head_seq)
        backlog_signature = sign_backlog(self.key, self.config.branch, batch.head.seq, backlog_after)
        return messages.encode_push(batch, backlog_after, backlog_signature)

    def push_unanswered(self, reason: str, *, refused: bool = False) -> None:
        """No answer: HQ unreachable or timed out (`refused`: nothing listens there)."""
        self._unreachable(reason)
        self.push.failed(self.now_ms(), refused=refused)

    async def push_answered(self, status: int, data: bytes) -> None:
        """What HQ's answer to a push means: an ack, a rewind, a halt or a retry."""
        self._contact()
        if status == 200:
            try:
                ack = messages.decode(data)
            except ProtocolError as exc:
                self._failed_push(f"HQ's ack is unreadable: {exc}")
                return
            if not isinstance(ack, messages.PushAck) or ack.origin != self.config.branch:
                self._failed_push("HQ answered a push with something other than our ack")
                return
            await self._acked(ack.acked_seq)
            return
        refusal = _refusal(status, data)
        gap_acked = refusal.body.get("acked_seq")
        if refusal.code == "sequence_gap" and isinstance(gap_acked, int) and gap_acked >= 0:
            await self._acked(gap_acked)  # HQ holds less than we thought: rewind
        elif refusal.code in HALTING_CODES:
            self.last_error = f"HQ refused our log ({status} {refusal.code}): {refusal.message}"
            log.error("%s; pushing stops until an operator acts", self.last_error)
            self.push.halted(self.last_error)
        else:
            self._failed_push(f"HQ refused a push ({status} {refusal.code}): {refusal.message}")

    def _failed_push(self, message: str) -> None:
        self.last_error = message
        log.warning("%s; will retry", message)
        self.push.failed(self.now_ms())

    async def _acked(self, acked_seq: int) -> None:
        if acked_seq > self.push.head_seq:
            # HQ holds more of our log than we do: this store was restored from
            # an old backup. Writing on would fork the branch's log.
            self.last_error = (
                f"HQ holds {acked_seq} entries of {self.config.branch}'s log but this store ends at "
                f"{self.push.head_seq}: it was restored from an old backup; restore it from HQ's copy"
            )
            log.error(self.last_error)
            self.push.halted(self.last_error)
            return
        self.push.acked(acked_seq, self.now_ms())
        self._progress.update(self.push.acked_seq, self.push.head_seq)
        changed, self._acked_changed = self._acked_changed, asyncio.Event()
        changed.set()

        def remember(tx: Tx) -> None:
            sync_state.put(tx.conn, [(sync_state.ACKED_SEQ, acked_seq)])

        await self.store.writer.run(remember)

    async def _read_entries(self, first_seq: int, last_seq: int) -> list[bytes]:
        return await self.store.read(lambda conn: read_entries(conn, first_seq, last_seq, PUSH_BYTES_BUDGET))

    # -- pull ---------------------------------------------------------------

    async def _pull_loop(self) -> None:
        while True:
            self._pull_wake.clear()
            action = self.pull.poll(self.now_ms())
            if isinstance(action, Fetch):
                await self._fetch(action)
            elif isinstance(action, WaitUntil):
                await _wait(self._pull_wake, action.at_ms)
            else:  # halted: a person must act
                await self._pull_wake.wait()

    async def _fetch(self, action: Fetch) -> None:
        path_qs, headers = self.prepare_fetch(action)
        try:
            status, data = await self.hq.send(
                "GET", path_qs, headers=headers, timeout_s=FEED_WAIT_S + PUSH_TIMEOUT_S
            )
        except NoAnswer as exc:
            self.fetch_unanswered(str(exc), refused=exc.refused)
            return
        await self.fetch_answered(action, status, data)

    def prepare_fetch(self, action: Fetch) -> tuple[str, dict[str, str]]:
        """The signed feed read for the machine's Fetch action: path and headers."""
        path_qs = f"/api/feed?after={action.after_seq}&wait_s={FEED_WAIT_S if action.wait else 0}"
        return path_qs, self.hq.signed("GET", path_qs)

    def fetch_unanswered(self, reason: str, *, refused: bool = False) -> None:
        self._unreachable(reason)
        self.pull.failed(self.now_ms(), refused=refused)

    async def fetch_answered(self, action: Fetch, status: int, data: bytes) -> None:
        """Verify and apply a feed page (page and cursor in one transaction)."""
        self._contact()
        if status != 200:
            refusal = _refusal(status, data)
            self.last_error = f"HQ refused a feed read ({status} {refusal.code}): {refusal.message}"
            log.warning(self.last_error)
            self.pull.failed(self.now_ms())
            return
        try:
            page = messages.decode(data)
            if not isinstance(page, messages.FeedPage) or page.origin != self.config.feed_origin:
                raise ProtocolError("HQ answered a feed read with something other than our feed")
            cursor = action.after_seq
            if page.batch is not None:
                job = apply_page_job(page.batch, self.config.hq_public_key)
                cursor = await self.store.writer.run(job)
                for listener in self.feed_applied:
                    listener()
        except ProtocolError as exc:
            # A page that fails verification is never applied; retrying may get
            # a good copy (a proxy mangled it) and the error is shown meanwhile.
            self.last_error = f"feed page refused: {exc}"
            log.error(self.last_error)
            self.pull.failed(self.now_ms())
            return
        self.pull.applied(cursor, self.now_ms())

    # -- reachability -------------------------------------------------------

    def _contact(self) -> None:
        now = self.now_ms()
        self.push.link_up(now)
        self.pull.link_up(now)
        self._push_wake.set()
        self._pull_wake.set()
        if not self.hq_reachable:
            log.info("HQ at %s is reachable", self.config.hq_url)
        self.hq_reachable = True
        self.last_contact_ms = self.wall_ms()

    def _unreachable(self, reason: str) -> None:
        if self.hq_reachable:
            log.warning("HQ at %s is unreachable: %s", self.config.hq_url, reason)
        self.hq_reachable = False
        self.last_error = f"HQ unreachable: {reason}"


async def _wait(wake: asyncio.Event, until_ms: int) -> None:
    """Sleep until the monotonic deadline, or until woken."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), max(0, until_ms - monotonic_ms()) / 1000)
