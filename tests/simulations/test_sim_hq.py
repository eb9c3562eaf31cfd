"""The simulated HQ's answers as HQ's HTTP layer gives them: a feed read is
authenticated once, when it arrives, and a read HQ holds (long poll) is answered
later without its signature being checked again, as hq.service.feed_page does; and
the world's passwords are checked by the production code."""

from __future__ import annotations

import random
from pathlib import Path

from hq.service import REQUEST_MAX_AGE_MS
from node.sync.hq_client import auth_header
from protocol import messages, passwords
from simulations.engine import FEED_HOLD_MS
from simulations.world import SimHQ, seeded_key, sim_password_hash

NOW_MS = 1_764_547_200_000


async def test_a_held_feed_read_is_answered_without_its_signature_checked_again(tmp_path: Path) -> None:
    now = [NOW_MS]
    hq = SimHQ(tmp_path / "hq", lambda: now[0], random.Random(1))
    await hq.open()
    try:
        key = seeded_key(random.Random(2))
        await hq.enroll("BR01", key)
        first = "/api/feed?after=0"
        status, body, held = await hq.feed(
            first, {"Authorization": auth_header(key, "BR01", "GET", first, now[0])}
        )
        page = messages.decode(body)
        assert status == 200
        assert held is None  # HQ's catalogue was waiting: answered at once
        assert isinstance(page, messages.FeedPage)
        assert page.batch is not None
        # Read again from its end, signed at the edge of the clock drift HQ accepts.
        path_qs = f"/api/feed?after={page.batch.head.seq}"
        signed = {"Authorization": auth_header(key, "BR01", "GET", path_qs, now[0] - REQUEST_MAX_AGE_MS + 1)}
        status, _, held = await hq.feed(path_qs, signed)
        assert status == 200
        assert held is not None  # empty: the engine holds it
        assert (held.branch, held.after) == ("BR01", page.batch.head.seq)

        now[0] += FEED_HOLD_MS  # the hold runs out; the signature is now too old to arrive
        status, _, empty = await hq.page(held)
        assert (status, empty) == (200, True)
        status, body, _ = await hq.feed(path_qs, signed)
        assert status == 401, body
    finally:
        await hq.close()


def test_the_worlds_password_hashes_are_checked_by_the_production_code() -> None:
    made = sim_password_hash("246810")
    assert passwords.verify(made, "246810")
    assert not passwords.verify(made, "999999")
