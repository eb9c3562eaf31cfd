"""What a running simulation offers the tills, HQ's operator and the figures that read
it: its clock and scheduler, its tasks, the network, HQ and the nodes with their
links, the ledger of what the tills were told, and the seeded random streams.

simulations/engine.py's `Simulation` is one; the modules it drives see it through
this protocol, so they need not import the engine that imports them.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from simulations.hold_link import SimHQLink
from simulations.model import BranchFigures, Scenario
from simulations.network import Network
from simulations.shop import Ledger
from simulations.tasks import SimTasks
from simulations.world import SimHQ, SimNode

Action = Callable[[], Awaitable[None]]


class RunningSimulation(Protocol):
    scenario: Scenario
    seed: int
    now_ms: int  # simulated time since the start of the run
    network: Network
    hq: SimHQ
    nodes: dict[str, SimNode]
    links: dict[str, SimHQLink]  # each node's link to HQ for holds, in its current life
    tasks: SimTasks
    ledger: Ledger
    figures: dict[str, BranchFigures]
    trading_rng: random.Random
    directory_rng: random.Random
    inventory_rng: random.Random
    cards_rng: random.Random
    loyalty_rng: random.Random

    def clock(self) -> int:
        """The true wall clock (before any branch's skew)."""
        ...

    def schedule(self, at_ms: int, action: Action) -> None: ...

    async def drive(self, node: SimNode) -> None:
        """Let the node's replicator act now (push, fetch), as it does on a commit."""
        ...

    async def release_held(self) -> None:
        """Answer held feed reads of branches whose feed grew (a linger later)."""
        ...
