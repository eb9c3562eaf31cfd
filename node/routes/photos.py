"""A member's photo at the till (node.services.photos): uploaded as the raw image, and
shown from this branch's store, or fetched once from HQ when another branch took it."""

from __future__ import annotations

from aiohttp import web

from node.errors import NoPhoto, PhotoUnavailable
from node.routes.context import CONTEXT, NodeContext
from node.services import members, photos
from node.sync.hq_client import NoAnswer
from protocol.access import requires
from protocol.limits import MAX_PHOTO_BYTES
from shared_tables import photos as photo_store

routes = web.RouteTableDef()

# A photo's bytes never change under their hash: a browser may keep them.
PHOTO_CACHE_CONTROL = "private, max-age=31536000, immutable"
# The body is read in chunks of this size, up to one past the bound.
READ_CHUNK_BYTES = 16 * 1024


@routes.put("/api/members/{member_id}/photo")
@requires("members:edit")
async def upload(request: web.Request) -> web.Response:
    """The raw image as the body, its type as the Content-Type (JPEG, PNG or WebP)."""
    context = request.app[CONTEXT]
    declared = request.content_type
    photos.check_type(declared)  # before the body is read
    data = await _body(request)
    content_type = photos.check_upload(declared, data)
    member = await context.store.writer.run(
        photos.upload_job(request.match_info["member_id"], context.config.branch, content_type, data)
    )
    return web.json_response(member)


async def _body(request: web.Request) -> bytes:
    """The request's body, refused as too large as soon as it passes the bound (the app's
    own bound on bodies is for JSON and does not apply to this streamed read)."""
    if request.content_length is not None and request.content_length > MAX_PHOTO_BYTES:
        raise photos.too_large(request.content_length)
    data = bytearray()
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        data += chunk
        if len(data) > MAX_PHOTO_BYTES:
            raise photos.too_large(None)
    return bytes(data)


@routes.get("/api/members/{member_id}/photo")
@requires("members:view")
async def show(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    member_id = request.match_info["member_id"]
    member = await context.store.read(lambda conn: members.member_view(conn, member_id))
    ref = member["photo"]
    if ref is None:
        raise NoPhoto(f"member {member_id} has no photo; upload one with PUT /api/members/{member_id}/photo")
    found = await context.store.read(lambda conn: photo_store.get(conn, ref))
    if found is None:
        found = await _from_hq(context, ref)
    content_type, data = found
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"ETag": f'"{ref}"', "Cache-Control": PHOTO_CACHE_CONTROL},
    )


async def _from_hq(context: NodeContext, ref: str) -> tuple[str, bytes]:
    """A photo another branch took, from HQ, checked to be those bytes and kept here."""
    if context.hq is None:
        raise PhotoUnavailable(
            f"photo {ref} is not at this branch, and this node does not replicate to ask HQ"
        )
    try:
        data = await context.hq.fetch_photo(ref)
    except NoAnswer as exc:
        raise PhotoUnavailable(
            f"photo {ref} is not at this branch yet and HQ did not answer ({exc}); it shows once HQ is back"
        ) from None
    if data is None:
        raise PhotoUnavailable(
            f"photo {ref} has not reached HQ yet: the branch that took it has not synced; ask again later"
        )
    content_type = photos.check_fetched(ref, data)
    await context.store.writer.run(photos.keep_job(content_type, data))
    return content_type, data
