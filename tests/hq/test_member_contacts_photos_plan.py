"""What HQ makes of a branch's member/contact and member/photo entries (hq.plan): a
contact joins the directory as the operator who wrote it made it, and no other; a
photo's bytes are kept under the SHA-256 HQ computes of them, whatever the sender."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from conflict.contacts import Contact
from hq.plan import PhotoWrite, plan_entries
from protocol import hlc
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from shared_tables import photos
from tests.hq.test_plan_never_wedges import SqliteHQ
from tests.photos import png

AT_MS = 1_773_021_600_000
CALL = {
    "member_id": "m1",
    "operator": "op-br01-li",
    "at_ms": AT_MS,
    "channel": "phone",
    "note": "asked about the spring promotion",
}


def entry(kind: str, op: str, entity_id: str, payload: Any, actor: str = "") -> Entry:
    return encode_entry(
        origin="BR01",
        seq=7,
        hlc=hlc.pack(AT_MS),
        prev_hash=GENESIS_HASH,
        kind=kind,
        entity_id=entity_id,
        op=op,
        payload=payload,
        actor=actor,
    )


def test_a_contact_made_by_the_operator_who_wrote_it_joins_the_directory() -> None:
    plan = plan_entries([entry("member", "contact", "c-1", CALL, actor="op-br01-li")])
    assert plan.refused == []
    [write] = plan.directory
    expected = Contact(
        "c-1", "m1", "op-br01-li", AT_MS, "phone", "asked about the spring promotion", hlc.pack(AT_MS), "BR01"
    )
    assert (write.origin, write.record) == ("BR01", expected)


def test_a_contact_naming_another_operator_than_its_writer_is_set_aside() -> None:
    plan = plan_entries(
        [entry("member", "contact", "c-1", {**CALL, "operator": "op-hq-gm"}, actor="op-br01-li")]
    )
    assert plan.directory == []
    [refused] = plan.refused
    assert refused.refusal.code == "beyond_its_branch"
    assert "names operator 'op-hq-gm' as making the contact, but 'op-br01-li' wrote it" in str(
        refused.refusal
    )


def test_a_photo_is_kept_under_the_hash_hq_computes_of_its_bytes(tmp_path: Path) -> None:
    image = png(8, 8)
    plan = plan_entries([entry("member", "photo", "m1", {"content_type": "image/png", "data": image})])
    assert plan.photos == [PhotoWrite("BR01", "image/png", image)]
    hq = SqliteHQ(tmp_path / "hq.sqlite")
    try:
        result = hq.push([(("member", "photo"), "m1", {"content_type": "image/png", "data": image})])
        assert result.quarantined == ()
        digest = hashlib.sha256(image).hexdigest()
        assert photos.get(hq.conn, f"sha256:{digest}") == ("image/png", image)
        assert hq.conn.execute("SELECT sha256 FROM photos").fetchall() == [(digest,)]
    finally:
        hq.conn.close()
