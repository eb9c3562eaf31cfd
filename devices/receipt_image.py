"""A receipt drawn as a PNG, as a thermal printer would print it: what the virtual
printer keeps in the node's folder and the README shows.

Rules:
- The image is as wide as the paper's print area: 384 px on 58 mm paper, 576 px on
  80 mm (203 dpi, 12 dots per character of font A); its height is what it prints.
- Text is laid out in the printer's cells: font A is 12 x 24 dots, a Chinese (wide)
  character takes two cells, double text twice the size each way; so columns line
  up as they do on paper, and a line wider than the paper wraps where the printer
  wraps it. Chinese is drawn with Debian's CJK font (fonts-droid-fallback, which has
  no Latin letters), the rest with DejaVu Sans Mono (fonts-dejavu-core, or Liberation
  Mono, or Pillow's own font when neither is installed). Bold is drawn with a stroke.
- A QR code is drawn with the `qrcode` package when it is installed (the tests'
  python-escpos brings it); without it, a bordered square with its data under it.
  A barcode is a stand-in: bars from the bits of its data's bytes, with the data
  under them, not a scannable CODE128 symbol.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from devices.document import Barcode, Document, Line, QRCode
from protocol.errors import Refused

FONT_PATH = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")
FONT_PACKAGE = "fonts-droid-fallback"
LATIN_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf"),
)
TEXT_PX = 24  # font A's 24-dot height, which a Chinese character fills
CELL_PX = 12  # font A's 12-dot width: one Latin character, half a Chinese one
LATIN_PX = 20  # a monospaced font's advance is 0.6 of its size: 12 px
LINE_GAP_PX = 6
MARGIN_PX = 8
BARCODE_HEIGHT_PX = 80
BARCODE_BAR_PX = 2
QR_FALLBACK_PX = 160
WHITE, BLACK = 255, 0
# The tallest receipt drawn: a runaway document must not take all memory.
MAX_HEIGHT_PX = 20_000

Draw = Callable[[ImageDraw.ImageDraw, int], None]


class FontMissing(Refused):
    """The CJK font the receipts are drawn with is not installed; the message names
    the Debian package to install."""

    http_status = 503
    code = "font_missing"


@functools.lru_cache(maxsize=4)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    if not FONT_PATH.is_file():
        raise FontMissing(
            f"{FONT_PATH} is missing: receipts are drawn with Debian's {FONT_PACKAGE} "
            f"(sudo apt-get install {FONT_PACKAGE}; ./dev test installs it)"
        )
    return ImageFont.truetype(str(FONT_PATH), size_px)


@functools.lru_cache(maxsize=4)
def _latin_font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in LATIN_FONT_PATHS:
        if path.is_file():
            return ImageFont.truetype(str(path), size_px)
    return ImageFont.load_default(size=size_px)


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def render_png(document: Document, path: Path, *, width_px: int = 384) -> None:
    """Draw `document` into a PNG at `path`: `width_px` is the paper's printable width
    (384 dots: 32 cells on 58 mm paper; 576: 48 on 80 mm), with a white margin around."""
    if width_px < 2 * MARGIN_PX + TEXT_PX * 2:
        raise ValueError(f"width_px {width_px} is narrower than any receipt paper")
    image_px = width_px + 2 * MARGIN_PX  # the paper's cells all fit between the margins
    parts: list[tuple[int, Draw]] = []  # each part's height and how it draws at a y
    for block in document.blocks:
        if isinstance(block, Line):
            parts.extend(_line(block, image_px))
        elif isinstance(block, QRCode):
            parts.append(_qr(block.data, image_px))
        else:
            parts.append(_barcode(block, image_px))
    height = min(MAX_HEIGHT_PX, 2 * MARGIN_PX + sum(part_height for part_height, _ in parts))
    image = Image.new("L", (image_px, height), WHITE)
    draw = ImageDraw.Draw(image)
    y = MARGIN_PX
    for part_height, draw_part in parts:
        if y + part_height > height:
            break
        draw_part(draw, y)
        y += part_height
    image.save(path, format="PNG")


def _line(line: Line, width_px: int) -> list[tuple[int, Draw]]:
    scale = 2 if line.double else 1
    wide_font, narrow_font = _font(TEXT_PX * scale), _latin_font(LATIN_PX * scale)
    stroke = 1 if line.bold else 0
    usable = width_px - 2 * MARGIN_PX
    parts: list[tuple[int, Draw]] = []
    for segment in _wrap(line.text, CELL_PX * scale, usable):
        text_width = sum(cells for _, cells in segment) * CELL_PX * scale
        if line.align == "center":
            left = MARGIN_PX + (usable - text_width) // 2
        elif line.align == "right":
            left = MARGIN_PX + usable - text_width
        else:
            left = MARGIN_PX

        def draw_text(
            draw: ImageDraw.ImageDraw, y: int, segment: list[tuple[str, int]] = segment, left: int = left
        ) -> None:
            x = left
            for char, cells in segment:
                cell_px = cells * CELL_PX * scale
                font = wide_font if cells == 2 else narrow_font
                # Each character centred in its cells, as the printer's fixed cells place it.
                draw.text(
                    (x + cell_px // 2, y + TEXT_PX * scale),
                    char,
                    font=font,
                    fill=BLACK,
                    anchor="ms",
                    stroke_width=stroke,
                    stroke_fill=BLACK,
                )
                x += cell_px

        parts.append(((TEXT_PX + LINE_GAP_PX) * scale, draw_text))
    return parts


def _wrap(text: str, cell_px: int, usable_px: int) -> list[list[tuple[str, int]]]:
    """The text as (character, cells) cut where the paper ends, character by
    character as a printer cuts it (no word wrap); an empty line stays one line."""
    segments: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    used = 0
    for char in text:
        cells = 2 if _is_wide(char) else 1
        if current and (used + cells) * cell_px > usable_px:
            segments.append(current)
            current, used = [], 0
        current.append((char, cells))
        used += cells
    segments.append(current)
    return segments


def qr_modules(data: str) -> list[list[bool]] | None:
    """The QR symbol's modules (True is dark), or None without the `qrcode` package."""
    try:
        import qrcode  # optional: installed with python-escpos for the tests
    except ImportError:
        return None
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    symbol.add_data(data)
    symbol.make(fit=True)
    return [[bool(module) for module in row] for row in symbol.get_matrix()]


def _qr(data: str, width_px: int) -> tuple[int, Draw]:
    modules = qr_modules(data)
    font = _latin_font(LATIN_PX)
    if modules is None:
        side = QR_FALLBACK_PX
        left = (width_px - side) // 2

        def draw_box(draw: ImageDraw.ImageDraw, y: int) -> None:
            draw.rectangle((left, y, left + side - 1, y + side - 1), outline=BLACK, width=4)
            draw.text((left + side // 2, y + side // 2), "QR", font=font, fill=BLACK, anchor="mm")
            draw.text((width_px // 2, y + side + 4), data, font=font, fill=BLACK, anchor="ma")

        return side + 4 + TEXT_PX + LINE_GAP_PX, draw_box
    module_px = 6 if width_px >= 576 else 4
    side = len(modules) * module_px
    left = (width_px - side) // 2

    def draw_symbol(draw: ImageDraw.ImageDraw, y: int) -> None:
        for row, cells in enumerate(modules):
            for column, dark in enumerate(cells):
                if dark:
                    x0, y0 = left + column * module_px, y + row * module_px
                    draw.rectangle((x0, y0, x0 + module_px - 1, y0 + module_px - 1), fill=BLACK)

    return side + LINE_GAP_PX * 2, draw_symbol


def _barcode(barcode: Barcode, width_px: int) -> tuple[int, Draw]:
    bits = [True, False, True]  # a guard, as a barcode's start
    for value in barcode.data.encode("ascii", errors="replace"):
        bits.extend(bool(value >> (7 - bit) & 1) for bit in range(8))
    bits.extend([True, False, True])
    bar_px = BARCODE_BAR_PX if len(bits) * BARCODE_BAR_PX <= width_px - 2 * MARGIN_PX else 1
    left = (width_px - len(bits) * bar_px) // 2
    font = _latin_font(LATIN_PX)

    def draw_bars(draw: ImageDraw.ImageDraw, y: int) -> None:
        for index, dark in enumerate(bits):
            if dark:
                x0 = left + index * bar_px
                draw.rectangle((x0, y, x0 + bar_px - 1, y + BARCODE_HEIGHT_PX - 1), fill=BLACK)
        draw.text(
            (width_px // 2, y + BARCODE_HEIGHT_PX + 4), barcode.data, font=font, fill=BLACK, anchor="ma"
        )

    return BARCODE_HEIGHT_PX + 4 + TEXT_PX + LINE_GAP_PX, draw_bars
