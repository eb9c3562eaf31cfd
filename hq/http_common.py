"""What HQ's HTTP route modules share: the app's keys, operator authentication and
query and body parsing."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from hq.errors import InvalidQuery, OperatorAuthFailed
from hq.service import HQ
from protocol import json_text

HQ_KEY = web.AppKey("hq", HQ)
OPERATOR_TOKEN = web.AppKey("operator_token", str)


def operator(request: web.Request) -> str:
    """The operator's name (X-Operator) once the bearer token checks out."""
    header = request.headers.get("Authorization", "")
    expected = request.app[OPERATOR_TOKEN]
    given = header.removeprefix("Bearer ").strip()
    if not header.startswith("Bearer ") or not hmac.compare_digest(given.encode(), expected.encode()):
        raise OperatorAuthFailed(
            "operator endpoints need `Authorization: Bearer <token>`; the token is in HQ's data folder"
            " (operator.token)"
        )
    return request.headers.get("X-Operator", "operator")[:64]


def int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidQuery(f"{name} must be a non-negative integer")
    return int(raw)


def text_query(request: web.Request, name: str, max_chars: int = 100) -> str | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_chars or not raw.isprintable():
        raise InvalidQuery(f"{name} must be 1 to {max_chars} printable characters")
    return raw


async def json_body(request: web.Request, shape: str) -> Any:
    """The request's JSON body (415 unless declared JSON, 400 if nested too deep);
    InvalidQuery naming the `shape` expected if it is not JSON at all."""
    json_text.require_json(request.content_type)  # before the body is read
    try:
        return json_text.loads(await request.text())
    except ValueError:
        raise InvalidQuery(f"the body must be JSON: {shape}") from None
