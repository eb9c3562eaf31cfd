"""The console's live view: every sale and return as HQ books it, resumable, and the
branches' figures and health of the moment.

Rules:
1. A position in the stream is a cursor: for each branch, the last entry of its log
   whose sales were sent. A branch's entries are applied in its log's order, each
   batch in one transaction with the branch's acknowledged seq, so everything up to
   that seq is visible once the seq is. The cursor therefore never skips a sale
   however many HQ processes ingest, where one id across branches would: PostgreSQL
   hands out serial ids before the transactions holding them commit, out of order.
2. A client that reconnects with its last cursor (SSE's Last-Event-ID) misses
   nothing and is sent nothing twice. A new client starts at the present.
3. A branch's operator is sent their own branch only.

No aiohttp here: the handler in hq.console_api streams what this module computes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hq.errors import InvalidQuery
from hq.storage.base import BranchRecord, HQStore, LiveSale, SalesTotals
from protocol.business_day import DEFAULT

# A branch not heard from (push or feed read) for this long is shown offline; its
# feed long-poll alone touches HQ every 20 s.
ONLINE_WITHIN_MS = 60_000
# At most this many sales per branch per read: a client far behind catches up in pages.
PAGE = 200
MAX_CURSOR_CHARS = 16_000
_POSITION = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]{0,31}):([0-9]{1,18})")  # codec's branch codes


@dataclass(frozen=True)
class Cursor:
    """Where a live stream is: branch code -> last seq sent (rule 1)."""

    positions: Mapping[str, int]

    def text(self) -> str:
        return ",".join(f"{code}:{seq}" for code, seq in sorted(self.positions.items()))

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """`BR01:120,BR02:7` (an empty text: no branch yet), or InvalidQuery."""
        if len(text) > MAX_CURSOR_CHARS:
            raise InvalidQuery(f"a live cursor is at most {MAX_CURSOR_CHARS} characters")
        positions: dict[str, int] = {}
        for part in filter(None, text.split(",")):
            match = _POSITION.fullmatch(part)
            if match is None:
                raise InvalidQuery(f"{part!r} is not a live cursor's BRANCH:SEQ; reconnect without one")
            positions[match.group(1)] = int(match.group(2))
        return cls(positions)


def present(branches: list[BranchRecord], branch: str | None) -> Cursor:
    """The cursor of a new client: nothing before now (rule 2)."""
    return Cursor({b.code: b.acked_seq for b in branches if branch in (None, b.code)})


async def sales_after(
    store: HQStore, cursor: Cursor, branches: list[BranchRecord], branch: str | None
) -> tuple[list[LiveSale], Cursor]:
    """The sales and returns booked after `cursor`, branch by branch in log order, and
    the cursor after them. `branches` must have been read before this call."""
    found: list[LiveSale] = []
    positions = dict(cursor.positions)
    for record in branches:
        if branch not in (None, record.code):
            continue
        after = positions.get(record.code, 0)
        if record.acked_seq <= after:
            continue
        sales = await store.live_sales(record.code, after, record.acked_seq, PAGE)
        found.extend(sales)
        # A full page may stop short of the acknowledged seq: resume after its last.
        positions[record.code] = sales[-1].seq if len(sales) == PAGE else record.acked_seq
    return found, Cursor(positions)


def branch_health(record: BranchRecord, now_ms: int) -> dict[str, Any]:
    """How a branch stands with HQ. Lag: how long HQ has waited for entries the branch
    holds (since it was last heard from, while it reports a backlog), else 0."""
    heard = record.last_seen_ms
    return {
        "code": record.code,
        "online": heard is not None and now_ms - heard < ONLINE_WITHIN_MS,
        "last_seen": heard,
        "acked_seq": record.acked_seq,
        "backlog": record.reported_backlog,
        "lag_ms": max(0, now_ms - heard) if heard is not None and record.reported_backlog else 0,
        "quarantined": record.quarantined_reason is not None,
        "quarantine_reason": record.quarantined_reason,
        "effects_quarantined": record.effects_quarantined,
        "business_day": record.business_day.as_json(),
        # Its reader's and printer's state and the receipts waiting, as it last said.
        "devices": record.devices,
    }


async def figures(
    store: HQStore,
    branches: list[BranchRecord],
    branch: str | None,
    now_ms: int,
    *,
    chain_wide: bool,
) -> dict[str, Any]:
    """Each branch's sales on its business day now, with returns netted, and its health;
    with `chain_wide` (an HQ operator's view) the open conflicts and transfers in transit."""
    shown = [record for record in branches if branch in (None, record.code)]
    todays = {record.code: record.business_day.day_text(now_ms) for record in shown}
    totals: dict[tuple[str, str], SalesTotals] = {}
    for today in sorted(set(todays.values())):  # one query per day branches are on: one or two
        totals.update(((code, today), figures) for code, figures in await store.sales_by_branch(today, today))
    rows = []
    for record in shown:
        day = totals.get((record.code, todays[record.code]))
        rows.append(
            {
                **branch_health(record, now_ms),
                "day": todays[record.code],
                "count": day.count if day else 0,
                "net_fen": day.net_fen if day else 0,
                "returns": day.returns if day else 0,
                "returned_fen": day.returned_fen if day else 0,
                "gross_profit_fen": day.gross_profit_fen if day else 0,
            }
        )
    answer: dict[str, Any] = {"day": DEFAULT.day_text(now_ms), "at_ms": now_ms, "branches": rows}
    if chain_wide:
        waiting: dict[str, int] = {}
        for conflict in await store.conflicts("open"):
            waiting[conflict.kind] = waiting.get(conflict.kind, 0) + 1
        in_transit, oldest_sent_at_ms = await store.in_transit_summary()
        answer["open_conflicts"] = waiting
        answer["in_transit"] = {"transfers": in_transit, "oldest_sent_at_ms": oldest_sent_at_ms}
    return answer


def stamped(sales: list[LiveSale], before: Cursor, after: Cursor) -> list[tuple[LiveSale, str]]:
    """Each sale with the cursor a client holds once it has it: its branch at its seq,
    the branches sent before it in this read at their ends (`after`), the rest where
    they were (`before`). A client that drops after any sale resumes just past it."""
    running = dict(before.positions)
    out = []
    previous: str | None = None
    for sale in sales:
        if previous is not None and previous != sale.branch:
            running[previous] = after.positions[previous]
        running[sale.branch] = sale.seq
        previous = sale.branch
        out.append((sale, Cursor(dict(running)).text()))
    return out
