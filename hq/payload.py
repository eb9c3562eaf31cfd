"""Reading a signed entry's payload at HQ: each field of the expected type and range.

An entry is signed by its branch, so an ill-formed one is a broken node, not
noise. It is refused with a message naming the entry and the field: a field of
the wrong type or shape as MalformedMessage, one beyond HQ's bound as
OutOfBounds. The refusal is the entry's alone: HQ stores the entry and sets its
effect aside (hq.plan), and the entries after it are applied.
"""

from __future__ import annotations

from typing import Any

from hq.errors import OutOfBounds
from protocol.entry import Entry
from protocol.errors import MalformedMessage

MAX_ID_CHARS = 100


class Payload:
    """The payload of `entry`, or an object inside it at `where`."""

    def __init__(self, entry: Entry, value: Any, where: str = "") -> None:
        self.entry = entry
        self.value = value
        self.where = where

    @classmethod
    def of(cls, entry: Entry) -> Payload:
        return cls(entry, entry.payload)

    def refuse(self, key: str, rule: str) -> MalformedMessage:
        return MalformedMessage(self._naming(key, rule))

    def _naming(self, key: str, rule: str) -> str:
        entry = self.entry
        return (
            f"entry {entry.origin}#{entry.seq} ({entry.kind}/{entry.op}):"
            f" payload field {self.where}{key!r} {rule}"
        )

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def get(self, key: str, kind: type) -> Any:
        value = self.value.get(key) if isinstance(self.value, dict) else None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.refuse(key, f"must be {kind.__name__}")
        return value

    def text(self, key: str, max_chars: int = MAX_ID_CHARS) -> str:
        value: str = self.get(key, str)
        if not 0 < len(value) <= max_chars:
            raise self.refuse(key, f"must be 1 to {max_chars} characters")
        return value

    def optional_text(self, key: str, max_chars: int = 1000) -> str | None:
        if not self.has(key) or self.value[key] is None:
            return None
        return self.text(key, max_chars)

    def integer(self, key: str, low: int, high: int) -> int:
        value: int = self.get(key, int)
        if not low <= value <= high:
            raise OutOfBounds(self._naming(key, f"is {value}, outside {low}..{high}"))
        return value

    def optional_integer(self, key: str, low: int, high: int, default: int) -> int:
        if not self.has(key) or self.value[key] is None:
            return default
        return self.integer(key, low, high)

    def items(self, key: str, *, non_empty: bool = True) -> list[Payload]:
        values: list[Any] = self.get(key, list)
        if non_empty and not values:
            raise self.refuse(key, "must not be empty")
        found = []
        for number, value in enumerate(values):
            if not isinstance(value, dict):
                raise self.refuse(f"{key}[{number}]", "must be an object")
            found.append(Payload(self.entry, value, f"{self.where}{key}[{number}]."))
        return found

    def object(self, key: str) -> Payload:
        return Payload(self.entry, self.get(key, dict), f"{self.where}{key}.")
