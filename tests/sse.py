"""Reading a server-sent event stream in a test, as a browser's EventSource parses it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str | None, Any]]:
    """(event, id, data) of each event the stream sends, as a browser's EventSource parses them."""
    event: str = "message"
    event_id: str | None = None
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield event, event_id, json.loads("\n".join(data))
            event, event_id, data = "message", None, []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data.append(line[6:])
