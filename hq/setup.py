"""Creating an HQ: its data folder, its key, its store and the demo catalogue."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hq.accounts import Accounts
from hq.errors import DatabaseMismatch, KeyFileExposed, NotInitialised
from hq.operation_log import Doer, Operation
from hq.storage.base import CardType, Employee, Level, PointsRule, Product, TopUpRule
from hq.storage.postgres import PostgresHQStore
from hq.storage.sqlite import SqliteHQStore
from protocol.codec import check_branch_code
from protocol.signing import (
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
    public_key_bytes,
)
from shared_tables.private_files import check_private, private_folder

KEY_FILE = "hq.key"
STORE_FILE = "hq.sqlite"
# The PostgreSQL URL of an HQ initialised with --db (it may hold a password: 0600).
DATABASE_FILE = "database.url"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
TOKEN_TTL_S = 24 * 3600  # a branch is usually set up the day its token is issued

# Preset purchase prices value goods sold before any arrive (DESIGN 7). The barcodes are
# EAN-13 under a made-up company prefix in China's GS1 range (690-699), each with its
# check digit, so labels printed from them scan; the services' are for the code sheet
# a till keeps by the scanner.
DEMO_CATALOGUE = (
    Product(
        "TEA-OOLONG-250",
        "Oolong tea 250 g / 乌龙茶",
        6800,
        "box",
        purchase_price_fen=3_900,
        barcode="6902468000018",
    ),
    Product(
        "TEA-GREEN-100",
        "Longjing green tea 100 g / 龙井",
        12800,
        "tin",
        purchase_price_fen=7_600,
        barcode="6902468000025",
    ),
    Product("CUP-CERAMIC", "Ceramic cup / 陶瓷杯", 2500, purchase_price_fen=1_100, barcode="6902468000032"),
    Product(
        "SNACK-NUTS",
        "Mixed nuts 200 g / 坚果",
        3990,
        "bag",
        purchase_price_fen=2_200,
        barcode="6902468000049",
    ),
    Product(
        "SNACK-DATES",
        "Red dates 500 g / 红枣",
        2990,
        "bag",
        purchase_price_fen=1_500,
        barcode="6902468000056",
    ),
    Product(
        "SHAMPOO-500",
        "Herbal shampoo 500 ml / 洗发水",
        5900,
        "bottle",
        purchase_price_fen=2_900,
        barcode="6902468000063",
    ),
    Product("SOAP-BAR", "Sandalwood soap / 香皂", 1200, purchase_price_fen=450, barcode="6902468000070"),
    Product("SVC-HAIRCUT", "Haircut / 理发", 8800, "service", service=True, barcode="6902468000087"),
    Product(
        "SVC-MASSAGE", "Foot massage 60 min / 足疗", 19800, "service", service=True, barcode="6902468000094"
    ),
    Product(
        "GIFT-BOX",
        "Festival gift box / 礼盒",
        29900,
        "box",
        purchase_price_fen=16_500,
        barcode="6902468000100",
    ),
)
# The seeds' cards: a 16,800-yuan card with ten of each service and five gift boxes, a
# stored-value card, and a month of massages.
DEMO_CARD_TYPES = (
    CardType(
        "GOLD-16800",
        "Gold card / 金卡",
        1_680_000,
        discount_rate=90,
        validity_days=365,
        uses=(("SVC-HAIRCUT", 10), ("SVC-MASSAGE", 10)),
        gifts=(("GIFT-BOX", 5),),
        level="gold",
        renew_fen=300_000,
        replace_fen=2_000,
    ),
    CardType(
        "STORED-1000", "Stored value 1,000 / 储值卡", 100_000, stored_value_fen=100_000, replace_fen=1_000
    ),
    CardType(
        "MASSAGE-MONTH",
        "Massage month card / 足疗月卡",
        99_900,
        validity_days=30,
        services=("SVC-MASSAGE",),
        renew_fen=99_900,
        replace_fen=1_000,
    ),
)
# The seeds' levels (FEATURES L2, L4): silver from a first visit, gold from 5,000 yuan
# a year or bought from silver for 1,000 points, diamond from 20,000 yuan or bought from
# gold for 5,000; points per yuan multiplied 1, 1.5 and 2 times by level. `branchline up`
# writes them (its demo members earn and climb); a chain initialised with --demo-data
# alone authors its own.
DEMO_LEVELS = (
    Level("silver", "Silver / 银卡会员", 1, min_visits=1),
    Level("gold", "Gold / 金卡会员", 2, min_spend_fen=500_000, points_price=1_000),
    Level("diamond", "Diamond / 钻石会员", 3, min_spend_fen=2_000_000, points_price=5_000),
)
DEMO_POINTS_RULES = (
    PointsRule("LEVEL-SILVER", "Silver 1x / 银卡1倍", "level", 1_000, "silver"),
    PointsRule("LEVEL-GOLD", "Gold 1.5x / 金卡1.5倍", "level", 1_500, "gold"),
    PointsRule("LEVEL-DIAMOND", "Diamond 2x / 钻石2倍", "level", 2_000, "diamond"),
)
# The seed's top-up bonuses: pay 1,000 yuan, get 100 more; pay 2,000, get 300.
DEMO_TOP_UP_RULES = (
    TopUpRule("TOPUP-1000", "Top up 1,000, get 100 / 充1000送100", 100_000, 10_000),
    TopUpRule("TOPUP-2000", "Top up 2,000, get 300 / 充2000送300", 200_000, 30_000),
)


# The branches `branchline up` starts first, and the operators `hq init --demo-data`
# makes: one per HQ role, a store manager and a clerk per demo branch, all with the
# demo password. A real chain adds its own with `branchline hq operator add`.
DEMO_BRANCHES = ("BR01", "BR02", "BR03")
DEMO_PASSWORD = "branchline-demo"
# Two salespeople at each demo branch (FEATURES B4), coded after it.
DEMO_EMPLOYEES = (
    Employee("BR01-S01", "Zhang Min / 张敏", "BR01", "Sales associate / 导购"),
    Employee("BR01-S02", "Liu Yang / 刘洋", "BR01", "Beautician / 美容师"),
    Employee("BR02-S01", "Chen Jing / 陈静", "BR02", "Sales associate / 导购"),
    Employee("BR02-S02", "Zhao Lei / 赵磊", "BR02", "Barber / 理发师"),
    Employee("BR03-S01", "Sun Li / 孙丽", "BR03", "Sales associate / 导购"),
    Employee("BR03-S02", "Zhou Qiang / 周强", "BR03", "Masseur / 足疗师"),
)


class DemoOperator(NamedTuple):
    login: str
    role: str
    branch: str | None


def manager_login(branch: str) -> str:
    return f"{branch.lower()}-manager"  # a demo branch's store manager


def clerk_login(branch: str) -> str:
    return f"{branch.lower()}-clerk"  # a demo branch's counter: sales, registrations, top-ups


def branch_staff(branch: str) -> tuple[DemoOperator, DemoOperator]:
    """The demo store manager and clerk of a branch."""
    return (
        DemoOperator(manager_login(branch), "store_manager", branch),
        DemoOperator(clerk_login(branch), "clerk", branch),
    )


DEMO_OPERATORS = (
    DemoOperator("gm", "general_manager", None),
    DemoOperator("manager", "management", None),
    DemoOperator("finance", "finance", None),
    DemoOperator("warehouse", "warehouse", None),
    *(staff for branch in DEMO_BRANCHES for staff in branch_staff(branch)),
)


def token_hash(token: str) -> str:
    # Only the hash is stored: a copy of HQ's database cannot enroll a node.
    return hashlib.sha256(token.encode()).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def init_hq(
    data_dir: Path,
    *,
    demo_data: bool,
    demo_operators: bool | None = None,
    db: str | None = None,
    demo_loyalty: bool = False,
) -> bytes:
    """Create HQ's folder, key and store; return HQ's public key. `demo_data`: the demo
    catalogue and (unless `demo_operators` is False) the demo operators. `db`: a
    PostgreSQL URL to keep HQ's data in instead of the folder's SQLite file; the
    folder remembers it, so every command given the folder reaches that database.
    `demo_loyalty` (with `demo_data`): the demo levels and their points rules too."""
    private_folder(data_dir)
    if db is not None:
        _record_database(data_dir, db)
    key_path = data_dir / KEY_FILE
    if key_path.exists():
        key = read_key(data_dir)
    else:
        key = generate_private_key()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_pem(key))
    store = await _open(data_dir, key)
    doer = on_this_machine("branchline hq init --demo-data")
    try:
        if demo_data:
            keys = [product.sku for product in DEMO_CATALOGUE]
            operation = Operation(doer, now_ms(), "master.upsert", "product", {"keys": keys})
            await store.upsert_master(DEMO_CATALOGUE, now_ms(), operation)
            codes = [card_type.code for card_type in DEMO_CARD_TYPES]
            operation = Operation(doer, now_ms(), "master.upsert", "card_type", {"keys": codes})
            await store.upsert_master(DEMO_CARD_TYPES, now_ms(), operation)
            codes = [rule.code for rule in DEMO_TOP_UP_RULES]
            operation = Operation(doer, now_ms(), "master.upsert", "top_up_rule", {"keys": codes})
            await store.upsert_master(DEMO_TOP_UP_RULES, now_ms(), operation)
            codes = [employee.code for employee in DEMO_EMPLOYEES]
            operation = Operation(doer, now_ms(), "master.upsert", "employee", {"keys": codes})
            await store.upsert_master(DEMO_EMPLOYEES, now_ms(), operation)
        if demo_data and demo_loyalty:
            for kind, records in (("level", DEMO_LEVELS), ("points_rule", DEMO_POINTS_RULES)):
                codes = [record.code for record in records]
                operation = Operation(doer, now_ms(), "master.upsert", kind, {"keys": codes})
                await store.upsert_master(records, now_ms(), operation)
        if demo_data and demo_operators is not False:
            await _add_missing(store, DEMO_OPERATORS, doer)
    finally:
        await store.close()
    return public_key_bytes(key)


async def add_branch_staff(data_dir: Path, branches: list[str], command: str) -> None:
    """A demo store manager and clerk for each branch that lacks them, in HQ's store (HQ
    need not run): each branch's first feed brings them. For `branchline up` and the
    real-process simulator, whose branches go beyond the demo ones."""
    store = await open_store(data_dir)
    try:
        staff = [member for branch in branches for member in branch_staff(branch)]
        await _add_missing(store, staff, on_this_machine(command))
    finally:
        await store.close()


async def _add_missing(store: SqliteHQStore, operators: Iterable[DemoOperator], doer: Doer) -> None:
    accounts = Accounts(store, now_ms)
    for demo in operators:
        if await store.operator_by_login(demo.login) is None:
            await accounts.add(demo.login, DEMO_PASSWORD, demo.role, demo.branch, doer)


def read_key(data_dir: Path) -> Ed25519PrivateKey:
    path = data_dir / KEY_FILE
    if not path.exists():
        raise NotInitialised(f"{data_dir} holds no HQ; run `branchline hq init --data {data_dir}`")
    check_private(data_dir)
    if path.stat().st_mode & 0o077:
        raise KeyFileExposed(f"{path} is readable by others; run `chmod 600 {path}`")
    return load_private_key_pem(path.read_bytes())


async def open_store(data_dir: Path, db: str | None = None) -> SqliteHQStore:
    """HQ's store, with HQ's key to sign the operations it logs: on the PostgreSQL
    database the folder was initialised with, else on its SQLite file. `db`, when
    given, must name the folder's database (`serve --db` says which it expects)."""
    recorded = database_of(data_dir)
    if db is not None and db != recorded:
        where = "its own SQLite file" if recorded is None else "another PostgreSQL database"
        raise DatabaseMismatch(
            f"{data_dir} was initialised with {where}, not the one given;"
            f" start HQ without --db, or initialise a new folder with `branchline hq init --db ...`"
        )
    if recorded is None and not (data_dir / STORE_FILE).exists():
        raise NotInitialised(f"{data_dir} holds no HQ; run `branchline hq init --data {data_dir}`")
    return await _open(data_dir, read_key(data_dir))


async def _open(data_dir: Path, key: Ed25519PrivateKey) -> SqliteHQStore:
    url = database_of(data_dir)
    if url is None:
        return await SqliteHQStore.open(data_dir / STORE_FILE, signer=key.sign)
    return await PostgresHQStore.connect(url, signer=key.sign)


def database_of(data_dir: Path) -> str | None:
    """The PostgreSQL URL the folder's HQ keeps its data in; None for its SQLite file."""
    path = data_dir / DATABASE_FILE
    if not path.exists():
        return None
    check_private(path)
    return path.read_text().strip()


def _record_database(data_dir: Path, url: str) -> None:
    if not url.startswith(POSTGRES_SCHEMES):
        raise ValueError(f"--db takes a PostgreSQL URL (postgresql://user@host:port/database), not {url!r}")
    held = database_of(data_dir)
    if held is not None and held != url:
        raise DatabaseMismatch(f"{data_dir} already keeps HQ's data in another PostgreSQL database")
    if (data_dir / STORE_FILE).exists():
        raise DatabaseMismatch(f"{data_dir} already keeps HQ's data in its SQLite file; use a new folder")
    fd = os.open(data_dir / DATABASE_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(url + "\n")


def on_this_machine(command: str) -> Doer:
    """Who runs a command on HQ's own machine, for the operation log: the command and
    the system user, from no address (the command reads HQ's files directly)."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or f"uid {os.getuid()}"
    return Doer("", f"{command} ({user})", "local")


def new_enroll_token() -> str:
    """A fresh one-time token. It is typed after `--token` on the node's command line,
    where one that begins with "-" (1 in 64 of token_urlsafe's) reads as an option
    and `branchline node init` refuses it: such a draw is drawn again."""
    while True:
        token = secrets.token_urlsafe(24)
        if not token.startswith("-"):
            return token


async def issue_enroll_token(data_dir: Path, branch: str, ttl_s: int = TOKEN_TTL_S) -> str:
    check_branch_code(branch)
    token = new_enroll_token()
    store = await open_store(data_dir)
    try:
        now = now_ms()
        operation = Operation(
            on_this_machine("branchline hq enroll-token"), now, "enroll_token.issue", branch, {"ttl_s": ttl_s}
        )
        await store.add_enroll_token(branch, token_hash(token), now + ttl_s * 1000, operation)
    finally:
        await store.close()
    return token
