"""Enrollment: a one-time token for one branch, the node's key kept private, HQ's key pinned."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from hq.api import HQ_KEY
from hq.errors import AlreadyEnrolled
from hq.setup import issue_enroll_token, new_enroll_token, read_key, token_hash
from node.config import load_config, read_private_key
from node.sync.enroll import EnrollmentFailed, enroll
from protocol import messages
from protocol.signing import generate_private_key, public_key_bytes
from tests.harness import Chain, hq_edit

MSGPACK = "application/x-msgpack"
HOUR_MS = 3600 * 1000
CLI_BOUND_S = 30.0


def hq_dir(chain: Chain) -> Path:
    return chain.root / "hq"


def hq_public_key(chain: Chain) -> bytes:
    return public_key_bytes(read_key(hq_dir(chain)))


async def post_enroll(
    chain: Chain, token: str, branch: str, node_key: bytes | None = None
) -> tuple[int, Any]:
    """POST an enroll message; the decoded EnrollResponse on 200, else the JSON refusal."""
    key = node_key if node_key is not None else public_key_bytes(generate_private_key())
    body = messages.encode(messages.EnrollRequest(token, branch, key))
    async with chain.session.post(
        chain.hq.url + "/api/enroll", data=body, headers={"Content-Type": MSGPACK}
    ) as response:
        status, data = response.status, await response.read()
        content_type = response.content_type
    if status == 200:
        assert content_type == MSGPACK
        return status, messages.decode(data)
    assert content_type == "application/json", f"{status} {data!r}"
    refusal = json.loads(data)
    assert isinstance(refusal, dict), refusal
    assert {"error", "message"} <= refusal.keys(), refusal
    assert isinstance(refusal["error"], str), refusal
    assert isinstance(refusal["message"], str), refusal
    assert refusal["message"], refusal
    return status, refusal


async def enrolled_branches(chain: Chain) -> dict[str, bytes]:
    """Each enrolled branch and the node key HQ pinned for it."""
    return {branch.code: branch.public_key for branch in await chain.hq.app[HQ_KEY].store.branches()}


async def _sql(chain: Chain, statement: str, *args: Any) -> None:
    await hq_edit(chain, statement, *args)


# -- the token ------------------------------------------------------------------------

# Every refused token gets this same answer, so a guesser cannot tell a real token
# (used, expired, for another branch) from a made-up one; HQ's log says which.
TOKEN_REFUSED = {
    "error": "token_refused",
    "message": "this token cannot enroll this branch: it may be unknown, used, expired or for another branch;"
    " ask HQ for a new one",
}


async def test_a_token_enrolls_its_branch_once_and_a_second_use_is_refused_401(chain: Chain) -> None:
    token = await issue_enroll_token(hq_dir(chain), "BR01")
    first_key = public_key_bytes(generate_private_key())

    status, reply = await post_enroll(chain, token, "BR01", first_key)

    assert status == 200
    assert reply == messages.EnrollResponse("BR01", hq_public_key(chain), "hq:BR01")

    status, refusal = await post_enroll(chain, token, "BR01")

    assert (status, refusal) == (401, TOKEN_REFUSED)
    assert await enrolled_branches(chain) == {"BR01": first_key}  # the first node's key stays pinned


async def test_an_unknown_token_is_refused_401_and_enrolls_nothing(chain: Chain) -> None:
    await issue_enroll_token(hq_dir(chain), "BR01")

    status, refusal = await post_enroll(chain, "not-a-token-hq-issued", "BR01")

    assert (status, refusal) == (401, TOKEN_REFUSED)
    assert await enrolled_branches(chain) == {}


async def test_an_expired_token_is_refused_401_and_enrolls_nothing(chain: Chain) -> None:
    token = await issue_enroll_token(hq_dir(chain), "BR01")
    # The token's day has passed: its 24-hour expiry is moved 25 hours back.
    await _sql(
        chain,
        "UPDATE enroll_tokens SET expires_at_ms = expires_at_ms - 25 * ? WHERE token_hash = ?",
        HOUR_MS,
        token_hash(token),
    )

    status, refusal = await post_enroll(chain, token, "BR01")

    assert (status, refusal) == (401, TOKEN_REFUSED)
    assert await enrolled_branches(chain) == {}


async def test_a_token_presented_for_another_branch_is_refused_401_and_stays_unspent(chain: Chain) -> None:
    token = await issue_enroll_token(hq_dir(chain), "BR01")

    status, refusal = await post_enroll(chain, token, "BR02")

    assert (status, refusal) == (401, TOKEN_REFUSED)
    assert await enrolled_branches(chain) == {}
    # The refusal spent nothing: the token still enrolls the branch it was issued for.
    status, reply = await post_enroll(chain, token, "BR01")
    assert status == 200
    assert isinstance(reply, messages.EnrollResponse)


async def test_a_node_key_no_private_key_makes_is_refused_400_and_the_token_stays_unspent(
    chain: Chain,
) -> None:
    # The identity point: under it a trivial signature verifies any message, so whoever
    # enrolled it would let anyone push entries as the branch.
    token = await issue_enroll_token(hq_dir(chain), "BR01")

    status, refusal = await post_enroll(chain, token, "BR01", bytes([1]) + bytes(31))

    assert status == 400
    assert refusal["error"] == "malformed"
    assert "node_public_key is not a usable Ed25519 key" in refusal["message"]
    assert await enrolled_branches(chain) == {}
    good_key = public_key_bytes(generate_private_key())
    status, _ = await post_enroll(chain, token, "BR01", good_key)
    assert status == 200
    assert await enrolled_branches(chain) == {"BR01": good_key}


async def test_hqs_log_names_why_a_token_was_refused(chain: Chain, caplog: pytest.LogCaptureFixture) -> None:
    token = await issue_enroll_token(hq_dir(chain), "BR01")
    with caplog.at_level("WARNING", logger="hq.service"):
        await post_enroll(chain, token, "BR02")
        await post_enroll(chain, "made-up", "BR01")
    said = [record.getMessage() for record in caplog.records if record.name == "hq.service"]
    assert said == [
        "enrollment of BR02 from 127.0.0.1 refused: the token enrolls branch BR01, not BR02",
        "enrollment of BR01 from 127.0.0.1 refused: unknown enrollment token",
    ]


async def test_guessing_tokens_locks_the_address_out_even_with_a_real_token(chain: Chain) -> None:
    token = await issue_enroll_token(hq_dir(chain), "BR01")
    for guess in range(5):
        assert (await post_enroll(chain, f"guess-{guess}", "BR01"))[0] == 401

    status, refusal = await post_enroll(chain, token, "BR01")

    # Locked out, the real token is not even tried: it stays unspent, nothing enrolls.
    assert (status, refusal["error"]) == (429, "too_many_attempts")
    assert refusal["message"] == "too many failed enrollment attempts from here; try again in 60 s"
    assert await enrolled_branches(chain) == {}
    hq = chain.hq.app[HQ_KEY]
    real_wall_ms = hq.wall_ms
    hq.wall_ms = lambda: real_wall_ms() + 61_000  # the lockout has passed
    status, reply = await post_enroll(chain, token, "BR01")
    assert status == 200
    assert isinstance(reply, messages.EnrollResponse)


async def test_a_second_token_for_an_enrolled_branch_is_refused_409_already_enrolled(chain: Chain) -> None:
    first = await issue_enroll_token(hq_dir(chain), "BR01")
    second = await issue_enroll_token(hq_dir(chain), "BR01")
    first_key = public_key_bytes(generate_private_key())
    assert (await post_enroll(chain, first, "BR01", first_key))[0] == 200

    status, refusal = await post_enroll(chain, second, "BR01")

    assert (status, refusal["error"]) == (409, "already_enrolled")
    assert await enrolled_branches(chain) == {"BR01": first_key}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"\xc1garbage", "malformed", id="garbage"),
        pytest.param(messages.encode(messages.PushAck("BR01", 0, 0, 0)), "invalid_query", id="an-ack"),
    ],
)
async def test_a_body_that_is_not_an_enroll_message_is_refused_400(
    chain: Chain, body: bytes, code: str
) -> None:
    async with chain.session.post(
        chain.hq.url + "/api/enroll", data=body, headers={"Content-Type": MSGPACK}
    ) as response:
        assert response.status == 400
        refusal = await response.json()

    assert refusal["error"] == code
    assert refusal["message"]
    assert await enrolled_branches(chain) == {}


async def test_node_enroll_reports_a_spent_token_and_writes_no_config(chain: Chain) -> None:
    token = await issue_enroll_token(hq_dir(chain), "BR01")
    await enroll(chain.root / "BR01", "BR01", chain.hq.url, token)

    with pytest.raises(EnrollmentFailed, match=r"\(401\): this token cannot enroll this branch"):
        await enroll(chain.root / "BR01-again", "BR01", chain.hq.url, token)

    assert not (chain.root / "BR01-again" / "node.json").exists()


# -- what an enrolled node holds -------------------------------------------------------


async def test_an_enrolled_node_keeps_its_key_owner_only_and_pins_hqs_key(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)
    node_dir = chain.root / "BR01"

    assert stat.S_IMODE((node_dir / "node.key").stat().st_mode) == 0o600
    config = load_config(node_dir)
    assert config.hq_public_key == hq_public_key(chain)
    assert config.feed_origin == "hq:BR01"
    # HQ pinned the key the node holds, and nothing else.
    node_key = public_key_bytes(read_private_key(node_dir / "node.key"))
    assert await enrolled_branches(chain) == {"BR01": node_key}


async def test_a_token_for_an_enrolled_branch_is_not_issued(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)

    with pytest.raises(AlreadyEnrolled, match="BR01 is enrolled"):
        await issue_enroll_token(hq_dir(chain), "BR01")


# -- the operator's command ---------------------------------------------------------------


async def run_cli(*args: str) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "branchline",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_BOUND_S)
    assert process.returncode is not None
    return process.returncode, stdout, stderr


async def test_cli_enroll_token_prints_only_the_token_and_it_enrolls_the_branch(chain: Chain) -> None:
    code, stdout, stderr = await run_cli(
        "hq", "enroll-token", "--data", str(hq_dir(chain)), "--branch", "BR09"
    )

    assert code == 0, stderr
    # A script takes the token with $(...): one line, the token and nothing else.
    assert re.fullmatch(rb"[A-Za-z0-9_-]+\n", stdout), stdout
    token = stdout.decode().removesuffix("\n")
    config = await enroll(chain.root / "BR09", "BR09", chain.hq.url, token)
    assert config.branch == "BR09"
    assert "BR09" in await enrolled_branches(chain)


async def test_cli_enroll_token_for_an_enrolled_branch_prints_no_token_and_exits_2(chain: Chain) -> None:
    await chain.add_node("BR01", start=False)

    code, stdout, stderr = await run_cli(
        "hq", "enroll-token", "--data", str(hq_dir(chain)), "--branch", "BR01"
    )

    assert code == 2
    assert stdout == b""
    assert b"BR01 is enrolled" in stderr


def test_an_enroll_token_never_begins_with_a_dash_which_the_node_init_command_line_reads_as_an_option() -> (
    None
):
    tokens = [new_enroll_token() for _ in range(2_000)]  # 1 in 64 of raw draws begin with "-"
    assert not [token for token in tokens if token.startswith("-")]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", token) for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_a_draw_that_begins_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-looks-like-an-option", "-and-again", "fine_token"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _: next(drawn))
    assert new_enroll_token() == "fine_token"
