"""The simulated till's link to HQ waits for HQ to hold the log as the real one does
(node.sync.replicator.Replicator.wait_acked): it hurries the push past the linger and
the spacing (protocol.replication rule 3), and has the engine look at the node at once."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any, cast

from protocol.replication import LINGER_MS, PUSH_SPACING_MS, Push, PushMachine, WaitUntil
from simulations.hold_link import Action, SimHQLink
from simulations.tasks import SimTasks


async def test_a_hold_waiting_for_hq_hurries_the_push_and_the_engine_drives_at_once() -> None:
    now_ms = 20
    pusher = PushMachine(head_seq=0, acked_seq=0, now_ms=0, rng=random.Random(1))
    pusher.committed(1, now_ms=0)
    assert pusher.poll(LINGER_MS) == Push(1, 1)
    pusher.committed(2, now_ms=10)  # sold while the push was out
    pusher.acked(1, now_ms=now_ms)
    assert pusher.poll(now_ms) == WaitUntil(LINGER_MS + PUSH_SPACING_MS)  # spaced

    async def drive() -> None:
        raise AssertionError("never run here: the test looks only at what was scheduled")

    scheduled: list[tuple[int, Action]] = []
    node = SimpleNamespace(up=True, epoch=1, rep=SimpleNamespace(push=pusher, hq_reachable=True))
    tasks = SimTasks()
    link = SimHQLink(
        cast(Any, node),
        cast(Any, None),
        cast(Any, None),
        tasks,
        lambda at_ms, action: scheduled.append((at_ms, action)),
        lambda: now_ms,
        drive,
    )

    async def hold() -> None:
        await link.caught_up(2, timeout_s=5)

    tasks.spawn("BR01", hold())
    await tasks.settle()
    assert scheduled[0] == (now_ms, drive)  # the engine looks at the node now
    assert pusher.poll(now_ms) == Push(2, 2)  # not at 55: hurried

    pusher.acked(2, now_ms=now_ms + 1)
    link.acks_moved()
    await tasks.settle()
    assert tasks.live == 0  # the hold heard that HQ holds its sale
