"""ESC/POS bytes back into receipts: the interpreter behind the virtual printer. It
acts on the commands devices.escpos writes and the common ones other writers send
(python-escpos among them): styles, alignment, code pages and Chinese mode, QR
codes, barcodes, drawer kicks and cuts; it steps over every other command
devices.escpos_framing knows the length of (images among them).

Rules:
- A receipt ends at each cut (GS V); what follows the last cut, if anything prints,
  is a receipt with `cut=False`.
- A line is the text up to LF, with the bold, size and alignment in force when the
  LF arrived. Double means both width and height doubled (GS !, ESC ! or FS !);
  feeds (ESC d, ESC J) move paper and print no line.
- Text is GB18030 in Chinese mode (FS & until FS . or ESC @), else the code page of
  ESC t (CP437 when none was chosen).
- A command this interpreter does not know is skipped by its first two bytes and
  named in `skipped`; a command cut short by the end of the data is named too.
Pure: bytes in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devices.document import Align, Barcode, Block, Document, Line, QRCode
from devices.escpos_framing import DLE, ESC, GS, PREFIXES, command_end, is_known

LF, HT = 0x0A, 0x09

# ESC t n -> the code page a printer maps bytes 0x80-0xFF through (Epson's numbers).
CODE_PAGES: dict[int, str] = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
}
ALIGNS_BY_CODE: dict[int, Align] = {0: "left", 48: "left", 1: "center", 49: "center", 2: "right", 50: "right"}


@dataclass(frozen=True, slots=True)
class PrintedReceipt:
    """One receipt as the printer received it: what it says, whether the drawer was
    kicked, its bytes, and where a virtual printer drew it (png, txt)."""

    document: Document
    drawer_kicked: bool
    raw: bytes
    png: Path | None = None
    txt: Path | None = None
    cut: bool = True
    skipped: tuple[str, ...] = ()


# -- the interpreter -----------------------------------------------------------------


@dataclass
class _Printer:
    """The state a printer keeps between commands, and the receipts it has made."""

    receipts: list[PrintedReceipt] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    receipt_start: int = 0
    drawer_kicked: bool = False
    bold: bool = False
    width: int = 1
    height: int = 1
    align: Align = "left"
    chinese: bool = False
    code_page: str = "cp437"
    qr_data: bytes = b""

    def reset(self) -> None:
        """ESC @: styles and modes to their defaults, the unprinted line dropped."""
        self.pieces.clear()
        self.bold, self.width, self.height, self.align = False, 1, 1, "left"
        self.chinese, self.code_page = False, "cp437"

    def end_line(self) -> None:
        double = self.width >= 2 and self.height >= 2
        self.blocks.append(Line("".join(self.pieces), bold=self.bold, double=double, align=self.align))
        self.pieces.clear()

    def flush_line(self) -> None:
        """A QR code, barcode, feed or cut prints the text waiting in the buffer."""
        if self.pieces:
            self.end_line()

    def end_receipt(self, data: bytes, end: int, *, cut: bool) -> None:
        self.flush_line()
        document = Document(tuple(self.blocks), kick_drawer=self.drawer_kicked)
        self.receipts.append(
            PrintedReceipt(
                document=document,
                drawer_kicked=self.drawer_kicked,
                raw=bytes(data[self.receipt_start : end]),
                cut=cut,
                skipped=tuple(self.skipped),
            )
        )
        self.blocks, self.skipped = [], []
        self.drawer_kicked = False
        self.receipt_start = end


def decode(data: bytes) -> list[PrintedReceipt]:
    """The receipts `data` prints, in order, each ending at its cut."""
    printer = _Printer()
    position = 0
    while position < len(data):
        end = command_end(data, position)
        if end is None:
            printer.skipped.append(f"truncated command {data[position : position + 8].hex(' ')}")
            break
        _apply(printer, data, position, end)
        position = end
    if printer.blocks or printer.pieces or printer.drawer_kicked:
        printer.end_receipt(data, len(data), cut=False)
    return printer.receipts


def _apply(printer: _Printer, data: bytes, start: int, end: int) -> None:
    first = data[start]
    if first >= 0x20:
        encoding = "gb18030" if printer.chinese else printer.code_page
        printer.pieces.append(data[start:end].decode(encoding, errors="replace"))
    elif first == LF:
        printer.end_line()
    elif first == HT:
        printer.pieces.append(" ")
    elif first == DLE:
        if data[start + 1] == 0x14 and data[start + 2] == 1:
            printer.drawer_kicked = True  # DLE DC4 1: a real-time drawer pulse
    elif first in PREFIXES:
        if not is_known(data, start):
            printer.skipped.append(f"unknown command {data[start:end].hex(' ')}")
        elif first == ESC:
            _apply_esc(printer, data, start, end)
        elif first == GS:
            _apply_gs(printer, data, start, end)
        else:
            _apply_fs(printer, data[start:end])
    # CR, NUL and other control bytes print nothing.


def _apply_esc(printer: _Printer, data: bytes, start: int, end: int) -> None:
    command = data[start:end]
    name = chr(command[1])
    if name == "@":
        printer.reset()
    elif name == "E":
        printer.bold = bool(command[2] & 1)
    elif name == "!":
        mode = command[2]
        printer.bold = bool(mode & 0x08)
        printer.height = 2 if mode & 0x10 else 1
        printer.width = 2 if mode & 0x20 else 1
    elif name == "a":
        printer.align = ALIGNS_BY_CODE.get(command[2], printer.align)
    elif name == "t":
        printer.code_page = CODE_PAGES.get(command[2], "cp437")
    elif name in ("d", "J", "e"):
        printer.flush_line()
    elif name == "p":
        printer.drawer_kicked = True
    elif name in ("i", "m"):
        printer.end_receipt(data, end, cut=True)


def _apply_gs(printer: _Printer, data: bytes, start: int, end: int) -> None:
    name = chr(data[start + 1])
    if name == "!":
        size = data[start + 2]
        printer.width = ((size >> 4) & 0x07) + 1
        printer.height = (size & 0x07) + 1
    elif name == "(" and data[start + 2] == ord("k") and end - start >= 7:
        symbol, function = data[start + 5], data[start + 6]
        if symbol == ord("1") and function == ord("P"):  # QR: store the data (after m)
            printer.qr_data = data[start + 8 : end]
        elif symbol == ord("1") and function == ord("Q"):  # QR: print what is stored
            printer.flush_line()
            printer.blocks.append(QRCode(printer.qr_data.decode("utf-8", errors="replace")))
    elif name == "k":
        printer.flush_line()
        kind = data[start + 2]
        # Function A (m <= 6) ends its data with NUL; function B counts it in n.
        payload = data[start + 3 : end - 1] if kind <= 6 else data[start + 4 : end]
        text = _code128_text(payload) if kind == 73 else payload.decode("ascii", errors="replace")
        printer.blocks.append(Barcode(text))
    elif name == "V":
        printer.end_receipt(data, end, cut=True)


def _apply_fs(printer: _Printer, command: bytes) -> None:
    name = chr(command[1])
    if name == "&":
        printer.chinese = True
    elif name == ".":
        printer.chinese = False
    elif name == "!":  # Chinese characters' print mode: bit 2 double width, bit 3 double height
        printer.width = 2 if command[2] & 0x04 else 1
        printer.height = 2 if command[2] & 0x08 else 1


def _code128_text(payload: bytes) -> str:
    """CODE128 data as sent to GS k 73: "{A", "{B", "{C" switch code sets, "{{" is a
    "{", other "{x" are function codes that print nothing; in code set C each byte
    is two digits."""
    out: list[str] = []
    code_set = "B"
    position = 0
    while position < len(payload):
        value = payload[position]
        if value == ord("{") and position + 1 < len(payload):
            following = payload[position + 1]
            if following in b"ABC":
                code_set = chr(following)
            elif following == ord("{"):
                out.append("{")
            position += 2
            continue
        out.append(f"{value:02d}" if code_set == "C" else chr(value))
        position += 1
    return "".join(out)
