"""Virtual devices for tests and demos: each is a pty pair whose slave side the real
driver opens at `.path`, as it would a USB serial adapter, so the driver under test is
the one a shop runs.

The card reader: swipe_frame gives the exact bytes a reader sends for a card; a
VirtualReader writes them to its pty, on swipe() or for each line sent to its Unix
socket (what `branchline node swipe` sends).

The receipt printer: a VirtualPrinter answers the driver's status queries from its
`condition` and decodes each job it is sent (devices.escpos_decode) into `printed`,
drawing it as a PNG (devices.receipt_image) in the node's folder when given one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import select
import socket
import socketserver
import stat
import threading
import time
import tty
from pathlib import Path
from typing import Final, Literal

from devices.document import QRCode
from devices.escpos import PrinterStatus, status_answers
from devices.escpos_decode import PrintedReceipt, decode
from devices.escpos_framing import JobSplitter
from devices.reader import CARD_NUMBER, CARD_NUMBER_RULE, ETX, STX, rfid_checksum
from devices.reader import lrc as lrc_of
from devices.receipt_image import render_png
from protocol.errors import Refused

# -- the card reader -----------------------------------------------------------------------

# What a virtual card carries after its number: expiry 2049-12, service code 101.
TRACK_DATA: Final = b"4912101"
DEFAULT_TRACK1_NAME: Final = "MEMBER/BRANCHLINE"
SWIPE_KINDS: Final = ("track2", "track1", "rfid", "line")
_PAN = re.compile(r"[0-9]{4,19}")
_TRACK1_NAME = re.compile(r"[\x20-\x24\x26-\x3e\x40-\x5d\x5f]{0,26}")  # the track's characters, less % ? ^
_RFID_ID = re.compile(r"[0-9A-Fa-f]{10}")

# A socket client sends one card number a line; a line is at most this long, and a
# connection that sends nothing for this long is dropped, so a stuck client cannot
# hold the socket (nor close()) for longer.
MAX_SOCKET_LINE_BYTES: Final = 64
SOCKET_CLIENT_TIMEOUT_S: Final = 2.0
MAX_LINES_PER_CONNECTION: Final = 1000
# sun_path is 108 bytes on Linux, its last a NUL.
MAX_SOCKET_PATH_BYTES: Final = 107


class VirtualReaderStuck(Refused):
    """The virtual reader's pty is full: nothing has read what it was sent. Is a node
    running with this reader's path as its card reader?"""

    http_status = 503
    code = "reader_stuck"


def swipe_frame(card: str, kind: str = "track2", *, name: str | None = None, lrc: bool = False) -> bytes:
    """The bytes a reader sends when `card` is presented (devices.reader's rules):
    "track2" `;CARD=4912101?`; "track1" `%BCARD^NAME^4912101?` (name default
    MEMBER/BRANCHLINE); each with lrc=True followed by its LRC byte; "rfid" STX, the ten
    hex characters upper-case, their checksum as two upper-case hex characters, ETX;
    "line" the card then CR LF. Raises ValueError for a card the kind cannot carry."""
    if kind == "rfid" or kind == "line":
        if lrc:
            raise ValueError(f"an LRC is sent on magstripe tracks only, not on a {kind} frame")
        if kind == "rfid":
            if _RFID_ID.fullmatch(card) is None:
                raise ValueError(f"an RFID card id is ten hex characters, not {card!r}")
            card_id = card.upper()
            return bytes([STX]) + f"{card_id}{rfid_checksum(card_id):02X}".encode("ascii") + bytes([ETX])
        if CARD_NUMBER.fullmatch(card.encode("utf-8")) is None:
            raise ValueError(f"a card number is {CARD_NUMBER_RULE}, not {card!r}")
        return card.encode("ascii") + b"\r\n"
    if kind not in SWIPE_KINDS:
        raise ValueError(f"swipe kind {kind!r} is not one of {', '.join(SWIPE_KINDS)}")
    if _PAN.fullmatch(card) is None:
        raise ValueError(f"a magstripe card number is 4 to 19 digits, not {card!r}")
    if kind == "track2":
        frame = b";" + card.encode("ascii") + b"=" + TRACK_DATA + b"?"
    else:
        holder = DEFAULT_TRACK1_NAME if name is None else name
        if _TRACK1_NAME.fullmatch(holder) is None:
            raise ValueError(
                f"a track 1 name is up to 26 upper-case letters, digits, spaces or /, not {holder!r}"
            )
        frame = b"%B" + card.encode("ascii") + b"^" + holder.encode("ascii") + b"^" + TRACK_DATA + b"?"
    return frame + bytes([lrc_of(frame)]) if lrc else frame


def kind_for_card(card: str) -> str:
    """The frame a card number goes out as from the socket: track 2 when it is 4 to 19
    digits (a magstripe card), else a line (letters or dashes need a line reader)."""
    return "track2" if _PAN.fullmatch(card) else "line"


class VirtualReader:
    """A card reader on a pty pair: the driver opens `.path` (the slave side, raw, so
    bytes pass unchanged); swipe() writes a frame to the master side."""

    def __init__(self, master_fd: int, slave_fd: int) -> None:
        self._master_fd = master_fd
        self._slave_fd = slave_fd  # held open so the pty and its raw mode outlive a driver's reopen
        self.path = os.ttyname(slave_fd)
        self._write_lock = threading.Lock()  # one frame at a time: swipes from tests and the socket
        self._server: _SwipeServer | None = None
        self._server_thread: threading.Thread | None = None
        self._socket_path: Path | None = None
        self._closed = False

    @classmethod
    def create(cls) -> VirtualReader:
        master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)
        # A full pty raises VirtualReaderStuck rather than blocking a swipe forever.
        os.set_blocking(master_fd, False)
        return cls(master_fd, slave_fd)

    def swipe(self, card: str, kind: str = "track2", *, name: str | None = None, lrc: bool = False) -> None:
        self.send(swipe_frame(card, kind, name=name, lrc=lrc))

    def send(self, data: bytes) -> None:
        """Raw bytes as the reader would send them: noise, a broken frame, half a frame."""
        if self._closed:
            raise ValueError("the virtual reader is closed")
        with self._write_lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self._master_fd, view)
                except BlockingIOError:
                    raise VirtualReaderStuck(
                        f"the virtual reader at {self.path} is full: nothing reads it "
                        "(is a node running with it as its card reader?)"
                    ) from None
                view = view[written:]

    def serve_socket(self, socket_path: Path) -> None:
        """Swipe each line sent to a Unix socket at `socket_path`: a card number
        (CARD_NUMBER_RULE) goes out as kind_for_card says and is answered "ok\\n"; anything
        else is answered "error: why\\n". A stale socket file there is replaced."""
        if self._server is not None:
            raise ValueError(f"the virtual reader already serves {self._socket_path}")
        if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH_BYTES:
            raise ValueError(
                f"{socket_path} is longer than a Unix socket path may be "
                f"({MAX_SOCKET_PATH_BYTES} bytes): use a shorter folder"
            )
        if socket_path.exists() or socket_path.is_symlink():
            if not stat.S_ISSOCK(socket_path.lstat().st_mode):
                raise FileExistsError(f"{socket_path} exists and is not a socket: move it away")
            socket_path.unlink()
        self._server = _SwipeServer(str(socket_path), self)
        self._socket_path = socket_path
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="virtual-reader-socket"
        )
        self._server_thread.start()

    def answer(self, line: bytes) -> bytes:
        """What the socket answers to one line it was sent (after swiping, if it is a card)."""
        card = line.strip(b"\r\n \t")
        if CARD_NUMBER.fullmatch(card) is None:
            return f"error: a card number is {CARD_NUMBER_RULE}\n".encode()
        text = card.decode("ascii")
        try:
            self.swipe(text, kind_for_card(text))
        except (VirtualReaderStuck, ValueError) as error:
            return f"error: {error}\n".encode()
        return b"ok\n"

    def close(self) -> None:
        """Stop the socket (its file removed) and close the pty: a driver reading it
        sees the port fail, as when a reader is unplugged."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None and self._server_thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server_thread.join()
            if self._socket_path is not None:
                self._socket_path.unlink(missing_ok=True)
        os.close(self._master_fd)
        os.close(self._slave_fd)

    def __enter__(self) -> VirtualReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _SwipeHandler(socketserver.StreamRequestHandler):
    timeout = SOCKET_CLIENT_TIMEOUT_S
    server: _SwipeServer

    def handle(self) -> None:
        # A client that goes quiet or away just ends its connection.
        with contextlib.suppress(TimeoutError, ConnectionError):
            for _ in range(MAX_LINES_PER_CONNECTION):
                line = self.rfile.readline(MAX_SOCKET_LINE_BYTES + 1)
                if not line:
                    return
                if len(line) > MAX_SOCKET_LINE_BYTES:
                    self.wfile.write(f"error: a line is at most {MAX_SOCKET_LINE_BYTES} bytes\n".encode())
                    return
                self.wfile.write(self.server.reader.answer(line))


class _SwipeServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    # close() joins each client's thread, which its timeout bounds.
    daemon_threads = False
    block_on_close = True

    def __init__(self, socket_path: str, reader: VirtualReader) -> None:
        self.reader = reader
        super().__init__(socket_path, _SwipeHandler)


def socket_swipe(socket_path: Path, card: str, *, timeout_s: float = SOCKET_CLIENT_TIMEOUT_S) -> str:
    """Send one card to a VirtualReader's socket; its answer without the newline
    ("ok" or "error: why"). What the CLI's swipe does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        client.connect(os.fspath(socket_path))
        client.sendall(card.encode("utf-8") + b"\n")
        answer = b""
        while not answer.endswith(b"\n") and len(answer) <= MAX_SOCKET_LINE_BYTES * 4:
            chunk = client.recv(256)
            if not chunk:
                break
            answer += chunk
    return answer.decode("utf-8", "replace").rstrip("\n")


# -- the receipt printer ---------------------------------------------------------------------
# (VirtualPrinter; the ESC/POS interpreter is devices.escpos_decode, the drawing
# devices.receipt_image.)

printer_log = logging.getLogger(__name__)

PrinterCondition = Literal["ready", "offline", "cover_open", "paper_near_end", "paper_out", "silent"]
# What the virtual printer says of itself in each condition. "silent" answers no
# status query at all: a printer whose status line is not wired, or not a printer.
PRINTER_CONDITIONS: Final[dict[str, PrinterStatus]] = {
    "ready": PrinterStatus(online=True, cover_open=False, paper_near_end=False, paper_out=False),
    "offline": PrinterStatus(online=False, cover_open=False, paper_near_end=False, paper_out=False),
    "cover_open": PrinterStatus(online=False, cover_open=True, paper_near_end=False, paper_out=False),
    "paper_near_end": PrinterStatus(online=True, cover_open=False, paper_near_end=True, paper_out=False),
    "paper_out": PrinterStatus(online=False, cover_open=False, paper_near_end=True, paper_out=True),
    "silent": PrinterStatus(online=None, cover_open=None, paper_near_end=None, paper_out=None),
}
# The conditions in which a job received is printed at once; in the others it waits
# in the printer until the condition allows it, as a real printer's buffer holds it.
PRINTING_CONDITIONS: Final = frozenset({"ready", "paper_near_end", "silent"})
PRINTER_READ_BYTES: Final = 4096
DOTS_PER_CHAR: Final = 12  # font A: 48 characters on 80 mm paper (576 dots), 32 on 58 mm (384)
_RECEIPT_FILE = re.compile(r"(?P<number>[0-9]+)-.*\.(?:png|txt)")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME_CHARS: Final = 64
HANGUP_WAIT_S: Final = 1.0  # the kernel hangs a pty up as its master closes; this is ample


class VirtualPrinter:
    """A receipt printer on a pty pair: the driver opens `.path` (or the stable
    symlink `link_path`, kept pointing at the current pty); a thread reads the master
    side, answers each DLE EOT at once from `condition`, and decodes each job, split
    at its cut, into `printed` (and, with `out_dir`, NNNN-<first QR data or NNNN>.png
    and .txt there, numbered on from what the folder already holds). unplug() closes
    the pty (the driver's port fails) and removes `link_path`; plug() opens a new pty
    (`.path` may change) and points `link_path` at it. A job cut short by an unplug
    is lost, as on paper."""

    def __init__(self, out_dir: Path | None, link_path: Path | None, width_chars: int) -> None:
        if width_chars <= 0:
            raise ValueError(f"width_chars must be positive, got {width_chars}")
        self.out_dir = out_dir
        self.link_path = link_path
        self.width_px = width_chars * DOTS_PER_CHAR
        self.path = ""
        self.printed: list[PrintedReceipt] = []
        self._held: list[bytes] = []  # jobs received while the condition does not print
        self._condition: PrinterCondition = "ready"
        self._printed_changed = threading.Condition()
        self._print_lock = threading.RLock()  # the reader thread and the condition's setter both print
        self._next_number = 1 + _last_receipt_number(out_dir)
        self._master_fd = self._slave_fd = self._wake_read_fd = self._wake_write_fd = -1
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def create(
        cls, out_dir: Path | None = None, *, link_path: Path | None = None, width_chars: int = 48
    ) -> VirtualPrinter:
        if link_path is not None and link_path.exists() and not link_path.is_symlink():
            raise FileExistsError(f"{link_path} exists and is not a symlink: move it away")
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        printer = cls(out_dir, link_path, width_chars)
        printer.plug()
        return printer

    @property
    def condition(self) -> PrinterCondition:
        return self._condition

    @condition.setter
    def condition(self, condition: PrinterCondition) -> None:
        if condition not in PRINTER_CONDITIONS:
            raise ValueError(f"printer condition {condition!r} is not one of {', '.join(PRINTER_CONDITIONS)}")
        with self._print_lock:
            self._condition = condition
            if condition in PRINTING_CONDITIONS:
                held, self._held = self._held, []
                for job in held:
                    self._print_job(job)

    @property
    def plugged(self) -> bool:
        return self._thread is not None

    def plug(self) -> None:
        """A new pty, the reader thread on it, and `link_path` pointing at it."""
        if self._closed:
            raise ValueError("the virtual printer is closed")
        if self.plugged:
            return
        self._master_fd, self._slave_fd = os.openpty()
        # Raw: no echo of the status answers back to the printer, no LF made CR LF.
        tty.setraw(self._slave_fd)
        self._wake_read_fd, self._wake_write_fd = os.pipe()
        self.path = os.ttyname(self._slave_fd)
        if self.link_path is not None:
            staged = self.link_path.with_name(self.link_path.name + ".new")
            staged.unlink(missing_ok=True)
            staged.symlink_to(self.path)
            os.replace(staged, self.link_path)  # a driver never sees the link missing
        self._thread = threading.Thread(
            target=self._serve,
            args=(self._master_fd, self._wake_read_fd, JobSplitter()),
            name="virtual-printer",
            daemon=True,
        )
        self._thread.start()

    def unplug(self) -> None:
        """The printer's cable pulled: `link_path` goes (a pty's own path is soon
        another pty's, so only the link reliably leads nowhere), the pty closes, and
        once this returns the driver's reads and writes on it fail."""
        if self._thread is None:
            return
        if self.link_path is not None and self.link_path.is_symlink():
            self.link_path.unlink()
        os.write(self._wake_write_fd, b"x")
        self._thread.join()
        self._thread = None
        os.close(self._master_fd)
        _wait_for_hangup(self._slave_fd, self.path)
        for fd in (self._slave_fd, self._wake_read_fd, self._wake_write_fd):
            os.close(fd)
        self._master_fd = self._slave_fd = self._wake_read_fd = self._wake_write_fd = -1

    def close(self) -> None:
        """Unplug for good and remove `link_path`."""
        if self._closed:
            return
        self.unplug()
        self._closed = True
        if self.link_path is not None and self.link_path.is_symlink():
            self.link_path.unlink()

    def wait_printed(self, count: int, timeout_s: float) -> list[PrintedReceipt]:
        """The receipts once at least `count` are printed; TimeoutError after `timeout_s`."""
        with self._printed_changed:
            if not self._printed_changed.wait_for(lambda: len(self.printed) >= count, timeout_s):
                raise TimeoutError(
                    f"the virtual printer at {self.path} printed {len(self.printed)} receipts "
                    f"in {timeout_s} s, not {count}"
                )
            return list(self.printed)

    def __enter__(self) -> VirtualPrinter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _serve(self, master_fd: int, wake_fd: int, splitter: JobSplitter) -> None:
        while True:
            readable, _, _ = select.select([master_fd, wake_fd], [], [])
            if wake_fd in readable:
                return
            try:
                data = os.read(master_fd, PRINTER_READ_BYTES)
            except OSError as error:
                printer_log.warning("virtual printer at %s stopped reading: %s", self.path, error)
                return
            for event in splitter.feed(data):
                if isinstance(event, int):
                    answer = status_answers(PRINTER_CONDITIONS[self._condition]).get(event)
                    if answer is not None:
                        os.write(master_fd, answer)
                else:
                    with self._print_lock:
                        if self._condition in PRINTING_CONDITIONS:
                            self._print_job(event)
                        else:
                            self._held.append(event)

    def _print_job(self, job: bytes) -> None:
        for receipt in decode(job):
            number = self._next_number
            self._next_number += 1
            kept = receipt
            if self.out_dir is not None:
                kept = self._keep(receipt, number, self.out_dir)
            with self._printed_changed:
                self.printed.append(kept)
                self._printed_changed.notify_all()

    def _keep(self, receipt: PrintedReceipt, number: int, out_dir: Path) -> PrintedReceipt:
        qr = next((block.data for block in receipt.document.blocks if isinstance(block, QRCode)), None)
        label = _UNSAFE_IN_NAME.sub("_", qr)[:MAX_NAME_CHARS] if qr else f"{number:04d}"
        stem = out_dir / f"{number:04d}-{label}"
        txt = stem.with_suffix(".txt")
        png = stem.with_suffix(".png")
        try:
            txt.write_text(receipt.document.text() + "\n", encoding="utf-8")
            render_png(receipt.document, png, width_px=self.width_px)
        except OSError as error:  # the font missing, the folder full: the receipt is still printed
            printer_log.error("virtual printer: receipt %d not drawn: %s", number, error)
            return receipt
        return dataclasses.replace(receipt, png=png, txt=txt)


def _wait_for_hangup(slave_fd: int, path: str) -> None:
    """Until the kernel has hung the pty's slave up after its master closed (a
    write of nothing fails with EIO), so a driver's next read or write fails."""
    deadline = time.monotonic() + HANGUP_WAIT_S
    while time.monotonic() < deadline:
        try:
            os.write(slave_fd, b"")
        except OSError:
            return
        time.sleep(0.001)
    printer_log.warning("virtual printer at %s: its pty was not hung up within %s s", path, HANGUP_WAIT_S)


def _last_receipt_number(out_dir: Path | None) -> int:
    if out_dir is None or not out_dir.is_dir():
        return 0
    numbers = [int(m["number"]) for p in out_dir.iterdir() if (m := _RECEIPT_FILE.fullmatch(p.name))]
    return max(numbers, default=0)
