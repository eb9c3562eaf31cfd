"""Operators' passwords (protocol.passwords): argon2id with the stated parameters,
checked the same wherever a hash travels."""

from __future__ import annotations

import pytest

from protocol import passwords
from protocol.passwords import WeakPassword

HASH = passwords.hash_password("till-password-1")


def test_a_hash_is_argon2id_with_the_stated_parameters_and_a_salt_of_its_own() -> None:
    assert HASH.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.hash_password("till-password-1") != HASH  # salted


def test_only_the_password_hashed_verifies() -> None:
    assert passwords.verify(HASH, "till-password-1")
    assert not passwords.verify(HASH, "till-password-2")
    assert not passwords.verify(HASH, "till-password-1" + "x" * 200)  # too long: never hashed
    assert not passwords.verify("not a hash", "till-password-1")


def test_a_log_in_as_nobody_is_refused_after_the_same_work() -> None:
    assert passwords.verify_login(HASH, "till-password-1")
    assert not passwords.verify_login(HASH, "wrong-password")
    assert not passwords.verify_login(None, "till-password-1")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "8 to 128"),
        ("x" * 129, "8 to 128"),
        (12345678, "8 to 128"),
        ("Wang-Fang", "the login itself"),
    ],
)
def test_a_weak_new_password_is_refused_with_the_rule(password: object, why: str) -> None:
    with pytest.raises(WeakPassword, match=why):
        passwords.check_new_password(password, "wang-fang")
