"""The simulated network between branches and HQ: latency, partitions and faults.

Only the network and the clock are simulated; what travels is the real encoded
request and response bytes. A message is either dropped or given one or more
delivery times; the engine schedules the deliveries.
"""

from __future__ import annotations

import random

from simulations.model import LinkFaults, Scenario


class Network:
    def __init__(self, scenario: Scenario, rng: random.Random) -> None:
        self.scenario = scenario
        self.rng = rng
        self.dropped = 0
        self.duplicated = 0
        self.bytes_total = 0

    def partitioned(self, branch: str, now_ms: int) -> bool:
        return any(
            branch in p.branches and p.start_ms <= now_ms < p.start_ms + p.duration_ms
            for p in self.scenario.partitions
        )

    def hq_down(self, now_ms: int) -> bool:
        return any(o.start_ms <= now_ms < o.start_ms + o.duration_ms for o in self.scenario.hq_outages)

    def _faults(self, branch: str, now_ms: int) -> list[LinkFaults]:
        return [
            f
            for f in self.scenario.link_faults
            if (not f.branches or branch in f.branches) and f.start_ms <= now_ms < f.start_ms + f.duration_ms
        ]

    def send(self, branch: str, now_ms: int, size_bytes: int) -> list[int]:
        """Delivery times of one message between `branch` and HQ (empty: lost)."""
        self.bytes_total += size_bytes
        if self.partitioned(branch, now_ms):
            self.dropped += 1
            return []
        low, high = self.scenario.latency_ms
        latency = self.rng.randint(low, high)
        copies = 1
        for fault in self._faults(branch, now_ms):
            if self.rng.random() < fault.loss:
                self.dropped += 1
                return []
            if self.rng.random() < fault.duplicate:
                copies += 1
            if self.rng.random() < fault.reorder:
                # Held back long enough for later messages to overtake it.
                latency += self.rng.randint(high, 4 * high + 1)
            latency += self.rng.randint(*fault.extra_latency_ms)
        self.duplicated += copies - 1
        return [now_ms + latency + self.rng.randint(0, high) * n for n in range(copies)]
