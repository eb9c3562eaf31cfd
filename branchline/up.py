"""`branchline up`: HQ and N branches on loopback, with a little simulated trading.

Each piece runs as its own process, exactly as in production (`branchline hq
serve`, `branchline node serve`), so what you watch is the real thing. Ctrl-C
stops trading, then every process, cleanly.

Every server wants a log-in. HQ starts with the demo operators (hq.setup), and every
node it runs (the branches and HQ's main-warehouse node) gets a store manager and a
clerk, `{code}-manager` and `{code}-clerk` with the demo password, added before HQ
starts so they reach each node in its first feed. The demo trading acts as each
branch's clerk, the stock flow as HQ's warehouse operator at HQ and as the main
warehouse's store manager there; `up` prints every log-in beside its URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import signal
import tempfile
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

from hq.setup import (
    DEMO_OPERATORS,
    DEMO_PASSWORD,
    add_branch_staff,
    clerk_login,
    init_hq,
    issue_enroll_token,
    manager_login,
)
from launch.logins import LoginRefused, Logins
from launch.processes import start_server, stop_all
from node.config import load_config, save_config
from node.sync.enroll import enroll
from shared_tables.private_files import private_folder

# Demo trading pace: a sale somewhere every 0.3 to 1.5 s, a new member now and then.
SALE_GAP_S = (0.3, 1.5)
NEW_MEMBER_CHANCE = 0.15
TOP_UP_CHANCE = 0.2
MEMBER_SALE_CHANCE = 0.5
# The HQ main warehouse is a node like any branch's (DESIGN 7), under this code.
MAIN_NODE = "HQ"
DEMO_SUPPLIER = {"code": "SUP-DEMO", "name": "Demo Wholesale Co."}
# Demo stock flow: HQ-MAIN buys a case of a product when it runs low, and every
# few seconds tops up one branch's goods under SHELF_LOW back to SHELF_FULL.
TRANSFER_GAP_S = (2.0, 5.0)
RESTOCK_BELOW = 30
CASE_QTY = 120
SHELF_LOW = 5
SHELF_FULL = 20
# The stock flow at HQ: it adds the demo supplier (catalogue:edit) and reads the
# catalogue; HQ's warehouse role does both and no more.
STOCK_LOGIN = "warehouse"
# Refused or unreachable while a node restarts: the demo waits this long and goes on.
PAUSE_S = 1.0

console = Console()


def demo_logins(hq_url: str, main_url: str, branch_urls: list[str]) -> Logins:
    """Who the demo acts as: the warehouse operator at HQ, the main warehouse's store
    manager at its node, each branch's clerk at the branch."""
    logins = Logins()
    logins.act_as(hq_url, STOCK_LOGIN, DEMO_PASSWORD)
    logins.act_as(main_url, manager_login(MAIN_NODE), DEMO_PASSWORD)
    for number, url in enumerate(branch_urls, start=1):
        logins.act_as(url, clerk_login(f"BR{number:02d}"), DEMO_PASSWORD)
    return logins


async def trade(branch_urls: list[str], stop: asyncio.Event, logins: Logins, seed: int | None = None) -> None:
    """Demo trading: registrations, top-ups, and sales at random branches, members
    roaming between them and paying from their stored value when it covers the sale.
    Each branch's requests go as its clerk (`logins`)."""
    rng = random.Random(seed)
    members: list[tuple[str, str]] = []  # (member id, card)
    async with logins.session() as session:
        prices = await _prices(session, branch_urls[0], stop)
        skus = sorted(prices)
        while not stop.is_set() and skus:
            url = rng.choice(branch_urls)
            try:
                if not members or rng.random() < NEW_MEMBER_CHANCE:
                    phone = f"138{rng.randrange(10**8):08d}"
                    body = {"name": f"Member {phone[-4:]}", "phone": phone}
                    async with session.post(url + "/api/members", json=body) as response:
                        if response.status == 201:
                            member = await response.json()
                            members.append((member["id"], member["cards"][0]["card"]))
                if members and rng.random() < TOP_UP_CHANCE:
                    _, card = rng.choice(members)
                    async with session.post(
                        f"{url}/api/cards/{card}/top-up",
                        json={"amount_fen": rng.choice((10_000, 20_000, 50_000))},
                    ) as response:
                        await response.read()
                picked = [(rng.choice(skus), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
                lines = [{"sku": sku, "qty": qty} for sku, qty in picked]
                total = sum(prices[sku] * qty for sku, qty in picked)
                # Most customers hand over the exact money; some the next hundred yuan up.
                handed = -(-total // 10_000) * 10_000
                cash = {"kind": "cash", "amount_fen": rng.choice((total, total, handed))}
                sale: dict[str, object] = {"lines": lines, "tenders": [cash]}
                if members and rng.random() < MEMBER_SALE_CHANCE:
                    member_id, card = rng.choice(members)
                    sale["member_id"] = member_id
                    stored = {"kind": "stored_value", "card": card, "amount_fen": total}
                    async with session.post(
                        url + "/api/sales", json={**sale, "tenders": [stored]}
                    ) as response:
                        if response.status == 201:
                            continue  # paid from the card; else (balance short) pay cash below
                async with session.post(url + "/api/sales", json=sale) as response:
                    await response.read()
            except (aiohttp.ClientError, LoginRefused):
                pass  # a branch restarting; the demo carries on
            finally:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), rng.uniform(*SALE_GAP_S))


async def _prices(session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> dict[str, int]:
    """The catalogue's prices at the branch at `url`, asked until it answers or `stop`."""
    while not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError, LoginRefused, ValueError, KeyError):
            async with session.get(url + "/api/products") as response:
                if response.status == 200:
                    return {p["sku"]: p["price_fen"] for p in (await response.json())["products"]}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PAUSE_S)
    return {}


async def stock_flow(
    hq_url: str, main_url: str, branch_urls: list[str], stop: asyncio.Event, logins: Logins
) -> None:
    """Demo stock: HQ-MAIN buys a case from the demo supplier when it runs low, and
    tops up a branch's goods that run low with a transfer, which the branch books by
    itself from its feed. Services (unit "service") hold no stock. At HQ it acts as
    the warehouse operator, at HQ-MAIN as its store manager (`logins`)."""
    rng = random.Random()
    async with logins.session() as session:
        goods: dict[str, int] | None = None
        while goods is None and not stop.is_set():
            try:
                async with session.post(hq_url + "/api/suppliers", json=DEMO_SUPPLIER) as response:
                    await response.read()
                async with session.get(hq_url + "/api/products") as response:
                    catalogue = (await response.json())["products"]
                # Bought at the preset purchase price (HQ's master data), a little off each time.
                goods = {p["sku"]: p["purchase_price_fen"] for p in catalogue if p["unit"] != "service"}
            except (aiohttp.ClientError, LoginRefused, ValueError, KeyError):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PAUSE_S)
        while goods is not None and not stop.is_set():
            try:
                main = await _on_hand(session, main_url, "HQ-MAIN", goods)
                low = [sku for sku, qty in main.items() if qty < RESTOCK_BELOW]
                if low:
                    lines = [
                        {
                            "sku": sku,
                            "qty": CASE_QTY,
                            "unit_cost_fen": goods[sku] * rng.randint(95, 105) // 100,
                        }
                        for sku in low
                    ]
                    receipt = {"supplier": DEMO_SUPPLIER["code"], "lines": lines}
                    async with session.post(main_url + "/api/receipts", json=receipt) as response:
                        await response.read()  # refused until the supplier reaches HQ's node; retried
                number = rng.randint(1, len(branch_urls))
                warehouse = f"BR{number:02d}-MAIN"
                shelf = await _on_hand(session, branch_urls[number - 1], warehouse, goods)
                lines = [
                    {"sku": sku, "qty": min(SHELF_FULL - qty, main[sku] - 1)}
                    for sku, qty in shelf.items()
                    if qty < SHELF_LOW and main[sku] - 1 >= SHELF_FULL - qty
                ]
                if lines:
                    body = {"to_warehouse": warehouse, "lines": lines}
                    async with session.post(main_url + "/api/transfers", json=body) as response:
                        await response.read()
            except (aiohttp.ClientError, LoginRefused, ValueError, KeyError):
                pass  # a node restarting; the demo carries on
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(*TRANSFER_GAP_S))


async def _on_hand(
    session: aiohttp.ClientSession, url: str, warehouse: str, goods: dict[str, int]
) -> dict[str, int]:
    async with session.get(url + "/api/stock", params={"warehouse": warehouse}) as response:
        rows = (await response.json())["stock"]
    held = {row["sku"]: row["qty"] for row in rows}
    return {sku: held.get(sku, 0) for sku in goods}


async def up(
    branch_count: int, data: Path | None, hq_port: int, *, trading: bool, db: str | None = None
) -> int:
    """HQ (on its SQLite file, or on the PostgreSQL database `db`) and `branch_count`
    branches with demo trading, until interrupted."""
    if not 1 <= branch_count <= 50:
        console.print("[red]--branches must be between 1 and 50")
        return 2
    root = data if data is not None else Path(tempfile.mkdtemp(prefix="branchline-up-"))
    # The processes' logs may name members (a refused phone, say): private as the data.
    private_folder(root / "logs")
    hq_dir = root / "hq"
    processes: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        first_run = not (hq_dir / "hq.key").exists()
        if first_run:
            await init_hq(hq_dir, demo_data=True, db=db, demo_loyalty=True)
        codes = [MAIN_NODE] + [f"BR{n:02d}" for n in range(1, branch_count + 1)]
        await add_branch_staff(hq_dir, codes, "branchline up")
        serve_hq = ["hq", "serve", "--data", str(hq_dir)] + (["--db", db] if db is not None else [])
        hq, hq_port = await start_server(serve_hq, hq_port, "/api/branches", root / "logs" / "hq.log")
        processes.append(hq)
        hq_url = f"http://127.0.0.1:{hq_port}"
        branch_urls = []
        main_url = ""
        for number, code in enumerate(codes, start=1):
            node_dir = root / code
            if not (node_dir / "node.json").exists():
                token = await issue_enroll_token(hq_dir, code)
                config = await enroll(node_dir, code, hq_url, token)
                if code != MAIN_NODE:
                    # A virtual card reader and receipt printer at every branch: swipe with
                    # `branchline node swipe`, read receipts under the branch's printed/.
                    virtual = dataclasses.replace(config, reader=VIRTUAL_READER, printer=VIRTUAL_PRINTER)
                    save_config(node_dir, virtual)
            else:
                # A run continued from its folder: HQ may listen on another port this time.
                config = load_config(node_dir)
                if config.hq_url != hq_url:
                    save_config(node_dir, dataclasses.replace(config, hq_url=hq_url))
            serve_node = ["node", "serve", "--data", str(node_dir)]
            log_path = root / "logs" / f"{code}.log"
            node, port = await start_server(serve_node, hq_port + number, "/api/sync", log_path)
            processes.append(node)
            url = f"http://127.0.0.1:{port}"
            if code == MAIN_NODE:
                main_url = url
            else:
                branch_urls.append(url)
        show_urls(hq_url, main_url, branch_urls, root)
        tasks = []
        if trading:
            logins = demo_logins(hq_url, main_url, branch_urls)
            tasks.append(asyncio.create_task(trade(branch_urls, stop, logins)))
            tasks.append(asyncio.create_task(stock_flow(hq_url, main_url, branch_urls, stop, logins)))
        watchers = [asyncio.create_task(p.wait()) for p in processes]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *watchers], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            console.print(f"[red]a process exited unexpectedly; logs are in {root / 'logs'}")
        stop.set()
        for task in tasks:
            await task
        return 0
    finally:
        await stop_all(processes)
        console.print(f"stopped; data kept in {root}")
        console.print("run again with --data DIR to continue from it")


# Every demo branch's devices (node.peripherals.attached): run inside its node.
VIRTUAL_READER = {"url": "virtual"}
VIRTUAL_PRINTER = {"url": "virtual", "paper_width_mm": 58}


def show_urls(hq_url: str, main_url: str, branch_urls: list[str], root: Path) -> None:
    table = Table(title="Branchline is up", show_header=True)
    table.add_column("what")
    table.add_column("URL")
    table.add_row("HQ console", hq_url + "/")
    table.add_row("HQ branches API", hq_url + "/api/branches")
    table.add_row("HQ conflict queue", f"branchline hq conflicts list --hq {hq_url} --login manager")
    table.add_row("HQ stock and transfers in transit", f"{hq_url}/api/stock, {hq_url}/api/transfers")
    table.add_row("HQ main warehouse (node HQ)", main_url + "/api/stock")
    table.add_row("HQ main warehouse till (node HQ)", main_url + "/")
    for number, url in enumerate(branch_urls, start=1):
        table.add_row(f"branch BR{number:02d} till (log in as br{number:02d}-clerk)", url + "/")
    console.print(table)
    console.print(login_table(hq_url, main_url, branch_urls))
    console.print(
        "every request logs in first: POST URL/api/login with"
        ' {"login": ..., "password": ...}, then send Authorization: Bearer TOKEN'
    )
    console.print(f"data and logs in {root}; press Ctrl-C to stop")
    for number, url in enumerate(branch_urls, start=1):
        code = f"BR{number:02d}"
        print(f"{code} till: {url}/ (login {clerk_login(code)}, password {DEMO_PASSWORD})")
    print(f"HQ console: {hq_url}/", flush=True)


def login_table(hq_url: str, main_url: str, branch_urls: list[str]) -> Table:
    """Every demo log-in, the server it works at, and its password."""
    table = Table(title="Log-ins", show_header=True)
    for column in ("login", "role", "where", "password"):
        table.add_column(column, no_wrap=column != "role")
    for demo in DEMO_OPERATORS:
        if demo.branch is None:
            table.add_row(demo.login, demo.role, hq_url, DEMO_PASSWORD)
    nodes = [(MAIN_NODE, main_url)] + [(f"BR{n:02d}", url) for n, url in enumerate(branch_urls, start=1)]
    for code, url in nodes:
        table.add_row(manager_login(code), "store_manager", url, DEMO_PASSWORD)
        table.add_row(clerk_login(code), "clerk", url, DEMO_PASSWORD)
    return table
