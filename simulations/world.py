"""HQ and branch nodes as the simulator runs them: production code on simulated time.

`SimHQ` is the real `hq.service.HQ` over the real SQLite store; `SimNode` is a
real node store (group-commit writer, change log, migrations) with the real
`node.sync.replicator.Replicator`, whose request building and answer handling the
engine calls instead of HTTP. Requests and answers are the real encoded bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import argon2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hq import operators
from hq.api import refusal
from hq.errors import InvalidQuery
from hq.operation_log import Doer, Operation
from hq.service import HQ
from hq.setup import DEMO_CARD_TYPES, DEMO_CATALOGUE, DEMO_TOP_UP_RULES, token_hash
from hq.storage.base import CardType
from hq.storage.sqlite import SqliteHQStore
from node.config import NodeConfig
from node.services.card_life import CardPasswords
from node.services.operators import Sessions
from node.store.changelog import LogHead
from node.store.store import Store
from node.sync.replicator import Replicator
from protocol import messages
from protocol.errors import NotLoggedIn, Refused
from protocol.hlc import physical_ms
from protocol.ids import uuid7
from protocol.signing import public_key_bytes

# The simulator models crashes itself and never loses power, so it spares
# the fsyncs, and it runs one event at a time, so every store runs inline in the
# event loop's thread (no hop to a writer or read thread); the statements, the
# transactions and the schema are as in production.
SIM_SYNCHRONOUS = "OFF"


def seeded_key(rng: random.Random) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))


# HQ's card types as the simulated HQ publishes them: the demo ones (`hq init --demo-data`)
# and, in the simulation's data only, a platinum card dearer than the gold one. Of the demo
# types only the gold card is dearer than another without adding stored value, so without
# it every upgrade the shop simulates (simulations/card_ops.py) would make a gold card,
# and which of two upgrades of one card came last would never show in its type.
PLATINUM_CARD = CardType(
    "PLATINUM-26800",
    "Platinum card / 白金卡",
    2_680_000,
    discount_rate=85,
    validity_days=365,
    level="platinum",
    renew_fen=400_000,
    replace_fen=2_000,
)
SIM_CARD_TYPES = (*DEMO_CARD_TYPES, PLATINUM_CARD)
# Who the simulated HQ operator is, in HQ's operation log.
SIMULATED_OPERATOR = Doer("", "simulated HQ operator", "simulation")
# Each branch's till logs in as the branch's store manager, made at HQ as the branch
# enrolls and sent to it in its first feed, like every operator.
TILL_PASSWORD = "simulated-till-1"


# The simulated world's passwords (its tills' and its cards') are hashed with
# argon2's cheapest parameters. The node and HQ check them with their own code, which
# reads the parameters from the hash, without the 55 ms a production hash costs at
# every simulated log-in and every card payment with a password.
_SIM_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def sim_password_hash(password: str) -> str:
    """A hash of `password` that protocol.passwords.verify checks, quickly."""
    return _SIM_HASHER.hash(password)


def till_login(branch: str) -> str:
    return f"{branch.lower()}-manager"


class SimHQ:
    def __init__(self, root: Path, clock: Callable[[], int], rng: random.Random) -> None:
        self.root = root
        self.clock = clock
        self.key = seeded_key(rng)
        self.rng = rng
        self.service: HQ | None = None
        self._till_hash: str | None = None  # one argon2 hash for every till: made once a run

    @property
    def hq(self) -> HQ:
        assert self.service is not None, "HQ is not open"
        return self.service

    async def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        store = await SqliteHQStore.open(
            self.root / "hq.sqlite", synchronous=SIM_SYNCHRONOUS, signer=self.key.sign, inline=True
        )
        self.service = HQ(store, self.key, wall_ms=self.clock)
        await self.service.publish_products(list(DEMO_CATALOGUE), SIMULATED_OPERATOR)
        await self._publish_card_types()

    async def _publish_card_types(self) -> None:
        """HQ's demo card types (with the simulation's platinum card) and top-up bonuses,
        stored as `hq init --demo-data` stores them (hq.setup) and published with the rest
        of HQ's master data, so every branch can sell the cards, upgrade them and give the
        bonuses."""
        now = self.clock()
        codes = [card_type.code for card_type in SIM_CARD_TYPES]
        operation = Operation(SIMULATED_OPERATOR, now, "master.upsert", "card_type", {"keys": codes})
        self.hq.notifier.notify(await self.hq.store.upsert_master(list(SIM_CARD_TYPES), now, operation))
        # And the demo top-up bonuses (pay 1,000 yuan, get 100; pay 2,000, get 300).
        codes = [rule.code for rule in DEMO_TOP_UP_RULES]
        operation = Operation(SIMULATED_OPERATOR, now, "master.upsert", "top_up_rule", {"keys": codes})
        self.hq.notifier.notify(await self.hq.store.upsert_master(list(DEMO_TOP_UP_RULES), now, operation))

    async def close(self) -> None:
        await self.hq.store.close()

    async def enroll(self, branch: str, node_key: Ed25519PrivateKey) -> NodeConfig:
        await self._add_till_operator(branch)
        token = f"sim-token-{branch}"
        await self.hq.store.add_enroll_token(branch, token_hash(token), self.clock() + 3_600_000)
        reply = await self.hq.enroll(
            messages.EnrollRequest(token, branch, public_key_bytes(node_key)), branch
        )
        return NodeConfig(branch, "sim://hq", reply.hq_public_key.hex(), reply.feed_origin)

    async def _add_till_operator(self, branch: str) -> None:
        if await self.hq.store.operator_by_login(till_login(branch)) is not None:
            return
        if self._till_hash is None:
            self._till_hash = sim_password_hash(TILL_PASSWORD)
        now = self.clock()
        record = operators.new_operator(
            operator_id=uuid7(now, self.rng.randbytes(10)),
            login=till_login(branch),
            name=None,
            role="store_manager",
            branch=branch,
            password_hash=self._till_hash,
            now_ms=now,
        )
        operation = Operation(SIMULATED_OPERATOR, now, "operator.add", record.login, {"role": record.role})
        await self.hq.store.put_operator(record, 0, now, operation)

    async def push(self, body: bytes) -> tuple[int, bytes]:
        """POST /api/push, as the HTTP layer would answer it."""
        try:
            message = messages.decode(body)
            if not isinstance(message, messages.PushRequest):
                raise InvalidQuery("POST /api/push takes a push message")
            return 200, messages.encode(await self.hq.push(message))
        except Refused as exc:
            return _refused(exc)

    async def feed(self, path_qs: str, headers: dict[str, str]) -> tuple[int, bytes, FeedRead | None]:
        """GET /api/feed without the wait: (status, body, the read if its page was empty).
        The engine holds an empty read and answers it later with `page`."""
        try:
            branch = await self.hq.authenticate(headers.get("Authorization"), "GET", path_qs)
        except Refused as exc:
            return *_refused(exc), None
        read = FeedRead(branch, int(parse_qs(urlsplit(path_qs).query)["after"][0]))
        status, body, empty = await self.page(read)
        return status, body, read if empty else None

    async def page(self, read: FeedRead) -> tuple[int, bytes, bool]:
        """The page of an authenticated feed read: (status, body, empty). A held read is
        answered with this, authenticated once as HQ's long poll is (hq.service.feed_page),
        not verified again when its answer is due."""
        try:
            page = await self.hq.feed_page(read.branch, read.after, 0)
            return 200, messages.encode(page), page.batch is None
        except Refused as exc:
            return *_refused(exc), False

    def feed_version(self, branch: str) -> int:
        return self.hq.notifier.version(branch)


@dataclass(frozen=True, slots=True)
class FeedRead:
    """A feed read HQ has authenticated: the branch it is from, and the seq it reads after."""

    branch: str
    after: int


def _refused(exc: Refused) -> tuple[int, bytes]:
    status, body = refusal(exc)
    return status, json.dumps(body).encode()


class SimNode:
    """One branch: its store and replicator, which a crash discards and a restart rebuilds."""

    def __init__(
        self,
        code: str,
        root: Path,
        clock: Callable[[], int],
        monotonic: Callable[[], int],
        skew_ms: int,
        rng: random.Random,
    ) -> None:
        self.code = code
        self.root = root
        self.clock = clock  # true wall time; the branch reads it plus its skew
        self.monotonic = monotonic  # the engine's own time, in which it schedules wake-ups
        self.skew_ms = skew_ms
        self.rng = rng
        self.key = seeded_key(rng)
        self.config: NodeConfig | None = None
        self.store: Store | None = None
        self.replicator: Replicator | None = None
        self.sessions: Sessions | None = None
        self.till_token: str | None = None  # the till keeps its session across node restarts
        # Card passwords checked before a spend, guessing slowed per card: the node's own,
        # as `node serve` keeps one per process (node.routes.context), so a restart
        # forgets the wrong attempts and no run shares a throttle with another.
        self.card_passwords = CardPasswords()
        self.epoch = 0  # bumped by each crash: answers to an earlier life are ignored
        self.last_backlog = 0
        self.last_lag_ms = 0

    @property
    def up(self) -> bool:
        return self.replicator is not None

    @property
    def rep(self) -> Replicator:
        assert self.replicator is not None, f"{self.code} is down"
        return self.replicator

    @property
    def enrolled(self) -> NodeConfig:
        assert self.config is not None, f"{self.code} is not enrolled"
        return self.config

    @property
    def db(self) -> Store:
        assert self.store is not None, f"{self.code} is down"
        return self.store

    def wall_ms(self) -> int:
        return self.clock() + self.skew_ms

    async def start(self) -> None:
        assert self.config is not None, "enroll first"
        self.root.mkdir(parents=True, exist_ok=True)

        def on_commit(head: LogHead) -> None:
            # The store runs inline, in the loop's own thread: the head reaches the
            # replicator before the write's caller hears of it, as in `node serve`.
            if self.replicator is not None:
                self.replicator.on_commit(head)

        self.store = await Store.open(
            self.root / "node.sqlite",
            self.code,
            on_commit=on_commit,
            wall_ms=self.wall_ms,
            synchronous=SIM_SYNCHRONOUS,
            inline=True,
        )
        self.replicator = await Replicator.resume(
            self.config,
            self.store,
            self.key,
            monotonic_ms=self.monotonic,
            wall_ms=self.wall_ms,
            rng=random.Random(self.rng.getrandbits(64)),
        )
        self.sessions = Sessions(self.store, self.code, self.wall_ms)
        self.card_passwords = CardPasswords()
        self.replicator.feed_applied.append(self.sessions.operators_changed)

    async def till_operator(self) -> str | None:
        """The id of the operator logged in at the till, logging in first if need be, as
        the server checks it for every request; None until the branch's feed has brought
        its operators (no log-in is tried before: a refused one counts towards a lock-out)."""
        sessions, store = self.sessions, self.db
        assert sessions is not None
        if self.till_token is not None:
            try:
                return (await sessions.authenticate(self.till_token)).operator_id
            except NotLoggedIn:
                self.till_token = None  # the shift's session expired: the cashier logs in again
        login = till_login(self.code)
        arrived = await store.read(
            lambda conn: conn.execute("SELECT 1 FROM operators WHERE login = ?", (login,)).fetchone()
        )
        if arrived is None:
            return None
        self.till_token = (await sessions.login(login, TILL_PASSWORD, "simulated till")).token
        return (await sessions.authenticate(self.till_token)).operator_id

    async def lag_ms(self) -> int:
        """How long ago (by this branch's clock) the oldest unacknowledged change was made."""
        rep = self.rep
        if rep.push.backlog == 0:
            return 0
        oldest = rep.push.acked_seq + 1
        row = await self.db.read(
            lambda conn: conn.execute("SELECT hlc FROM change_log WHERE seq = ?", (oldest,)).fetchone()
        )
        return 0 if row is None else max(0, self.wall_ms() - physical_ms(row[0]))

    async def crash(self) -> None:
        """The process dies: whatever was committed stays, nothing else survives."""
        self.epoch += 1
        if self.replicator is not None:
            self.last_backlog = self.replicator.push.backlog
        self.replicator = None
        self.sessions = None
        if self.store is not None:
            await self.store.close()
        self.store = None
