"""Typed application state shared by the node's route modules, and what every
handler reads from a request the same way: its JSON body and its Idempotency-Key."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from node.config import NodeConfig
from node.errors import MalformedBody
from node.peripherals.attached import Attached
from node.services import fields, printouts
from node.services.card_life import CardPasswords
from node.services.operators import Sessions
from node.services.till import TillEvents
from node.store.store import Store
from node.sync.hq_client import HQClient
from node.sync.replicator import Replicator
from protocol import json_text
from protocol.access import Actor
from protocol.ids import uuid7


@dataclass
class NodeContext:
    config: NodeConfig
    store: Store
    sessions: Sessions
    replicator: Replicator | None = None
    # The link to HQ online holds go through; None while the node runs without replicating.
    hq: HQClient | None = None
    # Card passwords checked before a spend, guessing slowed per card.
    card_passwords: CardPasswords = field(default_factory=CardPasswords)
    # What open till pages are told: a card swiped at the reader, HQ's feed applied.
    events: TillEvents = field(default_factory=TillEvents)
    # The card reader and receipt printer node.json names (none when it names none).
    devices: Attached = field(default_factory=Attached)
    started_at_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    def new_id(self) -> str:
        return uuid7(time.time_ns() // 1_000_000, os.urandom(10))


CONTEXT = web.AppKey("node", NodeContext)
ACTOR = web.RequestKey("actor", Actor)  # the operator whose session the request carries
SESSION_TOKEN = web.RequestKey("session_token", str)  # as it came: a bearer token or the cookie
# A browser's session: the same token as a tool's bearer token, in a cookie no script
# reads (HttpOnly) and no other site's page sends (SameSite=Strict).
SESSION_COOKIE = "branchline_till"

# A till's JSON body is a sale or a profile; 256 KiB is far above either.
MAX_JSON_BODY_BYTES = 256 * 1024


async def json_body(request: web.Request) -> dict[str, Any]:
    json_text.require_json(request.content_type)  # before the body is read
    try:
        body = json_text.loads(await request.text())
    except ValueError:
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedBody("the body must be a JSON object")
    return body


async def optional_body(request: web.Request) -> dict[str, Any]:
    """A POST whose fields are all optional may come with no body at all."""
    return await json_body(request) if request.body_exists else {}


def with_receipt(context: NodeContext, job: printouts.Job, kind: str, ref_key: str = "id") -> printouts.Job:
    """`job` with its receipt queued in the same write, at a branch with a printer
    (node.services.printouts rule 1)."""
    return job if context.config.printer is None else printouts.printed(job, kind, ref_key)


def request_key(request: web.Request) -> str | None:
    """The till's Idempotency-Key: a retried POST with the same key books once."""
    return fields.request_key(request.headers.get("Idempotency-Key"))
