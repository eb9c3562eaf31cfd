"""The records points lots are kept in: a lot earned, what a spend took, a return of a
spend or of an earning, an expiry, and a member's account. Each record is filed under
its own id and never changed; loyalty.lots computes what the lots hold from them."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.errors import InvalidPointsRecord, check_int, check_text
from protocol.limits import MAX_AT_MS, MAX_LEDGER_AMOUNT, MAX_RECORD_ID_CHARS

__all__ = [
    "DAY_MS",
    "Allocation",
    "EarningReturn",
    "Expiry",
    "Lot",
    "Parts",
    "PointsAccount",
    "Reversal",
    "SpendReturn",
]

DAY_MS = 86_400_000

Parts = tuple[tuple[str, int], ...]  # (lot id, points), in the order taken


@dataclass(frozen=True, slots=True)
class Lot:
    """Points earned at once (a sale, a referral, an operator's award)."""

    id: str
    points: int
    earned_at_ms: int
    expires_at_ms: int = 0  # 0: never

    def __post_init__(self) -> None:
        check_text(self.id, "a lot's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        check_int(self.points, f"lot {self.id}: points", 1, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
        check_int(self.earned_at_ms, f"lot {self.id}: earned_at_ms", 0, MAX_AT_MS, InvalidPointsRecord)
        check_int(self.expires_at_ms, f"lot {self.id}: expires_at_ms", 0, MAX_AT_MS, InvalidPointsRecord)
        if self.expires_at_ms and self.expires_at_ms <= self.earned_at_ms:
            raise InvalidPointsRecord(f"lot {self.id} expires before it was earned; 0 means it never expires")

    def expired_at(self, at_ms: int) -> bool:
        return self.expires_at_ms != 0 and at_ms >= self.expires_at_ms


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one spend took of each lot. A settlement pays the debt of the earning
    return named in `settles` (rule 5); a spend by the member leaves it empty."""

    spend_id: str
    taken: Parts
    settles: str = ""

    def __post_init__(self) -> None:
        check_text(self.spend_id, "a spend's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        _check_parts(self.taken, f"spend {self.spend_id}")
        check_text(self.settles, "settles", MAX_RECORD_ID_CHARS, InvalidPointsRecord, empty=True)

    @property
    def points(self) -> int:
        return sum(points for _, points in self.taken)


@dataclass(frozen=True, slots=True)
class SpendReturn:
    """Points of a spend put back into the lots they came from (rule 3)."""

    return_id: str
    spend_id: str
    put_back: Parts

    def __post_init__(self) -> None:
        check_text(self.return_id, "a return's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        check_text(self.spend_id, "the returned spend's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        _check_parts(self.put_back, f"return {self.return_id}")

    @property
    def points(self) -> int:
        return sum(points for _, points in self.put_back)


@dataclass(frozen=True, slots=True)
class EarningReturn:
    """Points of a lot taken back because the sale that earned them was returned
    (rule 5): `points` asked, of which `taken` from the lot and `debt` owed; the rest
    had expired."""

    return_id: str
    lot_id: str
    points: int
    taken: int
    debt: int

    def __post_init__(self) -> None:
        check_text(self.return_id, "a return's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        check_text(self.lot_id, "the lot's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        where = f"return {self.return_id}"
        check_int(self.points, f"{where}: points", 1, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
        check_int(self.taken, f"{where}: taken", 0, self.points, InvalidPointsRecord)
        check_int(self.debt, f"{where}: debt", 0, self.points - self.taken, InvalidPointsRecord)

    @property
    def expired_part(self) -> int:
        return self.points - self.taken - self.debt


@dataclass(frozen=True, slots=True)
class Expiry:
    """Points of a lot booked as expired (rule 4)."""

    expiry_id: str
    lot_id: str
    points: int

    def __post_init__(self) -> None:
        check_text(self.expiry_id, "an expiry's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        check_text(self.lot_id, "the lot's id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        check_int(self.points, f"expiry {self.expiry_id}: points", 1, MAX_LEDGER_AMOUNT, InvalidPointsRecord)


Reversal = SpendReturn | EarningReturn


@dataclass(frozen=True, slots=True)
class PointsAccount:
    """A member's points by where they went; `balance` is what the ledger shows."""

    earned: int
    spent: int  # by spends and settlements, less what returns put back
    expired: int
    taken_back: int  # by returns of earnings, from their lots
    outstanding: int  # what the lots hold
    owed: int  # debts of returns of earnings not yet settled

    @property
    def balance(self) -> int:
        return self.outstanding - self.owed


def _check_parts(parts: Parts, where: str) -> None:
    if not isinstance(parts, tuple) or not parts:
        raise InvalidPointsRecord(f"{where} must name at least one (lot id, points)")
    for part in parts:
        if not isinstance(part, tuple) or len(part) != 2:
            raise InvalidPointsRecord(f"{where}: each part is a (lot id, points) pair")
        check_text(part[0], f"{where}: a lot id", MAX_RECORD_ID_CHARS, InvalidPointsRecord)
        check_int(part[1], f"{where}: points of lot {part[0]}", 1, MAX_LEDGER_AMOUNT, InvalidPointsRecord)
