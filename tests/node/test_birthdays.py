"""Birthday greetings (node.services.birthdays) and the outbox's file gateway
(node.services.outbox): a member is greeted on their birthday, by their home branch
only, once per year, whatever restarts and reruns the day brings; the gateway writes
each message once it is on disk and keeps what it could not write for the next run.

The rules run against real SQLite stores; the scheduler, the restart and the
endpoint against real nodes on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import sqlite3
import zoneinfo
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conflict.duplicates import Registration
from conflict.wire import to_payload
from hq import operators
from hq.api import HQ_KEY
from hq.setup import now_ms
from node.app import SCHEDULER
from node.app import create_app as create_node_app
from node.config import NodeConfig, NodeConfigInvalid
from node.routes.context import CONTEXT
from node.services import birthdays, members
from node.services.birthdays import birthdays_on, greet
from node.services.outbox import DELIVERY_JOB_ID, FileGateway
from node.store.store import Store
from node.store.writer import Tx
from protocol.ids import uuid7
from shared_tables import directory_store
from tests import harness
from tests.harness import Chain, Server, log_in, manager_login, wait_until

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")  # the node's default time zone
WRITTEN_AT_MS = 1_741_910_400_000  # what the stores' writer clock says: 2025-03-14 08:00 Shanghai
ANN_BIRTHDAY = "1990-03-14"


def member_id(n: int) -> str:
    return uuid7(1_700_000_000_000 + n, bytes(10))


ANN, BO, CAI = member_id(1), member_id(2), member_id(3)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """BR01's store, its writer's clock fixed."""
    store = await Store.open(tmp_path / "node.sqlite", "BR01", wall_ms=lambda: WRITTEN_AT_MS)
    try:
        yield store
    finally:
        await store.close()


async def register(store: Store, member: str, name: str, phone: str, birthday: str | None) -> None:
    """A member registered at this branch's till (BR01 is their home)."""
    await store.writer.run(
        members.register_job(member, "BR01", {"name": name, "phone": phone, "birthday": birthday})
    )


def from_feed(member: str, home: str, phone: str, birthday: str, hlc: int) -> Callable[[Tx], None]:
    """A member registered at `home` as HQ's feed brings them: the profile and the
    registration, as node.sync.feed applies them."""
    stamped = {"name": [f"Member {member[-4:]}", hlc, home], "phone": [phone, hlc, home]}
    stamped["birthday"] = [birthday, hlc, home]

    def job(tx: Tx) -> None:
        members.apply_member_upsert(tx.conn, {"id": member, "home_branch": home, "profile": stamped})
        registration = Registration(member, phone, frozenset({f"K-{member[-6:]}"}), hlc, home)
        members.apply_directory_record(tx.conn, to_payload(registration))

    return job


async def outbox_rows(store: Store) -> list[tuple[Any, ...]]:
    return await store.read(
        lambda conn: conn.execute(
            "SELECT member_id, kind, year, phone, text, delivered_at_ms FROM outbox ORDER BY member_id, year"
        ).fetchall()
    )


# -- which birthdays fall on a day ---------------------------------------------------------


def test_29_february_birthdays_fall_on_28_february_in_a_common_year_only() -> None:
    assert birthdays_on(datetime.date(2025, 3, 14)) == ("03-14",)
    assert birthdays_on(datetime.date(2025, 2, 28)) == ("02-28", "02-29")  # 2025: common
    assert birthdays_on(datetime.date(2024, 2, 28)) == ("02-28",)  # 2024: leap
    assert birthdays_on(datetime.date(2024, 2, 29)) == ("02-29",)
    assert birthdays_on(datetime.date(2100, 2, 28)) == ("02-28", "02-29")  # a century, not leap
    assert birthdays_on(datetime.date(2000, 2, 28)) == ("02-28",)  # every 400 years, leap


def test_the_branch_date_is_taken_in_its_own_time_zone() -> None:
    # 2025-03-13 16:30 UTC is already the 14th in Shanghai (UTC+8).
    at_ms = int(datetime.datetime(2025, 3, 13, 16, 30, tzinfo=datetime.UTC).timestamp() * 1000)
    assert birthdays.local_day(at_ms, SHANGHAI) == datetime.date(2025, 3, 14)
    assert birthdays.local_day(at_ms, datetime.UTC) == datetime.date(2025, 3, 13)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("timezone", ""),
        ("birthday_greetings_at", "9:00"),
        ("birthday_greetings_at", "24:00"),
    ],
)
def test_node_json_settings_are_checked_when_read(setting: str, value: str) -> None:
    config = NodeConfig("BR01", "http://127.0.0.1:1", "00" * 32, "HQ>BR01")
    changes: dict[str, Any] = {setting: value}
    with pytest.raises(NodeConfigInvalid, match=setting):
        dataclasses.replace(config, **changes)  # checked as load_config builds it from node.json


def test_the_outbox_file_is_in_the_data_folder_unless_node_json_names_one(tmp_path: Path) -> None:
    config = NodeConfig("BR01", "http://127.0.0.1:1", "00" * 32, "HQ>BR01")
    assert config.outbox_path(tmp_path) == tmp_path / "outbox" / "messages.jsonl"
    named = dataclasses.replace(config, outbox_file="/var/spool/branchline/br01.jsonl")
    assert named.outbox_path(tmp_path) == Path("/var/spool/branchline/br01.jsonl")


# -- who is greeted, and how often --------------------------------------------------------


async def test_a_member_is_greeted_on_their_birthday_and_not_the_day_before(store: Store) -> None:
    await register(store, ANN, "Ann", "13900000001", ANN_BIRTHDAY)
    await register(store, BO, "Bo", "13900000002", None)

    assert await greet(store, "BR01", datetime.date(2025, 3, 13)) == 0
    assert await outbox_rows(store) == []

    assert await greet(store, "BR01", datetime.date(2025, 3, 14)) == 1
    assert await outbox_rows(store) == [
        (ANN, "birthday", 2025, "13900000001", birthdays.greeting_text("Ann"), None)
    ]


async def test_a_second_run_the_same_day_writes_nothing_new(store: Store) -> None:
    await register(store, ANN, "Ann", "13900000001", ANN_BIRTHDAY)
    day = datetime.date(2025, 3, 14)
    assert await greet(store, "BR01", day) == 1
    assert await greet(store, "BR01", day) == 0
    assert len(await outbox_rows(store)) == 1


async def test_the_next_year_brings_a_new_greeting(store: Store) -> None:
    await register(store, ANN, "Ann", "13900000001", ANN_BIRTHDAY)
    assert await greet(store, "BR01", datetime.date(2025, 3, 14)) == 1
    assert await greet(store, "BR01", datetime.date(2026, 3, 14)) == 1
    assert [(row[0], row[2]) for row in await outbox_rows(store)] == [(ANN, 2025), (ANN, 2026)]


async def test_a_member_of_another_home_branch_is_greeted_there_not_here(store: Store) -> None:
    await register(store, ANN, "Ann", "13900000001", ANN_BIRTHDAY)
    await store.writer.run(from_feed(BO, "BR02", "13900000002", "1985-03-14", hlc=1_000))

    assert await greet(store, "BR01", datetime.date(2025, 3, 14)) == 1
    assert [row[0] for row in await outbox_rows(store)] == [ANN]  # Bo's greeting is BR02's


async def test_a_29_february_birthday_is_greeted_on_28_february_in_a_common_year(store: Store) -> None:
    await register(store, ANN, "Ann", "13900000001", "2000-02-29")

    assert await greet(store, "BR01", datetime.date(2025, 2, 27)) == 0
    assert await greet(store, "BR01", datetime.date(2025, 2, 28)) == 1
    assert await greet(store, "BR01", datetime.date(2025, 3, 1)) == 0
    # In a leap year, on the day itself only.
    assert await greet(store, "BR01", datetime.date(2028, 2, 28)) == 0
    assert await greet(store, "BR01", datetime.date(2028, 2, 29)) == 1
    assert [row[2] for row in await outbox_rows(store)] == [2025, 2028]


@pytest.mark.parametrize(
    ("bo_hlc", "survivor", "greeter"),
    [(1_000, BO, "BR02"), (3_000, CAI, "BR01")],
    ids=["BR02s-registration-survives", "BR01s-registration-survives"],
)
async def test_a_duplicate_pair_is_greeted_once_as_its_survivor_by_the_survivors_home(
    tmp_path: Path, bo_hlc: int, survivor: str, greeter: str
) -> None:
    # The same person registered at BR01 (as Cai) and at BR02 (as Bo) while apart,
    # both with the phone and birthday; the earlier registration survives. Each branch
    # holds both once synced, and both run the day's job.
    stores = {
        branch: await Store.open(tmp_path / f"{branch}.sqlite", branch, wall_ms=lambda: WRITTEN_AT_MS)
        for branch in ("BR01", "BR02")
    }
    try:
        written = {}
        for branch, store in stores.items():
            await store.writer.run(from_feed(CAI, "BR01", "13900000003", "1990-03-14", hlc=2_000))
            await store.writer.run(from_feed(BO, "BR02", "13900000003", "1990-03-14", hlc=bo_hlc))
            group = await store.read(lambda conn: directory_store.group_of(conn, CAI))
            assert group.survivor(CAI) == group.survivor(BO) == survivor
            written[branch] = await greet(store, branch, datetime.date(2025, 3, 14))
            # A second run (a restart, a rerun) changes nothing either.
            assert await greet(store, branch, datetime.date(2025, 3, 14)) == 0

        assert written == {"BR01": int(greeter == "BR01"), "BR02": int(greeter == "BR02")}
        assert [row[0] for row in await outbox_rows(stores[greeter])] == [survivor]
    finally:
        for store in stores.values():
            await store.close()


# -- the file gateway ---------------------------------------------------------------------


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_the_file_gateway_writes_json_lines_and_marks_them_delivered(
    store: Store, tmp_path: Path
) -> None:
    await register(store, ANN, "安妮", "13900000001", ANN_BIRTHDAY)
    await register(store, BO, "Bo", "13900000002", "2001-03-14")
    await greet(store, "BR01", datetime.date(2025, 3, 14))
    path = tmp_path / "outbox" / "messages.jsonl"
    path.parent.mkdir()
    gateway = FileGateway(store, path)

    assert await gateway.deliver() == 2
    lines = lines_of(path)
    ids = await store.read(lambda conn: [row[0] for row in conn.execute("SELECT id FROM outbox ORDER BY id")])
    assert sorted(line["id"] for line in lines) == ids  # the id a reader dedupes by
    assert {(line["member_id"], line["phone"], line["kind"]) for line in lines} == {
        (ANN, "13900000001", "birthday"),
        (BO, "13900000002", "birthday"),
    }
    assert birthdays.greeting_text("安妮") in {line["text"] for line in lines}
    assert [row[5] for row in await outbox_rows(store)] == [WRITTEN_AT_MS, WRITTEN_AT_MS]
    assert path.stat().st_mode & 0o777 == 0o600  # names and phones: owner-only, as the store

    assert await gateway.deliver() == 0  # nothing left: no line written twice
    assert len(lines_of(path)) == 2


async def test_an_unwritable_gateway_path_keeps_messages_for_the_run_after_it_is_fixed(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await register(store, ANN, "Ann", "13900000001", ANN_BIRTHDAY)
    await greet(store, "BR01", datetime.date(2025, 3, 14))
    path = tmp_path / "missing" / "messages.jsonl"
    gateway = FileGateway(store, path)

    with caplog.at_level(logging.WARNING, logger="node.services.outbox"):
        assert await gateway.deliver() == 0
    assert "1 messages not delivered" in caplog.text
    assert [row[5] for row in await outbox_rows(store)] == [None]

    path.parent.mkdir()
    assert await gateway.deliver() == 1
    assert [line["member_id"] for line in lines_of(path)] == [ANN]
    assert [row[5] for row in await outbox_rows(store)] == [WRITTEN_AT_MS]


async def test_a_line_torn_by_a_crash_spoils_only_itself(store: Store, tmp_path: Path) -> None:
    await register(store, ANN, "Ann", "13900000001", ANN_BIRTHDAY)
    await greet(store, "BR01", datetime.date(2025, 3, 14))
    path = tmp_path / "messages.jsonl"
    path.write_bytes(b'{"id":"0190-half-writ')  # a crash part way through a line

    assert await FileGateway(store, path).deliver() == 1
    torn, whole = path.read_bytes().splitlines()
    assert torn == b'{"id":"0190-half-writ'
    assert json.loads(whole)["member_id"] == ANN


# -- the node's scheduler, a restart, and GET /api/outbox ---------------------------------


@dataclasses.dataclass
class Clock:
    """The node's jobs' clock, set by the test."""

    ms: int

    def __call__(self) -> int:
        return self.ms

    def set(self, day: datetime.date, hour: int) -> None:
        at = datetime.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)
        self.ms = int(at.timestamp() * 1000)


async def start_branch(chain: Chain, clock: Clock) -> Server:
    """BR01, enrolled and running with its jobs on `clock`."""
    enrolled = await chain.add_node("BR01", start=False)
    node = Server(lambda: create_node_app(chain.root / "BR01", jobs_wall_ms=clock), port=enrolled.port)
    chain.nodes["BR01"] = node
    await node.start()
    await chain.operators_arrived("BR01")
    return node


async def register_at(chain: Chain, node: Server, name: str, phone: str, birthday: str) -> str:
    member = await chain.post(node.url + "/api/members", {"name": name, "phone": phone, "birthday": birthday})
    return str(member["id"])


async def node_outbox(node: Server) -> list[tuple[Any, ...]]:
    def rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return conn.execute("SELECT member_id, year, delivered_at_ms FROM outbox").fetchall()

    return await node.app[CONTEXT].store.read(rows)


async def run_scheduled_greetings(node: Server) -> Any:
    """The function the node's scheduler holds for the daily greetings, run now."""
    return await node.app[SCHEDULER].get_job(birthdays.JOB_ID).func()


async def test_a_restart_over_the_same_store_greets_no_one_twice(chain: Chain) -> None:
    clock = Clock(0)
    clock.set(datetime.date(2025, 3, 14), hour=8)  # before the greetings' hour: nothing runs at start
    node = await start_branch(chain, clock)
    ann = await register_at(chain, node, "Ann", "13900000001", ANN_BIRTHDAY)
    assert await run_scheduled_greetings(node) == 1

    await node.stop()
    await node.start()
    assert await run_scheduled_greetings(node) == 0
    [(member, year, delivered_at_ms)] = await node_outbox(node)
    assert (member, year) == (ann, 2025)
    assert delivered_at_ms is not None  # the run delivers too, to the default file
    [line] = lines_of(chain.root / "BR01" / "outbox" / "messages.jsonl")
    assert line["member_id"] == ann


async def test_the_scheduler_holds_the_jobs_under_their_ids_and_runs_a_missed_run_on_start(
    chain: Chain,
) -> None:
    clock = Clock(0)
    clock.set(datetime.date(2025, 3, 14), hour=8)
    node = await start_branch(chain, clock)
    job = node.app[SCHEDULER].get_job(birthdays.JOB_ID)
    assert (str(job.trigger.fields[5]), str(job.trigger.fields[6])) == ("9", "0")  # hour, minute: 09:00
    assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, birthdays.MISFIRE_GRACE_S, 1)
    assert node.app[SCHEDULER].get_job(DELIVERY_JOB_ID) is not None
    ann = await register_at(chain, node, "Ann", "13900000001", ANN_BIRTHDAY)
    assert await node_outbox(node) == []

    # The node was down at nine; started at ten, it runs the day's greetings at once.
    await node.stop()
    clock.set(datetime.date(2025, 3, 14), hour=10)
    await node.start()

    async def greeted() -> bool:
        return [row[0] for row in await node_outbox(node)] == [ann]

    await wait_until(greeted, "the missed run to greet Ann", timeout_s=10)


async def add_operator_without(chain: Chain, login: str, permission: str) -> None:
    """A BR01 clerk whose role's `permission` HQ has revoked."""
    now = now_ms()
    record = operators.new_operator(
        operator_id=uuid7(now, os.urandom(10)),
        login=login,
        name=None,
        role="clerk",
        branch="BR01",
        password_hash=harness.test_password_hash(),
        now_ms=now,
    )
    record = dataclasses.replace(record, revokes=(permission,))
    hq = chain.hq.app[HQ_KEY]
    hq.notifier.notify(await hq.store.put_operator(record, 0, now))


async def get_outbox(node: Server, token: str | None, query: str = "") -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(node.url + "/api/outbox" + query, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_get_outbox_lists_messages_newest_first_for_operators_who_may_view_members(
    chain: Chain,
) -> None:
    clock = Clock(0)
    clock.set(datetime.date(2025, 3, 14), hour=8)
    node = await start_branch(chain, clock)
    ann = await register_at(chain, node, "Ann", "13900000001", ANN_BIRTHDAY)
    await run_scheduled_greetings(node)
    bo = await register_at(chain, node, "Bo", "13900000002", "1999-03-15")
    clock.set(datetime.date(2025, 3, 15), hour=8)
    await run_scheduled_greetings(node)

    status, answer = await get_outbox(node, None)
    assert (status, answer.get("error")) == (401, "not_logged_in")
    await add_operator_without(chain, "br01-no-members", "members:view")
    status, answer = await get_outbox(node, await log_in(node.url, "br01-no-members"), "?limit=1")
    assert (status, answer.get("error")) == (403, "forbidden")

    manager = await log_in(node.url, manager_login("BR01"))
    status, answer = await get_outbox(node, manager)
    assert status == 200
    listed = [(m["member_id"], m["year"], m["kind"], m["state"]) for m in answer["messages"]]
    assert listed == [(bo, 2025, "birthday", "delivered"), (ann, 2025, "birthday", "delivered")]
    status, answer = await get_outbox(node, manager, "?limit=1")
    assert [m["member_id"] for m in answer["messages"]] == [bo]
    status, answer = await get_outbox(node, manager, "?limit=0")
    assert (status, answer.get("error")) == (422, "invalid")
