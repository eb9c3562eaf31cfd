"""A node's identity on disk: node.json (who it is, where HQ is, its local settings)
and node.key.

The private key file is created readable by its owner only (0600) before any
byte is written to it, so it is never briefly world-readable.
"""

from __future__ import annotations

import datetime
import json
import os
import zoneinfo
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.errors import NotEnrolled
from protocol.business_day import DEFAULT as DEFAULT_DAYS
from protocol.business_day import BusinessDay
from protocol.errors import KeyFileExposed, Refused
from protocol.signing import load_private_key_pem, private_key_pem
from shared_tables.private_files import check_private

CONFIG_FILE = "node.json"
KEY_FILE = "node.key"
STORE_FILE = "node.sqlite"
# Where the outbox's file gateway writes when node.json names no file: inside the
# data folder, so the messages (names and phones) are kept as privately as the store.
DEFAULT_OUTBOX_FILE = Path("outbox") / "messages.jsonl"


class NodeConfigInvalid(Refused):
    """A setting in node.json cannot be used; the message names it and what it takes.
    Correct node.json and start the node again."""

    http_status = 503
    code = "node_config_invalid"


@dataclass(frozen=True)
class NodeConfig:
    branch: str
    hq_url: str
    hq_public_key_hex: str
    feed_origin: str
    # What one card may spend at this branch per day while HQ is unreachable
    # (DESIGN 6): it bounds the overdraft a partition can cause.
    offline_limit_fen: int = 50_000
    # The branch's own time zone (IANA name). Named rather than taken from the machine,
    # which is often set to UTC: a birthday is a date where the member lives.
    timezone: str = DEFAULT_DAYS.timezone
    # When the branch's business day starts, HH:MM in its time zone: a shop open past
    # midnight sets its closing hour (04:00), so those sales count on the day it opened
    # (protocol.business_day). Its sales summary and settlement run on these days, and
    # HQ counts its sales on them once the node has told it (node.services.business_days).
    business_day_starts_at: str = DEFAULT_DAYS.starts_at
    # When the daily birthday greetings are written, HH:MM in the branch's time zone.
    birthday_greetings_at: str = "09:00"
    # The outbox's file gateway (node.services.outbox); relative to the data folder.
    # None: DEFAULT_OUTBOX_FILE. A folder named here is the operator's to make.
    outbox_file: str | None = None
    # How much of a line an operator without `sales:edit` (a clerk) may take off at the
    # till, in percent of what the line pays after HQ's offers; a store manager may take
    # a line down to nothing (node.services.checkout). 0: clerks give no discounts.
    clerk_discount_limit_percent: int = 10
    # The branch's card reader and receipt printer (DeviceSettings below): None for
    # none. {"url": "virtual"} runs a virtual one inside the node (demos, tests).
    reader: dict[str, Any] | None = None
    printer: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Checked when node.json is read, so a bad setting stops the node at start
        # with its name, not at nine the next morning.
        _zone(self.timezone)
        _percent(self.clerk_discount_limit_percent, "clerk_discount_limit_percent")
        _time_of_day(self.birthday_greetings_at, "birthday_greetings_at")
        _time_of_day(self.business_day_starts_at, "business_day_starts_at")
        _ = self.reader_settings, self.printer_settings

    @property
    def reader_settings(self) -> ReaderSettings | None:
        return None if self.reader is None else ReaderSettings.parse(self.reader)

    @property
    def printer_settings(self) -> PrinterSettings | None:
        return None if self.printer is None else PrinterSettings.parse(self.printer)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return _zone(self.timezone)

    @property
    def business_day(self) -> BusinessDay:
        return BusinessDay(self.timezone, self.business_day_starts_at)

    @property
    def birthday_greetings_time(self) -> datetime.time:
        return _time_of_day(self.birthday_greetings_at, "birthday_greetings_at")

    def outbox_path(self, data_dir: Path) -> Path:
        return data_dir / (DEFAULT_OUTBOX_FILE if self.outbox_file is None else Path(self.outbox_file))

    @property
    def hq_public_key(self) -> bytes:
        return bytes.fromhex(self.hq_public_key_hex)

    @property
    def warehouse(self) -> str:
        # One warehouse per branch for now; more per branch come with inventory.
        return f"{self.branch}-MAIN"


VIRTUAL = "virtual"  # a device's url: the node runs a virtual one (devices.virtual)
READER_KINDS = ("auto", "magstripe", "rfid", "line")
PRINTER_MODELS = ("escpos",)
# Paper width in mm -> characters a line holds in the printer's standard font.
PAPER_CHARS = {58: 32, 80: 48}
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def _setting(settings: dict[str, Any], name: str, allowed: tuple[Any, ...], default: Any, device: str) -> Any:
    value = settings.get(name, default)
    if value not in allowed or isinstance(value, bool) != isinstance(default, bool):
        raise NodeConfigInvalid(
            f"{device}.{name} {value!r} in node.json is not one of {', '.join(map(str, allowed))}"
        )
    return value


def _device_url(settings: object, device: str, known: set[str]) -> str:
    if not isinstance(settings, dict):
        raise NodeConfigInvalid(f'{device} in node.json must be an object like {{"url": "/dev/ttyUSB0"}}')
    unknown = set(settings) - known
    if unknown:
        raise NodeConfigInvalid(f"{device} in node.json has unknown settings: {', '.join(sorted(unknown))}")
    url = settings.get("url")
    if not isinstance(url, str) or not url.strip():
        raise NodeConfigInvalid(
            f"{device}.url in node.json must name the port: a device (/dev/ttyUSB0), a pyserial URL"
            f" (socket://host:9100, loop://) or {VIRTUAL!r}"
        )
    return url


@dataclass(frozen=True)
class ReaderSettings:
    """The card reader: its port (a device path or pyserial URL), baud rate, the frames
    it sends (devices.reader: auto, magstripe, rfid, line) and whether a magnetic
    stripe frame carries its LRC."""

    url: str
    baudrate: int = 9600
    kind: str = "auto"
    lrc: bool = False

    @classmethod
    def parse(cls, settings: object) -> ReaderSettings:
        url = _device_url(settings, "reader", {"url", "baudrate", "kind", "lrc"})
        assert isinstance(settings, dict)
        return cls(
            url,
            _setting(settings, "baudrate", BAUD_RATES, 9600, "reader"),
            _setting(settings, "kind", READER_KINDS, "auto", "reader"),
            _setting(settings, "lrc", (True, False), False, "reader"),
        )


@dataclass(frozen=True)
class PrinterSettings:
    """The receipt printer: its port, baud rate, model (ESC/POS) and paper width."""

    url: str
    baudrate: int = 9600
    model: str = "escpos"
    paper_width_mm: int = 80

    @classmethod
    def parse(cls, settings: object) -> PrinterSettings:
        url = _device_url(settings, "printer", {"url", "baudrate", "model", "paper_width_mm"})
        assert isinstance(settings, dict)
        return cls(
            url,
            _setting(settings, "baudrate", BAUD_RATES, 9600, "printer"),
            _setting(settings, "model", PRINTER_MODELS, "escpos", "printer"),
            _setting(settings, "paper_width_mm", tuple(PAPER_CHARS), 80, "printer"),
        )

    @property
    def width_chars(self) -> int:
        return PAPER_CHARS[self.paper_width_mm]


def _zone(name: object) -> zoneinfo.ZoneInfo:
    try:
        if not isinstance(name, str):
            raise ValueError
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise NodeConfigInvalid(
            f"timezone {name!r} in node.json is no IANA time zone; give one like Asia/Shanghai"
        ) from None


def _percent(value: object, setting: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise NodeConfigInvalid(
            f"{setting} {value!r} in node.json is no percent; give a whole number 0 to 100"
        )
    return value


def _time_of_day(text: object, setting: str) -> datetime.time:
    try:
        if not isinstance(text, str) or len(text) != len("HH:MM"):
            raise ValueError
        return datetime.time.fromisoformat(text)
    except ValueError:
        raise NodeConfigInvalid(
            f"{setting} {text!r} in node.json is no time of day; give HH:MM, like 09:00"
        ) from None


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
        handle.flush()
        os.fsync(handle.fileno())


def read_private_key(path: Path) -> Ed25519PrivateKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileExposed(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    return load_private_key_pem(path.read_bytes())


def save_config(data_dir: Path, config: NodeConfig) -> None:
    # Owner-only like everything in the data folder, though it holds nothing secret.
    tmp = data_dir / (CONFIG_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(asdict(config), indent=2) + "\n")
    os.replace(tmp, data_dir / CONFIG_FILE)


def load_config(data_dir: Path) -> NodeConfig:
    path = data_dir / CONFIG_FILE
    if not path.exists():
        raise NotEnrolled(f"{data_dir} holds no enrolled node; run `branchline node init` first")
    check_private(data_dir)
    return NodeConfig(**json.loads(path.read_text()))
