"""Vouchers for tests: a campaign HQ runs (as the harness's general manager), and waiting
for a member's voucher to reach a branch, since a till takes only vouchers HQ issued."""

from __future__ import annotations

import datetime
from typing import Any

from hq.vouchers import voucher_id
from tests.harness import Chain, Server, wait_until


def window(days_before: int = 1, days_after: int = 30) -> tuple[str, str]:
    """Days around today (UTC) wide enough for any branch's own date today."""
    today = datetime.datetime.now(datetime.UTC).date()
    first = today - datetime.timedelta(days=days_before)
    return first.isoformat(), (today + datetime.timedelta(days=days_after)).isoformat()


async def known_at_hq(chain: Chain, member_id: str) -> None:
    async def known() -> bool:
        async with chain.session.get(f"{chain.hq.url}/api/members/{member_id}") as response:
            return response.status == 200

    await wait_until(known, f"member {member_id} to reach HQ")


async def campaign(
    chain: Chain,
    code: str,
    *,
    value_fen: int = 2_000,
    min_spend_fen: int = 0,
    valid: tuple[str, str] | None = None,
    criteria: dict[str, Any] | None = None,
    status: int = 201,
) -> dict[str, Any]:
    """Run a campaign at HQ (POST /api/voucher-campaigns); its answer."""
    valid_from, valid_until = valid or window()
    body = {
        "code": code,
        "name": f"Campaign {code}",
        "value_fen": value_fen,
        "min_spend_fen": min_spend_fen,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "criteria": criteria or {},
    }
    answer: dict[str, Any] = await chain.post(chain.hq.url + "/api/voucher-campaigns", body, status=status)
    return answer


async def issue_to(chain: Chain, member_id: str, code: str, *nodes: Server, **terms: Any) -> str:
    """A voucher of a new campaign `code` for the member (and every other member HQ knows),
    once HQ knows the member; waits until it reaches each of `nodes`. Its code."""
    await known_at_hq(chain, member_id)
    await campaign(chain, code, **terms)
    voucher = voucher_id(code, member_id)
    for node in nodes:
        await arrived(chain, node, member_id, voucher)
    return voucher


async def arrived(chain: Chain, node: Server, member_id: str, voucher: str) -> None:
    async def listed() -> bool:
        async with chain.session.get(f"{node.url}/api/members/{member_id}/vouchers") as response:
            if response.status != 200:
                return False
            return voucher in {v["voucher_id"] for v in (await response.json())["vouchers"]}

    await wait_until(listed, f"voucher {voucher} to reach {node.url}")


def tender(voucher: str, amount_fen: int) -> dict[str, Any]:
    return {"kind": "voucher", "voucher": voucher, "amount_fen": amount_fen}
