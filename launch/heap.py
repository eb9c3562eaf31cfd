"""A served process's heap, settled once it has started.

What a server builds before it serves (modules, routes, services, the caches it
loads at start) lives as long as the process, and CPython's full collection walks
every tracked object each time it runs. In a node draining its backlog to HQ that
was 50 to 60 ms every half second: each decoded entry is a handful of dicts that
live through the young collections while their batch is ingested, so full
collections come often, and each one stalled the event loop, the till's requests
with it. Collecting once and freezing what is left takes those objects out of every
later collection (gc.freeze, which CPython provides for long-lived start-up state);
anything made afterwards, cycles included, is collected as before. The price: a
start-up object that later becomes garbage only through a cycle is never reclaimed,
which is why this runs once, in a process that serves one app until it stops.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what start-up left behind, then freeze the rest out of later collections."""
    gc.collect()
    gc.freeze()
