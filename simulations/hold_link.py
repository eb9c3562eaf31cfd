"""The link to HQ a simulated till's holds go through: node.services.holds.HQLink over
the simulated network.

The real checkout (node.services.checkout.sell) runs against it as a spawned task
(simulations/tasks.py). A hold request travels the simulated link and may be lost,
duplicated or late; HQ down takes no request; HQ's real service places the hold,
and its answer travels back the same way. No answer within HOLD_TIMEOUT_S of
simulated time is "no answer", and the sale goes offline, as at a real till.
Waiting for HQ to acknowledge our recent writes waits for the push acks the engine
delivers. A link belongs to one life of its node: after a crash it answers
nothing and sends nothing, as a till that died.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from hq.api import refusal
from node.services.holds import HOLD_TIMEOUT_S, HoldAnswer
from protocol.errors import Refused
from simulations.network import Network
from simulations.tasks import SimTasks
from simulations.world import SimHQ, SimNode

HOLD_TIMEOUT_MS = HOLD_TIMEOUT_S * 1000
# HQ's answer to a hold: a status line and a short JSON body.
HOLD_ANSWER_BYTES = 120
# HQ's answer to a placed hold (POST /api/holds).
HOLD_PLACED_STATUS = 201

Action = Callable[[], Awaitable[None]]


class SimHQLink:
    def __init__(
        self,
        node: SimNode,
        hq: SimHQ,
        network: Network,
        tasks: SimTasks,
        schedule: Callable[[int, Action], None],
        now_ms: Callable[[], int],
        drive: Action,
    ) -> None:
        self.node = node
        self.epoch = node.epoch
        self.hq = hq
        self.network = network
        self.tasks = tasks
        self.schedule = schedule
        self.now_ms = now_ms
        self.drive = drive  # the engine's look at what the node's replicator would send
        self._ack_waiters: list[tuple[int, asyncio.Future[bool]]] = []

    @property
    def alive(self) -> bool:
        """Whether the node still runs the life this link belongs to."""
        return self.node.up and self.node.epoch == self.epoch

    @property
    def reachable(self) -> bool:
        return self.alive and self.node.rep.hq_reachable

    @property
    def head_seq(self) -> int:
        return self.node.rep.push.head_seq

    async def caught_up(self, seq: int, timeout_s: float) -> bool:
        if not self.alive:
            return False
        if self.node.rep.push.acked_seq >= seq:
            return True
        answered: asyncio.Future[bool] = self.tasks.future()
        self._ack_waiters.append((seq, answered))
        # As the real link's wait does (Replicator.wait_acked): the push goes now, not
        # after the linger or the spacing (protocol.replication rule 3).
        self.node.rep.push.hurry(self.now_ms())
        self.schedule(self.now_ms(), self.drive)

        async def too_late() -> None:
            self.tasks.resolve(answered, False)

        self.schedule(self.now_ms() + int(timeout_s * 1000), too_late)
        return await self.tasks.wait(answered)

    def acks_moved(self) -> None:
        """The engine delivered HQ's answer to a push: wake the holds waiting for it."""
        if not self.alive:
            return
        acked = self.node.rep.push.acked_seq
        still = []
        for seq, answered in self._ack_waiters:
            if answered.done():
                continue
            if acked >= seq:
                self.tasks.resolve(answered, True)
            else:
                still.append((seq, answered))
        self._ack_waiters = still

    async def place_hold(
        self, hold_id: str, card_id: str, amount_fen: int, unsynced_fen: int
    ) -> HoldAnswer | None:
        if not self.alive:
            return None
        code, hq, network = self.node.code, self.hq, self.network
        query = urlencode(
            {"hold": hold_id, "card": card_id, "amount_fen": amount_fen, "unsynced_fen": unsynced_fen}
        )
        answered: asyncio.Future[HoldAnswer | None] = self.tasks.future()

        async def hq_receives() -> None:
            if network.hq_down(self.now_ms()):
                return
            try:
                await hq.hq.place_hold(code, hold_id, card_id, amount_fen, unsynced_fen)
                answer = HoldAnswer(True, HOLD_PLACED_STATUS)
            except Refused as exc:
                status, body = refusal(exc)
                answer = HoldAnswer(False, status, body["error"], body["message"])
            for at in network.send(code, self.now_ms(), HOLD_ANSWER_BYTES):
                self.schedule(at, self._answer(answered, answer))

        for at in network.send(code, self.now_ms(), len(query)):
            self.schedule(at, hq_receives)
        self.schedule(self.now_ms() + HOLD_TIMEOUT_MS, self._answer(answered, None))
        return await self.tasks.wait(answered)

    def _answer(self, answered: asyncio.Future[HoldAnswer | None], answer: HoldAnswer | None) -> Action:
        async def arrives() -> None:
            # The first of the answer, its copies and the timeout wins; the rest find it done.
            if self.alive:
                self.tasks.resolve(answered, answer)

        return arrives

    async def release_hold(self, hold_id: str) -> None:
        if not self.alive:
            return  # a till that died gives nothing back: HQ expires the hold
        code, hq, network = self.node.code, self.hq, self.network

        async def hq_receives() -> None:
            if not network.hq_down(self.now_ms()):
                await hq.hq.store.release_hold(code, hold_id)

        for at in network.send(code, self.now_ms(), len(hold_id)):
            self.schedule(at, hq_receives)
