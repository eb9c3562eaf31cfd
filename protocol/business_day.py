"""A branch's business day: the date its sales, returns and takings count on.

Rules:
1. A business day runs from `starts_at` (the branch's local time) on its date to
   `starts_at` the next day, in the branch's IANA time zone. A shop open past
   midnight sets 04:00, and its sale at 01:30 counts on the day it opened; days never
   split at UTC's midnight, which falls at 08:00 in China.
2. Every branch has one. A branch that never said otherwise runs DEFAULT, which is
   also a node's default setting, so a node on its defaults writes nothing about it.
3. A branch's rule changes only by an entry of its own log (branch/business_day):
   HQ applies it in log order, so every HQ process, and any replay, puts each of the
   branch's sales on the same day, and the days before a change keep theirs.

Pure: the zone database is read through zoneinfo, nothing else.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from dataclasses import dataclass

from protocol.errors import MalformedMessage

MAX_ZONE_CHARS = 64
_ONE_DAY = datetime.timedelta(days=1)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@dataclass(frozen=True)
class BusinessDay:
    timezone: str = "Asia/Shanghai"
    starts_at: str = "00:00"  # HH:MM, the branch's local time its day starts at

    def __post_init__(self) -> None:
        try:
            if not isinstance(self.timezone, str) or not 0 < len(self.timezone) <= MAX_ZONE_CHARS:
                raise ValueError
            _zone(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise MalformedMessage(
                f"business day time zone {self.timezone!r} is no IANA time zone; give one like Asia/Shanghai"
            ) from None
        try:
            if not isinstance(self.starts_at, str) or len(self.starts_at) != len("HH:MM"):
                raise ValueError
            datetime.time.fromisoformat(self.starts_at)
        except ValueError:
            raise MalformedMessage(
                f"a business day starts at HH:MM (00:00 to 23:59), not {self.starts_at!r}"
            ) from None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return _zone(self.timezone)

    @property
    def _start(self) -> datetime.time:
        return datetime.time.fromisoformat(self.starts_at)

    def day_of(self, at_ms: int) -> datetime.date:
        """The business day a moment falls on (rule 1): the one whose bounds hold it.
        Read off the bounds, not the local clock, so a day that starts in an hour the
        clocks skip or repeat still tiles the time line with its neighbours."""
        day = datetime.datetime.fromtimestamp(at_ms / 1000, self.zone).date()
        start_ms, end_ms = self.bounds_ms(day)
        if at_ms < start_ms:
            return day - _ONE_DAY
        if at_ms >= end_ms:
            return day + _ONE_DAY
        return day

    def day_text(self, at_ms: int) -> str:
        """day_of as text. The day last asked for is remembered with its bounds: HQ asks
        for a batch's sales one after another, nearly all on one day."""
        last = _LAST_DAY.get(self)
        if last is not None and last[0] <= at_ms < last[1]:
            return last[2]
        day = self.day_of(at_ms)
        start_ms, end_ms = self.bounds_ms(day)
        _LAST_DAY[self] = (start_ms, end_ms, day.isoformat())
        return day.isoformat()

    def bounds_ms(self, day: datetime.date) -> tuple[int, int]:
        """[start, end) of business day `day`, in epoch milliseconds. A day that DST
        shortens or lengthens is as long as the clocks make it."""
        start = datetime.datetime.combine(day, self._start, self.zone)
        end = datetime.datetime.combine(day + _ONE_DAY, self._start, self.zone)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    def as_json(self) -> dict[str, str]:
        return {"timezone": self.timezone, "starts_at": self.starts_at}


DEFAULT = BusinessDay()
# Each rule's last day: (start ms, end ms, the day). Written and read whole, so a
# thread that reads another's entry reads one that holds.
_LAST_DAY: dict[BusinessDay, tuple[int, int, str]] = {}
