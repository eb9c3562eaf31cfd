"""HQ's operation log and `branchline hq audit verify`: every change at HQ recorded
with who, when and from where; an edited or deleted row of HQ's database found and
named, whether in the operation log or in a branch's log as HQ holds it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from hq.operation_log import operation_bytes
from tests.harness import TEST_PASSWORD, Chain, branchline, hq_edit, hq_login, hq_rows, sale, wait_until


async def edit(chain: Chain, sql: str, *params: Any) -> None:
    """Change one row of HQ's database behind its back, as someone with the file would."""
    assert await hq_edit(chain, sql, *params) == 1


async def verify(chain: Chain) -> tuple[int, str]:
    return await branchline("hq", "audit", "verify", "--data", str(chain.root / "hq"), columns=300)


@pytest.fixture
async def traded(chain: Chain) -> Chain:
    """BR01 has sold and pushed; at HQ an operator authored a product over HTTP and
    another was added from the terminal."""
    node = await chain.add_node("BR01")
    for _ in range(3):
        await chain.post(node.url + "/api/sales", sale(("CUP-CERAMIC", 1)))
    await chain.post(
        chain.hq.url + "/api/products", {"sku": "TEA-NEW", "name": "New tea", "price_fen": 900}, 200
    )
    code, out = await branchline(
        "hq", "operator", "add", "--data", str(chain.root / "hq"), "--login", "fin-qian", "--role", "finance",
        password="qian-password-1",
    )  # fmt: skip
    assert code == 0, out
    await wait_until(lambda: chain.drained("BR01"), "BR01 to push its sales")
    return chain


async def test_every_change_at_hq_is_logged_with_who_when_and_from_where(traded: Chain) -> None:
    chain = traded
    listing = (await chain.get(chain.hq.url + "/api/operations"))["operations"]
    newest, authored = listing[0], listing[1]
    assert (newest["action"], newest["subject"], newest["address"]) == ("operator.add", "fin-qian", "local")
    assert newest["actor"].startswith("branchline hq operator add")
    assert newest["detail"] == {"role": "finance", "branch": None, "version": 1}
    assert (authored["action"], authored["subject"], authored["actor"]) == (
        "master.upsert",
        "product",
        hq_login(),
    )
    assert authored["address"] == "127.0.0.1"
    assert authored["detail"] == {"keys": ["TEA-NEW"], "count": 1}
    assert [op["seq"] for op in listing] == sorted((op["seq"] for op in listing), reverse=True)
    older = await chain.get(chain.hq.url + "/api/operations", params={"before": str(authored["seq"])})
    assert older["operations"][0]["seq"] == authored["seq"] - 1
    # The product entry HQ published names who authored it, as the branches' entries do.
    # (The feed carries the id, the log the login too.)
    assert authored["actor_id"]


async def test_audit_verify_passes_on_an_honest_store(traded: Chain) -> None:
    code, out = await verify(traded)
    assert code == 0, out
    assert "every chain holds" in out
    for chain_name in ("operations", "BR01", "hq:BR01"):
        assert chain_name in out


async def test_an_edited_operation_is_named(traded: Chain) -> None:
    forged = '{"keys": ["TEA-OTHER"], "count": 1}'
    await edit(traded, "UPDATE operation_log SET detail = ? WHERE actor = ?", forged, hq_login())
    code, out = await verify(traded)
    assert code == 1, out
    assert "BROKEN operation" in out
    assert "(master.upsert product) was altered" in out


async def test_a_deleted_operation_is_named(traded: Chain) -> None:
    await edit(traded, "DELETE FROM operation_log WHERE actor = ?", hq_login())
    code, out = await verify(traded)
    assert code == 1, out
    assert "is missing" in out
    assert "a row was deleted" in out


async def test_an_operation_rewritten_without_hqs_key_is_named(traded: Chain) -> None:
    ((seq, at_ms, actor_id, address, action, subject, prev),) = await hq_rows(
        traded,
        "SELECT seq, at_ms, actor_id, address, action, subject, prev_hash FROM operation_log"
        " ORDER BY seq DESC LIMIT 1",
    )
    detail = {"role": "general_manager", "branch": None, "version": 1}
    raw = operation_bytes(seq, at_ms, actor_id, "someone else", address, action, subject, detail, bytes(prev))
    await edit(
        traded,
        "UPDATE operation_log SET actor = 'someone else', detail = ?, hash = ? WHERE seq = ?",
        '{"branch": null, "role": "general_manager", "version": 1}',
        hashlib.sha256(raw).digest(),
        seq,
    )
    code, out = await verify(traded)
    assert code == 1, out
    assert f"operation {seq} is not signed by HQ's key" in out


async def test_an_edited_entry_of_a_branch_log_is_named(traded: Chain) -> None:
    ((raw,),) = await hq_rows(traded, "SELECT entry FROM log_entries WHERE origin = 'BR01' AND seq = 2")
    # One byte of the entry changed: a figure, a name, anything.
    tampered = bytes(raw[:-3]) + bytes([raw[-3] ^ 0x01]) + bytes(raw[-2:])
    await edit(traded, "UPDATE log_entries SET entry = ? WHERE origin = 'BR01' AND seq = 2", tampered)
    code, out = await verify(traded)
    assert code == 1, out
    assert "BR01 entry 2 was altered" in out


async def test_a_deleted_entry_of_a_branch_log_is_named(traded: Chain) -> None:
    await edit(traded, "DELETE FROM log_entries WHERE origin = 'BR01' AND seq = 2")
    code, out = await verify(traded)
    assert code == 1, out
    assert "BR01 entry 2 is missing" in out


async def test_audit_verify_needs_hqs_folder(tmp_path: Path) -> None:
    code, out = await branchline("hq", "audit", "verify", "--data", str(tmp_path / "nothing"))
    assert code == 2, out
    assert "holds no HQ" in out
    assert TEST_PASSWORD not in out
