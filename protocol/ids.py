"""Time-sortable identifiers (UUIDv7, RFC 9562) minted locally at any node.

Time and randomness are arguments so the simulator mints the same ids from the
same seed.
"""

from __future__ import annotations


def uuid7(now_ms: int, random_bytes: bytes) -> str:
    """A UUIDv7 string: 48 bits of milliseconds, then 74 random bits."""
    if len(random_bytes) < 10:
        raise ValueError("uuid7 needs 10 random bytes")
    rand = int.from_bytes(random_bytes[:10], "big") & ((1 << 74) - 1)
    rand_a = rand >> 62  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = (now_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    # str(uuid.UUID(int=value)), spelled out: every sale mints one, and building the
    # UUID object took half the time.
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
