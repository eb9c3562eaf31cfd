"""Virtual devices for tests and demos: each is a pty pair whose slave side the real
driver opens at `.path`, as it would a USB serial adapter, so the driver under test is
the one a shop runs.

The card reader: swipe_frame gives the exact bytes a reader sends for a card; a
VirtualReader writes them to its pty, on swipe() or for each line sent to its Unix
socket (what `branchline node swipe` sends).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import socketserver
import stat
import threading
import tty
from pathlib import Path
from typing import Final

from devices.reader import CARD_NUMBER, CARD_NUMBER_RULE, ETX, STX, rfid_checksum
from devices.reader import lrc as lrc_of

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


class VirtualReaderStuck(Exception):
    """The virtual reader's pty is full: nothing has read what it was sent. Is a node
    running with this reader's path as its card reader?"""


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
