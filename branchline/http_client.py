"""What every operator command shares: one JSON call to a running HQ or node, and
lines of goods typed as SKU:QTY[@UNIT_FEN].

Commands talk HTTP to the running server (never to its files), so what they do
goes through the same checks, log and feeds as a till's request.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class CommandFailed(Exception):
    """The server refused the command or could not be reached; the message says which."""


def call(
    base: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    operator: str | None = None,
    what: str = "the server",
    key: str | None = None,
) -> dict[str, Any]:
    """One request; the parsed JSON answer, or CommandFailed with the server's message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if operator is not None:
        request.add_header("X-Operator", operator)
    if key is not None:
        request.add_header("Idempotency-Key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", exc.reason)
        except ValueError:
            message = exc.reason
        raise CommandFailed(f"{what} refused ({exc.code}): {message}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise CommandFailed(f"{what} at {base} did not answer: {exc}; is it running?") from None


def item_lines(specs: list[str], *, qty_name: str = "qty", with_cost: bool = False) -> list[dict[str, Any]]:
    """["CUP:5", "TEA:2@1800"] -> [{"sku": "CUP", qty_name: 5},
    {"sku": "TEA", qty_name: 2, "unit_cost_fen": 1800}]."""
    lines = []
    for spec in specs:
        sku, sep, rest = spec.partition(":")
        qty_text, at, unit_text = rest.partition("@")
        if not sep or not sku or not _digits(qty_text) or (at and not (with_cost and _digits(unit_text))):
            form = "SKU:QTY@UNIT_FEN or SKU:QTY" if with_cost else "SKU:QTY"
            raise CommandFailed(f"{spec!r} is not a line of goods; write {form} (whole numbers)")
        line: dict[str, Any] = {"sku": sku, qty_name: int(qty_text)}
        if at:
            line["unit_cost_fen"] = int(unit_text)
        lines.append(line)
    return lines


def _digits(text: str) -> bool:
    # ASCII only: "²".isdigit() is true and int("²") fails.
    return text.isascii() and text.isdigit()
