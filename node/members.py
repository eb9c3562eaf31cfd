"""Members: register, edit and look up; profiles merge per field (conflict.profile).

A registration or edit is a change entry of kind "member"; members registered at
other branches arrive from HQ's feed as "member/upsert" with stamped fields.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from conflict.profile import StampedField, merge_profiles, stamp_fields, values
from node import fields
from node.context import CONTEXT, json_body
from node.errors import InvalidRequest, PhoneTaken, UnknownMember
from node.writer import Tx
from protocol import codec

routes = web.RouteTableDef()

MEMBER_COLUMNS = "id, name, phone, birthday, home_branch"


def _profile_from_body(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    if not partial or "name" in body:
        profile["name"] = fields.text(body, "name")
    if not partial or "phone" in body:
        profile["phone"] = fields.phone(body.get("phone"))
    if "birthday" in body:
        profile["birthday"] = fields.birthday(body["birthday"])
    unknown = set(body) - {"name", "phone", "birthday"}
    if unknown:
        raise InvalidRequest(f"unknown member fields: {', '.join(sorted(unknown))}")
    if partial and not profile:
        raise InvalidRequest("nothing to change: give name, phone or birthday")
    return profile


def _check_phone_free(conn: sqlite3.Connection, phone: str, member_id: str | None) -> None:
    row = conn.execute(
        "SELECT id FROM members WHERE phone = ? AND id IS NOT ?", (phone, member_id)
    ).fetchone()
    if row is not None:
        raise PhoneTaken(f"phone {phone} already belongs to member {row[0]}")


def _load_profile(conn: sqlite3.Connection, member_id: str) -> dict[str, StampedField] | None:
    row = conn.execute("SELECT profile FROM members WHERE id = ?", (member_id,)).fetchone()
    if row is None:
        return None
    return {name: tuple(stamped) for name, stamped in codec.unpack(row[0]).items()}


def store_profile(
    conn: sqlite3.Connection, member_id: str, home_branch: str, profile: dict[str, StampedField]
) -> None:
    current = values(profile)
    conn.execute(
        "INSERT INTO members (id, name, phone, birthday, home_branch, profile)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " phone = excluded.phone, birthday = excluded.birthday, profile = excluded.profile",
        (
            member_id,
            current.get("name", ""),
            current.get("phone", ""),
            current.get("birthday"),
            home_branch,
            codec.pack({name: list(stamped) for name, stamped in profile.items()}),
        ),
    )


def register_job(member_id: str, branch: str, profile: dict[str, Any]) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        _check_phone_free(tx.conn, profile["phone"], None)
        entry = tx.record("member", member_id, "register", {"home_branch": branch, **profile})
        store_profile(tx.conn, member_id, branch, stamp_fields(profile, entry.hlc, branch))
        return {"id": member_id, "home_branch": branch, **profile}

    return job


def edit_job(member_id: str, branch: str, changes: dict[str, Any]) -> Any:
    def job(tx: Tx) -> dict[str, Any]:
        held = _load_profile(tx.conn, member_id)
        if held is None:
            raise UnknownMember(f"no member {member_id} at this branch")
        if "phone" in changes:
            _check_phone_free(tx.conn, changes["phone"], member_id)
        entry = tx.record("member", member_id, "edit", changes)
        row = tx.conn.execute("SELECT home_branch FROM members WHERE id = ?", (member_id,))
        home_branch = row.fetchone()[0]
        merged = merge_profiles(held, stamp_fields(changes, entry.hlc, branch))
        store_profile(tx.conn, member_id, home_branch, merged)
        return {"id": member_id, "home_branch": home_branch, **values(merged)}

    return job


def apply_member_upsert(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
    """A member as HQ's directory holds it; merged field by field with ours."""
    incoming = {name: tuple(stamped) for name, stamped in payload["profile"].items()}
    held = _load_profile(conn, payload["id"]) or {}
    store_profile(conn, payload["id"], payload["home_branch"], merge_profiles(held, incoming))


@routes.post("/api/members")
async def register(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    profile = _profile_from_body(await json_body(request), partial=False)
    member = await context.store.writer.run(register_job(context.new_id(), context.config.branch, profile))
    return web.json_response(member, status=201)


@routes.patch("/api/members/{member_id}")
async def edit(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    changes = _profile_from_body(await json_body(request), partial=True)
    member = await context.store.writer.run(
        edit_job(request.match_info["member_id"], context.config.branch, changes)
    )
    return web.json_response(member)


@routes.get("/api/members")
async def find_by_phone(request: web.Request) -> web.Response:
    phone = fields.phone(request.query.get("phone"), "the phone query parameter")
    async with request.app[CONTEXT].store.reader.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE phone = ? ORDER BY id", (phone,)
    ) as cursor:
        rows = await cursor.fetchall()
    return web.json_response({"members": [dict(row) for row in rows]})


@routes.get("/api/members/{member_id}")
async def show(request: web.Request) -> web.Response:
    member_id = request.match_info["member_id"]
    async with request.app[CONTEXT].store.reader.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?", (member_id,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise UnknownMember(f"no member {member_id} at this branch")
    return web.json_response(dict(row))
