"""Data folders are 0700 and databases 0600 from creation, whatever the umask, and a
folder or database others can read is refused at start with the command that fixes it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hq.setup import init_hq
from hq.storage.sqlite import SqliteHQStore
from node.config import NodeConfig, load_config, save_config
from node.store.store import Store
from protocol.errors import DataExposed
from shared_tables.private_files import check_private, private_database, private_folder


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: what is private is private because we made it so."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


async def test_a_node_store_its_wal_and_shm_are_created_private(tmp_path: Path, open_umask: None) -> None:
    folder = private_folder(tmp_path / "BR01")
    store = await Store.open(folder / "node.sqlite", origin="BR01")
    try:
        await store.writer.run(lambda tx: tx.conn.execute("CREATE TABLE t (x)"))
        made = sorted(path.name for path in folder.iterdir())
        assert made == ["node.sqlite", "node.sqlite-shm", "node.sqlite-wal"]
        assert [mode_of(folder / name) for name in made] == [0o600, 0o600, 0o600]
    finally:
        await store.close()
    assert mode_of(folder) == 0o700


async def test_hq_init_makes_its_folder_and_every_file_in_it_private(
    tmp_path: Path, open_umask: None
) -> None:
    data = tmp_path / "hq"
    await init_hq(data, demo_data=True)
    assert mode_of(data) == 0o700
    files = list(data.iterdir())
    assert {path.name for path in files} >= {"hq.key", "hq.sqlite"}
    assert {path.name: mode_of(path) for path in files} == {path.name: 0o600 for path in files}


@pytest.mark.parametrize(
    ("exposed", "mode"),
    [pytest.param("node.sqlite", 0o644, id="database"), pytest.param("node.sqlite-wal", 0o640, id="wal")],
)
async def test_a_store_others_can_read_is_refused_with_the_fix(
    tmp_path: Path, exposed: str, mode: int
) -> None:
    folder = private_folder(tmp_path / "BR01")
    await (await Store.open(folder / "node.sqlite", origin="BR01")).close()
    (folder / "node.sqlite-wal").touch(mode=0o600)  # as a crash leaves it
    (folder / exposed).chmod(mode)
    with pytest.raises(DataExposed, match=f"mode {mode:o}\\); run `chmod 600 {folder / exposed}`"):
        await Store.open(folder / "node.sqlite", origin="BR01")


def test_a_node_folder_others_can_read_is_refused_when_its_config_is_loaded(
    tmp_path: Path, open_umask: None
) -> None:
    folder = private_folder(tmp_path / "BR01")
    save_config(folder, NodeConfig("BR01", "http://127.0.0.1:1", "00" * 32, "HQ>BR01"))
    assert load_config(folder).branch == "BR01"
    assert mode_of(folder / "node.json") == 0o600
    folder.chmod(0o750)
    with pytest.raises(DataExposed, match="mode 750"):
        load_config(folder)


async def test_an_hq_database_others_can_read_is_refused_on_open(tmp_path: Path) -> None:
    path = private_database(private_folder(tmp_path / "hq") / "hq.sqlite")
    await (await SqliteHQStore.open(path)).close()
    path.chmod(0o604)
    with pytest.raises(DataExposed, match=r"hq\.sqlite can be read by other users"):
        await SqliteHQStore.open(path)


def test_hq_serve_on_an_exposed_folder_exits_with_the_fix_and_starts_nothing(tmp_path: Path) -> None:
    data = tmp_path / "hq"
    init = subprocess.run(
        [sys.executable, "-m", "branchline", "hq", "init", "--data", str(data)],
        capture_output=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    data.chmod(0o755)
    served = subprocess.run(
        [sys.executable, "-m", "branchline", "hq", "serve", "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 2
    assert f"run `chmod 700 {data}` and start again" in served.stderr


def test_check_private_names_the_mode_it_found(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.touch(mode=0o600)
    check_private(path)
    path.chmod(0o660)
    with pytest.raises(DataExposed, match=r"mode 660\); run `chmod 600"):
        check_private(path)
