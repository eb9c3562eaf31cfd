"""The judges of `simulate --real`: convergence and invariants, through the public HTTP APIs only.

They ask what an ops person could ask (HQ's branch list and totals, each node's
sync status, totals and member search) and compare with what the tills were told,
through a session logged in as an ops person would be: a store manager at each node,
an HQ operator at HQ (simulations.real).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from simulations.model import Violation
from simulations.real_trading import Branch


async def _get(session: aiohttp.ClientSession, url: str) -> Any | None:
    """The JSON of a 200 answer, or None: down, unreachable or refusing."""
    try:
        async with session.get(url) as response:
            return await response.json() if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


def _members(branches: dict[str, Branch]) -> list[tuple[str, str]]:
    return [member for branch in branches.values() for member in branch.registered]


async def _found(session: aiohttp.ClientSession, base_url: str, member_id: str, phone: str) -> bool:
    answer = await _get(session, f"{base_url}/api/members?phone={phone}")
    return answer is not None and any(m.get("id") == member_id for m in answer["members"])


async def converged_branches(
    session: aiohttp.ClientSession, hq_url: str, branches: dict[str, Branch]
) -> set[str]:
    """Branches up, with nothing left to push, all of it acked at HQ, and every member known."""
    listing = await _get(session, hq_url + "/api/branches")
    if listing is None:
        return set()
    at_hq = {row["code"]: row for row in listing["branches"]}
    members = _members(branches)
    done = set()
    for code, branch in branches.items():
        status = await _get(session, branch.url + "/api/sync") if branch.up.is_set() else None
        row = at_hq.get(code)
        if status is None or row is None or row["quarantined"]:
            continue
        if status["backlog"] or not status["hq_reachable"] or row["acked_seq"] != status["head_seq"]:
            continue
        for member_id, phone in members:
            if member_id not in branch.members_seen and await _found(session, branch.url, member_id, phone):
                branch.members_seen.add(member_id)
        if all(member_id in branch.members_seen for member_id, _ in members):
            done.add(code)
    return done


async def check_invariants(
    session: aiohttp.ClientSession, hq_url: str, branches: dict[str, Branch]
) -> list[Violation]:
    violations: list[Violation] = []
    listing = await _get(session, hq_url + "/api/branches")
    at_hq = {} if listing is None else {row["code"]: row for row in listing["branches"]}
    if listing is None:
        violations.append(Violation("HQ answers", f"GET {hq_url}/api/branches did not answer 200"))
    for code, branch in sorted(branches.items()):
        for key in sorted(branch.unresolved):
            violations.append(Violation("every sale's outcome known", f"{code}: sale {key} never answered"))
        told = (len(branch.sales), sum(total for _, total in branch.sales.values()))
        node = await _get(session, branch.url + "/api/sales/summary")
        hq = await _get(session, f"{hq_url}/api/sales/summary?branch={code}")
        for where, summary in (("node", node), ("HQ", hq)):
            found = None if summary is None else (summary["count"], summary["total_fen"])
            if found != told:
                violations.append(
                    Violation(
                        "totals equal the tills'",
                        f"{code}: tills were told of {told[0]} sales, {told[1]} fen; {where} shows {found}",
                    )
                )
        status = await _get(session, branch.url + "/api/sync")
        row = at_hq.get(code)
        if status is None or row is None:
            violations.append(Violation("log acked at HQ", f"{code}: no sync status or not listed at HQ"))
        else:
            if row["acked_seq"] != status["head_seq"]:
                detail = f"{code}: HQ acked {row['acked_seq']}, node head is {status['head_seq']}"
                violations.append(Violation("log acked at HQ", detail))
            if row["quarantined"]:
                violations.append(Violation("no quarantine", f"{code}: {row['quarantine_reason']}"))
    for member_id, phone in _members(branches):
        places = [(code, b.url) for code, b in sorted(branches.items())] + [("HQ", hq_url)]
        for where, url in places:
            if not await _found(session, url, member_id, phone):
                violations.append(
                    Violation("members everywhere", f"member {member_id} ({phone}) not at {where}")
                )
    return violations
