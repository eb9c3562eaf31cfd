"""HQ ingest: verified entries per second, in-process and over HTTP on 127.0.0.1.

A branch's chain of sale entries is built and cut into signed batches of 500
beforehand, each already encoded as the push message a node sends. Then:
(a) decode + HQ.push per batch in this process (signature, chain, storage,
daily aggregate); (b) the same messages POSTed one after another to a real HQ
app's /api/push.

    .venv/bin/python -m benchmarks.ingest [--entries 100000] [--against REV [--rounds 3]]

`--against REV` runs REV's own script and this one alternately (benchmarks.against):
the cost of what ingest does now over what it did then, in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import against
from benchmarks.common import Report, Server, peak_rss_mib, percentile
from hq.api import create_app
from hq.service import HQ
from hq.setup import init_hq, open_store, read_key, token_hash
from hq.storage.sqlite import SqliteHQStore
from protocol import messages
from protocol.batch import sign_batch
from protocol.entry import GENESIS_HASH, Entry, encode_entry
from protocol.hlc import HybridLogicalClock
from protocol.ids import uuid7
from protocol.limits import MAX_BATCH_ENTRIES
from protocol.signing import generate_private_key, public_key_bytes

BRANCH = "BR01"
BATCH_ENTRIES = MAX_BATCH_ENTRIES
TOKEN_TTL_MS = 3_600_000
MSGPACK = "application/x-msgpack"

TARGET_ENTRIES_PER_S = 10_000
AIM_ENTRIES_PER_S = 20_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sale_payload(at_ms: int) -> dict[str, Any]:
    """A checkout entry as node.services.checkout writes it today: two lines with their
    cost of goods, paid in cash, and the two stock moves it made."""
    warehouse = f"{BRANCH}-MAIN"
    lines = [
        {
            "sku": "TEA-OOLONG-250",
            "qty": 2,
            "unit_price_fen": 6800,
            "amount_fen": 13_600,
            "cost_fen": 8_000,
            "gross_profit_fen": 5_600,
        },
        {
            "sku": "CUP-CERAMIC",
            "qty": 1,
            "unit_price_fen": 2500,
            "amount_fen": 2500,
            "cost_fen": 1_200,
            "gross_profit_fen": 1_300,
        },
    ]
    return {
        "member_id": None,
        "warehouse": warehouse,
        "lines": lines,
        "tenders": [{"kind": "cash", "amount_fen": 20_000}],
        "total_fen": 16_100,
        "change_fen": 3900,
        "points_earned": 0,
        "at_ms": at_ms,
        "moves": [
            {"warehouse": warehouse, "sku": "TEA-OOLONG-250", "qty": -2, "cost_fen": -8_000, "cause": "sale"},
            {"warehouse": warehouse, "sku": "CUP-CERAMIC", "qty": -1, "cost_fen": -1_200, "cause": "sale"},
        ],
    }


@dataclass
class Pushes:
    bodies: list[bytes]
    entries: int
    node_public_key: bytes
    entry_bytes: int


def build_pushes(entries: int) -> Pushes:
    node_key = generate_private_key()
    clock = HybridLogicalClock()
    prev_hash = GENESIS_HASH
    chain: list[Entry] = []
    for seq in range(1, entries + 1):
        wall_ms = now_ms()
        entry = encode_entry(
            origin=BRANCH,
            seq=seq,
            hlc=clock.tick(wall_ms),
            prev_hash=prev_hash,
            kind="sale",
            entity_id=uuid7(wall_ms, os.urandom(10)),
            op="checkout",
            payload=sale_payload(wall_ms),
        )
        chain.append(entry)
        prev_hash = entry.hash
    bodies = [
        messages.encode(messages.PushRequest(sign_batch(node_key, BRANCH, chain[i : i + BATCH_ENTRIES]), 0))
        for i in range(0, entries, BATCH_ENTRIES)
    ]
    return Pushes(bodies, entries, public_key_bytes(node_key), sum(len(e.raw) for e in chain))


async def enroll_branch(store: SqliteHQStore, node_public_key: bytes) -> None:
    token = secrets.token_urlsafe(24)
    await store.add_enroll_token(BRANCH, token_hash(token), now_ms() + TOKEN_TTL_MS)
    await store.redeem_enroll_token(token_hash(token), BRANCH, node_public_key, now_ms(), now_ms())


def check_ack(ack: messages.Message, last_seq: int) -> None:
    if not isinstance(ack, messages.PushAck) or ack.acked_seq != last_seq or ack.duplicates:
        raise RuntimeError(f"HQ answered the push ending at {last_seq} with {ack!r}")


@dataclass
class InProcess:
    elapsed_s: float
    decode_s: float
    push_s: float


async def run_in_process(path: Path, pushes: Pushes) -> InProcess:
    store = await SqliteHQStore.open(path)
    try:
        await enroll_branch(store, pushes.node_public_key)
        hq = HQ(store, generate_private_key())
        decode_s = push_s = 0.0
        last_seq = 0
        for body in pushes.bodies:
            started = time.perf_counter()
            request = messages.decode(body)
            decoded = time.perf_counter()
            if not isinstance(request, messages.PushRequest):
                raise RuntimeError("a pre-built body is not a push")
            ack = await hq.push(request)
            decode_s += decoded - started
            push_s += time.perf_counter() - decoded
            last_seq += len(request.batch.entries)
            check_ack(ack, last_seq)
        # Every entry applied, none set aside: a benchmark of effects HQ skipped measures nothing.
        totals = await store.sales_totals(BRANCH)
        set_aside = await store.quarantined_effects(BRANCH)
        if totals.count != pushes.entries or set_aside:
            raise RuntimeError(
                f"HQ counted {totals.count} of {pushes.entries} sales; {len(set_aside)} set aside"
            )
    finally:
        await store.close()
    return InProcess(decode_s + push_s, decode_s, push_s)


@dataclass
class OverHttp:
    elapsed_s: float
    request_ms: list[float]


async def run_over_http(data_dir: Path, pushes: Pushes) -> OverHttp:
    await init_hq(data_dir, demo_data=False)
    read_key(data_dir)  # the app refuses to start without it; fail here with its message
    store = await open_store(data_dir)
    try:
        await enroll_branch(store, pushes.node_public_key)
    finally:
        await store.close()
    server = Server(lambda: create_app(data_dir))
    await server.start()
    request_ms: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            last_seq = 0
            started = time.perf_counter()
            for body in pushes.bodies:
                sent = time.perf_counter()
                async with session.post(
                    server.url + "/api/push", data=body, headers={"Content-Type": MSGPACK}
                ) as response:
                    data = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"push refused: {response.status} {data[:300]!r}")
                request_ms.append((time.perf_counter() - sent) * 1000)
                last_seq = min(last_seq + BATCH_ENTRIES, pushes.entries)
                check_ack(messages.decode(data), last_seq)
            elapsed_s = time.perf_counter() - started
    finally:
        await server.stop()
    return OverHttp(elapsed_s, request_ms)


async def run(entries: int) -> None:
    started = time.perf_counter()
    pushes = build_pushes(entries)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        in_process = await run_in_process(Path(tmp) / "inproc.sqlite", pushes)
        over_http = await run_over_http(Path(tmp) / "hq", pushes)

    in_process_per_s = entries / in_process.elapsed_s
    http_per_s = entries / over_http.elapsed_s
    target = f">= {TARGET_ENTRIES_PER_S:,} (aim {AIM_ENTRIES_PER_S:,})"
    report = Report(
        f"HQ ingest: {entries:,} sale entries in {len(pushes.bodies)} signed batches of {BATCH_ENTRIES},"
        f" {pushes.entry_bytes / entries:.0f} bytes per entry"
    )
    report.add(
        "(a) in-process entries/s",
        f"{in_process_per_s:,.0f}",
        target,
        in_process_per_s >= TARGET_ENTRIES_PER_S,
    )
    report.add(
        "    of which decode / HQ.push",
        f"{in_process.decode_s / in_process.elapsed_s:.0%} / {in_process.push_s / in_process.elapsed_s:.0%}",
    )
    report.add("(b) over HTTP entries/s", f"{http_per_s:,.0f}", target, http_per_s >= TARGET_ENTRIES_PER_S)
    report.add(
        "    push request p50 / p99",
        f"{percentile(over_http.request_ms, 0.5):.1f} / {percentile(over_http.request_ms, 0.99):.1f} ms",
    )
    report.add("building the chain (not measured)", f"{build_s:.1f} s")
    report.add("peak RSS (mostly the pre-built chain)", f"{peak_rss_mib():.0f} MiB")
    report.print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--against", metavar="REV", help="run commit REV's own script too, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: rounds")
    args = parser.parse_args()
    if not BATCH_ENTRIES <= args.entries <= 1_000_000:
        parser.error(f"entries must be {BATCH_ENTRIES} to 1,000,000")
    if not 0 < args.rounds <= 20:
        parser.error("need 0 < rounds <= 20")
    if args.against:
        compared = against.compare(
            "benchmarks.ingest",
            ["--entries", str(args.entries)],
            args.against,
            args.rounds,
            {"(a) in-process entries/s": True, "(b) over HTTP entries/s": True},
        )
        against.report("HQ ingest", args.against, compared).print()
        return
    asyncio.run(run(args.entries))


if __name__ == "__main__":
    main()
