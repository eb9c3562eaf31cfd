"""A throwaway PostgreSQL cluster for the tests: made with the machine's `initdb`,
served by `pg_ctl` on a free loopback port, removed when the session ends. As root,
the cluster is made and run as the `postgres` user, as PostgreSQL requires. Each
test gets a database of its own, created from a template in byte order (C), as
HQ requires (hq.storage.postgres.schema.check_database)."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class Cluster:
    root: Path
    port: int
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def new_database(self) -> str:
        """A fresh, empty database's URL."""
        name = f"hq_{next(self._numbers)}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C' ENCODING 'UTF8'"
            )
        finally:
            await admin.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def restart(self) -> None:
        """Stop the server at once (every connection dropped) and start it again."""
        self.pg_ctl("-m", "fast", "-l", str(self.root / "log"), "-w", "restart")

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(self.root / "data"), *args]), check=True, capture_output=True
        )


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    missing = [tool for tool in ("initdb", "pg_ctl") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"PostgreSQL's {' and '.join(missing)} are not on the PATH; install PostgreSQL 15")
    root = Path(tempfile.mkdtemp(prefix="branchline-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(root, _free_port())
    subprocess.run(
        _as_postgres(
            ["initdb", "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "--locale=C", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    # Durability is not what these tests test; a cluster without fsync starts and
    # creates databases several times faster.
    options = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {root} -c fsync=off -c max_connections=300"
    cluster.pg_ctl("-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield cluster
    finally:
        cluster.pg_ctl("-m", "immediate", "stop")
        _remove_in_the_background(root)


def _remove_in_the_background(root: Path) -> None:
    """Remove the stopped cluster's files without waiting for it. Every test leaves a
    database of its own (some 12 MB in 600 files), so by the end of a run a worker's
    cluster holds gigabytes, and removing them in the session's teardown held the
    worker up to 15 s at its last test. `rm` runs detached (the shell that starts it
    returns at once) and no server uses the files any more."""
    subprocess.run(
        ["sh", "-c", 'rm -rf -- "$1" >/dev/null 2>&1 &', "sh", str(root)],
        check=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
