"""Images for the photo tests: real PNG files of a chosen size, made with zlib alone,
and the first bytes of the other types a till may send."""

from __future__ import annotations

import hashlib
import struct
import zlib

JPEG_START = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
GIF_START = b"GIF89a\x01\x00\x01\x00\x80\x00\x00"


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A width x height RGB PNG whose pixels are pseudo-random from `seed`, so zlib cannot
    shrink them: the file is a little over 3 * width * height bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    noise = b"".join(
        hashlib.sha256(f"{seed}:{row}".encode()).digest() for row in range(width * height // 10 + 1)
    )
    rows = b"".join(b"\x00" + noise[3 * width * y : 3 * width * (y + 1)] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 0))
        + chunk(b"IEND", b"")
    )


def jpeg(size: int = 2048, seed: int = 0) -> bytes:
    """A file a till's camera would send as image/jpeg, by its start (the tests check no more)."""
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (JPEG_START + body)[: size - 2] + b"\xff\xd9"


def webp(size: int = 1024) -> bytes:
    body = b"VP8 " + bytes(size - 16)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
