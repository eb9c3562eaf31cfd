"""Voucher campaigns' rules (hq.vouchers), pure: what an operator may send, whom the
criteria pick, the code each member's voucher gets, and a campaign's tracking worked by
hand. The same on real servers is tests/e2e/test_vouchers.py."""

from __future__ import annotations

from typing import Any

import pytest

from conflict.voucher_use import IssuedVoucher
from hq.errors import InvalidCampaign
from hq.vouchers import (
    MAX_VOUCHERS_PER_CAMPAIGN,
    Criteria,
    MemberFacts,
    Use,
    parse_campaign,
    parse_criteria,
    picks,
    to_issue,
    tracking,
    voucher_id,
)

DAY_MS = 86_400_000
NOW_MS = 1_773_360_000_000  # 2026-03-13 00:00 UTC
BODY = {
    "code": "SPRING",
    "name": "Spring / 春季",
    "value_fen": 2_000,
    "min_spend_fen": 5_000,
    "valid_from": "2026-03-01",
    "valid_until": "2026-03-31",
}


def refused(body: Any) -> str:
    with pytest.raises(InvalidCampaign) as caught:
        parse_campaign(body)
    return str(caught.value)


def test_a_campaign_is_read_with_its_criteria() -> None:
    spring = parse_campaign({**BODY, "criteria": {"region": "Pudong", "min_spend_fen": 10_000}})
    assert (spring.code, spring.value_fen, spring.min_spend_fen) == ("SPRING", 2_000, 5_000)
    assert spring.criteria == Criteria(region="Pudong", min_spend_fen=10_000, period_days=365)
    assert spring.terms()["criteria"] == {"min_spend_fen": 10_000, "period_days": 365, "region": "Pudong"}
    assert parse_campaign({**BODY, "min_spend_fen": 0}).criteria == Criteria()  # no criteria: everyone


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"valid_from": "2026-03-31", "valid_until": "2026-03-01"}, "ends before it starts"),
        ({"value_fen": 0}, "value_fen must be between 1"),
        ({"value_fen": 20.0}, "value_fen must be an integer number of fen"),
        ({"value_fen": True}, "value_fen must be an integer number of fen"),
        ({"min_spend_fen": -1}, "min_spend_fen must be between 0"),
        ({"valid_until": "2026-02-30"}, "valid_until must be a date"),
        ({"valid_until": "2030-03-31"}, "at most 1098 days"),
        ({"code": "SPRING SALE"}, "letters, digits or dashes"),
        ({"code": "A" * 21}, "1 to 20"),
        ({"code": "-SPRING"}, "starting with a letter or digit"),
        ({"name": " "}, "name must be text"),
        ({"criteria": {"colour": "red"}}, "unknown criteria: colour"),
        ({"criteria": {"not_visited_days": 30, "last_visit_before": "2026-01-01"}}, "not both"),
        ({"criteria": {"period_days": 30}}, "give min_spend_fen with it"),
        ({"criteria": {"birthday_month": 0}}, "criteria.birthday_month must be between 1 and 12"),
        ({"criteria": {"not_visited_days": 0}}, "criteria.not_visited_days must be between 1"),
        ({"criteria": {"region": ""}}, "criteria.region"),
        ({"criteria": ["region"]}, "criteria must be an object"),
        ({"colour": "red"}, "unknown campaign fields: colour"),
    ],
)
def test_a_campaign_that_cannot_be_issued_is_refused_naming_the_rule(
    changes: dict[str, Any], said: str
) -> None:
    assert said in refused({**BODY, **changes})


def test_a_voucher_code_is_the_campaigns_and_the_members_and_fits_a_till() -> None:
    code = voucher_id("SPRING", "0192a3b4-c5d6-7e8f-9012-3456789abcde")
    assert code == voucher_id("SPRING", "0192a3b4-c5d6-7e8f-9012-3456789abcde")  # every run alike
    assert code != voucher_id("SPRING", "0192a3b4-c5d6-7e8f-9012-3456789abcdf")
    assert code != voucher_id("AUTUMN", "0192a3b4-c5d6-7e8f-9012-3456789abcde")
    assert code.startswith("SPRING-")
    longest = voucher_id("A" * 20, "m")
    assert len(longest) == 37  # within the 40 characters a till takes


def test_the_criteria_pick_members_by_what_hq_knows() -> None:
    """Li: Pudong, born 20 May, VIP, last bought 10 days ago, spent 12,000. Zhao: Minhang,
    born 2 May, never bought."""
    li = MemberFacts("li", "VIP", "Pudong", "1990-05-20", NOW_MS - 10 * DAY_MS, 12_000)
    zhao = MemberFacts("zhao", None, "Minhang", "1985-05-02", None, 0)

    def chosen(**criteria: Any) -> set[str]:
        asked = parse_criteria(criteria)
        return {f.member_id for f in (li, zhao) if picks(asked, f, NOW_MS)}

    assert chosen() == {"li", "zhao"}
    assert chosen(region="Pudong") == {"li"}
    assert chosen(region="pudong") == set()  # as the profile spells it
    assert chosen(birthday_month=5) == {"li", "zhao"}
    assert chosen(birthday_month=12) == set()
    assert chosen(level="VIP") == {"li"}
    assert chosen(not_visited_days=30) == {"zhao"}  # Li came 10 days ago; Zhao never
    assert chosen(not_visited_days=10) == {"zhao"}  # exactly 10 days ago is within 10 days
    assert chosen(not_visited_days=9) == {"li", "zhao"}
    assert chosen(last_visit_before="2026-03-04") == {"li", "zhao"}  # Li came on the 3rd at 00:00
    assert chosen(last_visit_before="2026-03-03") == {"zhao"}
    assert chosen(min_spend_fen=12_000) == {"li"}
    assert chosen(min_spend_fen=12_001) == set()
    assert chosen(region="Pudong", birthday_month=5, level="VIP", min_spend_fen=10_000) == {"li"}


def test_a_run_issues_only_to_members_who_hold_none_of_the_campaigns_yet() -> None:
    spring = parse_campaign(BODY)
    facts = [MemberFacts(m) for m in ("m3", "m1", "m2")]
    first = to_issue(spring, facts, [], NOW_MS)
    assert [v.member_id for v in first] == ["m1", "m2", "m3"]
    assert first[0] == IssuedVoucher(voucher_id("SPRING", "m1"), "SPRING", "m1", 2_000, 5_000, *BODY_DAYS)
    assert to_issue(spring, facts, ["m1", "m2", "m3"], NOW_MS) == []
    assert [v.member_id for v in to_issue(spring, facts, ["m1"], NOW_MS)] == ["m2", "m3"]


BODY_DAYS = ("2026-03-01", "2026-03-31")


def test_a_campaign_of_more_vouchers_than_the_bound_issues_none() -> None:
    spring = parse_campaign(BODY)
    facts = [MemberFacts(f"m{n}") for n in range(MAX_VOUCHERS_PER_CAMPAIGN)]
    assert len(to_issue(spring, facts, [], NOW_MS)) == MAX_VOUCHERS_PER_CAMPAIGN
    with pytest.raises(InvalidCampaign, match="narrow the criteria"):
        to_issue(spring, facts, ["held-by-someone-else"], NOW_MS)


def test_tracking_counts_each_voucher_once_and_each_sale_once() -> None:
    """Four vouchers to 31 March. V1 used at BR01 on a 6,000 sale (2,000 off); V2 used at
    BR02 on a 9,000 sale (1,500 off) which also took V3 (2,000 off); V4 unused.
    On 15 March: redeemed 3, unused 1, expired 0; redeemed_fen 5,500; 2 sales of 15,000.
    On 1 April V4 has expired; the rest stay redeemed."""
    vouchers = [IssuedVoucher(f"V{n}", "SPRING", f"m{n}", 2_000, 0, *BODY_DAYS) for n in range(1, 5)]
    uses = [
        Use("s1-t0", "V1", "BR01", "s1", 2_000, 6_000),
        Use("s2-t0", "V2", "BR02", "s2", 1_500, 9_000),
        Use("s2-t1", "V3", "BR02", "s2", 2_000, 9_000),
    ]
    mid = tracking(vouchers, uses, "2026-03-15")
    assert (mid.issued, mid.redeemed, mid.unused, mid.expired) == (4, 3, 1, 0)
    assert (mid.redeemed_fen, mid.sales, mid.sales_fen) == (5_500, 2, 15_000)
    after = tracking(vouchers, uses, "2026-04-01")
    assert (after.redeemed, after.unused, after.expired) == (3, 0, 1)
