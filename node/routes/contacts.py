"""A member's contact history at the till (node.services.contacts): add a contact as
the operator logged in, and read the history of the member's duplicate group."""

from __future__ import annotations

from aiohttp import web

from conflict.contacts import read_position
from node.errors import InvalidRequest
from node.routes.context import ACTOR, CONTEXT, json_body
from node.services import contacts, fields
from protocol.access import requires

routes = web.RouteTableDef()


@routes.post("/api/members/{member_id}/contacts")
@requires("members:edit")
async def add(request: web.Request) -> web.Response:
    """Body {channel, note, at_ms?}: who made the contact is whoever is logged in. A
    retry with the same Idempotency-Key answers the contact it booked, with 200 not 201."""
    context = request.app[CONTEXT]
    contact = contacts.parse_contact(await json_body(request))
    key = fields.request_key(request.headers.get("Idempotency-Key"))
    added, replayed = await context.store.writer.run(
        contacts.add_job(context.new_id(), request.match_info["member_id"], contact, key)
    )
    status = 200 if replayed else 201
    return web.json_response({**added, "operator_login": request[ACTOR].login}, status=status)


@routes.get("/api/members/{member_id}/contacts")
@requires("members:view")
async def history(request: web.Request) -> web.Response:
    """Newest first, ?limit= a page (the answer's `next`, passed as ?before=, the next one)."""
    limit = fields.query_count(
        request.query, "limit", contacts.DEFAULT_CONTACTS_PAGE, contacts.MAX_CONTACTS_PAGE
    )
    raw = request.query.get("before")
    before = None if raw is None else read_position(raw)
    if raw is not None and before is None:
        raise InvalidRequest("before must be the `next` of the page before, as AT_MS:CONTACT_ID")
    member_id = request.match_info["member_id"]
    found = await request.app[CONTEXT].store.read(
        lambda conn: contacts.history(conn, member_id, limit, before)
    )
    return web.json_response(found)
