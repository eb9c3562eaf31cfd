"""A feed entry HQ signed but its own wire contract refuses is skipped, loudly, and
the entries after it still apply: one bad entry never cuts a branch off from HQ."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.store import sync_state
from node.store.store import Store
from node.sync.feed import apply_page_job
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.signing import public_key_bytes

HQ_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
FEED = "hq:BR01"


def feed_entries(changes: list[tuple[str, str, str, Any]]) -> list[Entry]:
    entries: list[Entry] = []
    prev = GENESIS_HASH
    for seq, (kind, entity_id, op, payload) in enumerate(changes, start=1):
        entry = encode_entry(
            origin=FEED,
            seq=seq,
            hlc=seq << 16,
            prev_hash=prev,
            kind=kind,
            entity_id=entity_id,
            op=op,
            payload=payload,
        )
        entries.append(entry)
        prev = entry.hash
    return entries


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "node.sqlite", "BR01", wall_ms=lambda: 1_700_000_000_000)
    try:
        yield store
    finally:
        await store.close()


async def test_a_feed_entry_breaking_the_contract_is_skipped_and_the_rest_applies(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    entries = feed_entries(
        [
            ("product", "TEA", "upsert", {"sku": "TEA", "name": "Tea", "price_fen": 6800}),
            # A negative price: HQ's contract refuses it, so HQ had a bug.
            ("product", "CUP", "upsert", {"sku": "CUP", "name": "Cup", "price_fen": -1}),
            # An entry only a branch writes, in HQ's feed.
            ("sale", "S-1", "checkout", {"lines": [], "tenders": [], "total_fen": 0, "change_fen": 0}),
            ("product", "SOAP", "upsert", {"sku": "SOAP", "name": "Soap", "price_fen": 900}),
        ]
    )
    batch = sign_batch(HQ_KEY, FEED, entries)

    with caplog.at_level(logging.ERROR, logger="node.sync.feed"):
        cursor = await store.writer.run(apply_page_job(batch, public_key_bytes(HQ_KEY)))

    assert cursor == 4
    skus = await store.read(
        lambda conn: [r[0] for r in conn.execute("SELECT sku FROM products ORDER BY sku")]
    )
    assert skus == ["SOAP", "TEA"]
    assert await store.read(lambda conn: sync_state.feed_cursor(conn)[0]) == 4
    refused = [r.getMessage() for r in caplog.records if "refused by the wire contract" in r.getMessage()]
    assert len(refused) == 2
    assert "price_fen" in refused[0]
    assert "sale/checkout" in refused[1]


def operator(login: str, branch: str, version: int = 1, *, disabled: bool = False) -> dict[str, Any]:
    return {
        "id": f"op-{login}",
        "login": login,
        "name": login,
        "role": "clerk",
        "branch": branch,
        "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "permissions": ["sales:add"],
        "disabled": disabled,
        "version": version,
    }


async def test_a_branch_takes_only_its_own_operators_and_each_ones_newest_version(store: Store) -> None:
    entries = feed_entries(
        [
            ("operator", "op-li", "upsert", operator("li", "BR01", 2)),
            ("operator", "op-li", "upsert", operator("li", "BR01", 1, disabled=True)),  # older: ignored
            ("operator", "op-wang", "upsert", operator("wang", "BR02")),  # another branch's
        ]
    )
    await store.writer.run(apply_page_job(sign_batch(HQ_KEY, FEED, entries), public_key_bytes(HQ_KEY)))
    held = await store.read(
        lambda conn: list(conn.execute("SELECT login, disabled, version FROM operators ORDER BY login"))
    )
    assert held == [("li", 0, 2)]
