"""`branchline node init`: make the node's key, enroll with HQ, write node.json."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from node.config import (
    CONFIG_FILE,
    KEY_FILE,
    NodeConfig,
    read_private_key,
    save_config,
    write_private_key,
)
from protocol import messages
from protocol.errors import Refused
from protocol.signing import generate_private_key, public_key_bytes
from shared_tables.private_files import private_folder

ENROLL_TIMEOUT_S = 15


class EnrollmentFailed(Refused):
    """HQ refused the enrollment or could not be reached; the message says which."""

    http_status = 502
    code = "enrollment_failed"


async def enroll(data_dir: Path, branch: str, hq_url: str, token: str) -> NodeConfig:
    private_folder(data_dir)
    if (data_dir / CONFIG_FILE).exists():
        raise EnrollmentFailed(f"{data_dir} already holds an enrolled node; use a new folder")
    key_path = data_dir / KEY_FILE
    # A key left by an earlier failed attempt is reused: the token was not
    # spent, and HQ has not seen this key yet.
    if key_path.exists():
        key = read_private_key(key_path)
    else:
        key = generate_private_key()
        write_private_key(key_path, key)
    hq_url = hq_url.rstrip("/")
    request = messages.EnrollRequest(token, branch, public_key_bytes(key))
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                hq_url + "/api/enroll",
                data=messages.encode(request),
                headers={"Content-Type": "application/x-msgpack"},
                timeout=aiohttp.ClientTimeout(total=ENROLL_TIMEOUT_S),
            ) as response,
        ):
            status, body = response.status, await response.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise EnrollmentFailed(f"cannot reach HQ at {hq_url}: {exc}") from None
    if status != 200:
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            message = body[:200].decode("utf-8", "replace")
        raise EnrollmentFailed(f"HQ refused the enrollment ({status}): {message}")
    reply = messages.decode(body)
    if not isinstance(reply, messages.EnrollResponse) or reply.branch != branch:
        raise EnrollmentFailed("HQ's answer to the enrollment is not for this branch")
    config = NodeConfig(branch, hq_url, reply.hq_public_key.hex(), reply.feed_origin)
    save_config(data_dir, config)
    return config
