"""Canonical msgpack: one encoding for one value, and strict, bounded decoding.

Maps are encoded with sorted keys so the same value always gives the same bytes;
floats are refused outright because money and quantities are integers.
"""

from __future__ import annotations

import re
from typing import Any

import msgpack

from protocol.errors import MalformedMessage, MessageTooLarge
from protocol.limits import MAX_MESSAGE_BYTES, MAX_NAME_CHARS

Value = None | bool | int | str | bytes | list["Value"] | dict[str, "Value"]


def canonical(value: Any) -> Any:
    """Return `value` with every map's keys sorted; refuse types we do not carry."""
    if isinstance(value, dict):
        items = []
        for key in sorted(value):
            if not isinstance(key, str):
                raise TypeError(f"map keys must be str, got {type(key).__name__}")
            items.append((key, canonical(value[key])))
        return dict(items)
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if value is None or isinstance(value, bool | int | str | bytes):
        return value
    raise TypeError(f"cannot encode {type(value).__name__} on the wire (floats are refused)")


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(canonical(value), use_bin_type=True)
    return packed


def unpack(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    """Decode exactly one msgpack value; garbage, trailing bytes and floats are refused."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessage("expected bytes")
    if len(data) > max_bytes:
        raise MessageTooLarge(f"message is {len(data)} bytes; the limit is {max_bytes}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
        )
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
        raise MalformedMessage(f"not a msgpack value: {exc}") from None
    except TypeError as exc:  # e.g. unhashable map key
        raise MalformedMessage(f"not a msgpack value: {exc}") from None
    _refuse_floats(value)
    return value


def _refuse_floats(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            raise MalformedMessage("floats are not accepted; money and quantities are integers")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif not (item is None or isinstance(item, bool | int | str | bytes)):
            raise MalformedMessage(f"unsupported msgpack type {type(item).__name__}")


def is_int(value: object) -> bool:
    """An integer that is not a bool (msgpack and JSON both blur the two)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_name(value: object, field: str) -> str:
    """A short identifier: branch code, SKU, entity id, kind or op."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise MalformedMessage(f"{field} must be a string of 1 to {MAX_NAME_CHARS} characters")
    return value


_BRANCH_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def check_branch_code(value: object, field: str = "branch") -> str:
    """Branch codes name files, feeds and log origins: letters, digits, - and _, up to 32."""
    if not isinstance(value, str) or not _BRANCH_CODE.match(value):
        raise MalformedMessage(
            f"{field} must be 1 to 32 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value
