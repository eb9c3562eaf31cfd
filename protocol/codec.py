"""Canonical msgpack: one encoding for one value, and strict, bounded decoding.

Maps are encoded with sorted keys so the same value always gives the same bytes;
floats are refused outright because money and quantities are integers.
The rules, byte for byte, are in docs/log-format.md (section 2).
"""

from __future__ import annotations

import re
from typing import Any

import msgpack

from protocol.errors import MalformedMessage, MessageTooLarge
from protocol.limits import MAX_MESSAGE_BYTES, MAX_NAME_CHARS

Value = None | bool | int | str | bytes | list["Value"] | dict[str, "Value"]
# The exact types msgpack carries as they are.
_SCALARS = frozenset({type(None), bool, int, str, bytes})


def canonical(value: Any) -> Any:
    """Return `value` with every map's keys sorted; refuse types we do not carry."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        canonical_map = {}
        for key in sorted(value):
            if type(key) is not str:
                return _canonical_slow(value)  # names the offending key
            item = value[key]
            canonical_map[key] = item if type(item) in _SCALARS else canonical(item)
        return canonical_map
    if kind is list or kind is tuple:
        return [item if type(item) in _SCALARS else canonical(item) for item in value]
    return _canonical_slow(value)


def _canonical_slow(value: Any) -> Any:
    # Every entry's payload goes through `canonical` on the hot path, so it tests exact
    # types first; subclasses (a str or int subclass, a str key subclass) land here.
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
    return pack_canonical(canonical(value))


def pack_canonical(value: Any) -> bytes:
    """Pack a value already made canonical (see `canonical`)."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    """Decode exactly one msgpack value; garbage, trailing bytes, ext types and floats are refused."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessage("expected bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise MessageTooLarge(f"message is {len(data)} bytes; the limit is {max_bytes}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=_refuse_ext,
            object_hook=_checked_map,
            list_hook=_checked_list,
        )
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        # TypeError: e.g. an unhashable map key.
        raise MalformedMessage(f"not a msgpack value: {exc}") from None
    if type(value) not in _CARRIED:
        _refuse_item(value)
    return value


def unpack_unwalked(data: bytes) -> Any:
    """Decode one msgpack value without checking what its maps and lists hold, or None
    if `unpack` would refuse it outright. Only for a caller that then proves the whole
    value is made of what the wire carries (protocol.entry.decode_entry has the wire
    contract's generated check do it); anything else must use `unpack`."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True, ext_hook=_refuse_ext)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError):
        return None


# What a decoded value may be made of. msgpack hands every map and every array to
# the hooks below as it completes them, so each value but the outermost is seen
# there once, in the same pass as the decoding and with no walk afterwards.
_CARRIED = frozenset({type(None), bool, int, str, bytes, dict, list})


def _checked_map(mapping: dict[Any, Any]) -> dict[str, Any]:
    # strict_map_key still admits bytes keys; the wire carries str keys only.
    for key, item in mapping.items():
        if type(key) is not str:
            raise MalformedMessage(f"map keys must be strings, got {type(key).__name__}")
        if type(item) not in _CARRIED:
            _refuse_item(item)
    return mapping


def _checked_list(items: list[Any]) -> list[Any]:
    for item in items:
        if type(item) not in _CARRIED:
            _refuse_item(item)
    return items


def _refuse_item(item: Any) -> None:
    # A float is decoded natively, and so is a timestamp (ext type -1, never
    # through ext_hook): both reach here.
    if type(item) is float:
        raise MalformedMessage("floats are not accepted; money and quantities are integers")
    raise MalformedMessage(f"unsupported msgpack type {type(item).__name__}")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not accepted")


def is_int(value: object) -> bool:
    """An integer that is not a bool (msgpack and JSON both blur the two)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_name(value: object, field: str) -> str:
    """A short identifier: branch code, SKU, entity id, kind or op."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise MalformedMessage(f"{field} must be a string of 1 to {MAX_NAME_CHARS} characters")
    return value


_BRANCH_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def check_branch_code(value: object, field: str = "branch") -> str:
    """Branch codes name files, feeds and log origins: letters, digits, - and _, up to 32."""
    if not isinstance(value, str) or not _BRANCH_CODE.fullmatch(value):
        raise MalformedMessage(
            f"{field} must be 1 to 32 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value
