"""HTTP to HQ for one branch: the session the replicator and the tills share, the
signed Authorization header, and the hold calls a stored-value spend makes.

`HQClient` is the node's `node.services.holds.HQLink`: whether HQ is reachable,
how far it has acknowledged our log and when it catches up come from the
replicator (`ReplicationView`); placing and releasing a hold are HTTP calls here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.config import NodeConfig
from node.services.holds import HOLD_TIMEOUT_S, HoldAnswer
from protocol.errors import InvariantBroken, Refused
from protocol.signing import sign_request

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
# HQ answers a placed hold with this status; anything else is a refusal.
HOLD_PLACED_STATUS = 201
# Of an answer that is not JSON, this much is kept for the log.
MAX_QUOTED_BYTES = 200


def auth_header(key: Ed25519PrivateKey, branch: str, method: str, path_qs: str, timestamp_ms: int) -> str:
    signature = sign_request(key, branch, method, path_qs, timestamp_ms)
    return f"Branchline branch={branch},ts={timestamp_ms},sig={signature.hex()}"


class NoAnswer(Refused):
    """HQ did not answer: unreachable, the connection reset, or slower than the timeout.
    Theirs, not ours: the replicator retries with backoff, a hold goes offline."""

    http_status = 504
    code = "hq_unreachable"

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        # The connection itself was refused: nothing listens at HQ's address (stopped,
        # restarting), which costs HQ nothing to be asked again soon.
        self.refused = refused


class RefusedByHQ(Refused):
    """HQ refused what the till asked it for (a password change): its status and code,
    passed on as HQ gave them."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code


# An operator's own password change, forwarded: a log-in, the change, a log-out.
PASSWORD_TIMEOUT_S = 10
# A till showing a member waits this long for a photo the branch does not hold yet.
PHOTO_TIMEOUT_S = 5
PHOTO_FOUND_STATUS = 200
PHOTO_NOT_AT_HQ_STATUS = 404


class ReplicationView(Protocol):
    """What the hold calls read of the replicator (node.sync.replicator)."""

    @property
    def hq_reachable(self) -> bool: ...

    @property
    def head_seq(self) -> int: ...

    async def wait_acked(self, seq: int, timeout_s: float) -> bool: ...


class HQClient:
    def __init__(
        self,
        config: NodeConfig,
        key: Ed25519PrivateKey,
        wall_ms: Callable[[], int],
        replication: ReplicationView,
    ) -> None:
        self.config = config
        self.key = key
        self.wall_ms = wall_ms
        self.replication = replication
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def signed(self, method: str, path_qs: str) -> dict[str, str]:
        """The Authorization header of a request HQ authenticates as this branch's."""
        header = auth_header(self.key, self.config.branch, method, path_qs, self.wall_ms())
        return {"Authorization": header}

    async def send(
        self,
        method: str,
        path_qs: str,
        *,
        timeout_s: float,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """One request to HQ: its status and body, or NoAnswer."""
        session = self._session
        if session is None:
            raise InvariantBroken("requests to HQ go out only once the client is open")
        try:
            async with session.request(
                method,
                self.config.hq_url + path_qs,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            refused = isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
                exc.os_error, ConnectionRefusedError
            )
            raise NoAnswer(f"{type(exc).__name__}: {exc}", refused=refused) from exc

    # -- node.services.holds.HQLink -------------------------------------------------

    @property
    def reachable(self) -> bool:
        return self.replication.hq_reachable and self._session is not None

    @property
    def head_seq(self) -> int:
        return self.replication.head_seq

    async def caught_up(self, seq: int, timeout_s: float) -> bool:
        return await self.replication.wait_acked(seq, timeout_s)

    async def place_hold(
        self, hold_id: str, card_id: str, amount_fen: int, unsynced_fen: int
    ) -> HoldAnswer | None:
        query = urlencode(
            {"hold": hold_id, "card": card_id, "amount_fen": amount_fen, "unsynced_fen": unsynced_fen}
        )
        path_qs = f"/api/holds?{query}"
        try:
            status, data = await self.send(
                "POST", path_qs, timeout_s=HOLD_TIMEOUT_S, headers=self.signed("POST", path_qs)
            )
        except NoAnswer as exc:
            log.warning("hold on card %s: HQ did not answer (%s); selling offline", card_id, exc)
            return None
        if status == HOLD_PLACED_STATUS:
            return HoldAnswer(True, status)
        try:
            body = json.loads(data)
            code, message = str(body.get("error")), str(body.get("message"))
        except (ValueError, AttributeError):
            code, message = "", data[:MAX_QUOTED_BYTES].decode("utf-8", "replace")
        return HoldAnswer(False, status, code, message)

    async def release_hold(self, hold_id: str) -> None:
        if self._session is None:
            return
        path_qs = f"/api/holds/{hold_id}"
        try:
            await self.send(
                "DELETE", path_qs, timeout_s=HOLD_TIMEOUT_S, headers=self.signed("DELETE", path_qs)
            )
        except NoAnswer as exc:
            log.warning("hold %s not released (%s); HQ will expire it", hold_id, exc)

    # -- a member's photo, taken at another branch -------------------------------------

    async def fetch_photo(self, ref: str) -> bytes | None:
        """The bytes HQ holds for the photo `ref` ("sha256:<hex>"); None if HQ has none
        yet (the branch that took it has not synced). NoAnswer if HQ does not answer;
        whether the bytes are that photo is the caller's to check."""
        if self._session is None:
            raise NoAnswer("this node does not replicate, so it cannot ask HQ")
        path = "/api/photos/" + ref.removeprefix("sha256:")
        status, data = await self.send(
            "GET", path, timeout_s=PHOTO_TIMEOUT_S, headers=self.signed("GET", path)
        )
        if status == PHOTO_FOUND_STATUS:
            return data
        if status == PHOTO_NOT_AT_HQ_STATUS:
            return None
        raise RefusedByHQ(
            502, "hq_refused", f"HQ answered {status} for photo {ref}: {data[:MAX_QUOTED_BYTES]!r}"
        )

    # -- an operator's own password, changed at HQ ------------------------------------

    async def change_password(self, login: str, old: str, new: str) -> int:
        """Change `login`'s password at HQ, which holds it (hq.accounts), logging in there
        as them with the old one; the new version. Refused as HQ refused it, or NoAnswer.
        The new hash comes back to this branch in its feed."""
        token = await self._json_call("POST", "/api/login", {"login": login, "password": old})
        bearer = {"Authorization": f"Bearer {token['token']}"}
        try:
            changed = await self._json_call(
                "POST", "/api/password", {"old_password": old, "new_password": new}, bearer
            )
        finally:
            try:
                await self._json_call("POST", "/api/logout", {}, bearer)
            except (NoAnswer, RefusedByHQ) as exc:
                log.warning("the session at HQ for %s's password change was not ended: %s", login, exc)
        return int(changed["version"])

    async def _json_call(
        self, method: str, path: str, body: dict[str, str], headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        status, data = await self.send(
            method,
            path,
            timeout_s=PASSWORD_TIMEOUT_S,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {"error": "bad_gateway", "message": data[:MAX_QUOTED_BYTES].decode("utf-8", "replace")}
        if status != 200 or not isinstance(answer, dict):
            raise RefusedByHQ(
                status if status >= 400 else 502, str(answer.get("error")), str(answer.get("message"))
            )
        return answer
