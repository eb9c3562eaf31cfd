"""What HQ writes into the branches' feeds about the member directory: a member's
merged profile and each directory record, shaped once for every storage backend."""

from __future__ import annotations

import hashlib

from conflict.profile import StampedField
from conflict.wire import DirectoryRecord, record_id, to_payload
from hq.storage.base import FeedChange
from protocol.limits import MAX_NAME_CHARS

# A blake2b digest this long keeps a shortened entity id unique in practice and
# within MAX_NAME_CHARS as hex.
ENTITY_DIGEST_BYTES = 16


def record_change(record: DirectoryRecord) -> FeedChange:
    """A directory record as a feed entry; the payload names the record in full."""
    payload = to_payload(record)
    entity_id = f"{payload['type']}:{record_id(record)}"
    if len(entity_id) > MAX_NAME_CHARS:
        # The payload names the record; the entity id only labels the entry.
        entity_id = hashlib.blake2b(entity_id.encode(), digest_size=ENTITY_DIGEST_BYTES).hexdigest()
    return FeedChange("directory", entity_id, "record", payload)


def member_change(member_id: str, home_branch: str, profile: dict[str, StampedField]) -> FeedChange:
    """A member's merged profile, every field with its stamp, as the branches merge it again."""
    return FeedChange(
        "member",
        member_id,
        "upsert",
        {
            "id": member_id,
            "home_branch": home_branch,
            "profile": {name: list(stamped) for name, stamped in profile.items()},
        },
    )
