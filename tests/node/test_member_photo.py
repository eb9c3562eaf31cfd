"""A member's photo at the till (FEATURES M1): uploaded as the raw image, kept by the
SHA-256 of its bytes and named in the profile; its bytes go into the branch's log
once. Every bad upload is refused with its own status and code, writing nothing (the
log's head stays put and the member is as it was)."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest

from node.errors import PhotoFromHQBroken, PhotoTooLarge
from node.routes.context import CONTEXT
from node.services import photos
from protocol.entry import decode_entry
from protocol.limits import MAX_PHOTO_BYTES
from tests.harness import Chain, Server, log_in
from tests.node.test_birthdays import add_operator_without
from tests.photos import GIF_START, jpeg, png, webp

UNKNOWN_ID = "01a20823-0000-7000-8000-000000000000"
# A 140 x 140 portrait: 59,008 bytes, under the 61,440-byte bound.
PORTRAIT = png(140, 140)


@pytest.fixture
async def till(chain: Chain) -> Server:
    return await chain.add_node("BR01")


async def lin(chain: Chain, till: Server) -> Any:
    return await chain.post(till.url + "/api/members", {"name": "Lin Xiaoyu", "phone": "13800000002"})


async def upload(
    chain: Chain,
    till: Server,
    member_id: str,
    data: bytes,
    content_type: str,
    status: int = 200,
    **kwargs: Any,
) -> Any:
    url = f"{till.url}/api/members/{member_id}/photo"
    async with chain.session.put(
        url, data=data, headers={"Content-Type": content_type}, **kwargs
    ) as response:
        answer = await response.json()
        assert response.status == status, answer
        return answer


async def photo_of(chain: Chain, url: str, member_id: str) -> tuple[int, str, bytes]:
    async with chain.session.get(f"{url}/api/members/{member_id}/photo") as response:
        return response.status, response.content_type, await response.read()


async def head_seq(chain: Chain) -> int:
    return int((await chain.sync("BR01"))["head_seq"])


async def photo_entries(till: Server) -> list[bytes]:
    """The photo bytes the branch's log carries, in log order."""

    def read(conn: Any) -> list[bytes]:
        rows = conn.execute("SELECT entry FROM change_log ORDER BY seq").fetchall()
        entries = [decode_entry(bytes(raw)) for (raw,) in rows]
        return [e.payload["data"] for e in entries if (e.kind, e.op) == ("member", "photo")]

    return await till.app[CONTEXT].store.read(read)


def ref(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def test_an_uploaded_photo_is_named_in_the_profile_and_shown(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    assert member["photo"] is None
    assert len(PORTRAIT) == 59_008
    uploaded = await upload(chain, till, member["id"], PORTRAIT, "image/png")
    assert uploaded == {**member, "photo": ref(PORTRAIT)}
    assert await photo_of(chain, till.url, member["id"]) == (200, "image/png", PORTRAIT)
    assert (await chain.get(f"{till.url}/api/members/{member['id']}"))["photo"] == ref(PORTRAIT)


async def test_each_accepted_type_is_taken_and_a_new_photo_replaces_the_old(
    chain: Chain, till: Server
) -> None:
    member = await lin(chain, till)
    for data, content_type in ((jpeg(), "image/jpeg"), (webp(), "image/webp"), (png(8, 8), "image/png")):
        assert (await upload(chain, till, member["id"], data, content_type))["photo"] == ref(data)
        assert await photo_of(chain, till.url, member["id"]) == (200, content_type, data)


async def test_the_bytes_travel_once_however_often_they_are_uploaded(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    other = await chain.post(till.url + "/api/members", {"name": "Wu Lei", "phone": "13800000003"})
    for member_id in (member["id"], member["id"], other["id"]):
        await upload(chain, till, member_id, PORTRAIT, "image/png")
    assert await photo_entries(till) == [PORTRAIT]


async def test_an_edit_removes_the_photo_but_cannot_name_one(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    await upload(chain, till, member["id"], PORTRAIT, "image/png")
    url = f"{till.url}/api/members/{member['id']}"
    async with chain.session.patch(url, json={"photo": ref(PORTRAIT)}) as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (422, "invalid")
        assert answer["message"].startswith(
            "photo is set by uploading the image: PUT /api/members/{id}/photo"
        )
    async with chain.session.patch(url, json={"photo": None}) as response:
        assert (response.status, (await response.json())["photo"]) == (200, None)
    assert (await photo_of(chain, till.url, member["id"]))[0] == 404


OVERSIZED = png(150, 140)  # 63,208 bytes: 1,768 over the bound

BAD_UPLOADS = [
    pytest.param(
        OVERSIZED,
        "image/png",
        413,
        "photo_too_large",
        f"the photo is 63208 bytes; a photo is at most {MAX_PHOTO_BYTES} bytes (60 KiB): resize it",
        id="oversized",
    ),
    pytest.param(
        GIF_START + bytes(100), "image/gif", 415, "unsupported_photo_type", "not image/gif", id="a GIF"
    ),
    pytest.param(
        b"%PDF-1.7\n" + bytes(100),
        "application/pdf",
        415,
        "unsupported_photo_type",
        "not application/pdf",
        id="a PDF",
    ),
    pytest.param(
        b"hello", "image/png", 415, "unsupported_photo_type", "the body is no PNG image", id="text as PNG"
    ),
    pytest.param(
        jpeg(), "image/png", 422, "invalid", "is a JPEG image but was sent as image/png", id="JPEG as PNG"
    ),
    pytest.param(b"", "image/jpeg", 422, "invalid", "the photo is empty", id="empty"),
]


@pytest.mark.parametrize(("data", "content_type", "status", "code", "message"), BAD_UPLOADS)
async def test_a_bad_upload_is_refused_and_changes_nothing(
    chain: Chain, till: Server, data: bytes, content_type: str, status: int, code: str, message: str
) -> None:
    member = await lin(chain, till)
    await upload(chain, till, member["id"], png(8, 8), "image/png")
    before, seq = await chain.get(f"{till.url}/api/members/{member['id']}"), await head_seq(chain)
    refused = await upload(chain, till, member["id"], data, content_type, status=status)
    assert refused["error"] == code
    assert message in refused["message"]
    assert await head_seq(chain) == seq
    assert await chain.get(f"{till.url}/api/members/{member['id']}") == before
    assert await photo_of(chain, till.url, member["id"]) == (200, "image/png", png(8, 8))


async def test_an_oversized_body_sent_without_its_length_is_refused_413(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    seq = await head_seq(chain)

    async def chunks() -> Any:
        for start in range(0, len(OVERSIZED), 4096):
            yield OVERSIZED[start : start + 4096]

    refused = await upload(chain, till, member["id"], chunks(), "image/png", status=413)
    assert refused["error"] == "photo_too_large"
    assert refused["message"].startswith(f"the photo is more than {MAX_PHOTO_BYTES} bytes")
    assert await head_seq(chain) == seq


async def test_a_photo_of_a_member_the_branch_does_not_know_is_refused_404(
    chain: Chain, till: Server
) -> None:
    seq = await head_seq(chain)
    refused = await upload(chain, till, UNKNOWN_ID, PORTRAIT, "image/png", status=404)
    assert refused["error"] == "unknown_member"
    assert await head_seq(chain) == seq
    assert await photo_entries(till) == []
    assert (await photo_of(chain, till.url, UNKNOWN_ID))[0] == 404


async def test_a_member_without_a_photo_is_answered_404_no_photo(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    async with chain.session.get(f"{till.url}/api/members/{member['id']}/photo") as response:
        answer = await response.json()
        assert (response.status, answer["error"]) == (404, "no_photo")
        assert answer["message"] == (
            f"member {member['id']} has no photo; upload one with PUT /api/members/{member['id']}/photo"
        )


async def test_an_operator_without_members_edit_may_see_but_not_upload(chain: Chain, till: Server) -> None:
    member = await lin(chain, till)
    await upload(chain, till, member["id"], png(8, 8), "image/png")
    await add_operator_without(chain, "br01-reader", "members:edit")
    token = await log_in(till.url, "br01-reader")
    seq = await head_seq(chain)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{till.url}/api/members/{member['id']}/photo"
    async with aiohttp.ClientSession() as plain:
        async with plain.put(
            url, data=PORTRAIT, headers={**headers, "Content-Type": "image/png"}
        ) as response:
            assert (response.status, (await response.json())["error"]) == (403, "forbidden")
        async with plain.get(url, headers=headers) as response:
            assert (response.status, await response.read()) == (200, png(8, 8))
    assert await head_seq(chain) == seq


def test_the_bound_holds_for_bytes_however_they_were_read() -> None:
    assert photos.check_upload("image/png", PORTRAIT) == "image/png"
    with pytest.raises(PhotoTooLarge, match=f"the photo is {len(OVERSIZED)} bytes"):
        photos.check_upload("image/png", OVERSIZED)


def test_bytes_from_hq_that_are_not_the_photo_asked_for_are_refused() -> None:
    asked = ref(PORTRAIT)
    assert photos.check_fetched(asked, PORTRAIT) == "image/png"
    with pytest.raises(PhotoFromHQBroken, match=f"that hash to {ref(png(8, 8))}"):
        photos.check_fetched(asked, png(8, 8))
    with pytest.raises(PhotoFromHQBroken, match="are no image/jpeg, image/png, image/webp image"):
        photos.check_fetched(ref(b"hello"), b"hello")
    with pytest.raises(PhotoFromHQBroken, match=f"a photo is at most {MAX_PHOTO_BYTES}"):
        photos.check_fetched(ref(OVERSIZED), OVERSIZED)
