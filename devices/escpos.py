"""ESC/POS: a Document as the bytes a receipt printer prints, and the printer's
real-time status (DLE EOT) read back. Pure: values in, bytes out; the port is
devices.printer's business.

Rules:
- Every receipt starts with ESC @ (initialise: styles reset) and ends with ESC d 3
  (feed three lines, so the last line clears the cutter) and GS V 66 0 (feed to the
  cutter and cut partially, leaving a tab the customer tears). The drawer kick
  (ESC p 0 25 250) comes first, so the drawer opens while the receipt prints.
- Chinese text: FS & (enter Chinese mode) and the text as GB18030. Printers sold for
  the Chinese market take GB18030 (GBK on older firmware, a subset of it for the
  characters a shop prints) in Chinese mode; ESC t code pages carry no Chinese at
  all. A document in plain ASCII is sent without FS &, so it prints on any ESC/POS
  printer. ASCII is the same bytes in both modes.
- Text with control characters is refused: the printer would take them as commands
  (an ESC in a member's name could open the drawer).
- Status: DLE EOT 1, 2 and 4 ask for the printer, offline-cause and paper-roll
  status; each answer is one byte with bits 1 and 4 set and bits 0 and 7 clear. An
  answer missing, empty or without that pattern is unknown, and a status with an
  unknown that decides it is "unknown", never "ready".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from devices.document import Document, Line, QRCode
from protocol.errors import Refused

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
DLE = b"\x10"
EOT = b"\x04"
LF = b"\n"

INITIALISE = ESC + b"@"
CHINESE_MODE = FS + b"&"
ALIGN_CODES: dict[str, int] = {"left": 0, "center": 1, "right": 2}
DOUBLE_SIZE = 0x11  # GS ! n: bits 4-6 width - 1, bits 0-2 height - 1: both doubled
# ESC p m t1 t2: pulse the drawer on connector pin 2 (m = 0) for t1 * 2 ms, then
# rest t2 * 2 ms: 50 ms on and 500 ms off, the values drawer makers document.
DRAWER_KICK = ESC + b"p" + bytes([0, 25, 250])
FEED_LINES_BEFORE_CUT = 3
CUT = GS + b"V" + bytes([66, 0])  # feed to the cutter and cut partially

# QR (GS ( k, function 49): model 2; error correction M (15 % of the symbol may be
# smudged and it still scans).
QR_MODEL_2 = 50
QR_ERROR_CORRECTION_M = 49
# One QR module in dots: 6 on 80 mm paper (576 dots), 4 on 58 mm (384 dots), so a
# sale id of 40 characters (version 3, 29 modules) takes a third of the width.
QR_MODULE_DOTS_WIDE = 6
QR_MODULE_DOTS_NARROW = 4
# GS ( k stores at most 7089 bytes (a version 40 symbol); a sale id is far shorter.
QR_MAX_DATA_BYTES = 7089

# CODE128 (GS k 73 n): n counts the data with its code-set prefix, one byte.
CODE128 = 73
CODE128_SET_B = b"{B"
BARCODE_MAX_DATA_BYTES = 255 - len(CODE128_SET_B)
BARCODE_HEIGHT_DOTS = 80  # 10 mm at 203 dpi: scans from a hand-held gun
BARCODE_HRI_BELOW = 2  # GS H 2: the data printed under the bars, for a person
# A character of font A is 12 dots wide: 48 characters on 80 mm paper, 32 on 58 mm.
DOTS_PER_CHAR = 12


class DocumentNotPrintable(Refused):
    """A document holds what no printer can print as asked (a control character in
    text, an empty or too long QR code or barcode); the builder of the document
    must change it."""

    http_status = 422
    code = "not_printable"


def encode(document: Document, *, width_chars: int = 48) -> bytes:
    """The ESC/POS bytes that print `document` on paper `width_chars` characters
    wide (48 on 80 mm paper, 32 on 58 mm), then cut."""
    if width_chars <= 0:
        raise ValueError(f"width_chars must be positive, got {width_chars}")
    paper_dots = width_chars * DOTS_PER_CHAR
    chinese = _needs_chinese_mode(document)
    out = bytearray(INITIALISE)
    if document.kick_drawer:
        out += DRAWER_KICK
    if chinese:
        out += CHINESE_MODE
    bold, double, align = False, False, "left"  # what ESC @ leaves
    for index, block in enumerate(document.blocks, start=1):
        if isinstance(block, Line):
            text = _printable_text(block.text, f"line {index}")
            if block.bold != bold:
                bold = block.bold
                out += ESC + b"E" + bytes([int(bold)])
            if block.double != double:
                double = block.double
                out += GS + b"!" + bytes([DOUBLE_SIZE if double else 0])
            if block.align != align:
                align = block.align
                out += ESC + b"a" + bytes([ALIGN_CODES[align]])
            out += text.encode("gb18030") + LF
            continue
        # QR codes and barcodes are centred, as the document promises.
        if align != "center":
            align = "center"
            out += ESC + b"a" + bytes([ALIGN_CODES[align]])
        if isinstance(block, QRCode):
            out += _qr(block.data, index, paper_dots)
        else:
            out += _code128(block.data, index, paper_dots)
    out += ESC + b"d" + bytes([FEED_LINES_BEFORE_CUT]) + CUT
    return bytes(out)


def _needs_chinese_mode(document: Document) -> bool:
    return any(isinstance(block, Line) and not block.text.isascii() for block in document.blocks)


def _printable_text(text: str, where: str) -> str:
    for char in text:
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise DocumentNotPrintable(
                f"{where}: its text holds the control character U+{ord(char):04X}, which a printer "
                f"would take as a command; replace it before printing ({text!r})"
            )
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise DocumentNotPrintable(f"{where}: its text holds a lone surrogate U+{ord(char):04X}")
    return text


def _qr(data: str, index: int, paper_dots: int) -> bytes:
    payload = data.encode("utf-8")
    if not payload or len(payload) > QR_MAX_DATA_BYTES:
        raise DocumentNotPrintable(
            f"block {index}: a QR code holds 1 to {QR_MAX_DATA_BYTES} bytes, this one {len(payload)}"
        )
    module = QR_MODULE_DOTS_WIDE if paper_dots >= 576 else QR_MODULE_DOTS_NARROW
    return (
        _qr_function(b"A", bytes([QR_MODEL_2, 0]))
        + _qr_function(b"C", bytes([module]))
        + _qr_function(b"E", bytes([QR_ERROR_CORRECTION_M]))
        + _qr_function(b"P", b"0" + payload)  # store the data (m = 48)
        + _qr_function(b"Q", b"0")  # print the stored symbol
    )


def _qr_function(fn: bytes, parameters: bytes) -> bytes:
    """GS ( k pL pH cn fn parameters: pL pH count cn, fn and the parameters."""
    size = 2 + len(parameters)
    return GS + b"(k" + size.to_bytes(2, "little") + b"1" + fn + parameters


def _code128(data: str, index: int, paper_dots: int) -> bytes:
    if not data or not all(0x20 <= ord(char) <= 0x7E for char in data):
        raise DocumentNotPrintable(
            f"block {index}: a CODE128 barcode holds printable ASCII, at least one character ({data!r})"
        )
    # In code set B "{" starts a code-set switch, so a literal "{" is sent as "{{".
    payload = data.replace("{", "{{").encode("ascii")
    if len(payload) > BARCODE_MAX_DATA_BYTES:
        raise DocumentNotPrintable(
            f"block {index}: a CODE128 barcode holds at most {BARCODE_MAX_DATA_BYTES} bytes, "
            f"this one {len(payload)}"
        )
    # Start, data, check and stop symbols are 11 modules each, the stop 2 more: a
    # module 2 dots wide if the whole symbol fits the paper, else 1 dot.
    modules = 11 * (len(payload) + 3) + 2
    module_dots = 2 if modules * 2 <= paper_dots else 1
    return (
        GS
        + b"h"
        + bytes([BARCODE_HEIGHT_DOTS])
        + GS
        + b"w"
        + bytes([module_dots])
        + GS
        + b"H"
        + bytes([BARCODE_HRI_BELOW])
        + GS
        + b"k"
        + bytes([CODE128, len(CODE128_SET_B) + len(payload)])
        + CODE128_SET_B
        + payload
    )


# -- real-time status --------------------------------------------------------------

STATUS_PRINTER = 1  # bit 3: offline
STATUS_OFFLINE_CAUSE = 2  # bit 2: cover open; bit 5: printing stopped at paper end
STATUS_PAPER_ROLL = 4  # bits 2-3: paper near end; bits 5-6: paper out
STATUS_QUERIES: dict[int, bytes] = {
    n: DLE + EOT + bytes([n]) for n in (STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER_ROLL)
}
# Every answer byte: bits 1 and 4 set, bits 0 and 7 clear.
STATUS_FIXED_MASK = 0b1001_0011
STATUS_FIXED_BITS = 0b0001_0010
OFFLINE_BIT = 0x08
COVER_OPEN_BIT = 0x04
PAPER_END_STOP_BIT = 0x20
NEAR_END_BITS = 0x0C
PAPER_OUT_BITS = 0x60

PrinterState = Literal["ready", "offline", "cover_open", "paper_out", "unknown"]


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said of itself; None where it did not say (no answer, or an
    answer that was not a status byte)."""

    online: bool | None
    cover_open: bool | None
    paper_near_end: bool | None
    paper_out: bool | None

    @property
    def state(self) -> PrinterState:
        """One word for the till: a fault the printer reported wins (cover open, then
        paper out, then offline for another cause); "ready" only when online, cover
        and paper are all known and fine; anything else is "unknown". Paper near its
        end still prints, and is reported beside the state."""
        if self.cover_open:
            return "cover_open"
        if self.paper_out:
            return "paper_out"
        if self.online is False:
            return "offline"
        if self.online and self.cover_open is False and self.paper_out is False:
            return "ready"
        return "unknown"


UNKNOWN_STATUS = PrinterStatus(online=None, cover_open=None, paper_near_end=None, paper_out=None)


def status_byte(answer: bytes | None) -> int | None:
    """The status byte of one answer, or None if the answer is missing, empty, more
    than one byte or not shaped like a status byte (line noise, an echo)."""
    if answer is None or len(answer) != 1:
        return None
    value = answer[0]
    if value & STATUS_FIXED_MASK != STATUS_FIXED_BITS:
        return None
    return value


def parse_status(answers: Mapping[int, bytes]) -> PrinterStatus:
    """The status from the printer's answers to DLE EOT n (n -> the byte it sent).
    Paper out is known from the paper-roll answer (4); the offline-cause answer (2)
    saying printing stopped at the paper end also means out."""
    printer = status_byte(answers.get(STATUS_PRINTER))
    cause = status_byte(answers.get(STATUS_OFFLINE_CAUSE))
    roll = status_byte(answers.get(STATUS_PAPER_ROLL))
    online = None if printer is None else not printer & OFFLINE_BIT
    cover_open = None if cause is None else bool(cause & COVER_OPEN_BIT)
    near_end = None if roll is None else bool(roll & NEAR_END_BITS)
    paper_out: bool | None = None if roll is None else bool(roll & PAPER_OUT_BITS)
    if cause is not None and cause & PAPER_END_STOP_BIT:
        paper_out = True
    return PrinterStatus(online=online, cover_open=cover_open, paper_near_end=near_end, paper_out=paper_out)


def status_answers(status: PrinterStatus) -> dict[int, bytes]:
    """The answers a printer in `status` sends to each DLE EOT query (what a virtual
    printer says); a None field leaves the query that carries it unanswered."""
    answers: dict[int, bytes] = {}
    if status.online is not None:
        answers[STATUS_PRINTER] = bytes([STATUS_FIXED_BITS | (0 if status.online else OFFLINE_BIT)])
    if status.cover_open is not None:
        cause = STATUS_FIXED_BITS | (COVER_OPEN_BIT if status.cover_open else 0)
        if status.paper_out:
            cause |= PAPER_END_STOP_BIT
        answers[STATUS_OFFLINE_CAUSE] = bytes([cause])
    if status.paper_near_end is not None and status.paper_out is not None:
        roll = STATUS_FIXED_BITS
        if status.paper_near_end:
            roll |= NEAR_END_BITS
        if status.paper_out:
            roll |= PAPER_OUT_BITS
        answers[STATUS_PAPER_ROLL] = bytes([roll])
    return answers
