"""What HQ sets aside, and what it says about it.

A branch whose log forked (two signed histories under one sequence) is
quarantined whole: HQ keeps both entries and the offered signed head as
evidence and accepts nothing more from the branch until an operator reviews.
"""

from __future__ import annotations

from protocol.errors import ForkedLog
from protocol.ingest import Fork


def fork_reason(fork: Fork, now_ms: int) -> str:
    """Why the branch is quarantined, as the branch list and the status page show it."""
    return f"forked log at entry {fork.seq}, detected {now_ms} ms since epoch"


def forked_log(origin: str, fork: Fork) -> ForkedLog:
    return ForkedLog(
        f"branch {origin} signed a different entry {fork.seq} than HQ holds; "
        "the branch is quarantined and its pushes are refused until an operator reviews "
        "(evidence kept)"
    )
