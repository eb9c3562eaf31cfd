"""`branchline up` as a person runs it: URLs printed, a page at HQ, trading, Ctrl-C."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

from tests.harness import free_port, wait_until


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
        branch_urls = re.findall(r"http://127\.0\.0\.1:\d+(?=/api/products)", text)
        assert len(branch_urls) == 2

        async with aiohttp.ClientSession() as session:
            async with session.get(hq_url + "/") as response:
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
