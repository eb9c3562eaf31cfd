"""Typed application state shared by the node's route modules."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from node.config import NodeConfig
from node.errors import MalformedBody
from node.store.store import Store
from protocol.ids import uuid7

if TYPE_CHECKING:
    from node.replicator import Replicator


@dataclass
class NodeContext:
    config: NodeConfig
    store: Store
    replicator: Replicator | None = None
    started_at_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    def new_id(self) -> str:
        return uuid7(time.time_ns() // 1_000_000, os.urandom(10))


CONTEXT = web.AppKey("node", NodeContext)

# A till's JSON body is a sale or a profile; 256 KiB is far above either.
MAX_JSON_BODY_BYTES = 256 * 1024


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedBody("the body must be a JSON object")
    return body
