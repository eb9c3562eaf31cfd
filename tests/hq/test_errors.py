"""HQ's refusals: each a `Refused` leaf defined once, with a docstring saying what to do,
and answered by one middleware as `{"error": code, "message": ...}` with its status."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest

import conflict.errors
import hq.errors
import protocol.errors
from hq.errors import KeyFileExposed, StoreTooNew
from hq.setup import KEY_FILE, read_key
from hq.storage.sqlite import SqliteHQStore
from protocol.errors import Refused
from tests.harness import Chain, branchline


def leaves() -> list[type[Refused]]:
    """Every refusal HQ, the protocol and the merge rules define."""
    modules = (hq.errors, protocol.errors, conflict.errors)
    return sorted(
        {
            value
            for module in modules
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Refused)
        },
        key=lambda leaf: leaf.__name__,
    )


def test_every_hq_refusal_is_a_refused_leaf_with_a_status_and_a_docstring() -> None:
    for name in hq.errors.__all__:
        leaf = getattr(hq.errors, name)
        assert issubclass(leaf, Refused), name
        assert 400 <= leaf.http_status < 600, name
        assert (leaf.__doc__ or "").strip(), name


def test_each_code_names_one_refusal() -> None:
    codes: dict[str, list[str]] = {}
    for leaf in leaves():
        codes.setdefault(leaf.code, []).append(leaf.__name__)
    assert {code: names for code, names in codes.items() if len(names) > 1} == {}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/api/members/M-NOBODY", "no member M-NOBODY at HQ", id="member"),
        pytest.param("/api/cards/K-NONE", "no member holds card K-NONE at HQ", id="card"),
        pytest.param("/api/conflicts/overdraft:none", "no conflict overdraft:none", id="conflict"),
    ],
)
async def test_what_hq_does_not_hold_is_refused_404_not_found_by_the_one_middleware(
    chain: Chain, caplog: pytest.LogCaptureFixture, path: str, message: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="hq.api"):
        async with chain.session.get(chain.hq.url + path) as response:
            assert response.status == 404
            assert await response.json() == {"error": "not_found", "message": message}
    # Logged as the domain's refusal, with its code, not as a bare HTTP exception.
    assert f"404 not_found: {message}" in caplog.text


async def test_a_store_written_by_a_newer_build_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "hq.sqlite")) as conn:
        conn.execute("PRAGMA user_version=99")
    (tmp_path / "hq.sqlite").chmod(0o600)  # as HQ creates it; only its schema is too new

    with pytest.raises(StoreTooNew, match="schema 99, newer than this build's"):
        await SqliteHQStore.open(tmp_path / "hq.sqlite")


async def test_a_key_readable_by_others_is_refused_and_hq_does_not_start(chain: Chain) -> None:
    data = chain.root / "hq"
    (data / KEY_FILE).chmod(0o644)
    with pytest.raises(KeyFileExposed, match="chmod 600"):
        read_key(data)

    code, out = await branchline("hq", "serve", "--data", str(data), "--port", "1")

    assert code == 2, out
    assert "is readable by others; run `chmod 600" in out
