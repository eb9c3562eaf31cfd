"""`branchline node swipe` and `branchline node devices`: a card swiped at a branch's
virtual reader, and the branch's devices with their state, read from the node's folder
(node.peripherals.attached) without a session: whoever may read the folder runs the node."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from rich.console import Console
from rich.table import Table

from node.config import VIRTUAL, load_config
from node.peripherals.attached import DEVICES_DIR, READER_SOCKET, STATE_FILE

SWIPE_TIMEOUT_S = 5.0


class DevicesCommandFailed(Exception):
    """The command could not do what was asked; the message says why and what to do."""


def swipe(data_dir: Path, card: str) -> str:
    """Swipe `card` at the branch's virtual reader: the node's reader driver reads the
    frame, and every open till page is told."""
    config = load_config(data_dir)
    if config.reader_settings is None or config.reader_settings.url != VIRTUAL:
        raise DevicesCommandFailed(
            f"branch {config.branch} has no virtual reader: node.json's reader is"
            f" {config.reader!r}; a real reader is swiped with a card"
        )
    path = data_dir / DEVICES_DIR / READER_SOCKET
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as link:
            link.settimeout(SWIPE_TIMEOUT_S)
            link.connect(str(path))
            link.sendall(card.encode() + b"\n")
            answer = link.recv(1024).decode().strip()
    except OSError as exc:
        raise DevicesCommandFailed(
            f"the virtual reader at {path} does not answer ({exc}); is the node running?"
        ) from None
    if not answer.startswith("ok"):
        raise DevicesCommandFailed(f"the virtual reader refused the swipe: {answer}")
    return f"card {card} swiped at {config.branch}'s reader"


def devices_table(data_dir: Path) -> Table:
    config = load_config(data_dir)
    state_path = data_dir / DEVICES_DIR / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    table = Table(title=f"Devices of branch {config.branch}", show_header=True)
    for column in ("device", "port", "settings", "state", "detail"):
        table.add_column(column)
    settings = {"reader": config.reader_settings, "printer": config.printer_settings}
    for name, configured in settings.items():
        if configured is None:
            table.add_row(name, "-", "none in node.json", "-", "")
            continue
        found = state.get(name) or {}
        shown = {k: v for k, v in vars(configured).items() if k != "url"}
        detail = found.get("detail") or ""
        if name == "printer" and found:
            detail = f"{found.get('waiting', 0)} receipt(s) waiting" + (f"; {detail}" if detail else "")
        table.add_row(
            name,
            configured.url,
            ", ".join(f"{k}={v}" for k, v in shown.items()),
            str(found.get("state", "not running")),
            detail,
        )
    return table


def print_devices(data_dir: Path, console: Console | None = None) -> None:
    (console or Console()).print(devices_table(data_dir))
