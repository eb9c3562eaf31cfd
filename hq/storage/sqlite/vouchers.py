"""Voucher campaigns at HQ (hq.vouchers): running one (the members it picks, the vouchers
issued and published to every branch), the uses the branches report, and each
campaign's tracking. Runs unchanged on PostgreSQL (hq.storage.postgres)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable, Sequence
from typing import Any

from conflict.voucher_use import IssuedVoucher, state
from hq import vouchers as rules
from hq.errors import CampaignTermsDiffer, InvalidCampaign, UnknownCampaign
from hq.plan import VoucherUse
from hq.storage.base import FeedChange
from hq.storage.sqlite import feeds
from hq.storage.sqlite.feeds import FeedAppender
from shared_tables import directory_store
from shared_tables import vouchers as issued
from shared_tables.sql import Connection

_CAMPAIGN_COLUMNS = "code, name, value_fen, min_spend_fen, valid_from, valid_until, criteria"


def record_uses(conn: Connection, uses: Sequence[VoucherUse]) -> None:
    """The uses a push brought, each with its sale (after the directory, which refuses a
    redemption id sent twice with other content, by name, first)."""
    conn.executemany(
        "INSERT OR IGNORE INTO voucher_uses (redemption_id, origin, voucher_id, sale_id, amount_fen)"
        " VALUES (?, ?, ?, ?, ?)",
        [(u.redemption_id, u.origin, u.voucher_id, u.sale_id, u.amount_fen) for u in uses],
    )


# -- running a campaign --------------------------------------------------------------------


def run_campaign(
    conn: Connection, append: FeedAppender, campaign: rules.Campaign, now_ms: int, actor: str = ""
) -> tuple[bool, list[IssuedVoucher], list[str]]:
    """Store the campaign (or check a run repeats its terms), issue a voucher to each member
    who newly fits and publish them to every branch, as `actor` (the operator's id; ""
    for HQ's own). Whether the campaign is new, the vouchers issued now, and the
    branches whose feeds grew."""
    held = held_campaign(conn, campaign.code)
    if held is not None and held.terms() != campaign.terms():
        raise CampaignTermsDiffer(
            f"campaign {campaign.code} was issued on other terms ({_differences(held, campaign)});"
            " its vouchers keep theirs. Send the same terms to issue to members who newly fit,"
            " or give the new terms a new code"
        )
    level = campaign.criteria.level
    if level is not None and conn.execute("SELECT 1 FROM levels WHERE code = ?", (level,)).fetchone() is None:
        raise InvalidCampaign(f"criteria.level {level!r} is no level HQ defines; see GET /api/levels")
    if held is None:
        conn.execute(
            f"INSERT INTO voucher_campaigns ({_CAMPAIGN_COLUMNS}, created_at_ms, last_run_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_row(campaign), now_ms, now_ms),
        )
    else:
        conn.execute("UPDATE voucher_campaigns SET last_run_ms = ? WHERE code = ?", (now_ms, campaign.code))
    survivors = directory_store.survivors(conn)
    holders = {survivors.get(v.member_id, v.member_id) for v in issued.of_campaign(conn, campaign.code)}
    facts = member_facts(conn, campaign.criteria, survivors, now_ms)
    fresh = rules.to_issue(campaign, facts, holders, now_ms)
    for voucher in fresh:
        issued.put(conn, voucher, campaign.name)
    changes = [
        FeedChange("voucher", v.voucher_id, "issue", issued.payload(v, campaign.name), actor) for v in fresh
    ]
    return held is None, fresh, feeds.publish(conn, append, changes) if changes else []


def _differences(held: rules.Campaign, given: rules.Campaign) -> str:
    before, after = held.terms(), given.terms()
    return ", ".join(
        f"{name} {before[name]!r}, not {after[name]!r}" for name in before if before[name] != after[name]
    )


def _row(campaign: rules.Campaign) -> tuple[Any, ...]:
    return (
        campaign.code,
        campaign.name,
        campaign.value_fen,
        campaign.min_spend_fen,
        campaign.valid_from,
        campaign.valid_until,
        json.dumps(campaign.criteria.as_json(), sort_keys=True),
    )


def held_campaign(conn: Connection, code: str) -> rules.Campaign | None:
    row = conn.execute(
        f"SELECT {_CAMPAIGN_COLUMNS} FROM voucher_campaigns WHERE code = ?", (code,)
    ).fetchone()
    return None if row is None else _campaign(row)


def _campaign(row: Sequence[Any]) -> rules.Campaign:
    code, name, value_fen, min_spend_fen, valid_from, valid_until, criteria = row
    return rules.Campaign(
        code,
        name,
        value_fen,
        min_spend_fen,
        valid_from,
        valid_until,
        rules.criteria_from_json(json.loads(criteria)),
    )


def member_facts(
    conn: Connection, criteria: rules.Criteria, survivors: dict[str, str], now_ms: int
) -> list[rules.MemberFacts]:
    """Every person's facts the criteria ask, as the survivor of their group: their
    grade, merged profile, last purchase and spend over the criteria's period at every
    branch (hq.member_stats' tables), under every id of the group."""
    groups: dict[str, list[str]] = {}
    for member, survivor in survivors.items():
        groups.setdefault(survivor, []).append(member)
    last_visit: dict[str, int] = {}
    spend: dict[str, int] = {}
    start_ms = now_ms - criteria.period_days * rules.DAY_MS
    rows = conn.execute(
        "SELECT member_id, MAX(at_ms),"
        " COALESCE(SUM(CASE WHEN at_ms > ? THEN total_fen - refund_fen ELSE 0 END), 0)"
        " FROM member_sales GROUP BY member_id",
        (start_ms,),
    )
    for member, last_ms, spent in rows:
        person = survivors.get(member, member)
        last_visit[person] = max(last_visit.get(person, 0), int(last_ms))
        spend[person] = spend.get(person, 0) + int(spent)
    profiled = criteria.region is not None or criteria.birthday_month is not None
    found = []
    for person, members in sorted(groups.items()):
        profile = directory_store.group_values(conn, members) if profiled else {}
        grade = directory_store.graded_level(conn, members) if criteria.level is not None else None
        found.append(
            rules.MemberFacts(
                person,
                level=None if grade is None else grade["code"],
                region=profile.get("region"),
                birthday=profile.get("birthday"),
                last_visit_ms=last_visit.get(person),
                spend_fen=spend.get(person, 0),
            )
        )
    return found


# -- tracking ----------------------------------------------------------------------------------


def campaigns(conn: Connection, now_ms: int) -> list[dict[str, Any]]:
    """Every campaign, newest first, with its tracking."""
    codes = [
        code
        for (code,) in conn.execute("SELECT code FROM voucher_campaigns ORDER BY created_at_ms DESC, code")
    ]
    return [_view(conn, code, now_ms, with_vouchers=False) for code in codes]


def campaign(conn: Connection, code: str, now_ms: int) -> dict[str, Any]:
    """One campaign with its tracking and every voucher with its state."""
    return _view(conn, code, now_ms, with_vouchers=True)


def _view(conn: Connection, code: str, now_ms: int, *, with_vouchers: bool) -> dict[str, Any]:
    held = held_campaign(conn, code)
    if held is None:
        raise UnknownCampaign(f"no voucher campaign {code}; list them with GET /api/voucher-campaigns")
    created_at_ms, last_run_ms = conn.execute(
        "SELECT created_at_ms, last_run_ms FROM voucher_campaigns WHERE code = ?", (code,)
    ).fetchone()
    today = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.UTC).date().isoformat()
    vouchers = issued.of_campaign(conn, code)
    uses = rules.standing_uses(_uses(conn, code), _reinstated(conn, code))
    view: dict[str, Any] = {
        **held.terms(),
        "created_at_ms": created_at_ms,
        "last_run_ms": last_run_ms,
        "tracking": dataclasses.asdict(rules.tracking(vouchers, uses, today)),
    }
    if with_vouchers:
        by_voucher: dict[str, rules.Use] = {}
        for use in sorted(uses, key=lambda u: u.redemption_id):
            by_voucher.setdefault(use.voucher_id, use)
        view["vouchers"] = [_voucher_json(v, by_voucher.get(v.voucher_id), today) for v in vouchers]
    return view


def _voucher_json(voucher: IssuedVoucher, use: rules.Use | None, today: str) -> dict[str, Any]:
    return {
        "voucher_id": voucher.voucher_id,
        "member_id": voucher.member_id,
        "state": state(voucher, today, use is not None),
        "used_at": None if use is None else use.origin,
        "sale_id": None if use is None else use.sale_id,
        "amount_fen": None if use is None else use.amount_fen,
    }


def _uses(conn: Connection, code: str) -> list[rules.Use]:
    rows = conn.execute(
        "SELECT u.redemption_id, u.voucher_id, u.origin, u.sale_id, u.amount_fen, COALESCE(s.total_fen, 0)"
        " FROM voucher_uses u JOIN vouchers v ON v.voucher_id = u.voucher_id"
        " LEFT JOIN sales s ON s.origin = u.origin AND s.sale_id = u.sale_id"
        " WHERE v.campaign = ? ORDER BY u.redemption_id",
        (code,),
    )
    return [rules.Use(*row) for row in rows]


def _reinstated(conn: Connection, code: str) -> Iterable[tuple[str, str]]:
    rows = conn.execute(
        "SELECT r.redemption_id, r.voucher_id FROM dir_reinstatements r"
        " JOIN vouchers v ON v.voucher_id = r.voucher_id WHERE v.campaign = ?",
        (code,),
    )
    return [(str(redemption), str(voucher)) for redemption, voucher in rows]
