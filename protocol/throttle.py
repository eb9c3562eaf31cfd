"""Slowing down guessing: after a few failed attempts under one key (an address, a
login) within a window, further attempts are refused for a while.

Rules:
1. A key's failures are counted within `window_ms` of its first counted failure;
   a failure after the window starts a new count.
2. The `max_failures`-th failure in a window locks the key for `lockout_ms`;
   while locked, `check` refuses with TooManyAttempts and the seconds to wait,
   and attempts are not even tried, so a locked-out guesser learns nothing.
3. A success clears the key. A lock ends by itself; the count starts afresh.
4. At most `max_keys` keys are remembered; beyond that the oldest are forgotten,
   so a flood of addresses costs bounded memory (and at worst forgets a count).

Time is given, never read, so the rules are tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import TooManyAttempts

MS_PER_S = 1_000


@dataclass(slots=True)
class _Record:
    window_start_ms: int
    failures: int
    locked_until_ms: int


class FailureThrottle:
    def __init__(
        self,
        *,
        what: str,
        max_failures: int = 5,
        window_ms: int = 60_000,
        lockout_ms: int = 60_000,
        max_keys: int = 10_000,
    ) -> None:
        if not (max_failures >= 1 and window_ms > 0 and lockout_ms > 0 and max_keys >= 1):
            raise ValueError("a throttle needs at least one failure, a window, a lockout and a key")
        self.what = what  # "enrollment attempts", "log-ins": named in the refusal
        self.max_failures = max_failures
        self.window_ms = window_ms
        self.lockout_ms = lockout_ms
        self.max_keys = max_keys
        self._records: dict[str, _Record] = {}

    def check(self, key: str, now_ms: int) -> None:
        """Refuse (rule 2) if `key` is locked out now."""
        record = self._records.get(key)
        if record is not None and now_ms < record.locked_until_ms:
            wait_s = -(-(record.locked_until_ms - now_ms) // MS_PER_S)  # rounded up
            raise TooManyAttempts(f"too many failed {self.what} from here; try again in {wait_s} s", wait_s)

    def failed(self, key: str, now_ms: int) -> None:
        """Count a failure of `key` (rules 1 and 2)."""
        record = self._records.pop(key, None)
        if record is None or now_ms >= record.locked_until_ms:  # a failure while locked is not counted
            if record is None or record.locked_until_ms or now_ms - record.window_start_ms >= self.window_ms:
                record = _Record(now_ms, 0, 0)  # a new window, or the first after a lock
            record.failures += 1
            if record.failures >= self.max_failures:
                record.locked_until_ms = now_ms + self.lockout_ms
        self._records[key] = record  # re-inserted: the newest key is last (rule 4)
        while len(self._records) > self.max_keys:
            del self._records[next(iter(self._records))]

    def succeeded(self, key: str) -> None:
        """Clear `key` (rule 3)."""
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)


class LoginThrottle:
    """Failed log-ins, slowed per login and per address at once: five wrong passwords for
    one login, or twenty from one address, within a minute lock that key out for a
    minute. Logins are keyed case-insensitively, as they log in."""

    MAX_LOGIN_KEY_CHARS = 100

    def __init__(self) -> None:
        self.by_login = FailureThrottle(what="log-ins for this login")
        self.by_address = FailureThrottle(what="log-ins", max_failures=20)

    def _key(self, login: str) -> str:
        return login.casefold()[: self.MAX_LOGIN_KEY_CHARS]

    def check(self, login: str, address: str, now_ms: int) -> None:
        self.by_address.check(address, now_ms)
        self.by_login.check(self._key(login), now_ms)

    def failed(self, login: str, address: str, now_ms: int) -> None:
        self.by_address.failed(address, now_ms)
        self.by_login.failed(self._key(login), now_ms)

    def succeeded(self, login: str) -> None:
        self.by_login.succeeded(self._key(login))
