"""`branchline up` as a person runs it: URLs and log-ins printed, a page at HQ, trading, Ctrl-C."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from hq.setup import DEMO_PASSWORD
from launch import logins
from tests.harness import WAIT_BOUND_S, branchline, free_port, wait_until
from tests.sse import events


def printed_login(text: str, login: str) -> tuple[str, str, str]:
    """(role, URL, password) of `login`'s row in up's table of log-ins."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) == 6 and cells[1] == login:
            return cells[2], cells[3], cells[4]
    raise AssertionError(f"up printed no log-in {login!r}:\n{text}")


async def log_in(session: aiohttp.ClientSession, url: str, login: str, password: str) -> tuple[int, Any]:
    """The status and JSON answer of a log-in as `login` at `url`."""
    async with session.post(url + "/api/login", json={"login": login, "password": password}) as response:
        return response.status, await response.json()


async def test_up_starts_hq_and_branches_trades_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "branchline",
        "up",
        "--branches",
        "2",
        "--port",
        str(free_port()),
        "--data",
        str(tmp_path / "up"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    printed: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, "branchline up exited early:\n" + "".join(printed)
            printed.append(line)
            match = re.match(r"HQ console: (http://127\.0\.0\.1:\d+)/", line)
            if match:
                hq_url = match.group(1)
                break
        text = "".join(printed)
        assert "BR01" in text
        assert "BR02" in text
        # Each branch's till, with the log-in a newcomer sells with.
        tills = re.findall(r"BR(\d\d) till: (http://127\.0\.0\.1:\d+)/ \(login (\S+), password (\S+)\)", text)
        assert [(n, login, password) for n, _, login, password in tills] == [
            ("01", "br01-clerk", DEMO_PASSWORD),
            ("02", "br02-clerk", DEMO_PASSWORD),
        ]
        branch_urls = [url for _, url, _, _ in tills]
        assert len(branch_urls) == 2
        main_url = re.findall(r"http://127\.0\.0\.1:\d+(?=/api/stock)", text)[-1]

        # Every demo log-in is printed with where it works and its password.
        assert printed_login(text, "gm") == ("general_manager", hq_url, DEMO_PASSWORD)
        assert printed_login(text, "warehouse") == ("warehouse", hq_url, DEMO_PASSWORD)
        assert printed_login(text, "br01-clerk") == ("clerk", branch_urls[0], DEMO_PASSWORD)
        assert printed_login(text, "br01-manager") == ("store_manager", branch_urls[0], DEMO_PASSWORD)
        assert printed_login(text, "br02-clerk") == ("clerk", branch_urls[1], DEMO_PASSWORD)
        assert printed_login(text, "hq-manager") == ("store_manager", main_url, DEMO_PASSWORD)

        async with aiohttp.ClientSession() as plain:
            async with plain.get(branch_urls[1] + "/api/products") as response:
                assert response.status == 401, "a till answers no one who has not logged in"
            # The printed password logs the clerk in at the printed branch URL (within the
            # bound: the branch's operators arrive with its first feed), and not elsewhere.
            role, url, password = printed_login(text, "br02-clerk")
            token = await logins.log_in(url, logins.Operator("br02-clerk", password), wait_s=WAIT_BOUND_S)
            headers = {"Authorization": f"Bearer {token}"}
            async with plain.get(url + "/api/me", headers=headers) as response:
                me = (await response.json())["operator"]
            assert (me["login"], me["role"], me["branch"]) == ("br02-clerk", role, "BR02")
            async with plain.get(url + "/api/products", headers=headers) as response:
                assert response.status == 200
            async with plain.get(url + "/", headers=headers) as response:
                assert response.status == 200
                assert '<script src="/till/till.js">' in await response.text()
            async with plain.get(url + "/", allow_redirects=False) as response:
                assert (response.status, response.headers["Location"]) == (303, "/login")
            assert (await log_in(plain, url, "br02-clerk", password + "-wrong"))[0] == 401
            assert (await log_in(plain, branch_urls[0], "br02-clerk", password))[0] == 401, (
                "BR01 knows only its own operators"
            )
            _, _, gm_password = printed_login(text, "gm")
            status, gm = await log_in(plain, hq_url, "gm", gm_password)
            assert status == 200, gm

        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {gm['token']}"}) as session:
            async with session.get(hq_url + "/status") as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                page = await response.text()
            assert "Branchline HQ" in page
            assert "BR01" in page
            assert "BR02" in page

            async def trading_reached_hq() -> bool:
                async with session.get(hq_url + "/api/sales/summary") as response:
                    return bool((await response.json())["count"] > 0)

            await wait_until(trading_reached_hq, "simulated sales to reach HQ")
            async with session.get(hq_url + "/api/branches") as response:
                branches = (await response.json())["branches"]
            # HQ's main warehouse is a node of its own, beside the two branches.
            assert [b["code"] for b in branches] == ["BR01", "BR02", "HQ"]
            assert all(b["online"] for b in branches)

            async def a_transfer_was_booked_at_a_branch() -> bool:
                async with session.get(hq_url + "/api/transfers", params={"state": "received"}) as response:
                    received = (await response.json())["transfers"]
                return any(t["from_warehouse"] == "HQ-MAIN" for t in received)

            # The demo buys stock into HQ-MAIN and sends some on; a branch books it by itself.
            await wait_until(a_transfer_was_booked_at_a_branch, "a demo transfer to be received at a branch")

            # The seeds' levels, and points multiplied by level, at HQ and through the
            # feed at a branch: the demo's members earn by them.
            async with session.get(hq_url + "/api/levels") as response:
                levels = (await response.json())["levels"]
            assert sorted((level["rank"], level["code"], level["points_price"]) for level in levels) == [
                (1, "silver", None),
                (2, "gold", 1_000),
                (3, "diamond", 5_000),
            ]

        async with aiohttp.ClientSession(headers=headers) as till:

            async def level_rules_reached_the_branch() -> bool:
                async with till.get(url + "/api/points-rules") as response:
                    rules = (await response.json())["rules"]
                by_level = {rule["target"]: rule["factor_milli"] for rule in rules if rule["kind"] == "level"}
                return by_level == {"silver": 1_000, "gold": 1_500, "diamond": 2_000}

            await wait_until(level_rules_reached_the_branch, "the demo's level rules to reach BR02")

            # Each branch has a virtual reader and printer: a swipe from the CLI reaches
            # the open till's event stream, and the demo's sales print receipts as PNGs.
            async with till.get(url + "/api/till/events") as live:
                code, out = await branchline(
                    "node", "swipe", "--data", str(tmp_path / "up" / "BR02"), "C-UP-0001"
                )
                assert code == 0, out
                async for event, _, data in events(live):
                    if event == "swipe":
                        assert data == {"card": "C-UP-0001", "member_id": None}
                        break
            async with till.get(url + "/api/devices") as response:
                devices = await response.json()
            assert devices["reader"]["reads"] == 1
            receipts = tmp_path / "up" / "BR02" / "printed"

            async def a_receipt_was_printed() -> bool:
                return any(receipts.glob("*.png"))

            await wait_until(a_receipt_was_printed, "a demo sale's receipt to print at BR02")

        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        async with aiohttp.ClientSession() as session:
            for url in [hq_url, *branch_urls]:
                try:
                    async with session.get(url + "/api/sync", timeout=aiohttp.ClientTimeout(total=2)):
                        raise AssertionError(f"{url} still answers after Ctrl-C")
                except aiohttp.ClientConnectionError:
                    pass  # stopped, as it should be
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
