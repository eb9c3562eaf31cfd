"""ESC/POS framing: where each command in a stream of printer bytes ends, which
are status queries and which cut the paper, and a stream split into the queries a
printer answers at once and the jobs it prints. Every command devices.escpos
writes, and the common ones other writers send (python-escpos among them), with the
length of its parameters, so the bytes of an image or a QR code are never read as
text, a status query or a cut. Pure: bytes in, values out; a command not yet whole
consumes nothing (the caller waits for more)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
EOT = 0x04

# A job a printer holds before its cut; a receipt with a logo is tens of kilobytes,
# so a megabyte without a cut is a stream gone wrong, not a receipt.
MAX_JOB_BYTES = 1 << 20

# -- command lengths --------------------------------------------------------------------

Length = Callable[[bytes, int], int | None]


def _fixed(total: int) -> Length:
    def length(data: bytes, start: int) -> int | None:
        return start + total if start + total <= len(data) else None

    return length


def _sized(header: int, size_at: int, size_bytes: int) -> Length:
    """A command whose parameter bytes are counted by a little-endian number at
    `size_at` (from the command's start) of `size_bytes` bytes."""

    def length(data: bytes, start: int) -> int | None:
        if start + size_at + size_bytes > len(data):
            return None
        size = int.from_bytes(data[start + size_at : start + size_at + size_bytes], "little")
        end = start + header + size
        return end if end <= len(data) else None

    return length


def _nul_terminated(skip: int) -> Length:
    def length(data: bytes, start: int) -> int | None:
        nul = data.find(b"\x00", start + skip)
        return None if nul < 0 else nul + 1

    return length


def _esc_bit_image(data: bytes, start: int) -> int | None:
    """ESC * m nL nH d1...dk: k = n columns of 1 byte (8-dot modes) or 3 (24-dot)."""
    if start + 5 > len(data):
        return None
    columns = data[start + 3] + 256 * data[start + 4]
    end = start + 5 + columns * (3 if data[start + 2] in (32, 33) else 1)
    return end if end <= len(data) else None


def _esc_user_characters(data: bytes, start: int) -> int | None:
    """ESC & y c1 c2 [x d1...d(y*x)] for each character c1..c2."""
    if start + 5 > len(data):
        return None
    rows, first, last = data[start + 2], data[start + 3], data[start + 4]
    position = start + 5
    for _ in range(max(0, last - first + 1)):
        if position >= len(data):
            return None
        position += 1 + rows * data[position]
    return position if position <= len(data) else None


def _gs_cut(data: bytes, start: int) -> int | None:
    """GS V m (m = 0, 1, 48, 49) or GS V m n (m = 65, 66, 97, 98, 103, 104)."""
    if start + 3 > len(data):
        return None
    end = start + 3 if data[start + 2] in (0, 1, 48, 49) else start + 4
    return end if end <= len(data) else None


def _gs_barcode(data: bytes, start: int) -> int | None:
    """GS k m d1...dk NUL (m = 0-6) or GS k m n d1...dn (m = 65-79)."""
    if start + 3 > len(data):
        return None
    if data[start + 2] <= 6:
        return _nul_terminated(3)(data, start)
    return _sized(4, 3, 1)(data, start)


def _gs_raster(data: bytes, start: int) -> int | None:
    """GS v 0 m xL xH yL yH d1...dk: k = x bytes wide * y dots high."""
    if start + 8 > len(data):
        return None
    width = data[start + 4] + 256 * data[start + 5]
    height = data[start + 6] + 256 * data[start + 7]
    end = start + 8 + width * height
    return end if end <= len(data) else None


def _gs_downloaded_image(data: bytes, start: int) -> int | None:
    """GS * x y d1...d(x*y*8)."""
    if start + 4 > len(data):
        return None
    end = start + 4 + data[start + 2] * data[start + 3] * 8
    return end if end <= len(data) else None


def _dle_real_time(data: bytes, start: int) -> int | None:
    """DLE EOT n / DLE ENQ n (3 bytes), DLE DC4 fn m t (5 bytes)."""
    if start + 2 > len(data):
        return None
    end = start + (5 if data[start + 1] == 0x14 else 3)
    return end if end <= len(data) else None


_ESC_LENGTHS: dict[int, Length] = {
    **{ord(c): _fixed(2) for c in "@<2LSim"},
    **{ord(c): _fixed(3) for c in "E-a!tdM{GJ3 VrRUe%=?T"},
    ord("c"): _fixed(4),
    ord("$"): _fixed(4),
    ord("\\"): _fixed(4),
    ord("p"): _fixed(5),
    ord("W"): _fixed(10),
    ord("D"): _nul_terminated(2),
    ord("*"): _esc_bit_image,
    ord("&"): _esc_user_characters,
}
_GS_LENGTHS: dict[int, Length] = {
    **{ord(c): _fixed(3) for c in "!BbhwfHarIE/T"},
    **{ord(c): _fixed(4) for c in "LWP$\\"},
    ord("V"): _gs_cut,
    ord("k"): _gs_barcode,
    ord("("): _sized(5, 3, 2),  # GS ( x pL pH ...
    ord("8"): _sized(7, 3, 4),  # GS 8 L p1 p2 p3 p4 ...
    ord("v"): _gs_raster,
    ord("*"): _gs_downloaded_image,
}
_FS_LENGTHS: dict[int, Length] = {
    **{ord(c): _fixed(2) for c in "&."},
    **{ord(c): _fixed(3) for c in "!-CW"},
    ord("S"): _fixed(4),
    ord("p"): _fixed(4),
    ord("("): _sized(5, 3, 2),
}
_PREFIXED: dict[int, dict[int, Length]] = {ESC: _ESC_LENGTHS, GS: _GS_LENGTHS, FS: _FS_LENGTHS}
PREFIXES = frozenset(_PREFIXED)  # the bytes that start a command of two or more bytes


def command_end(data: bytes, start: int) -> int | None:
    """Where the command, or run of text, starting at `start` ends (exclusive); None
    when the data ends before it does: the caller waits for more and consumes nothing.
    Text runs to the next control byte (GB18030's bytes are all 0x30 or above, so a
    Chinese character is never split). An unknown ESC, GS or FS command is taken as
    two bytes."""
    first = data[start]
    if first >= 0x20:
        end = start + 1
        while end < len(data) and data[end] >= 0x20:
            end += 1
        return end
    if first == DLE:
        return _dle_real_time(data, start)
    table = _PREFIXED.get(first)
    if table is None:
        return start + 1
    if start + 2 > len(data):
        return None
    length = table.get(data[start + 1])
    return length(data, start) if length is not None else start + 2


def is_known(data: bytes, start: int) -> bool:
    first = data[start]
    table = _PREFIXED.get(first)
    return table is None or data[start + 1] in table


def status_query(command: bytes) -> int | None:
    """n for a DLE EOT n command, else None."""
    if len(command) == 3 and command[0] == DLE and command[1] == EOT:
        return command[2]
    return None


def is_cut(command: bytes) -> bool:
    """GS V (any mode), or the older ESC i (full) and ESC m (partial)."""
    if len(command) >= 3 and command[0] == GS and command[1] == ord("V"):
        return True
    return command in (b"\x1bi", b"\x1bm")


# -- a stream of jobs, as a printer receives it -----------------------------------------


@dataclass
class JobSplitter:
    """Bytes as they arrive on a printer's port, into what the printer acts on: a
    status query (DLE EOT n: answered at once, not part of any job) or a complete job
    (everything up to and including its cut). Sans-IO: `feed` returns the events in
    the order their bytes arrived; an unfinished command waits for more bytes."""

    unparsed: bytearray = field(default_factory=bytearray)
    job: bytearray = field(default_factory=bytearray)
    dropped_bytes: int = 0

    def feed(self, data: bytes) -> list[int | bytes]:
        self.unparsed += data
        events: list[int | bytes] = []
        position = 0
        buffer = bytes(self.unparsed)
        while position < len(buffer):
            end = command_end(buffer, position)
            if end is None:
                break
            command = buffer[position:end]
            position = end
            query = status_query(command)
            if query is not None:
                events.append(query)
                continue
            self.job += command
            if is_cut(command):
                events.append(bytes(self.job))
                self.job.clear()
        del self.unparsed[:position]
        if len(self.job) + len(self.unparsed) > MAX_JOB_BYTES:
            self.dropped_bytes += len(self.job) + len(self.unparsed)
            log.warning(
                "dropped %d bytes received without a cut (more than %d): not a receipt",
                len(self.job) + len(self.unparsed),
                MAX_JOB_BYTES,
            )
            self.job.clear()
            self.unparsed.clear()
        return events
