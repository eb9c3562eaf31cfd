"""A member's photo at the till (FEATURES M1): uploaded, kept by the SHA-256 of its
bytes (shared_tables.photos), named by the profile's `photo` field.

An upload is one job: the bytes go into the branch's log once (member/photo; a photo
the branch already holds is not sent again) and a member/edit sets the profile's
field, last writer wins like every field. Both work offline and reach HQ with the
rest of the log. Another branch learns the field from HQ's feed and fetches the
bytes from HQ the first time a till asks for them (node.routes.photos), keeping
them; feeds carry no photos, so a busy chain's pages stay small.
"""

from __future__ import annotations

from typing import Any

from node.errors import InvalidRequest, PhotoFromHQBroken, PhotoTooLarge, UnsupportedPhotoType
from node.services import members
from node.store.writer import Tx
from protocol.contract import MEMBER_PHOTO
from protocol.contract.fields import PHOTO_TYPES
from protocol.errors import require
from protocol.limits import MAX_PHOTO_BYTES
from shared_tables import photos

# What each accepted type's file holds at the start, as (offset, bytes): a JPEG's start
# of image and first marker, PNG's eight-byte signature, and a RIFF container whose form
# type, 8 bytes in, is WebP.
_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
}
_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
require(
    tuple(_SIGNATURES) == tuple(_NAMES) == PHOTO_TYPES, "every photo type the contract takes is recognised"
)
# Bytes of an unrecognised file quoted in the refusal, to tell what it was.
QUOTED_BYTES = 8


def image_type(data: bytes) -> str | None:
    """The accepted image type the bytes are, by their first bytes; None for anything else."""
    for content_type, parts in _SIGNATURES.items():
        if all(data[offset : offset + len(magic)] == magic for offset, magic in parts):
            return content_type
    return None


def check_type(declared: str) -> None:
    """Refuse an upload whose Content-Type is not an image type a photo may be."""
    if declared not in PHOTO_TYPES:
        raise UnsupportedPhotoType(
            f"a photo is sent as {', '.join(PHOTO_TYPES)} (the request's Content-Type),"
            f" not {declared or 'no type'}"
        )


def check_upload(declared: str, data: bytes) -> str:
    """The content type of an uploaded photo, or the refusal that says what is wrong."""
    check_type(declared)
    accepted = ", ".join(PHOTO_TYPES)
    if not data:
        raise InvalidRequest("the photo is empty: send the image's bytes as the request body")
    if len(data) > MAX_PHOTO_BYTES:
        raise too_large(len(data))
    found = image_type(data)
    if found is None:
        raise UnsupportedPhotoType(
            f"the body is no {_NAMES[declared]} image (nor any of {accepted}): it starts with"
            f" {data[:QUOTED_BYTES].hex(' ')}"
        )
    if found != declared:
        raise InvalidRequest(
            f"the body is a {_NAMES[found]} image but was sent as {declared}; send it as {found}"
        )
    return found


def too_large(size: int | None) -> PhotoTooLarge:
    """The refusal of a photo of `size` bytes (None: more than the bound, not read to its end)."""
    what = f"more than {MAX_PHOTO_BYTES} bytes" if size is None else f"{size} bytes"
    return PhotoTooLarge(
        f"the photo is {what}; a photo is at most {MAX_PHOTO_BYTES} bytes ({MAX_PHOTO_BYTES // 1024} KiB):"
        " resize it (a 480 x 480 JPEG is 30 to 50 KiB) and upload it again"
    )


def upload_job(looked_up_as: str, branch: str, content_type: str, data: bytes) -> Any:
    """Keep the photo, send its bytes to HQ once, and make it the member's photo."""

    def job(tx: Tx) -> dict[str, Any]:
        member_id = members.member_or_survivor(tx.conn, looked_up_as)
        ref = photos.ref_of(data)
        if not photos.held(tx.conn, ref):
            tx.record(MEMBER_PHOTO, member_id, {"content_type": content_type, "data": data})
            photos.put(tx.conn, content_type, data)
        result: dict[str, Any] = members.edit_job(member_id, branch, {"photo": ref})(tx)
        return result

    return job


def check_fetched(ref: str, data: bytes) -> str:
    """The content type of a photo HQ sent for `ref`; refused unless the bytes are that photo."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoFromHQBroken(
            f"HQ sent {len(data)} bytes for photo {ref}; a photo is at most {MAX_PHOTO_BYTES}"
        )
    if photos.ref_of(data) != ref:
        raise PhotoFromHQBroken(
            f"HQ sent {len(data)} bytes for photo {ref} that hash to {photos.ref_of(data)}"
        )
    found = image_type(data)
    if found is None:
        raise PhotoFromHQBroken(f"HQ sent photo {ref} as bytes that are no {', '.join(PHOTO_TYPES)} image")
    return found


def keep_job(content_type: str, data: bytes) -> Any:
    """Keep a photo fetched from HQ, so the next till to ask is answered here, offline too."""

    def job(tx: Tx) -> str:
        return photos.put(tx.conn, content_type, data)

    return job
