"""Card readers at the till: the bytes a reader sends, parsed into card reads
(FrameParser: bytes and the time in, reads out, no I/O), and the serial port they
come on (CardReader: opened, read, and reopened with backoff when it fails or vanishes).

The parser's rules, in the order it applies them:

1. Frames, each recognised by its first byte:
   - `;` track 2: `;` PAN [`=` data] `?` [LRC]. The card is the PAN, 4 to 19 digits;
     the data after `=` is the track's digits and `:<=>`. A track 2 with no `=` (a
     shop's own card) is all PAN.
   - `%` track 1: `%B` PAN `^` NAME `^` data `?` [LRC]. The card is the PAN (4 to 19
     digits); the name is NAME with its spaces stripped, "SURNAME/GIVEN" kept as sent,
     None when blank. NAME is up to 26, data any number, of the track's characters
     (space to `_`, less `%`, `?` and `^`).
   - STX (0x02) an RFID card, 125 kHz EM4100-style: STX, ten hex characters (the card
     id), two hex characters (the XOR of the five bytes the ten encode), ETX (0x03);
     CR LF just before the ETX is allowed (ID-12 readers send it). The card is the ten
     characters in upper case.
   - any other byte begins a line, ended by CR or LF: a card when it is 4 to 40
     letters, digits or dashes (the node's card-number rule).
   The reader's kind says which it sends: "magstripe" knows only `;` and `%`, "rfid"
   only STX, "line" only lines (`;`, `%` and STX are then bytes of a line), "auto" all.
2. LRC (lrc=True; magstripe only): one byte right after the end sentinel, the XOR of
   every byte from the start sentinel to the end sentinel inclusive, as sent (ASCII,
   no parity bit). ISO 7811's own LRC is over the 4- or 6-bit codes on the stripe and
   readers that forward it convert it in different ways; this byte-level XOR is the
   one convention checked here and the one devices.virtual.swipe_frame produces. The
   LRC is taken by position, so it may be any byte (`;`, CR, ETX). With lrc=False a
   reader's LRC byte is noise.
3. CR and LF between frames are skipped and count for nothing.
4. Bad frames: each of these is one bad frame, counted in `bad_frames` and logged with
   why, never a read:
   - a frame whose content, LRC or checksum is wrong;
   - a frame cut short: a CR or LF inside a magstripe frame, or a new start byte
     before its end (the old partial is abandoned, the new frame parsed);
   - noise: bytes that start no frame, up to the next CR, LF or start byte (in "auto"
     and "line" such a run ended by CR or LF is a line: a card if it keeps the rule);
   - MAX_FRAME_BYTES bytes without the frame's end: one bad frame, then everything up
     to the next CR, LF or start byte is dropped uncounted (resync).
   A frame not yet ended waits for more bytes however long it takes (no time-based
   flush); the bytes kept are bounded by MAX_FRAME_BYTES.
5. Presentations (debounce): a read of the same card as the read before it, less than
   debounce_ms after it, is the same presentation and no event: an RFID card held on
   the reader (it repeats every ~100 ms), track 1 then track 2 of one swipe, a double
   swipe. Every repeat extends the presentation; the same card after a gap of
   debounce_ms or more, or after another card, is a new one. A clock that steps back
   starts a new presentation (a card read twice is harmless at the till, a lost one not).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import serial

log = logging.getLogger(__name__)

T = TypeVar("T")

READER_KINDS: Final = ("auto", "magstripe", "rfid", "line")
DEFAULT_DEBOUNCE_MS: Final = 1500

# Longer than any frame a reader sends: track 1 is at most 79 characters with its
# sentinels, plus an LRC and CR LF; track 2 is 40, RFID 16, a line card 42. Bounds what
# the parser keeps while it waits for a frame's end.
MAX_FRAME_BYTES: Final = 128

STX: Final = 0x02
ETX: Final = 0x03
CR: Final = 0x0D
LF: Final = 0x0A
_LINE_ENDS = b"\r\n"

# The node's card-number rule (node.services.fields), repeated: devices may not import node.
CARD_NUMBER: Final = re.compile(rb"[0-9A-Za-z-]{4,40}")
CARD_NUMBER_RULE: Final = "4 to 40 letters, digits or dashes"

_TRACK2 = re.compile(rb"(?P<card>[0-9]{4,19})(?:=[0-9:<=>]*)?")
_TRACK1_CHAR = rb"[\x20-\x24\x26-\x3e\x40-\x5d\x5f]"  # space to `_`, less % ? ^
_TRACK1 = re.compile(
    rb"B(?P<card>[0-9]{4,19})\^(?P<name>" + _TRACK1_CHAR + rb"{0,26})\^" + _TRACK1_CHAR + b"*"
)
_RFID = re.compile(rb"(?P<card>[0-9A-Fa-f]{10})(?P<check>[0-9A-Fa-f]{2})\r?\n?")


@dataclass(frozen=True, slots=True)
class CardRead:
    """One card presented at the reader. kind: "track2" | "track1" | "rfid" | "line";
    name: the holder's name from track 1, else None."""

    card: str
    kind: str
    name: str | None = None


def lrc(frame: bytes) -> int:
    """The LRC byte of a magstripe frame: XOR of its bytes, start to end sentinel."""
    return functools.reduce(operator.xor, frame, 0)


def rfid_checksum(card_id: str) -> int:
    """The check byte of an RFID frame: XOR of the five bytes its ten hex characters encode."""
    return functools.reduce(operator.xor, bytes.fromhex(card_id), 0)


def _track2(body: bytes) -> CardRead | str:
    match = _TRACK2.fullmatch(body)
    if match is None:
        return "track 2 is not 4 to 19 digits, then `=` and the track's digits"
    return CardRead(match["card"].decode("ascii"), "track2")


def _track1(body: bytes) -> CardRead | str:
    match = _TRACK1.fullmatch(body)
    if match is None:
        return "track 1 is not B, 4 to 19 digits, ^name^ (up to 26 characters) and data"
    name = match["name"].decode("ascii").strip()
    return CardRead(match["card"].decode("ascii"), "track1", name or None)


def _rfid(body: bytes) -> CardRead | str:
    match = _RFID.fullmatch(body)
    if match is None:
        return "an RFID frame is not ten hex characters and two of checksum"
    card = match["card"].decode("ascii").upper()
    if rfid_checksum(card) != int(match["check"], 16):
        return "an RFID frame's checksum does not match its card id"
    return CardRead(card, "rfid")


@dataclass(frozen=True)
class _Framing:
    """How a frame that begins with a given start byte ends and is decoded."""

    kind: str
    end: int
    takes_lrc: bool  # lrc=True adds one byte after the end
    broken_by_line_end: bool
    decode: Callable[[bytes], CardRead | str]  # the bytes between start and end -> a read, or why not


_FRAMINGS: Final[dict[int, _Framing]] = {
    ord(";"): _Framing("track2", ord("?"), takes_lrc=True, broken_by_line_end=True, decode=_track2),
    ord("%"): _Framing("track1", ord("?"), takes_lrc=True, broken_by_line_end=True, decode=_track1),
    STX: _Framing("rfid", ETX, takes_lrc=False, broken_by_line_end=False, decode=_rfid),
}
_START_BYTES: Final[dict[str, bytes]] = {"auto": b";%\x02", "magstripe": b";%", "rfid": b"\x02", "line": b""}


def _any_of(byte_values: bytes) -> re.Pattern[bytes]:
    return re.compile(b"[" + b"".join(re.escape(bytes([value])) for value in byte_values) + b"]")


class FrameParser:
    """Sans-IO: feed it the bytes a reader sent and the time they came; it returns the
    new card presentations (the module's rules). Not thread-safe: one caller feeds it."""

    def __init__(
        self, kind: str = "auto", *, lrc: bool = False, debounce_ms: int = DEFAULT_DEBOUNCE_MS
    ) -> None:
        if kind not in READER_KINDS:
            raise ValueError(f"reader kind {kind!r} is not one of {', '.join(READER_KINDS)}")
        if debounce_ms < 0:
            raise ValueError(f"debounce_ms must be 0 or more, not {debounce_ms}")
        self.kind = kind
        self.lrc = lrc
        self.debounce_ms = debounce_ms
        self.bad_frames = 0
        self._starts = _START_BYTES[kind]
        self._lines_are_cards = kind in ("auto", "line")
        self._line_stops = _any_of(_LINE_ENDS + self._starts)
        self._frame_stops = {
            start: _any_of(
                bytes([framing.end]) + self._starts + (_LINE_ENDS if framing.broken_by_line_end else b"")
            )
            for start, framing in _FRAMINGS.items()
        }
        self._buffer = bytearray()
        self._resyncing = False
        self._last_card: str | None = None
        self._last_seen_ms = 0

    def feed(self, data: bytes, now_ms: int) -> list[CardRead]:
        self._buffer += data
        reads: list[CardRead] = []
        while (step := self._next()) is not None:
            consumed, outcome = step
            if consumed <= 0:
                raise RuntimeError(f"FrameParser consumed {consumed} bytes: it would loop forever (a bug)")
            del self._buffer[:consumed]
            if isinstance(outcome, CardRead):
                if self._is_new_presentation(outcome.card, now_ms):
                    reads.append(outcome)
            elif outcome is not None:
                self.bad_frames += 1
                # Why and how long, never the bytes: a bank card swiped by mistake must not reach a log.
                log.warning("card reader: bad frame of %d bytes dropped: %s", consumed, outcome)
        return reads

    def _next(self) -> tuple[int, CardRead | str | None] | None:
        """The next thing at the buffer's head: (bytes it takes, a read / why it is a
        bad frame / None for bytes that count for nothing), or None: need more bytes."""
        buffer = self._buffer
        if not buffer:
            return None
        if self._resyncing:
            stop = self._line_stops.search(buffer)
            if stop is None:
                return len(buffer), None
            self._resyncing = False
            if stop.start() > 0:
                return stop.start(), None
        first = buffer[0]
        if first in _LINE_ENDS:
            return 1, None
        if first in self._starts:
            return self._next_frame(_FRAMINGS[first], self._frame_stops[first])
        return self._next_line()

    def _next_frame(
        self, framing: _Framing, stops: re.Pattern[bytes]
    ) -> tuple[int, CardRead | str | None] | None:
        buffer = self._buffer
        stop = stops.search(buffer, 1, MAX_FRAME_BYTES)
        if stop is None:
            return self._too_long(f"a {framing.kind} frame") if len(buffer) >= MAX_FRAME_BYTES else None
        end = stop.start()
        if buffer[end] == framing.end:
            size = end + 1 + (1 if self.lrc and framing.takes_lrc else 0)
            if len(buffer) < size:
                return None
            frame = bytes(buffer[:size])
            if size > end + 1 and lrc(frame[:-1]) != frame[-1]:
                return size, f"a {framing.kind} frame's LRC does not match"
            return size, framing.decode(frame[1:end])
        if buffer[end] in _LINE_ENDS:
            return end, f"a {framing.kind} frame was cut short by a line end"
        return end, f"a {framing.kind} frame was cut short by the start of another"

    def _next_line(self) -> tuple[int, CardRead | str | None] | None:
        buffer = self._buffer
        stop = self._line_stops.search(buffer, 0, MAX_FRAME_BYTES)
        if stop is None:
            return self._too_long("noise or a line") if len(buffer) >= MAX_FRAME_BYTES else None
        end = stop.start()
        if buffer[end] not in _LINE_ENDS:
            return end, "noise before a frame"
        if not self._lines_are_cards:
            return end + 1, f"noise: a line from a {self.kind} reader"
        line = bytes(buffer[:end])
        if CARD_NUMBER.fullmatch(line) is None:
            return end + 1, f"a line that is not a card number ({CARD_NUMBER_RULE})"
        return end + 1, CardRead(line.decode("ascii"), "line")

    def _too_long(self, what: str) -> tuple[int, str]:
        self._resyncing = True
        return MAX_FRAME_BYTES, f"{what} ran to {MAX_FRAME_BYTES} bytes without its end"

    def _is_new_presentation(self, card: str, now_ms: int) -> bool:
        gap_ms = now_ms - self._last_seen_ms
        same = card == self._last_card and 0 <= gap_ms < self.debounce_ms
        self._last_card, self._last_seen_ms = card, now_ms
        return not same


# -- the serial port -----------------------------------------------------------------------

# One blocking read waits this long for a byte: how soon close() is noticed, and how
# often an idle reader's thread wakes.
READ_TIMEOUT_S: Final = 0.1
READ_MAX_BYTES: Final = 256
# A port that fails or vanishes is reopened after 0.1 s, doubling to 5 s: a replugged
# reader is back within seconds, a missing one costs a try every 5 s.
BACKOFF_FIRST_S: Final = 0.1
BACKOFF_MAX_S: Final = 5.0
# A port that stayed open this long was healthy: its next failure starts the backoff
# over, while a port that fails as soon as it opens keeps backing off.
HEALTHY_AFTER_S: Final = 5.0

# State -> the states it may go to.
_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "reconnecting": frozenset({"ready", "reconnecting", "closed"}),
    "ready": frozenset({"reconnecting", "closed"}),
    "closed": frozenset({"closed"}),
}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _read_some(port: Any) -> bytes:
    """Blocking, in a worker thread: what the port has, waiting up to READ_TIMEOUT_S."""
    data: bytes = port.read(1)
    if data:
        waiting = port.in_waiting
        if waiting:
            data += port.read(min(waiting, READ_MAX_BYTES))
    return data


class CardReader:
    """One card reader on one serial port (a pyserial URL: a device path, `loop://`,
    `socket://host:port`). run() reads it until close(), calling on_card on the event
    loop once per presentation; a port that fails or vanishes is closed and reopened
    with backoff, state() saying so. pyserial's blocking calls run in worker threads."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        kind: str = "auto",
        lrc: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
    ) -> None:
        self.url = url
        self._baudrate = baudrate
        self._parser = FrameParser(kind, lrc=lrc, debounce_ms=debounce_ms)
        self._clock_ms = clock_ms
        self._port: Any = None
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._state = "reconnecting"
        self._detail: str | None = "not opened yet"
        self._since_ms = clock_ms()
        self._reads = 0
        self._opens = 0

    @property
    def port(self) -> Any:
        """The open pyserial port, or None: for diagnostics, and for tests over `loop://`
        (which reads back what is written to it)."""
        return self._port

    def state(self) -> dict[str, Any]:
        return {
            "kind": "reader",
            "url": self.url,
            "state": self._state,
            "detail": self._detail,
            "since_ms": self._since_ms,
            "reads": self._reads,
            "bad_frames": self._parser.bad_frames,
            "reopened": max(0, self._opens - 1),
        }

    async def run(self, on_card: Callable[[CardRead], None]) -> None:
        """Read until close(). An exception from on_card ends run (the caller's bug, loudly)."""
        if self._running or self._closing.is_set():
            raise RuntimeError(f"card reader {self.url} is already running or closed")
        self._running = True
        loop = asyncio.get_running_loop()
        backoff_s = BACKOFF_FIRST_S
        stopped_by = None
        try:
            while not self._closing.is_set():
                opened_at = None
                try:
                    port = await self._in_thread(self._open, abandon=_close_port)
                    opened_at = loop.time()
                    await self._read(port, on_card)
                except (serial.SerialException, OSError) as error:
                    if self._closing.is_set():
                        break
                    if opened_at is not None and loop.time() - opened_at >= HEALTHY_AFTER_S:
                        backoff_s = BACKOFF_FIRST_S
                    self._set_state("reconnecting", f"{error} (next try in {backoff_s:g} s)")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), backoff_s)
                    backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
        except BaseException as error:
            stopped_by = f"stopped: {error!r}"
            raise
        finally:
            self._closing.set()
            self._set_state("closed", stopped_by)
            self._stopped.set()

    async def close(self) -> None:
        """Stop run() (within READ_TIMEOUT_S, or an open in progress) and close the port."""
        self._closing.set()
        if self._running:
            await self._stopped.wait()
        self._set_state("closed", self._detail if self._state == "closed" else None)

    def _open(self) -> Any:
        return serial.serial_for_url(self.url, baudrate=self._baudrate, timeout=READ_TIMEOUT_S)

    async def _read(self, port: Any, on_card: Callable[[CardRead], None]) -> None:
        self._port = port
        self._opens += 1
        self._set_state("ready", None)
        try:
            while not self._closing.is_set():
                data = await self._in_thread(functools.partial(_read_some, port))
                if not data:
                    continue
                for read in self._parser.feed(data, self._clock_ms()):
                    self._reads += 1
                    on_card(read)
        finally:
            self._port = None
            port.close()

    async def _in_thread(self, call: Callable[[], T], *, abandon: Callable[[T], None] | None = None) -> T:
        """call() in a worker thread. If run() is cancelled meanwhile, wait for call to
        return first (a read within READ_TIMEOUT_S), so the port is never closed under a
        read in progress; `abandon` gets what it returned (an open port to close)."""
        future = asyncio.get_running_loop().run_in_executor(None, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            if future.exception() is None and abandon is not None:
                abandon(future.result())
            raise

    def _set_state(self, state: str, detail: str | None) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"card reader {self.url}: no transition from {self._state} to {state} (a bug)")
        if state != self._state:
            self._since_ms = self._clock_ms()
            log_level = logging.WARNING if state == "reconnecting" else logging.INFO
            log.log(log_level, "card reader %s: %s%s", self.url, state, f" ({detail})" if detail else "")
        elif state == "reconnecting" and detail != self._detail:
            log.warning("card reader %s: still reconnecting (%s)", self.url, detail)
        self._state, self._detail = state, detail


def _close_port(port: Any) -> None:
    port.close()
