"""JSON request bodies, read with a bound on their nesting.

`json.loads` recurses once per level, so a body of 100,000 nested arrays ends in
a RecursionError (a 500 and a traceback) instead of a refusal. No request of
ours nests deeper than a sale's lines inside the sale (three levels); the bound
leaves ample room and is checked on the decoded value without recursion.
"""

from __future__ import annotations

import json
from typing import Any

from protocol.errors import NestedTooDeep, NotJson

MAX_JSON_DEPTH = 32
JSON_CONTENT_TYPE = "application/json"


def require_json(content_type: str) -> None:
    """Refuse a body that is not declared JSON (NotJson, 415). Browsers post forms and
    text/plain to any address without a preflight; application/json they do not."""
    if content_type != JSON_CONTENT_TYPE:
        raise NotJson(
            f"this endpoint reads JSON: send Content-Type: {JSON_CONTENT_TYPE}"
            f" (got {content_type or 'none'!r})"
        )


def loads(text: str | bytes) -> Any:
    """Decode one JSON value; ValueError if it is not JSON, NestedTooDeep if it nests
    objects or arrays more than MAX_JSON_DEPTH levels deep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    # Nesting needs an opening bracket per level: a text with few of them (every
    # till's sale) cannot nest too deep, and counting them costs far less than the walk.
    opened = (
        text.count("[") + text.count("{") if isinstance(text, str) else text.count(b"[") + text.count(b"{")
    )
    if opened > MAX_JSON_DEPTH:
        _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        stack.extend((child, depth + 1) for child in children)


def _too_deep() -> NestedTooDeep:
    return NestedTooDeep(f"the body nests objects or arrays more than {MAX_JSON_DEPTH} levels deep")
