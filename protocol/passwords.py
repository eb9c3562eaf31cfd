"""Operators' passwords: salted, slow hashes that HQ makes and every node can check.

Argon2id (argon2-cffi) with OWASP's minimum parameters for it: 19 MiB of memory,
two passes, one lane. On the two-core reference machine a hash or a check takes
about 55 ms: slow enough that a stolen store file costs a guesser dearly, quick
enough that a cashier does not notice. The parameters travel inside the encoded
hash (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so raising them later leaves old
hashes checkable.

A hash is computed on a worker thread by the servers (argon2 releases the GIL):
55 ms on the event loop would stall every other till.
"""

from __future__ import annotations

import functools
import secrets

import argon2

from protocol.errors import MalformedMessage

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 128
MAX_HASH_CHARS = 200

_HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class WeakPassword(MalformedMessage):
    """The new password is too short, too long or not text; choose another."""

    code = "weak_password"


def check_new_password(password: object, login: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise WeakPassword(f"a password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    if password.casefold() == login.casefold():
        raise WeakPassword("a password may not be the login itself")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True when `password` is the one hashed; False for any other password and for
    a hash that cannot be read (never an exception a guesser could tell apart)."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_login(password_hash: str | None, password: str) -> bool:
    """`verify` for a log-in: an unknown login (no hash) is checked against a decoy, so
    it takes as long to refuse as a wrong password and the time tells a guesser nothing."""
    if password_hash is None:
        verify(_decoy_hash(), password)
        return False
    return verify(password_hash, password)
