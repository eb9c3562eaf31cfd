"""HQ's HTTP API for a member's contact history and photo (FEATURES M1), beside the
member's profile (hq.api): operators with members:view read them, and a branch
fetches a photo it does not hold yet with its node's signature.

GET /api/members/{id}/contacts?limit=&before= answers the contacts of the member's
duplicate group, newest first, a page at a time; `next` names where the next page
starts (pass it as ?before=), null on the last page. GET /api/members/{id}/photo
answers the image itself with its content type.
"""

from __future__ import annotations

from aiohttp import web

from conflict.contacts import read_position
from hq.errors import InvalidQuery, NotFound
from hq.http_common import HQ_KEY, int_query
from protocol.access import requires, signed_by_node

routes = web.RouteTableDef()

# A page of contact history: a screenful by default, a few screens at most.
DEFAULT_CONTACTS_PAGE = 50
MAX_CONTACTS_PAGE = 200
# A photo's bytes never change under their hash: a browser or a branch may keep them.
PHOTO_CACHE_CONTROL = "private, max-age=31536000, immutable"


@routes.get("/api/members/{member_id}/contacts")
@requires("members:view")
async def member_contacts(request: web.Request) -> web.Response:
    member_id = request.match_info["member_id"]
    limit = int_query(request, "limit", DEFAULT_CONTACTS_PAGE)
    if not 1 <= limit <= MAX_CONTACTS_PAGE:
        raise InvalidQuery(f"limit must be 1 to {MAX_CONTACTS_PAGE}")
    raw = request.query.get("before")
    before = None if raw is None else read_position(raw)
    if raw is not None and before is None:
        raise InvalidQuery("before must be the `next` of the page before, as AT_MS:CONTACT_ID")
    found = await request.app[HQ_KEY].store.member_contacts(member_id, limit, before)
    if found is None:
        raise NotFound(f"no member {member_id} at HQ; one registered at a branch arrives with its sync")
    return web.json_response(found)


@routes.get("/api/members/{member_id}/photo")
@requires("members:view")
async def member_photo(request: web.Request) -> web.Response:
    member_id = request.match_info["member_id"]
    store = request.app[HQ_KEY].store
    member = await store.member(member_id)
    if member is None:
        raise NotFound(f"no member {member_id} at HQ; one registered at a branch arrives with its sync")
    ref = member["photo"]
    if ref is None:
        raise NotFound(f"member {member_id} has no photo")
    found = await store.photo(ref)
    if found is None:
        raise NotFound(
            f"member {member_id}'s photo {ref} has not reached HQ: the branch that took it has not synced"
        )
    return _image(*found, ref)


@routes.get("/api/photos/{sha256}")
@signed_by_node
async def photo_for_branch(request: web.Request) -> web.Response:
    """A photo by the SHA-256 of its bytes, for a branch whose till asked for it."""
    hq = request.app[HQ_KEY]
    await hq.authenticate(request.headers.get("Authorization"), "GET", request.path_qs)
    ref = "sha256:" + request.match_info["sha256"]
    found = await hq.store.photo(ref)
    if found is None:
        raise NotFound(f"no photo {ref} at HQ yet: the branch that took it has not synced")
    return _image(*found, ref)


def _image(content_type: str, data: bytes, ref: str) -> web.Response:
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"ETag": f'"{ref}"', "Cache-Control": PHOTO_CACHE_CONTROL},
    )
