"""The receipt printer's driver: one ESC/POS printer on a serial port (a pyserial URL:
a device path, a symlink to one, `loop://`, `rfc2217://`), asked for its status before
each receipt and sent the receipt's bytes.

Rules:
- Before printing, the printer is asked DLE EOT 1, 2 and 4 (devices.escpos). Only
  "ready" prints; paper near its end prints and is reported in state(); offline,
  cover open, paper out and no answer raise PrinterUnavailable saying what to do.
  A printer that leaves the first query unanswered is not asked the others, so an
  absent printer costs one status timeout, not three.
- A port that fails (unplugged, gone, a write that cannot finish) is closed and
  state() says "reconnecting"; the next call reopens it, with a pause between
  attempts of 0.1 s doubling to 5 s; a call during the pause raises
  PrinterUnavailable at once, saying when it retries.
- The port's blocking reads and writes run in a worker thread (asyncio.to_thread),
  one call at a time, so the event loop never waits on the printer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import serial

from devices.document import Document
from devices.escpos import STATUS_QUERIES, PrinterStatus, encode, parse_status
from protocol.errors import Refused

try:  # pyserial's flush and buffer resets raise termios.error on a port gone away
    import termios

    PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - not a POSIX system
    PORT_ERRORS = (serial.SerialException, OSError)

# pyserial refuses a URL it cannot parse with ValueError: as unusable as a missing port.
OPEN_ERRORS: tuple[type[BaseException], ...] = (*PORT_ERRORS, ValueError)

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0  # a printer plugged back in prints within 5 s
# Writing a receipt: its bytes at the port's speed (10 bits a byte), twice over for
# a printer slowed by its own printing, plus this for the port to start moving.
WRITE_MARGIN_S = 2.0

WHAT_TO_DO: dict[str, str] = {
    "offline": "is offline: check its lights and its paper and cover",
    "cover_open": "has its cover open: close it",
    "paper_out": "is out of paper: load a new roll",
    "unknown": "does not answer its status: is it switched on, on this port, at this speed?",
    "closed": "was closed by the node",
}
PAPER_NEAR_END = "paper near its end: change the roll soon"


class PrinterUnavailable(Refused):
    """The receipt was not printed: the printer is away or not ready; `state` says
    which ("reconnecting", "offline", "cover_open", "paper_out", "unknown", "closed")
    and `retry_in_s` how long until the port is tried again, when it is closed."""

    http_status = 503
    code = "printer_unavailable"

    def __init__(self, message: str, *, state: str, retry_in_s: float | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.retry_in_s = retry_in_s


_T = TypeVar("_T")


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class ReceiptPrinter:
    """One receipt printer; status() and print() may be called from one event loop."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        width_chars: int = 48,
        status_timeout_s: float = 0.5,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        if baudrate <= 0 or width_chars <= 0 or status_timeout_s <= 0:
            raise ValueError(
                f"baudrate, width_chars and status_timeout_s must be positive "
                f"(got {baudrate}, {width_chars}, {status_timeout_s})"
            )
        self.url = url
        self.baudrate = baudrate
        self.width_chars = width_chars
        self.status_timeout_s = status_timeout_s
        self._clock_ms = clock_ms
        self._monotonic_s = monotonic_s
        self._port: serial.SerialBase | None = None
        self._opened_before = False
        self._failures = 0  # failed opens and port failures since the port last worked
        self._retry_at_s: float | None = None
        self._away_why = ""  # why the port last failed
        self._closed = False
        self._printed = 0
        self._reopened = 0
        self._paper_near_end: bool | None = None
        self._state = "unknown"
        self._detail: str | None = "not asked yet"
        self._since_ms = clock_ms()
        self._call_lock = asyncio.Lock()  # callers wait their turn here, not in threads
        # A cancelled call's thread still runs to its end; the next waits for it here.
        self._port_lock = threading.Lock()

    async def status(self) -> PrinterStatus:
        """Ask the printer (opening the port if need be); a printer that does not
        answer is "unknown". Raises PrinterUnavailable when the port is away."""
        async with self._call_lock:
            return await asyncio.to_thread(self._locked, self._status_blocking)

    async def print(self, document: Document) -> None:
        """Print `document` if the printer is ready (or near the end of its paper);
        else, or if the port fails while the receipt is sent, PrinterUnavailable.
        A receipt whose sending failed may be partly printed."""
        data = encode(
            document, width_chars=self.width_chars
        )  # a document at fault fails here, port untouched
        async with self._call_lock:
            await asyncio.to_thread(self._locked, lambda: self._print_blocking(data))

    async def close(self) -> None:
        async with self._call_lock:
            await asyncio.to_thread(self._locked, self._close_blocking)

    def state(self) -> dict[str, Any]:
        return {
            "kind": "printer",
            "url": self.url,
            "state": self._state,
            "paper_near_end": self._paper_near_end,
            "detail": self._detail,
            "since_ms": self._since_ms,
            "printed": self._printed,
            "reopened": self._reopened,
        }

    # -- in the worker thread ----------------------------------------------------------

    def _locked(self, work: Callable[[], _T]) -> _T:
        with self._port_lock:
            return work()

    def _set_state(self, state: str, detail: str | None) -> None:
        if state != self._state:
            self._since_ms = self._clock_ms()
        self._state, self._detail = state, detail

    def _open(self) -> serial.SerialBase:
        if self._closed:
            raise PrinterUnavailable(f"the printer at {self.url} {WHAT_TO_DO['closed']}", state="closed")
        if self._port is not None:
            return self._port
        if self._retry_at_s is not None:
            wait_s = self._retry_at_s - self._monotonic_s()
            if wait_s > 0:
                raise PrinterUnavailable(
                    f"the printer at {self.url} is away ({self._away_why}); its port is tried again "
                    f"in {math.ceil(wait_s * 10) / 10:.1f} s",
                    state="reconnecting",
                    retry_in_s=wait_s,
                )
        try:
            port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=self.status_timeout_s, write_timeout=WRITE_MARGIN_S
            )
        except OPEN_ERRORS as error:
            raise self._port_failed(f"cannot open {self.url}: {error}") from error
        if self._opened_before:
            self._reopened += 1
        self._opened_before = True
        self._port, self._failures, self._retry_at_s = port, 0, None
        return port

    def _port_failed(self, why: str) -> PrinterUnavailable:
        """Close the port, pause before the next attempt, and the error to raise."""
        if self._port is not None:
            # The port is already gone; closing it is all that is left to do.
            with contextlib.suppress(*PORT_ERRORS):
                self._port.close()
            self._port = None
        delay_s = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**self._failures)
        self._failures += 1
        self._retry_at_s = self._monotonic_s() + delay_s
        self._away_why = why
        self._set_state("reconnecting", f"{why}; tried again in {delay_s:.1f} s")
        return PrinterUnavailable(
            f"the printer at {self.url} is away ({why}); its port is tried again in {delay_s:.1f} s",
            state="reconnecting",
            retry_in_s=delay_s,
        )

    def _status_blocking(self) -> PrinterStatus:
        port = self._open()
        answers: dict[int, bytes] = {}
        try:
            port.reset_input_buffer()  # a late answer to an earlier query is not this one's
            for n, query in STATUS_QUERIES.items():
                port.write(query)
                port.flush()
                answer = port.read(1)
                if not answer:
                    break
                answers[n] = answer
        except PORT_ERRORS as error:
            raise self._port_failed(f"its port failed: {error}") from error
        status = parse_status(answers)
        self._paper_near_end = status.paper_near_end
        state = status.state
        if state == "ready":
            self._set_state(state, PAPER_NEAR_END if status.paper_near_end else None)
        else:
            self._set_state(state, WHAT_TO_DO[state])
        return status

    def _print_blocking(self, data: bytes) -> None:
        status = self._status_blocking()
        if status.state != "ready":
            raise PrinterUnavailable(
                f"the printer at {self.url} {WHAT_TO_DO[status.state]}", state=status.state
            )
        port = self._port
        if port is None:  # _status_blocking opened it or raised
            raise RuntimeError("the port closed between the status and the receipt")
        try:
            port.write_timeout = WRITE_MARGIN_S + 2 * len(data) * 10 / self.baudrate
            port.write(data)
            port.flush()
        except PORT_ERRORS as error:
            raise self._port_failed(
                f"its port failed while a receipt was sent (it may be partly printed): {error}"
            ) from error
        self._printed += 1

    def _close_blocking(self) -> None:
        self._closed = True
        if self._port is not None:
            with contextlib.suppress(*PORT_ERRORS):
                self._port.close()
            self._port = None
        self._set_state("closed", None)
