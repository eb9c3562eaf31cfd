"""Single-use vouchers: the earliest redemption wins; the others are flagged with their amounts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conflict.vouchers import Redemption, merge_redemptions, settle_vouchers
from tests.conflict.strategies import PROPERTY, redemption_sets


def test_a_voucher_redeemed_at_two_branches_while_apart_the_earliest_wins() -> None:
    # A 20.00 yuan voucher used at B (hlc 7) and at A (hlc 9): B's stands, A's 2000 fen is flagged.
    at_a = Redemption("r-a", "v1", 2000, 9, "A")
    at_b = Redemption("r-b", "v1", 2000, 7, "B")
    outcome = settle_vouchers([at_a, at_b])
    assert outcome.winners == {"v1": at_b}
    assert outcome.flagged == (at_a,)
    assert outcome.flagged_fen == 2000


def test_equal_clocks_are_broken_by_node_then_redemption_id() -> None:
    first, second = Redemption("r-2", "v1", 500, 5, "A"), Redemption("r-1", "v1", 500, 5, "B")
    assert settle_vouchers([second, first]).winners["v1"] == first


@PROPERTY
@given(redemption_sets(), st.randoms(use_true_random=False))
def test_outcome_is_independent_of_order_and_duplication(
    redemptions: dict[str, Redemption], rnd: object
) -> None:
    items = list(redemptions.values())
    shuffled = items + items[: len(items) // 2]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert settle_vouchers(shuffled) == settle_vouchers(items)
    outcome = settle_vouchers(items)
    assert len(outcome.winners) + len(outcome.flagged) == len(items)


@PROPERTY
@given(redemption_sets(), redemption_sets())
def test_merge_is_commutative_and_idempotent(a: dict[str, Redemption], b: dict[str, Redemption]) -> None:
    # Sets drawn separately may reuse an id for another redemption: keep only agreeing ids.
    b = {k: v for k, v in b.items() if a.get(k, v) == v}
    assert merge_redemptions(a, b) == merge_redemptions(b, a)
    assert merge_redemptions(merge_redemptions(a, b), a) == merge_redemptions(a, b)
