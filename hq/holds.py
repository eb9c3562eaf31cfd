"""Whether HQ may hold money on a card for an online stored-value spend: the rules,
given what a backend reads about the card in its transaction."""

from __future__ import annotations

from dataclasses import dataclass

from hq.errors import CardBlocked, HoldConflict, InsufficientBalance, TooManyHolds, UnknownCard
from hq.storage.base import HoldRecord

# A till holds once per card per sale and captures or releases within seconds; two
# let a second till of the same branch sell to the same card at the same moment.
# More would be one node holding a card against every other till of the chain.
MAX_OPEN_HOLDS_PER_BRANCH = 2
# And together at most fifty thousand yuan: far above what one counter sells in one
# go (a salon's dearest card is 16,800 yuan), far below a large member's balance, so
# one node cannot set aside all of a rich card's money against the other tills.
# A spend above it is refused online and falls back to the offline limit.
MAX_OPEN_HOLD_FEN_PER_BRANCH = 5_000_000


@dataclass(frozen=True, slots=True)
class CardFunds:
    """What HQ knows of a card when a hold is asked for."""

    known: bool  # some member holds the card
    status: str  # active | lost | suspended | returned
    balance_fen: int  # stored value, by the ledger
    open_holds_fen: int  # money other open, unexpired holds set aside
    branch_open_holds: int  # how many of those the asking branch holds
    branch_open_holds_fen: int = 0  # and how much they set aside


def available_fen(funds: CardFunds, unsynced_fen: int) -> int:
    """The balance less open holds, and less the branch's debits HQ has not received yet
    (`unsynced_fen`, zero or negative; a positive figure would let a branch raise it)."""
    return funds.balance_fen + min(0, unsynced_fen) - funds.open_holds_fen


def same_terms(hold: HoldRecord, held: tuple[str, str, int]) -> None:
    """A hold placed again must name the same branch, card and amount; it then answers alike."""
    if held != (hold.branch, hold.card_id, hold.amount_fen):
        raise HoldConflict(f"hold {hold.hold_id} exists with other terms")


def check_hold(hold: HoldRecord, funds: CardFunds, unsynced_fen: int) -> int:
    """Refuse the hold unless the card is known, active and covers it; what stays available."""
    if not funds.known:
        raise UnknownCard(f"HQ knows no member holding card {hold.card_id}")
    if funds.status != "active":
        raise CardBlocked(f"card {hold.card_id} is {funds.status} at HQ")
    if funds.branch_open_holds >= MAX_OPEN_HOLDS_PER_BRANCH:
        raise TooManyHolds(
            f"branch {hold.branch} already holds {funds.branch_open_holds} open holds on card"
            f" {hold.card_id}; capture or release one first"
        )
    if funds.branch_open_holds_fen + hold.amount_fen > MAX_OPEN_HOLD_FEN_PER_BRANCH:
        raise TooManyHolds(
            f"branch {hold.branch} would hold {funds.branch_open_holds_fen + hold.amount_fen} fen on card"
            f" {hold.card_id} at once; at most {MAX_OPEN_HOLD_FEN_PER_BRANCH} fen may be held by one branch"
        )
    available = available_fen(funds, unsynced_fen)
    if available < hold.amount_fen:
        raise InsufficientBalance(
            f"card {hold.card_id} has {available} fen available (balance less open holds),"
            f" less than {hold.amount_fen} fen"
        )
    return available - hold.amount_fen
