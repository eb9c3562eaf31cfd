"""The tills of `simulate --real`: each branch's node process and its seeded trading over HTTP.

Every sale carries an Idempotency-Key; a till that got no answer (the node was
killed mid-request) retries with the same key once the node is back, so every
sale's outcome is known and every booked one is recorded with its total. The tills
work as their branch's clerk: the session they are given logs in and sends the token
(launch.logins); a session outlives a node's restart, as it is kept in the node's store.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from launch.processes import ServerProcess
from simulations.model import BranchFigures, BranchSpec, Scenario
from simulations.proxy import FaultyLink

# A branch's few tills ring up a few sales a second; beyond this a 2-core machine
# measures its own load, not the replication, so faster scenarios are capped.
MAX_REQUESTS_PER_S = 20.0
# A request without an answer is retried this often (same key) before its outcome
# is declared unknown, which the checks report as a violation.
MAX_ATTEMPTS = 10
RETRY_GAP_S = 0.2
# A till waits at most this long for its killed node to come back.
UP_WAIT_S = 120.0
STOP_WAIT_S = 10.0
CASH_TENDERED_FEN = 2_000_000  # enough for any demo basket; the node gives change


@dataclass
class Branch:
    spec: BranchSpec
    node: ServerProcess
    link: FaultyLink
    figures: BranchFigures
    up: asyncio.Event = field(default_factory=asyncio.Event)
    sales: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (sale id, total_fen)
    unresolved: set[str] = field(default_factory=set)  # keys whose outcome is unknown
    registered: list[tuple[str, str]] = field(default_factory=list)  # (member id, phone)
    members_seen: set[str] = field(default_factory=set)  # member ids found here already
    requests: int = 0
    last_backlog: int = 0

    @property
    def url(self) -> str:
        return self.node.url

    async def start(self) -> None:
        await self.node.start()
        self.up.set()

    async def crash(self) -> None:
        self.up.clear()
        self.figures.crashes += 1
        await self.node.kill()


async def trade(
    branch: Branch,
    scenario: Scenario,
    speed: float,
    seed: int,
    session: aiohttp.ClientSession,
    branches: dict[str, Branch],
    stop: asyncio.Event,
) -> None:
    """Poisson sales and registrations at the scenario's rates times `speed`, until `stop`."""
    rng = random.Random(seed)
    load = branch.spec.load or scenario.load
    index = list(branches).index(branch.spec.code) + 1
    skus = await _skus(branch, session)
    started = time.monotonic()
    number = 0
    while not stop.is_set():
        now_ms = (time.monotonic() - started) * 1000 * speed
        multiplier = 1.0
        for busy in scenario.busy:
            if busy.start_ms <= now_ms < busy.start_ms + busy.duration_ms and (
                not busy.branches or branch.spec.code in busy.branches
            ):
                multiplier *= busy.multiplier
        per_minute = (load.sales_per_minute + load.registrations_per_minute) * multiplier
        rate_per_s = min(MAX_REQUESTS_PER_S, per_minute * speed / 60)
        gap_s = rng.expovariate(rate_per_s) if rate_per_s > 0 else STOP_WAIT_S
        try:
            await asyncio.wait_for(stop.wait(), gap_s)
            return
        except TimeoutError:
            pass
        number += 1
        if rng.random() * per_minute < load.registrations_per_minute * multiplier:
            await _register(branch, session, f"13{index:03d}{number:06d}")
        else:
            await _sell(
                branch, session, rng, skus, _member_for(branch, branches, rng, load.roaming_share), number
            )


def _member_for(
    branch: Branch, branches: dict[str, Branch], rng: random.Random, roaming_share: float
) -> str | None:
    if rng.random() < roaming_share:
        others = [m for b in branches.values() if b is not branch for m, _ in b.registered]
        return rng.choice(others) if others else None
    own = [m for m, _ in branch.registered]
    return rng.choice(own) if own and rng.random() < 0.5 else None


async def _skus(branch: Branch, session: aiohttp.ClientSession) -> list[str]:
    answer = await _request(branch, session, "GET", "/api/products", None, {})
    if answer is None or answer[0] != 200 or not answer[1]["products"]:
        raise RuntimeError(f"{branch.spec.code} has no catalogue; see {branch.node.log_path}")
    return [product["sku"] for product in answer[1]["products"]]


async def _sell(
    branch: Branch,
    session: aiohttp.ClientSession,
    rng: random.Random,
    skus: list[str],
    member_id: str | None,
    number: int,
) -> None:
    key = f"{branch.spec.code}-sale-{number}"
    lines = [{"sku": rng.choice(skus), "qty": rng.randint(1, 3)} for _ in range(rng.randint(1, 3))]
    body: dict[str, Any] = {"lines": lines, "tenders": [{"kind": "cash", "amount_fen": CASH_TENDERED_FEN}]}
    if member_id is not None:
        body["member_id"] = member_id
    answer = await _request(branch, session, "POST", "/api/sales", body, {"Idempotency-Key": key})
    if answer is None:
        branch.unresolved.add(key)
    elif answer[0] in (200, 201):
        sale_id, total_fen = str(answer[1]["id"]), int(answer[1]["total_fen"])
        branch.sales[key] = (sale_id, total_fen)
        branch.figures.sales += 1
        branch.figures.sales_total_fen += total_fen
    else:
        branch.figures.refused += 1  # e.g. a roaming member not yet synced here


async def _register(branch: Branch, session: aiohttp.ClientSession, phone: str) -> None:
    body = {"name": f"Member {phone[-4:]}", "phone": phone}
    answer = await _request(branch, session, "POST", "/api/members", body, {})
    if answer is not None and answer[0] == 409:
        # Registered by an attempt whose answer the kill swallowed: find it by phone.
        answer = await _request(branch, session, "GET", f"/api/members?phone={phone}", None, {})
        found = [] if answer is None or answer[0] != 200 else answer[1]["members"]
        if found:
            answer = (201, found[0])
    if answer is not None and answer[0] == 201:
        branch.registered.append((str(answer[1]["id"]), phone))
        branch.figures.registrations += 1
    else:
        branch.figures.refused += 1


async def _request(
    branch: Branch,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> tuple[int, Any] | None:
    """(status, JSON) of the first answered attempt; None if none answered within MAX_ATTEMPTS."""
    for _ in range(MAX_ATTEMPTS):
        try:
            await asyncio.wait_for(branch.up.wait(), UP_WAIT_S)
        except TimeoutError:
            return None
        try:
            branch.requests += 1
            async with session.request(method, branch.url + path, json=body, headers=headers) as response:
                data = await response.json(content_type=None)
                if response.status != 503:  # 503: the node's write queue is full; try again
                    return response.status, data
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass  # killed mid-request: the outcome is unknown until a retry answers
        await asyncio.sleep(RETRY_GAP_S)
    return None
