"""A data folder and its databases, readable by their owner only.

The stores hold member data (names, phones, birthdays) and money. SQLite creates
a database with the process's umask, usually 0644, and its -wal and -shm files
with the database's own mode, so the database file is created 0600 here before
SQLite opens it, in a folder created 0700. A folder or database found readable
by others is refused at start with the command that fixes it, rather than
silently changed: someone made it so, and should know.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from protocol.errors import DataExposed

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # group and world bits


def private_folder(path: Path) -> Path:
    """Create the data folder (and any missing parents) if needed; refuse one others can read."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    check_private(path)
    return path


def private_database(path: Path) -> Path:
    """Create the database file 0600 if it is missing; refuse it, or its -wal or -shm,
    if others can read them."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists():
            check_private(each)
    return path


def check_private(path: Path) -> None:
    status = path.stat()
    mode = stat.S_IMODE(status.st_mode)
    if mode & _OTHERS:
        wanted = FOLDER_MODE if stat.S_ISDIR(status.st_mode) else FILE_MODE
        raise DataExposed(
            f"{path} can be read by other users (mode {mode:o});"
            f" run `chmod {wanted:o} {path}` and start again"
        )
