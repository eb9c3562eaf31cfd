"""Member profile fields: last writer wins per field, by HLC, node id breaking ties.

Each field carries the stamp (hlc, node) of the write that set it. Merging keeps,
field by field, the value with the greater stamp, so merges commute, associate
and are idempotent: every replica that has seen the same writes holds the same
profile, whatever order they arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Every field a member's profile holds (the wire contract's MEMBER_PROFILE names the
# same ones, with their bounds). Each is merged on its own: an address changed at one
# branch and a car plate at another while apart both survive.
PROFILE_FIELDS = (
    "name",
    "phone",
    "birthday",
    "gender",
    "address",
    "region",
    "car_plate",
    "family_notes",
    "salesperson",
    "referrer",
    "notes",
    "photo",
)

Stamp = tuple[int, str]  # (hlc, node): compared as a tuple
StampedField = tuple[Any, int, str]  # (value, hlc, node)


def stamp_fields(values: Mapping[str, Any], hlc: int, node: str) -> dict[str, StampedField]:
    """Stamp every field of one write with that write's clock and node."""
    return {field: (value, hlc, node) for field, value in values.items()}


def merge_profiles(
    current: Mapping[str, StampedField], incoming: Mapping[str, StampedField]
) -> dict[str, StampedField]:
    """The per-field winner of two profiles."""
    merged = dict(current)
    for field, candidate in incoming.items():
        held = merged.get(field)
        if held is None or _stamp(candidate) > _stamp(held):
            merged[field] = candidate
    return merged


def values(profile: Mapping[str, StampedField]) -> dict[str, Any]:
    return {field: stamped[0] for field, stamped in profile.items()}


def _stamp(field: StampedField) -> Stamp:
    return (field[1], field[2])
