"""What a receipt printer is asked to print, before it is bytes: lines of text with
their style, a QR code, a barcode. The node builds a document from a sale (what it
says is the node's business); devices.escpos turns it into a printer's bytes, and the
virtual printer turns those bytes back into a document it can show.

Text is any Unicode the printer's code page can carry (GB18030 for Chinese); a line
longer than the paper is wrapped by the printer, not here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Align = Literal["left", "center", "right"]
ALIGNS: tuple[Align, ...] = ("left", "center", "right")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of text; `double`: double width and height (a title, a total)."""

    text: str
    bold: bool = False
    double: bool = False
    align: Align = "left"


@dataclass(frozen=True, slots=True)
class QRCode:
    """A QR code of `data` (a sale's id), centred."""

    data: str


@dataclass(frozen=True, slots=True)
class Barcode:
    """A CODE128 barcode of `data` (printable ASCII), centred."""

    data: str


Block = Line | QRCode | Barcode


@dataclass(frozen=True, slots=True)
class Document:
    """A receipt: its blocks in order, then the paper cut; `kick_drawer` opens the
    cash drawer on the printer's drawer port first (a sale taken in cash)."""

    blocks: tuple[Block, ...]
    kick_drawer: bool = False

    def text(self) -> str:
        """The document as plain text, one line per line (a QR code or barcode as
        `[QR data]` / `[BARCODE data]`): what a test or a log compares."""
        out = []
        for block in self.blocks:
            if isinstance(block, Line):
                out.append(block.text)
            elif isinstance(block, QRCode):
                out.append(f"[QR {block.data}]")
            else:
                out.append(f"[BARCODE {block.data}]")
        return "\n".join(out)
