"""What a branch writes about a member beside the profile's fields: each contact with
them (the contact history, conflict.contacts) and the bytes of their photo."""

from __future__ import annotations

from protocol.contract.entry_type import EntryType, Writer
from protocol.contract.fields import AT_MS, CONTACT_CHANNELS, CONTACT_NOTE, HLC, ID, NODE, PHOTO_TYPES
from protocol.errors import require
from protocol.limits import MAX_ENTRY_BYTES, MAX_PHOTO_BYTES
from protocol.schema import Bytes, Choice, Map, Tuple

# An entry's fields beside its payload, and the payload's beside the photo's bytes, take
# a few hundred bytes; a photo at its bound must still be one entry, never refused.
PHOTO_ENTRY_SPARE_BYTES = 4 * 1024
require(
    MAX_PHOTO_BYTES + PHOTO_ENTRY_SPARE_BYTES <= MAX_ENTRY_BYTES,
    "a member's photo at its bound fits one change-log entry",
)

# The entity id is the contact's own id, minted at the branch; `operator` is the id of
# the operator whose session wrote it, which HQ holds to the entry's acting operator.
MEMBER_CONTACT = EntryType(
    "member",
    "contact",
    Writer.BRANCH,
    Map(
        {
            "member_id": ID,
            "operator": ID,
            "at_ms": AT_MS,
            "channel": Choice(CONTACT_CHANNELS),
            "note": CONTACT_NOTE,
        }
    ),
    "a contact with a member: who made it, when, how, and what was said",
)

# A contact (conflict.contacts.Contact) as HQ's feed forwards it, with its stamp.
CONTACT_RECORD = Tuple((ID, ID, ID, AT_MS, Choice(CONTACT_CHANNELS), CONTACT_NOTE, HLC, NODE))

# The entity id is the member's; the bytes are kept by their SHA-256, which the profile's
# `photo` field names (set by a member/edit beside this entry). Each reader hashes the
# bytes itself, so no entry can file bytes under a hash they do not have.
MEMBER_PHOTO = EntryType(
    "member",
    "photo",
    Writer.BRANCH,
    Map({"content_type": Choice(PHOTO_TYPES), "data": Bytes(MAX_PHOTO_BYTES, 1)}),
    "the bytes of a member's photo, sent once by the branch that took it",
)
