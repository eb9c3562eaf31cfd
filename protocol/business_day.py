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
        """The business day a moment falls on (rule 1)."""
        local = datetime.datetime.fromtimestamp(at_ms / 1000, self.zone)
        start = self._start
        day = local.date()
        return day - datetime.timedelta(days=1) if local.time() < start else day

    def day_text(self, at_ms: int) -> str:
        return self.day_of(at_ms).isoformat()

    def bounds_ms(self, day: datetime.date) -> tuple[int, int]:
        """[start, end) of business day `day`, in epoch milliseconds. A day that DST
        shortens or lengthens is as long as the clocks make it."""
        start = datetime.datetime.combine(day, self._start, self.zone)
        end = datetime.datetime.combine(day + datetime.timedelta(days=1), self._start, self.zone)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    def as_json(self) -> dict[str, str]:
        return {"timezone": self.timezone, "starts_at": self.starts_at}


DEFAULT = BusinessDay()
