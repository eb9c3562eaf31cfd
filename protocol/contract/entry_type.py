"""An entry type: one (kind, op), the schema of its payload, and who writes it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from protocol.schema import Schema, validator
from protocol.schema_source import Guarded, guarded


class Writer(enum.Enum):
    BRANCH = "a branch's log"
    HQ = "HQ's feed"


@dataclass(frozen=True, slots=True)
class EntryType:
    """One (kind, op): what its payload holds, and who writes it."""

    kind: str
    op: str
    writer: Writer
    schema: Schema
    meaning: str
    validate: Guarded = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validate", guarded(validator(self.name, self.schema)))

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.op}"

    @property
    def key(self) -> tuple[str, str]:
        """(kind, op), as an entry carries them: what readers file their handlers under."""
        return self.kind, self.op

    def check(self, payload: Any) -> None:
        """Return if the payload keeps the contract; PayloadInvalid naming the field if not."""
        self.validate(payload)

    def check_canonical(self, payload: Any) -> bool:
        """`check`, answering too whether msgpack writes the payload's canonical bytes as
        it stands: its maps hold only the fields named here, in sorted order."""
        return self.validate.canonical(payload)
