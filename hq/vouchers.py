"""Voucher campaigns at HQ (FEATURES L10): an operator names the terms and who gets one,
HQ issues a voucher to each member who fits, and tracks what the vouchers brought.

Rules:
1. A campaign is a code (its vouchers' prefix), a name, a value, the least sale a
   voucher pays on, its first and last days (both inclusive, as each branch's own
   dates), and criteria picking members. Criteria all hold at once; none picks every
   member. They are what HQ's store can answer:
   - `level`: the level HQ last graded the member into (hq.levels);
   - `region`: the profile's region, exactly as it is spelt there;
   - `birthday_month`: 1 to 12, the month of the profile's birthday;
   - `last_visit_before` (a date) or `not_visited_days` (N): no purchase at any branch
     on that day or after, or in the last N days; a member who never bought qualifies;
   - `min_spend_fen` over `period_days` (365 by default): what the member kept of what
     they bought at every branch over that period (sales less returns), as hq.levels
     counts spend.
   Visits and spend are the sales HQ has received (a branch cut off counts once it
   syncs), by UTC day, under every id of the member's duplicate group.
2. One voucher per member (as the survivor of their duplicate group) and campaign, its
   code derived from the two (`voucher_id`), so running a campaign again issues only
   to members who newly fit, never twice to one person. Running it again takes the
   same terms; other terms are another campaign (a voucher's terms never change).
3. A campaign issues at most MAX_VOUCHERS_PER_CAMPAIGN vouchers: each is an entry in
   every branch's feed.
4. Tracking counts a voucher `redeemed` while a use of it stands (a return may give it
   back, conflict.voucher_use), `expired` when unused past its last day (a UTC day at
   HQ), `unused` otherwise; `redeemed_fen` is what the standing uses took off their
   sales and `sales_fen` the totals of those sales (each sale once, however many of
   the campaign's vouchers it took).

Pure: a request body in, a campaign out; members' figures in, the picks out.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from conflict.voucher_use import IssuedVoucher, state
from hq.errors import InvalidCampaign
from protocol.limits import (
    MAX_AMOUNT_FEN,
    MAX_LEVEL_PERIOD_DAYS,
    MAX_MASTER_NAME_CHARS,
    MAX_NAME_CHARS,
    MAX_REGION_CHARS,
    MAX_SALE_FEN,
)

# A voucher's code is the campaign's, a dash and 16 hex digits: at most 37 characters,
# within the 40 a till takes for a voucher (node.services.fields.card_number).
MAX_CAMPAIGN_CODE_CHARS = 20
VOUCHER_DIGEST_BYTES = 8  # 64 bits: codes of one campaign do not collide in practice
_CAMPAIGN_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]*")
# Each voucher is an entry in every branch's feed: ten thousand of ~250 bytes is about
# 2.5 MB per branch, two or three feed pages. A larger audience is several campaigns.
MAX_VOUCHERS_PER_CAMPAIGN = 10_000
# A voucher runs for weeks; three years covers any anniversary offer. Longer is a typo.
MAX_VOUCHER_DAYS = 3 * 366
DEFAULT_PERIOD_DAYS = 365
DAY_MS = 86_400_000
FIELDS = ("code", "name", "value_fen", "min_spend_fen", "valid_from", "valid_until", "criteria")
CRITERIA = (
    "level",
    "region",
    "birthday_month",
    "last_visit_before",
    "not_visited_days",
    "min_spend_fen",
    "period_days",
)


@dataclass(frozen=True)
class Criteria:
    """Who a campaign picks (rule 1); None: not asked."""

    level: str | None = None
    region: str | None = None
    birthday_month: int | None = None
    last_visit_before: str | None = None  # YYYY-MM-DD
    not_visited_days: int | None = None
    min_spend_fen: int | None = None
    period_days: int = DEFAULT_PERIOD_DAYS

    def as_json(self) -> dict[str, Any]:
        """The criteria asked, each once (period_days only beside min_spend_fen)."""
        given = {name: value for name, value in asdict(self).items() if value is not None}
        if self.min_spend_fen is None:
            given.pop("period_days")
        return dict(sorted(given.items()))


@dataclass(frozen=True)
class Campaign:
    code: str
    name: str
    value_fen: int
    min_spend_fen: int
    valid_from: str
    valid_until: str
    criteria: Criteria

    def terms(self) -> dict[str, Any]:
        """What a run of the campaign must repeat exactly (rule 2)."""
        return {
            "code": self.code,
            "name": self.name,
            "value_fen": self.value_fen,
            "min_spend_fen": self.min_spend_fen,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "criteria": self.criteria.as_json(),
        }

    def voucher_for(self, member_id: str) -> IssuedVoucher:
        return IssuedVoucher(
            voucher_id(self.code, member_id),
            self.code,
            member_id,
            self.value_fen,
            self.min_spend_fen,
            self.valid_from,
            self.valid_until,
        )


def voucher_id(campaign: str, member_id: str) -> str:
    """The campaign's voucher for a member (rule 2): the same code on every run."""
    digest = hashlib.blake2b(f"{campaign}\x00{member_id}".encode(), digest_size=VOUCHER_DIGEST_BYTES)
    return f"{campaign}-{digest.hexdigest().upper()}"


# -- the operator's request -----------------------------------------------------------------


def parse_campaign(body: Any) -> Campaign:
    """A campaign as an operator sends it; InvalidCampaign names the field and the rule."""
    if not isinstance(body, dict):
        raise InvalidCampaign(
            "the body must be an object: {code, name, value_fen, valid_from, valid_until, ...}"
        )
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidCampaign(
            f"unknown campaign fields: {', '.join(unknown)}; a campaign has {', '.join(FIELDS)}"
        )
    code = body.get("code")
    if (
        not isinstance(code, str)
        or len(code) > MAX_CAMPAIGN_CODE_CHARS
        or _CAMPAIGN_CODE.fullmatch(code) is None
    ):
        raise InvalidCampaign(
            f"code must be 1 to {MAX_CAMPAIGN_CODE_CHARS} letters, digits or dashes, starting with a"
            " letter or digit: it begins every voucher's code, which a till takes"
        )
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_MASTER_NAME_CHARS:
        raise InvalidCampaign(f"name must be text of 1 to {MAX_MASTER_NAME_CHARS} characters")
    value_fen = _fen(body.get("value_fen"), "value_fen", 1, MAX_AMOUNT_FEN)
    min_spend_fen = _fen(body.get("min_spend_fen", 0), "min_spend_fen", 0, MAX_SALE_FEN)
    valid_from = _date(body.get("valid_from"), "valid_from")
    valid_until = _date(body.get("valid_until"), "valid_until")
    if valid_until < valid_from:
        raise InvalidCampaign(
            f"the window ends before it starts: valid_until {valid_until} is before valid_from {valid_from}"
        )
    days = (datetime.date.fromisoformat(valid_until) - datetime.date.fromisoformat(valid_from)).days + 1
    if days > MAX_VOUCHER_DAYS:
        raise InvalidCampaign(f"a voucher runs at most {MAX_VOUCHER_DAYS} days; this window is {days}")
    criteria = parse_criteria(body.get("criteria", {}))
    return Campaign(code, name.strip(), value_fen, min_spend_fen, valid_from, valid_until, criteria)


def parse_criteria(given: Any) -> Criteria:
    if not isinstance(given, dict):
        raise InvalidCampaign(f"criteria must be an object of {', '.join(CRITERIA)} (or {{}}: every member)")
    unknown = sorted(set(given) - set(CRITERIA))
    if unknown:
        raise InvalidCampaign(
            f"unknown criteria: {', '.join(unknown)}; HQ picks members by {', '.join(CRITERIA)}"
        )
    if given.get("last_visit_before") is not None and given.get("not_visited_days") is not None:
        raise InvalidCampaign("give last_visit_before or not_visited_days, not both: they ask the same")
    if "period_days" in given and given.get("min_spend_fen") is None:
        raise InvalidCampaign("period_days is the period of min_spend_fen: give min_spend_fen with it")
    level = _optional_text(given.get("level"), "criteria.level", MAX_NAME_CHARS)
    region = _optional_text(given.get("region"), "criteria.region", MAX_REGION_CHARS)
    month = given.get("birthday_month")
    before = given.get("last_visit_before")
    days = given.get("not_visited_days")
    spend = given.get("min_spend_fen")
    return Criteria(
        level=level,
        region=region,
        birthday_month=None if month is None else _fen(month, "criteria.birthday_month", 1, 12, "a month"),
        last_visit_before=None if before is None else _date(before, "criteria.last_visit_before"),
        not_visited_days=None
        if days is None
        else _fen(days, "criteria.not_visited_days", 1, MAX_LEVEL_PERIOD_DAYS, "a number of days"),
        min_spend_fen=None if spend is None else _fen(spend, "criteria.min_spend_fen", 0, MAX_SALE_FEN),
        period_days=_fen(
            given.get("period_days", DEFAULT_PERIOD_DAYS),
            "criteria.period_days",
            1,
            MAX_LEVEL_PERIOD_DAYS,
            "a number of days",
        ),
    )


def criteria_from_json(given: Mapping[str, Any]) -> Criteria:
    """Criteria as a campaign stored them (Criteria.as_json)."""
    return parse_criteria(dict(given))


def _fen(value: Any, where: str, low: int, high: int, what: str = "an integer number of fen") -> int:
    # bool is an int in Python, and a float or a string is not money.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCampaign(f"{where} must be {what}, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidCampaign(f"{where} must be between {low} and {high}, not {value}")
    return value


def _date(value: Any, where: str) -> str:
    try:
        if isinstance(value, str) and len(value) == 10:
            return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise InvalidCampaign(f"{where} must be a date YYYY-MM-DD, not {value!r}")


def _optional_text(value: Any, where: str, max_chars: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_chars or not value.isprintable():
        raise InvalidCampaign(f"{where} must be 1 to {max_chars} printable characters")
    return value


# -- who a campaign picks ---------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFacts:
    """What HQ knows of a member (as the survivor of their group) that criteria ask."""

    member_id: str
    level: str | None = None
    region: str | None = None
    birthday: str | None = None  # YYYY-MM-DD
    last_visit_ms: int | None = None  # the last purchase at any branch; None: never
    spend_fen: int = 0  # over the criteria's period


def last_visit_cutoff_ms(criteria: Criteria, now_ms: int) -> int | None:
    """A member qualifies by visits only with no purchase at or after this moment."""
    if criteria.last_visit_before is not None:
        day = datetime.date.fromisoformat(criteria.last_visit_before)
        return (day - datetime.date(1970, 1, 1)).days * DAY_MS
    if criteria.not_visited_days is not None:
        return now_ms - criteria.not_visited_days * DAY_MS
    return None


def picks(criteria: Criteria, facts: MemberFacts, now_ms: int) -> bool:
    """Whether the member fits every criterion asked (rule 1)."""
    if criteria.level is not None and facts.level != criteria.level:
        return False
    if criteria.region is not None and facts.region != criteria.region:
        return False
    if criteria.birthday_month is not None and (
        facts.birthday is None or facts.birthday[5:7] != f"{criteria.birthday_month:02d}"
    ):
        return False
    cutoff = last_visit_cutoff_ms(criteria, now_ms)
    if cutoff is not None and facts.last_visit_ms is not None and facts.last_visit_ms >= cutoff:
        return False
    return criteria.min_spend_fen is None or facts.spend_fen >= criteria.min_spend_fen


def to_issue(
    campaign: Campaign, facts: Iterable[MemberFacts], holders: Iterable[str], now_ms: int
) -> list[IssuedVoucher]:
    """The vouchers a run issues: one to each member who fits and holds none of the
    campaign's yet (`holders`: the survivors of the members it was issued to), by member.
    More than MAX_VOUCHERS_PER_CAMPAIGN in all is refused (rule 3)."""
    held = set(holders)
    fresh = sorted(
        {f.member_id for f in facts if f.member_id not in held and picks(campaign.criteria, f, now_ms)}
    )
    if len(held) + len(fresh) > MAX_VOUCHERS_PER_CAMPAIGN:
        raise InvalidCampaign(
            f"campaign {campaign.code} would hold {len(held) + len(fresh):,} vouchers, more than the"
            f" {MAX_VOUCHERS_PER_CAMPAIGN:,} one campaign issues: narrow the criteria, or split it by region"
            " or level"
        )
    return [campaign.voucher_for(member) for member in fresh]


# -- what the vouchers brought ------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A voucher's use as HQ recorded it, with the total of the sale it paid for (0 while
    that sale has not reached HQ)."""

    redemption_id: str
    voucher_id: str
    origin: str
    sale_id: str
    amount_fen: int
    sale_total_fen: int


@dataclass(frozen=True)
class Tracking:
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    unused: int = 0
    redeemed_fen: int = 0
    sales: int = 0
    sales_fen: int = 0


def standing_uses(uses: Iterable[Use], reinstated: Iterable[tuple[str, str]]) -> list[Use]:
    """The uses no return gave back: `reinstated` holds (redemption, voucher) pairs, as
    conflict.voucher_use.standing counts them."""
    undone = set(reinstated)
    return [u for u in uses if (u.redemption_id, u.voucher_id) not in undone]


def tracking(vouchers: Sequence[IssuedVoucher], uses: Sequence[Use], today: str) -> Tracking:
    """A campaign's figures (rule 4) from its vouchers and their standing uses."""
    used = {u.voucher_id for u in uses}
    states = [state(v, today, v.voucher_id in used) for v in vouchers]
    sales = {(u.origin, u.sale_id): u.sale_total_fen for u in uses}
    return Tracking(
        issued=len(vouchers),
        redeemed=states.count("used"),
        expired=states.count("expired"),
        unused=states.count("unused"),
        redeemed_fen=sum(u.amount_fen for u in uses),
        sales=len(sales),
        sales_fen=sum(sales.values()),
    )
